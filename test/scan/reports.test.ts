/**
 * The three reporters: SARIF valid against the official 2.1.0 schema (vendored) with the metadata
 * GitHub code scanning reads, JSON exactly as SPEC §7 says, and the readable text report.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderJson } from '../../src/scan/report-json.js';
import { fingerprint, renderSarif } from '../../src/scan/report-sarif.js';
import { renderText } from '../../src/scan/report-text.js';
import { RULES } from '../../src/scan/rules.js';
import { scan } from '../../src/scan/scan.js';
import type { ScanFinding, ScanResult } from '../../src/scan/types.js';
import { ROOT } from '../helpers/paths.js';
import { FIXTURES, fixtureHome } from './helpers.js';

const SCHEMA = fileURLToPath(new URL('../fixtures/vendor/sarif-schema-2.1.0.json', import.meta.url));
// ajv-formats is CommonJS: under NodeNext its plugin is the `default` property of the import.
const addFormats = addFormatsModule.default;

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: Array<{
    physicalLocation: {
      artifactLocation: { uri: string; uriBaseId?: string };
      region: { startLine: number };
    };
  }>;
  partialFingerprints: Record<string, string>;
}
interface SarifLog {
  $schema: string;
  version: string;
  runs: Array<{
    tool: {
      driver: {
        name: string;
        version: string;
        rules: Array<Record<string, unknown> & { id: string; properties: Record<string, unknown> }>;
      };
    };
    originalUriBaseIds: Record<string, { uri: string }>;
    invocations: Array<{
      executionSuccessful: boolean;
      toolExecutionNotifications: Array<{ message: { text: string } }>;
    }>;
    results: SarifResult[];
  }>;
}

let repo: ScanResult;
let everything: ScanResult;

beforeAll(async () => {
  repo = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'repo') });
  // Home configs outside the working folder plus repo configs inside it, and a malformed tree.
  everything = await scan({
    paths: ['.', '../broken'],
    cwd: path.join(FIXTURES, 'repo'),
    home: fixtureHome('linux'),
  });
});

describe('SARIF', () => {
  it('validates against the SARIF 2.1.0 JSON schema', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    for (const result of [repo, everything]) {
      const log = JSON.parse(renderSarif(result)) as unknown;
      expect(validate(log), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    }
    // The validator is not a rubber stamp: a broken log fails.
    const broken = JSON.parse(renderSarif(repo)) as SarifLog;
    (broken.runs[0]?.results[0] as unknown as Record<string, unknown>)['level'] = 'critical';
    expect(validate(broken)).toBe(false);
  });

  it('describes every rule with the metadata code scanning reads', () => {
    const log = JSON.parse(renderSarif(repo)) as SarifLog;
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(log.version).toBe('2.1.0');
    const driver = log.runs[0]?.tool.driver;
    expect(driver?.name).toBe('mcp-guard');
    expect(driver?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(driver?.rules.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    for (const r of driver?.rules ?? []) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining([
          'id',
          'name',
          'shortDescription',
          'fullDescription',
          'help',
          'defaultConfiguration',
          'properties',
        ]),
      );
      expect(r.properties['tags']).toContain('security');
      expect(r.properties['security-severity']).toMatch(/^\d+\.\d$/);
      expect(['very-high', 'high', 'medium', 'low']).toContain(r.properties['precision']);
    }
    const critical = driver?.rules.find((r) => r.id === 'MCP-EXEC-002');
    expect(critical?.defaultConfiguration).toEqual({ level: 'error' });
    expect(Number(critical?.properties['security-severity'])).toBeGreaterThanOrEqual(9);
  });

  it('locates results repo-relative under %SRCROOT%, at the server entry line', () => {
    const log = JSON.parse(renderSarif(repo)) as SarifLog;
    const run = log.runs[0];
    expect(run?.originalUriBaseIds['%SRCROOT%']?.uri).toBe(`file://${path.join(FIXTURES, 'repo')}/`);
    const secret = run?.results.find(
      (r) => r.ruleId === 'MCP-SEC-002' && r.message.text.includes('DB_PASSWORD'),
    );
    expect(secret?.level).toBe('error');
    expect(secret?.locations[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: '.gemini/settings.json', uriBaseId: '%SRCROOT%' },
      region: { startLine: 3 },
    });
    expect(run?.results.every((r) => RULES[r.ruleIndex]?.id === r.ruleId)).toBe(true);
    expect(run?.results.find((r) => r.ruleId === 'MCP-GW-001')?.level).toBe('warning');
  });

  it('uses absolute file URIs for files outside the working folder and lists warnings', async () => {
    const log = JSON.parse(renderSarif(everything)) as SarifLog;
    const locations =
      log.runs[0]?.results.map((r) => r.locations[0]?.physicalLocation.artifactLocation) ?? [];
    expect(locations).toContainEqual({ uri: `file://${FIXTURES}home/.cursor/mcp.json` });
    expect(locations).toContainEqual({ uri: '.mcp.json', uriBaseId: '%SRCROOT%' });
    const mac = await scan({ paths: [], cwd: path.join(FIXTURES, 'repo'), home: fixtureHome('darwin') });
    const macUris = (JSON.parse(renderSarif(mac)) as SarifLog).runs[0]?.results.map(
      (r) => r.locations[0]?.physicalLocation.artifactLocation.uri,
    );
    expect(macUris).toContain(
      `file://${FIXTURES}home/Library/Application%20Support/Claude/claude_desktop_config.json`,
    );
    const withWarnings = JSON.parse(
      renderSarif({ ...repo, warnings: ['cannot list /x: permission denied'] }),
    ) as SarifLog;
    expect(withWarnings.runs[0]?.invocations[0]?.toolExecutionNotifications[0]?.message.text).toBe(
      'cannot list /x: permission denied',
    );
  });

  it('fingerprints by rule, file, server and subject: stable when lines move, distinct per secret', () => {
    const log = JSON.parse(renderSarif(repo)) as SarifLog;
    const prints = log.runs[0]?.results.map((r) => r.partialFingerprints['primaryLocationLineHash']) ?? [];
    expect(new Set(prints).size).toBe(prints.length);
    const f = repo.findings[0] as ScanFinding;
    expect(fingerprint({ ...f, line: f.line + 10 })).toBe(fingerprint(f));
    expect(fingerprint({ ...f, subject: 'other' })).not.toBe(fingerprint(f));
    expect(fingerprint(f)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('leaves automationDetails out, so the upload step’s category input applies', () => {
    // upload-sarif sets runs[].automationDetails.id from `category` only where the log has none.
    const log = JSON.parse(renderSarif(repo)) as { runs: Array<Record<string, unknown>> };
    expect(log.runs[0]).not.toHaveProperty('automationDetails');
    const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
      inputs: Record<string, { default?: string }>;
      runs: { steps: Array<{ uses?: string; with?: Record<string, string> }> };
    };
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
    expect(upload?.with?.['category']).toBe('${{ inputs.category }}');
    expect(action.inputs['category']?.default).toBe('mcp-guard-scan');
  });

  it('percent-encodes paths with spaces', () => {
    const finding = { ...(repo.findings[0] as ScanFinding), file: 'my dir/.mcp.json' };
    const log = JSON.parse(renderSarif({ ...repo, findings: [finding] })) as SarifLog;
    expect(log.runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).toBe(
      'my%20dir/.mcp.json',
    );
  });
});

describe('JSON', () => {
  it('is one object {findings, summary} with exactly the SPEC §7 fields', () => {
    const out = JSON.parse(renderJson(repo)) as {
      findings: Array<Record<string, unknown>>;
      summary: Record<string, number>;
    };
    expect(Object.keys(out)).toEqual(['findings', 'summary']);
    expect(out.summary).toEqual({ high: 16, medium: 19, low: 1, files: 9 });
    for (const f of out.findings) {
      expect(Object.keys(f)).toEqual([
        'rule',
        'severity',
        'file',
        'line',
        'client',
        'server',
        'message',
        'fix',
      ]);
    }
    expect(out.findings.find((f) => f.server === null)).toMatchObject({
      rule: 'MCP-APPR-002',
      file: '.claude/settings.json',
    });
  });

  it('never contains a secret from the fixtures in full', () => {
    const text = renderJson(everything) + renderSarif(everything) + renderText(everything, { color: false });
    for (const secret of [
      'FAKEfixtureToken0123456789abcdefABCD',
      'S3cretPassw0rd',
      'BSAx9f8d7c6b5a4e3d2c1b0a9f8e7d6c',
      'correct-horse-battery-staple',
      'cs9f8e7d6c5b4a39281706f5e4',
      'k3y0a1b2c3d4e5f6a7b8c9d',
      'FAKE0fixture0token0abc',
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('text', () => {
  it('groups findings by file and server, with the fix under each', () => {
    const text = renderText(repo, { color: false });
    const lines = text.split('\n');
    const at = lines.indexOf('.gemini/settings.json  (gemini)');
    expect(lines.slice(at, at + 8)).toEqual([
      '.gemini/settings.json  (gemini)',
      '  db  line 3',
      '    HIGH    MCP-SEC-002  secret written inline in env (DB_PASSWORD): corr…aple',
      '            fix: Move the value to your environment or a secret store and reference it (${VAR}, ${env:VAR}, ${input:id}).',
      '    MEDIUM  MCP-GW-001  stdio server started directly (npx), not through mcp-guard serve',
      expect.stringContaining('fix: Start it through the gateway'),
      '    MEDIUM  MCP-SUP-001  npx -y starts @example/db-mcp with the version range @^1.2.0: every start runs whatever the registry serves',
      expect.stringContaining('fix: Pin an exact version'),
    ]);
    expect(lines).toContain('  (whole file)  line 2');
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      '36 findings (16 high, 19 medium, 1 low) — 9 MCP config files scanned.',
    );
    expect(text).not.toContain('\u001b[');
  });

  it('colours only when asked, and shortens the home folder to ~', () => {
    const coloured = renderText(repo, { color: true });
    expect(coloured).toContain('\u001b[31m');
    const home = renderText(
      { ...repo, findings: repo.findings.map((f) => ({ ...f, file: `/home/dev/${f.file}` })) },
      { color: false, home: '/home/dev' },
    );
    expect(home).toContain('~/.gemini/settings.json  (gemini)');
  });

  it('says so when there is nothing to report', () => {
    const text = renderText(
      { findings: [], summary: { high: 0, medium: 0, low: 0, files: 2 }, warnings: [], root: '/' },
      { color: false },
    );
    expect(text).toBe('No findings — 2 MCP config files scanned.\n');
  });
});
