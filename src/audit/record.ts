/**
 * The audit record of SPEC §5: what callers pass in (`AuditEvent`) and the line that is written
 * (`AuditRecord`). Every line carries every field, `null` when it does not apply, in one fixed order,
 * so `jq`, SIEM parsers and `audit tail` see one shape whatever the event.
 */
import type { Redactor } from '../redact/redact-value.js';
import { argsSha256 } from './canonical-json.js';
import { AuditError } from './errors.js';

/** `prev_hash` of the first line of a fresh log. */
export const GENESIS_HASH = '0'.repeat(64);

export type AuditDecision = 'allowed' | 'denied' | 'rate_limited' | 'held' | 'approved' | 'spend_capped';
export type AuditOutcome = 'ok' | 'tool_error' | 'error';

/** What a caller records. Absent fields are written as null. */
export interface AuditEvent {
  /** `call`, `approval_created`, `approval_decided`, `auth_failed`, `tool_changed`, … */
  event: string;
  /** Defaults to the time of the append() call. */
  ts?: Date;
  agent?: string | null;
  session?: string | null;
  server?: string | null;
  tool?: string | null;
  method?: string | null;
  request_id?: string | number | null;
  /** The unredacted arguments: hashed into `args_sha256`, then written redacted. */
  args?: unknown;
  /** Pass it when already computed (the approval stage hashes the same canonical arguments). */
  args_sha256?: string | null;
  amount_usd?: number | null;
  decision?: AuditDecision | null;
  reason?: string | null;
  approval_id?: string | null;
  outcome?: AuditOutcome | null;
  error_code?: number | string | null;
  latency_ms?: number | null;
  /** Event-specific extras (e.g. old and new tool hashes for `tool_changed`); redacted like args. */
  detail?: Record<string, unknown> | null;
}

/** One parsed line of the log. */
export interface AuditRecord {
  ts: string;
  event: string;
  agent: string | null;
  session: string | null;
  server: string | null;
  tool: string | null;
  method: string | null;
  request_id: string | number | null;
  args_sha256: string | null;
  args: unknown;
  amount_usd: number | null;
  decision: string | null;
  reason: string | null;
  approval_id: string | null;
  outcome: string | null;
  error_code: number | string | null;
  latency_ms: number | null;
  detail: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

function own(value: string | null | undefined): string | null {
  return value === undefined || value === null ? null : String(value);
}

function text(redact: Redactor, value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  return redact(String(value)) as string;
}

/** A finite number (optionally rounded), or null: NaN and Infinity never reach the log. */
function finite(value: number | null | undefined, decimals?: number): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  if (decimals === undefined) return value;
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/**
 * Serialises an event to the start of its line: the JSON object without `prev_hash`, `hash` and the
 * closing brace, which sealLine() adds once the line's place in the chain is known. Redaction and
 * hashing of the arguments happen here, at append() time, so later changes to the caller's objects
 * cannot change what is written.
 */
export function serializeEvent(ev: AuditEvent, redact: Redactor): string {
  if (typeof ev.event !== 'string' || ev.event.length === 0) {
    throw new AuditError('AUDIT_INVALID_RECORD', 'audit event needs a non-empty "event" name');
  }
  const hasArgs = ev.args !== undefined;
  let hash: string | null = ev.args_sha256 ?? null;
  if (hash === null && hasArgs) {
    try {
      hash = argsSha256(ev.args);
    } catch (err) {
      throw new AuditError(
        'AUDIT_INVALID_RECORD',
        `audit event arguments are not JSON data: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
  }
  const requestId =
    typeof ev.request_id === 'number' ? finite(ev.request_id) : text(redact, ev.request_id as string | null);
  const errorCode =
    typeof ev.error_code === 'number' ? finite(ev.error_code) : text(redact, ev.error_code as string | null);
  // The gateway's own words (event and decision names, its session and approval ids, configured server
  // names, the JSON-RPC method) are written as they are: the redactor is for what agents and backends
  // send, and must never mangle an id that happens to look like a key.
  const body = {
    ts: (ev.ts ?? new Date()).toISOString(),
    event: own(ev.event),
    agent: text(redact, ev.agent),
    session: own(ev.session),
    server: own(ev.server),
    tool: text(redact, ev.tool),
    method: text(redact, ev.method),
    request_id: requestId,
    args_sha256: hash,
    args: hasArgs ? (redact(ev.args) ?? null) : null,
    amount_usd: finite(ev.amount_usd),
    decision: own(ev.decision),
    reason: text(redact, ev.reason),
    approval_id: own(ev.approval_id),
    outcome: own(ev.outcome),
    error_code: errorCode,
    latency_ms: finite(ev.latency_ms, 3),
    detail: ev.detail === undefined || ev.detail === null ? null : (redact(ev.detail) ?? null),
  };
  const json = JSON.stringify(body);
  return json.slice(0, -1);
}
