/**
 * `mcp-guard approvals list|show|approve|deny` (SPEC §1). Works directly on the state store named in the
 * config — the same SQLite file, Redis or PostgreSQL the gateway uses — so a decision made here is seen by
 * the gateway's very next retry of the held call, on every replica. The gateway, not this command,
 * records the decision in its audit log and sends the notifications (it has the webhook URLs; one replica
 * sends them), at once when it runs, or when it starts next.
 *
 * With `--url URL` the same commands work remotely, through the gateway's admin API (`/admin/approvals`),
 * with an admin key from $MCP_GUARD_ADMIN_KEY; the output is the same, `--json` included.
 */
import { hostname, userInfo } from 'node:os';
import { approvalToJson, parseArgs } from '../admin/approval-json.js';
import { ExitError } from '../core/errors.js';
import { openStateStore } from '../stores/open-store.js';
import type { Approval, ApprovalStatus, DecideResult, StateStore } from '../stores/state-store.js';
import { loadConfigForCommand } from './config-source.js';
import { RemoteAdmin, RemoteAdminError } from './remote-admin.js';

interface Common {
  config?: string;
  cwd: string;
  json?: boolean;
  /** The gateway's URL: work remotely through its admin API (key from $MCP_GUARD_ADMIN_KEY). */
  url?: string;
  env?: NodeJS.ProcessEnv;
}

/** Where approvals are read and decided: the state store named in the config, or a gateway's admin API. */
interface ApprovalSource {
  list(status: ApprovalStatus | 'all', limit: number): Promise<Approval[]>;
  get(id: string): Promise<Approval | undefined>;
  decide(id: string, decision: 'approved' | 'denied', note: string | undefined): Promise<DecideResult>;
}

async function withSource<T>(options: Common, fn: (source: ApprovalSource) => Promise<T>): Promise<T> {
  if (options.url !== undefined) {
    const remote = RemoteAdmin.fromEnv(options.url, options.env ?? process.env);
    return fn({
      list: (status, limit) => remote.list(status, limit),
      get: (id) => remote.get(id),
      decide: async (id, decision, note) => {
        try {
          return { ok: true, approval: await remote.decide(id, decision, note) };
        } catch (err) {
          if (!(err instanceof RemoteAdminError)) throw err;
          if (err.code === 'approval_not_found') return { ok: false, reason: 'not_found' };
          if (err.code === 'approval_expired') return { ok: false, reason: 'expired' };
          if (err.code === 'approval_not_pending')
            return { ok: false, reason: 'not_pending', approval: await remote.get(id) };
          throw new ExitError(1, `the gateway refused: ${err.message} (${err.code})`);
        }
      },
    });
  }
  const config = await loadConfigForCommand(options.config, options.cwd, { keepUnsetVariables: true });
  let store: StateStore;
  try {
    store = await openStateStore(config.state);
  } catch (err) {
    throw new ExitError(1, (err as Error).message);
  }
  try {
    return await fn({
      list: (status, limit) => store.listApprovals({ status, limit }),
      get: (id) => store.getApproval(id),
      decide: (id, decision, note) =>
        store.decideApproval(id, {
          decision,
          by: actor(),
          note,
          nowMs: Date.now(),
          approvedTtlMs: config.policies.approvedTtlMs,
        }),
    });
  } finally {
    await store.close();
  }
}

/** An approval by exact id or by a unique prefix of one (like git's short hashes). */
async function find(source: ApprovalSource, id: string): Promise<Approval> {
  const exact = await source.get(id);
  if (exact) return exact;
  if (id.length >= 4) {
    const matches = (await source.list('all', 1_000)).filter((a) => a.id.startsWith(id));
    if (matches.length === 1 && matches[0]) return matches[0];
    if (matches.length > 1)
      throw new ExitError(2, `"${id}" matches ${matches.length} approvals: give more characters`);
  }
  throw new ExitError(1, `no approval ${id}`);
}

const money = (usd: number | null) => (usd === null ? '-' : `$${usd.toFixed(2)}`);
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

export async function approvalsList(options: Common & { status?: string }): Promise<void> {
  const status = (options.status ?? 'pending') as ApprovalStatus | 'all';
  const valid = ['pending', 'approved', 'denied', 'expired', 'consumed', 'all'];
  if (!valid.includes(status)) throw new ExitError(2, `--status must be one of ${valid.join(', ')}`);
  await withSource(options, async (source) => {
    const list = await source.list(status, 500);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(list.map(approvalToJson), null, 2)}\n`);
      return;
    }
    if (list.length === 0) {
      process.stdout.write(`no ${status === 'all' ? '' : `${status} `}approvals\n`);
      return;
    }
    process.stdout.write(
      table([
        ['ID', 'STATUS', 'AGENT', 'TOOL', 'AMOUNT', 'CREATED', 'EXPIRES'],
        ...list.map((a) => [
          a.id,
          a.status,
          a.agent,
          `${a.server}.${a.tool}`,
          money(a.amountUsd),
          when(a.createdAt),
          when(a.expiresAt),
        ]),
      ]),
    );
  });
}

export async function approvalsShow(options: Common & { id: string }): Promise<void> {
  await withSource(options, async (source) => {
    const a = await find(source, options.id);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(approvalToJson(a), null, 2)}\n`);
      return;
    }
    const lines = [
      ['id', a.id],
      ['status', a.status],
      ['agent', a.agent],
      ['tool', `${a.server}.${a.tool}`],
      ['amount', money(a.amountUsd)],
      ['created', when(a.createdAt)],
      [a.status === 'approved' ? 'run before' : 'expires', when(a.expiresAt)],
      ['decided', a.decidedAt === null ? '-' : `${when(a.decidedAt)} by ${a.decidedBy ?? '?'}`],
      ['note', a.note ?? '-'],
      ['args sha256', a.argsHash],
    ];
    process.stdout.write(table(lines));
    process.stdout.write(`arguments (redacted):\n${JSON.stringify(parseArgs(a.args), null, 2)}\n`);
  });
}

function actor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `cli@${hostname()}`;
  }
}

export async function approvalsDecide(
  options: Common & { id: string; decision: 'approved' | 'denied'; note?: string },
): Promise<void> {
  await withSource(options, async (source) => {
    const target = await find(source, options.id);
    const result = await source.decide(target.id, options.decision, options.note);
    if (!result.ok) {
      const why =
        result.reason === 'expired'
          ? 'it has expired'
          : result.reason === 'not_pending'
            ? `it is already ${result.approval?.status}`
            : 'it does not exist';
      throw new ExitError(
        1,
        `cannot ${options.decision === 'approved' ? 'approve' : 'deny'} ${target.id}: ${why}`,
      );
    }
    const a = result.approval;
    if (options.json) process.stdout.write(`${JSON.stringify(approvalToJson(a), null, 2)}\n`);
    else if (options.decision === 'approved') {
      process.stdout.write(
        `approved ${a.id}: ${a.agent} → ${a.server}.${a.tool} (${money(a.amountUsd)}); the agent's next identical call runs once, before ${when(a.expiresAt)}\n`,
      );
    } else
      process.stdout.write(`denied ${a.id}: ${a.agent} → ${a.server}.${a.tool} (${money(a.amountUsd)})\n`);
  });
}
