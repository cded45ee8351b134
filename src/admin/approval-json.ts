/**
 * One JSON form of an approval for everyone outside the gateway: `approvals … --json` (local and remote),
 * the admin API, the dashboard, the event stream and the webhook body. `args` is the redacted arguments
 * as an object (as stored for the human deciding), never the text they are stored as.
 */
import type { Approval, ApprovalStatus } from '../stores/state-store.js';

export interface ApprovalJson {
  id: string;
  status: ApprovalStatus;
  agent: string;
  server: string;
  tool: string;
  amount_usd: number | null;
  args_sha256: string;
  args: unknown;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  note: string | null;
  consumed_at: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The JSON form of an approval. */
export function approvalToJson(a: Approval): ApprovalJson {
  return {
    id: a.id,
    status: a.status,
    agent: a.agent,
    server: a.server,
    tool: a.tool,
    amount_usd: a.amountUsd,
    args_sha256: a.argsHash,
    args: parseArgs(a.args),
    created_at: new Date(a.createdAt).toISOString(),
    expires_at: new Date(a.expiresAt).toISOString(),
    decided_at: iso(a.decidedAt),
    decided_by: a.decidedBy,
    note: a.note,
    consumed_at: iso(a.consumedAt),
  };
}

/** The stored (redacted) arguments as a value; text that is not JSON stays text. */
export function parseArgs(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'consumed'];

/** Reads an approval back from its JSON form (the remote CLI prints what the local one prints). */
export function approvalFromJson(value: unknown): Approval {
  const o = (value ?? {}) as Record<string, unknown>;
  const text = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw new TypeError(`approval field ${k} is missing or not text`);
    return v;
  };
  const textOrNull = (k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
  const time = (k: string): number => {
    const t = Date.parse(text(k));
    if (!Number.isFinite(t)) throw new TypeError(`approval field ${k} is not a time`);
    return t;
  };
  const timeOrNull = (k: string): number | null => (typeof o[k] === 'string' ? time(k) : null);
  const status = text('status') as ApprovalStatus;
  if (!STATUSES.includes(status)) throw new TypeError(`approval status ${status} is unknown`);
  const amount = o['amount_usd'];
  return {
    id: text('id'),
    status,
    agent: text('agent'),
    server: text('server'),
    tool: text('tool'),
    amountUsd: typeof amount === 'number' ? amount : null,
    argsHash: text('args_sha256'),
    args: JSON.stringify(o['args'] ?? {}),
    createdAt: time('created_at'),
    expiresAt: time('expires_at'),
    decidedAt: timeOrNull('decided_at'),
    decidedBy: textOrNull('decided_by'),
    note: textOrNull('note'),
    consumedAt: timeOrNull('consumed_at'),
  };
}
