/**
 * `mcp-guard scan --pins pins.json`: checks a repository's pin file (written by `mcp-guard tools pin
 * --out`) in CI, statically — nothing is contacted. Findings: a file that cannot be used (MCP-PIN-001),
 * a definition that does not match its hash (MCP-PIN-002, hand-edited), an approved definition with
 * poisoning markers (MCP-PIN-003), and definitions that changed and wait for review or were rejected
 * (MCP-PIN-004).
 */
import { canonicalJson, sha256Hex } from '../audit/canonical-json.js';
import { poisonMarkers } from '../stages/pin/poison.js';
import type { FindingPlace } from './check-entry.js';
import { visible } from './hidden.js';
import type { Issue } from './issue.js';
import { parseConfig } from './parse.js';
import { readConfigText } from './read-config.js';
import { rule } from './rules.js';
import { excerpt } from './secrets.js';
import type { ScanFinding } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const SHA256 = /^[0-9a-f]{64}$/;

function finding(place: FindingPlace, line: number, server: string | null, issue: Issue): ScanFinding {
  const meta = rule(issue.rule);
  return {
    rule: meta.id,
    severity: meta.severity,
    file: place.file,
    line,
    client: place.client,
    server: server === null ? null : visible(server),
    message: visible(issue.message),
    fix: meta.fix,
    subject: issue.subject,
  };
}

/** Whether `definition` is what `sha256` pins: the hash of its canonical JSON. */
function matches(definition: unknown, sha256: string): boolean {
  try {
    return sha256Hex(canonicalJson(definition)) === sha256;
  } catch {
    return false;
  }
}

/** The findings of one pin file; `file` is how it is shown (relative to the repository). */
export async function checkPinFile(absolute: string, file: string): Promise<ScanFinding[]> {
  const place: FindingPlace = { file, client: 'mcp-guard-pins' };
  const invalid = (line: number, message: string) => [
    finding(place, line, null, { rule: 'MCP-PIN-001', message, subject: 'file' }),
  ];
  const read = await readConfigText(absolute);
  if (!read.ok) return invalid(1, `the pin file ${read.message}`);
  const parsed = parseConfig(read.text, 'json');
  if (!parsed.ok) return invalid(parsed.line, `the pin file is not valid JSON: ${parsed.message}`);
  const doc = parsed.config.value;
  if (!isObj(doc) || doc['mcp_guard_pins'] !== 1 || !Array.isArray(doc['pins']))
    return invalid(1, 'not an mcp-guard pin file (version 1): expected {"mcp_guard_pins": 1, "pins": [...]}');
  const out: ScanFinding[] = [];
  (doc['pins'] as unknown[]).forEach((entry, i) => {
    const line = parsed.config.lineOf(['pins', i]);
    if (
      !isObj(entry) ||
      typeof entry['server'] !== 'string' ||
      typeof entry['name'] !== 'string' ||
      !['tool', 'prompt', 'resource_template'].includes(String(entry['kind']))
    ) {
      out.push(...invalid(line, `pins[${i}] is not a pin (server, kind, name)`));
      return;
    }
    const server = entry['server'];
    const who = `${entry['kind']} ${excerpt(`${server}.${entry['name']}`, 120)}`;
    const subject = `${entry['kind']}:${entry['name']}`;
    const sha256 = entry['sha256'];
    const definition = entry['definition'];
    if (sha256 !== null && (typeof sha256 !== 'string' || !SHA256.test(sha256))) {
      out.push(...invalid(line, `pins[${i}] (${who}): sha256 is not a SHA-256`));
      return;
    }
    if (typeof sha256 === 'string' && definition !== null && definition !== undefined) {
      if (!matches(definition, sha256)) {
        out.push(
          finding(place, line, server, {
            rule: 'MCP-PIN-002',
            message: `${who}: the definition does not hash to its pinned sha256 ${sha256.slice(0, 12)}…`,
            subject,
          }),
        );
      } else if (isObj(definition)) {
        const markers = poisonMarkers(definition);
        if (markers.length > 0)
          out.push(
            finding(place, line, server, {
              rule: 'MCP-PIN-003',
              message: `${who} is approved with poisoning markers: ${markers.join('; ')}`,
              subject,
            }),
          );
      }
    }
    const pending = entry['pending'];
    if (isObj(pending) && typeof pending['sha256'] === 'string') {
      const markers = Array.isArray(pending['markers']) ? pending['markers'].map(String) : [];
      const state =
        pending['rejected'] === true
          ? 'was rejected, and the server still offers it'
          : sha256 === null
            ? 'was flagged on first sight and was never approved'
            : 'changed since it was pinned and waits for review';
      out.push(
        finding(place, line, server, {
          rule: 'MCP-PIN-004',
          message: `${who} ${state} (current sha256 ${pending['sha256'].slice(0, 12)}…)${
            markers.length > 0 ? `; poisoning markers: ${markers.join('; ')}` : ''
          }`,
          subject,
        }),
      );
    }
  });
  return out;
}
