/**
 * What the admin API reports besides approvals: recent calls (from the audit log), spend per agent
 * against its cap in the current window, and backend health. Read-only, off the request path.
 */
import { readLastLines } from '../audit/last-lines.js';
import type { AuditRecord } from '../audit/record.js';
import type { BackendStats } from '../backends/pool.js';
import { liveChildCount } from '../backends/stdio-transport.js';
import type { GuardConfig, ServerConfig } from '../config/types.js';
import type { BackendHealth } from '../gateway/gateway.js';
import { redactText } from '../redact/secret-text.js';
import { windowStart } from '../stages/spend/spend-stage.js';
import { fromMicros, type StateStore } from '../stores/state-store.js';

/** How far back /admin/calls looks: the newest records of the current audit file. */
export const CALLS_SCAN_LINES = 5_000;

export interface CallFilter {
  readonly agent?: string;
  /** `tool` or `server.tool`. */
  readonly tool?: string;
  readonly decision?: string;
  readonly limit: number;
}

export interface CallView {
  ts: string;
  agent: string | null;
  session: string | null;
  server: string | null;
  tool: string | null;
  method: string | null;
  decision: string | null;
  reason: string | null;
  amount_usd: number | null;
  approval_id: string | null;
  /** `ok`, `tool_error`, `error`, or `running` for a forwarded call whose result is not recorded yet. */
  outcome: string | null;
  error_code: number | string | null;
  latency_ms: number | null;
  args: unknown;
}

function parse(line: Buffer): AuditRecord | undefined {
  try {
    return JSON.parse(line.toString('utf8')) as AuditRecord;
  } catch {
    return undefined;
  }
}

/**
 * Governed calls, newest first, from the audit log: a refused call is one `call` line; a forwarded one
 * is a `call` line (the decision) and a `result` line (the outcome), shown as one entry.
 */
export async function recentCalls(auditPath: string, filter: CallFilter): Promise<CallView[]> {
  const { lines } = await readLastLines(auditPath, CALLS_SCAN_LINES);
  const records = lines.map(parse).filter((r): r is AuditRecord => r !== undefined);
  const finished = new Set<string>();
  const out: CallView[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < filter.limit; i--) {
    const r = records[i] as AuditRecord;
    if (r.event !== 'call' && r.event !== 'result') continue;
    const key = `${r.session}|${JSON.stringify(r.request_id)}`;
    if (r.event === 'result') finished.add(key);
    else if (r.outcome === null && finished.has(key)) continue; // its result line is shown
    if (filter.agent !== undefined && r.agent !== filter.agent) continue;
    if (filter.tool !== undefined && r.tool !== filter.tool && `${r.server}.${r.tool}` !== filter.tool)
      continue;
    if (filter.decision !== undefined && r.decision !== filter.decision) continue;
    out.push({
      ts: r.ts,
      agent: r.agent,
      session: r.session,
      server: r.server,
      tool: r.tool,
      method: r.method,
      decision: r.decision,
      reason: r.reason,
      amount_usd: r.amount_usd,
      approval_id: r.approval_id,
      outcome: r.outcome ?? 'running',
      error_code: r.error_code,
      latency_ms: r.latency_ms,
      args: r.args,
    });
  }
  return out;
}

export interface SpendView {
  window: { start: string; end: string; ms: number };
  agents: Array<{ agent: string; spent_usd: number; cap_usd: number | null; remaining_usd: number | null }>;
  global: { spent_usd: number; cap_usd: number | null };
}

/**
 * Spend in the current window per agent (those named in the config, by API keys, and seen in recent
 * approvals or `extraAgents`), with each one's cap; most spent first.
 */
export async function spendView(
  config: GuardConfig,
  store: StateStore,
  extraAgents: Iterable<string>,
  nowMs = Date.now(),
): Promise<SpendView> {
  const p = config.policies;
  const start = windowStart(nowMs, p.spendWindowMs);
  const agents = new Set<string>([...Object.keys(config.agents), ...config.auth.keys.map((k) => k.agent)]);
  for (const a of extraAgents) if (agents.size < 1_000) agents.add(a);
  for (const a of await store.listApprovals({ status: 'all', limit: 500 }, nowMs))
    if (agents.size < 1_000) agents.add(a.agent);
  const rows = await Promise.all(
    [...agents].map(async (agent) => {
      const spent = fromMicros(await store.getSpend(`agent:${agent}`, start));
      const cap = config.agents[agent]?.spendCapUsd ?? p.spendCapUsd ?? null;
      return {
        agent,
        spent_usd: spent,
        cap_usd: cap,
        remaining_usd: cap === null ? null : Math.max(0, Math.round((cap - spent) * 1e6) / 1e6),
      };
    }),
  );
  rows.sort((a, b) => b.spent_usd - a.spent_usd || a.agent.localeCompare(b.agent));
  return {
    window: {
      start: new Date(start).toISOString(),
      end: new Date(start + p.spendWindowMs).toISOString(),
      ms: p.spendWindowMs,
    },
    agents: rows,
    global: {
      spent_usd: fromMicros(await store.getSpend('global', start)),
      cap_usd: p.globalSpendCapUsd ?? null,
    },
  };
}

/** Agents named in the newest audit records (for the spend view). */
export async function recentAgents(auditPath: string | undefined): Promise<string[]> {
  if (!auditPath) return [];
  const { lines } = await readLastLines(auditPath, 2_000).catch(() => ({ lines: [] as Buffer[] }));
  const seen = new Set<string>();
  for (const line of lines) {
    const r = parse(line);
    if (r?.agent) seen.add(r.agent);
  }
  return [...seen];
}

export interface BackendView {
  name: string;
  kind: 'stdio' | 'remote';
  isolation: string;
  /** `up`, `down`, or `not_started` (per-session backends start with the first session). */
  status: 'up' | 'down' | 'not_started';
  since: string | null;
  error: string | null;
  /** Children (remote: upstream sessions) running or starting for this backend (null without pool figures). */
  children: number | null;
  /** `isolation: pooled`: size, children serving a request, requests waiting (null otherwise). */
  pool: Record<string, number> | null;
}

/** What the views need of the backend pool (BackendPool). */
export interface PoolFigures {
  stats(): readonly BackendStats[];
  isolationOf(server: ServerConfig): string;
}

/** Each configured backend's last known health, and the process-wide figures. */
export function backendsView(
  config: GuardConfig,
  health: ReadonlyMap<string, BackendHealth | undefined>,
  sessions: number,
  pool?: PoolFigures,
): { backends: BackendView[]; children: number; sessions: number } {
  const load = new Map((pool?.stats() ?? []).map((s) => [s.server, s]));
  return {
    backends: config.servers.map((s) => {
      const h = health.get(s.name);
      const l = load.get(s.name);
      const isolation = pool?.isolationOf(s) ?? s.isolation ?? 'default';
      return {
        name: s.name,
        kind: s.kind,
        isolation,
        status: h === undefined ? 'not_started' : h.up ? 'up' : 'down',
        since: h === undefined ? null : new Date(h.at).toISOString(),
        error: h?.up === false ? redactText(h.error ?? 'connection lost') : null,
        children: pool ? (l?.children ?? 0) : null,
        pool:
          isolation === 'pooled' && pool
            ? { size: s.pool.size, busy: l?.busy ?? 0, queued: l?.queued ?? 0 }
            : null,
      };
    }),
    children: liveChildCount(),
    sessions,
  };
}
