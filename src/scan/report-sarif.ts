/**
 * SARIF 2.1.0 for GitHub code scanning: rule metadata with `security-severity`, results with
 * repo-relative locations under `%SRCROOT%`, and `partialFingerprints` from rule + file + server +
 * subject, so an alert keeps its identity when lines move and two secrets on one server stay two alerts.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../core/version.js';
import { RULES, type RuleMeta } from './rules.js';
import type { ScanFinding, ScanResult, Severity } from './types.js';

const LEVEL: Readonly<Record<Severity, 'error' | 'warning' | 'note'>> = {
  high: 'error',
  medium: 'warning',
  low: 'note',
};

/** The `$schema` GitHub's documentation uses for SARIF 2.1.0 logs. */
export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

function descriptor(r: RuleMeta) {
  return {
    id: r.id,
    name: r.name,
    shortDescription: { text: r.title },
    fullDescription: { text: r.description },
    help: {
      text: `${r.description}\nFix: ${r.fix}`,
      markdown: `${r.description}\n\n**Fix:** ${r.fix}\n\nSeverity: ${r.severity} (security-severity ${r.securitySeverity}).`,
    },
    defaultConfiguration: { level: LEVEL[r.severity] },
    properties: {
      tags: ['security', 'mcp'],
      precision: r.precision,
      'security-severity': r.securitySeverity,
    },
  };
}

/** A stable hash of what identifies the finding (never its line, which moves with edits). */
export function fingerprint(f: ScanFinding): string {
  return createHash('sha256')
    .update([f.rule, f.file, f.server ?? '', f.subject].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/** Percent-encodes each segment of a relative posix path, keeping the slashes. */
function relativeUri(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

function location(f: ScanFinding) {
  const artifactLocation = path.isAbsolute(f.file)
    ? { uri: pathToFileURL(f.file).href }
    : { uri: relativeUri(f.file), uriBaseId: '%SRCROOT%' };
  return { physicalLocation: { artifactLocation, region: { startLine: f.line } } };
}

/**
 * Renders the SARIF log (ends with a newline). `warnings` become tool execution notifications.
 * No `automationDetails`: github/codeql-action/upload-sarif fills it from its `category` input only when
 * the log has none, so writing one here would silently override the category the workflow asks for.
 */
export function renderSarif(result: ScanResult): string {
  const index = new Map(RULES.map((r, i) => [r.id, i]));
  const root = pathToFileURL(result.root.endsWith(path.sep) ? result.root : `${result.root}${path.sep}`).href;
  const log = {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'mcp-guard',
            version: VERSION,
            semanticVersion: VERSION,
            rules: RULES.map(descriptor),
          },
        },
        originalUriBaseIds: { '%SRCROOT%': { uri: root } },
        invocations: [
          {
            executionSuccessful: true,
            toolExecutionNotifications: result.warnings.map((w) => ({
              level: 'warning',
              message: { text: w },
            })),
          },
        ],
        results: result.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: index.get(f.rule) ?? -1,
          level: LEVEL[f.severity],
          message: {
            text: `${f.server === null ? '' : `Server "${f.server}" (${f.client}): `}${f.message}. Fix: ${f.fix}`,
          },
          locations: [location(f)],
          partialFingerprints: { primaryLocationLineHash: fingerprint(f) },
          properties: { client: f.client, ...(f.server === null ? {} : { server: f.server }) },
        })),
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
