/**
 * `mcp-guard approvals list|show|approve|deny` (SPEC §1). Works directly on the state store named in the
 * config — the same SQLite file, Redis or PostgreSQL the gateway uses — so a decision made here is seen by
 * the gateway's very next retry of the held call, on every replica. The gateway, not this command,
 * records the decision in its audit log and sends the notifications (it has the webhook URLs; one replica
 * sends them), at once when it runs, or when it starts next.
 */
import { hostname, userInfo } from 'node:os';
import { ExitError } from '../core/errors.js';
import { openStateStore } from '../stores/open-store.js';
import type { Approval, ApprovalStatus, StateStore } from '../stores/state-store.js';
import { loadConfigForCommand } from './config-source.js';

interface Common {
  config?: string;
  cwd: string;
  json?: boolean;
}

async function withStore<T>(
  options: Common,
  fn: (store: StateStore, config: Awaited<ReturnType<typeof loadConfigForCommand>>) => Promise<T>,
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

/** An approval by exact id or by a unique prefix of one (like git's short hashes). */
async function find(store: StateStore, id: string): Promise<Approval> {
  const exact = await store.getApproval(id);
  if (exact) return exact;
  if (id.length >= 4) {
    const matches = (await store.listApprovals({ status: 'all', limit: 10_000 })).filter((a) =>
      a.id.startsWith(id),
    );
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

function toJson(a: Approval): Record<string, unknown> {
  return {
    id: a.id,
    status: a.status,
    agent: a.agent,
    server: a.server,
    tool: a.tool,
    amount_usd: a.amountUsd,
    args_sha256: a.argsHash,
    args: safeParse(a.args),
    created_at: new Date(a.createdAt).toISOString(),
    expires_at: new Date(a.expiresAt).toISOString(),
    decided_at: a.decidedAt === null ? null : new Date(a.decidedAt).toISOString(),
    decided_by: a.decidedBy,
    note: a.note,
    consumed_at: a.consumedAt === null ? null : new Date(a.consumedAt).toISOString(),
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

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
  await withStore(options, async (store) => {
    const list = await store.listApprovals({ status, limit: 500 });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(list.map(toJson), null, 2)}\n`);
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
  await withStore(options, async (store) => {
    const a = await find(store, options.id);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(toJson(a), null, 2)}\n`);
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
    process.stdout.write(`arguments (redacted):\n${JSON.stringify(safeParse(a.args), null, 2)}\n`);
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
  await withStore(options, async (store, config) => {
    const target = await find(store, options.id);
    const result = await store.decideApproval(target.id, {
      decision: options.decision,
      by: actor(),
      note: options.note,
      nowMs: Date.now(),
      approvedTtlMs: config.policies.approvedTtlMs,
    });
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
    if (options.json) process.stdout.write(`${JSON.stringify(toJson(a), null, 2)}\n`);
    else if (options.decision === 'approved') {
      process.stdout.write(
        `approved ${a.id}: ${a.agent} → ${a.server}.${a.tool} (${money(a.amountUsd)}); the agent's next identical call runs once, before ${when(a.expiresAt)}\n`,
      );
    } else
      process.stdout.write(`denied ${a.id}: ${a.agent} → ${a.server}.${a.tool} (${money(a.amountUsd)})\n`);
  });
}
