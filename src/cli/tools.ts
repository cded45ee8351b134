/**
 * `mcp-guard tools list | diff | approve | reject SERVER.TOOL` and `mcp-guard tools pin --out FILE`
 * (SPEC §1; docs/pinning.md). Like `approvals`, these work directly on the state store named in the
 * config, so an approval reaches every running gateway (within a second: their verdict cache). A
 * decision is also written to the audit log as `tool_approved` / `tool_rejected`: several processes may
 * append to one log (docs/audit.md).
 */
import { writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import type { GuardConfig } from '../config/types.js';
import { ExitError } from '../core/errors.js';
import { escapeLine, visible } from '../scan/hidden.js';
import { pinFileOf } from '../stages/pin/pin-file.js';
import { pinCommandTarget, pinStatus } from '../stages/pin/pin-notice.js';
import { openStateStore } from '../stores/open-store.js';
import type { PinKind, PinRecord, StateStore } from '../stores/state-store.js';
import { loadConfigForCommand } from './config-source.js';
import { lineDiff } from './line-diff.js';

interface Common {
  config?: string;
  cwd: string;
  json?: boolean;
}

const KINDS: readonly PinKind[] = ['tool', 'prompt', 'resource_template'];

async function withStore<T>(
  options: Common,
  fn: (store: StateStore, config: GuardConfig) => Promise<T>,
): Promise<T> {
  const config = await loadConfigForCommand(options.config, options.cwd, { keepUnsetVariables: true });
  let store: StateStore;
  try {
    store = await openStateStore(config.state);
  } catch (err) {
    throw new ExitError(1, (err as Error).message);
  }
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

/** `server.name` → the pin it names (`--kind` decides when a tool and a prompt share the name). */
async function find(store: StateStore, target: string, kind: string | undefined): Promise<PinRecord> {
  const dot = target.indexOf('.');
  if (dot <= 0 || dot === target.length - 1)
    throw new ExitError(
      2,
      `name a pinned definition as SERVER.NAME (e.g. filesystem.read_file), got "${escapeLine(target)}"`,
    );
  if (kind !== undefined && !KINDS.includes(kind as PinKind))
    throw new ExitError(2, `--kind must be one of ${KINDS.join(', ')}`);
  const server = target.slice(0, dot);
  const name = target.slice(dot + 1);
  const kinds = kind === undefined ? KINDS : [kind as PinKind];
  const found = (await Promise.all(kinds.map((k) => store.getPin({ server, kind: k, name })))).filter(
    (p): p is PinRecord => p !== undefined,
  );
  if (found.length === 0) throw new ExitError(1, `nothing pinned as ${escapeLine(target)}`);
  if (found.length > 1)
    throw new ExitError(
      2,
      `${escapeLine(target)} is pinned as ${found.map((p) => p.kind).join(' and ')}: add --kind`,
    );
  return found[0] as PinRecord;
}

const short = (sha: string | null) => (sha === null ? '-' : sha.slice(0, 12));
const when = (ms: number | null) =>
  ms === null
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');

function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** `tools list [--status …] [--server NAME] [--json]`. */
export async function toolsList(options: Common & { status?: string; server?: string }): Promise<void> {
  const status = options.status ?? 'all';
  const valid = ['pinned', 'changed', 'flagged', 'rejected', 'quarantined', 'all'];
  if (!valid.includes(status)) throw new ExitError(2, `--status must be one of ${valid.join(', ')}`);
  await withStore(options, async (store) => {
    const pins = (
      await store.listPins(options.server === undefined ? {} : { server: options.server })
    ).filter(
      (p) =>
        status === 'all' ||
        pinStatus(p) === status ||
        (status === 'quarantined' && pinStatus(p) !== 'pinned'),
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify(pinFileOf(pins).pins, null, 2)}\n`);
      return;
    }
    if (pins.length === 0) {
      process.stdout.write(`no ${status === 'all' ? '' : `${status} `}pins\n`);
      return;
    }
    process.stdout.write(
      table([
        ['NAME', 'KIND', 'STATUS', 'PINNED', 'CURRENT', 'SINCE'],
        ...pins.map((p) => [
          escapeLine(`${p.server}.${p.name}`),
          p.kind,
          pinStatus(p),
          short(p.approvedSha256),
          short(p.pendingSha256 ?? p.approvedSha256),
          when(p.pendingSince ?? p.approvedAt),
        ]),
      ]),
    );
    const waiting = pins.filter((p) => pinStatus(p) === 'changed' || pinStatus(p) === 'flagged');
    if (waiting.length > 0)
      process.stdout.write(
        `\n${waiting.length} waiting for review: mcp-guard tools diff SERVER.NAME, then approve or reject\n`,
      );
  });
}

function pretty(text: string | null): string {
  if (text === null) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** `tools diff SERVER.NAME`: the pinned definition against the one waiting for review. */
export async function toolsDiff(options: Common & { target: string; kind?: string }): Promise<void> {
  await withStore(options, async (store) => {
    const p = await find(store, options.target, options.kind);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(pinFileOf([p]).pins[0], null, 2)}\n`);
      return;
    }
    const status = pinStatus(p);
    const out = [
      `${p.server}.${p.name} (${p.kind}): ${status}`,
      `pinned   ${p.approvedSha256 ?? '(none approved yet)'}${p.approvedAt === null ? '' : `  approved ${when(p.approvedAt)} by ${p.approvedBy ?? '?'}`}`,
    ];
    if (p.pendingSha256 === null) {
      out.push('the server offers the pinned definition: nothing to review');
      process.stdout.write(`${out.map(visible).join('\n')}\n`);
      return;
    }
    out.push(
      `current  ${p.pendingSha256}  seen ${when(p.pendingSince)}${status === 'rejected' ? `  rejected by ${p.rejectedBy ?? '?'}` : ''}`,
    );
    if (p.pendingMarkers.length > 0)
      out.push('poisoning markers:', ...p.pendingMarkers.map((m) => `  - ${m}`));
    out.push(
      '--- pinned',
      '+++ current',
      ...lineDiff(pretty(p.approvedDefinition), pretty(p.pendingDefinition)),
    );
    // Hidden characters are the point of a review: shown as <U+XXXX>, never passed to the terminal.
    process.stdout.write(`${out.map(visible).join('\n')}\n`);
  });
}

function actor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `cli@${hostname()}`;
  }
}

/** Writes the decision to the config's audit log; a log that cannot be opened is a warning, not a failure. */
async function auditDecision(
  config: GuardConfig,
  p: PinRecord,
  decision: 'approved' | 'rejected',
  sha256: string,
  by: string,
): Promise<void> {
  const a = config.policies.audit;
  if (!a) return;
  try {
    const log = await AuditLog.open({
      path: a.path,
      fsync: a.fsync,
      rotateBytes: a.rotateBytes,
      keepFiles: a.keepFiles,
      redact: { fields: a.redactFields, maxStringLength: a.maxValueLength },
    });
    try {
      await log.append({
        event: decision === 'approved' ? 'tool_approved' : 'tool_rejected',
        server: p.server,
        tool: p.name,
        decision: decision === 'approved' ? 'approved' : 'denied',
        reason: `${p.kind} definition ${sha256} ${decision} by ${by}`,
        detail: { kind: p.kind, sha256, previous_sha256: p.approvedSha256, decided_by: by },
      });
    } finally {
      await log.close();
    }
  } catch (err) {
    process.stderr.write(
      `mcp-guard: warning: the decision was not written to the audit log: ${(err as Error).message}\n`,
    );
  }
}

/** `tools approve|reject SERVER.NAME [--sha256 HEX]`. */
export async function toolsDecide(
  options: Common & { target: string; kind?: string; decision: 'approved' | 'rejected'; sha256?: string },
): Promise<void> {
  if (options.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(options.sha256))
    throw new ExitError(2, '--sha256 must be the 64 hex characters of the definition shown by tools diff');
  await withStore(options, async (store, config) => {
    const p = await find(store, options.target, options.kind);
    const by = actor();
    const result = await store.decidePin(p, {
      decision: options.decision,
      ...(options.sha256 === undefined ? {} : { sha256: options.sha256 }),
      by,
      nowMs: Date.now(),
    });
    const target = pinCommandTarget(p.server, p.kind, p.name);
    if (!result.ok) {
      const why =
        result.reason === 'nothing_pending'
          ? 'the server offers the pinned definition; nothing waits for review'
          : result.reason === 'stale'
            ? 'the definition changed again since you looked; run tools diff again'
            : 'it is not pinned';
      throw new ExitError(
        1,
        `cannot ${options.decision === 'approved' ? 'approve' : 'reject'} ${escapeLine(target)}: ${why}`,
      );
    }
    const sha256 =
      (options.decision === 'approved' ? result.record.approvedSha256 : result.record.rejectedSha256) ?? '';
    await auditDecision(config, p, options.decision, sha256, by);
    if (options.json)
      process.stdout.write(`${JSON.stringify(pinFileOf([result.record]).pins[0], null, 2)}\n`);
    else if (options.decision === 'approved')
      process.stdout.write(
        `approved ${escapeLine(`${p.server}.${p.name}`)} (${p.kind}) ${sha256.slice(0, 12)}: running gateways use it within a second\n`,
      );
    else
      process.stdout.write(
        `rejected ${escapeLine(`${p.server}.${p.name}`)} (${p.kind}) ${sha256.slice(0, 12)}: it stays quarantined (under pinning: enforce)\n`,
      );
  });
}

/** `tools pin --out FILE` (or `-` for stdout): every pin, for a repository to keep and `scan --pins` to check. */
export async function toolsPin(options: Common & { out: string; server?: string }): Promise<void> {
  await withStore(options, async (store) => {
    const pins = await store.listPins(options.server === undefined ? {} : { server: options.server });
    const text = `${JSON.stringify(pinFileOf(pins), null, 2)}\n`;
    if (options.out === '-') {
      process.stdout.write(text);
      return;
    }
    const file = path.resolve(options.cwd, options.out);
    await writeFile(file, text);
    process.stderr.write(`mcp-guard: ${pins.length} pins written to ${escapeLine(file)}\n`);
  });
}
