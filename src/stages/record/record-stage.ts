/**
 * Records every governed call (tools/call, prompts/get, resources/read) in the audit log and metrics.
 *
 * Two stages from one factory, because a decision and an outcome are recorded at different moments:
 * - `record` (outermost) writes the line for a refused call (denied, rate-limited, held, over the cap,
 *   unknown tool…) and, for a forwarded call, the outcome line (`result`) once the backend answered;
 * - `record_decision` (just before forward) writes the `call` line with decision `allowed` before the call
 *   is forwarded, so a crash while the backend works can never leave an allowed call unrecorded.
 * Both lines are written before the response reaches the agent. If the audit log cannot be written the
 * call fails closed: an unrecorded call is never forwarded, and an unrecorded result is never returned.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import { argsSha256 } from '../../audit/canonical-json.js';
import type { AuditDecision, AuditEvent, AuditOutcome } from '../../audit/record.js';
import { BackendRpcError, WIRE_ERRORS, WireError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';

const GOVERNED = new Set(['tools/call', 'prompts/get', 'resources/read']);

const DECISION_OF_REASON: Partial<Record<string, AuditDecision>> = {
  forbidden: 'denied',
  rate_limited: 'rate_limited',
  approval_pending: 'held',
  approval_denied: 'denied',
  approval_expired: 'denied',
  spend_cap_exceeded: 'spend_capped',
  unauthenticated: 'denied',
  tool_quarantined: 'denied',
};

/** Whether a call counts as governed: its decision and outcome are recorded (audit, metrics, traces). */
export function isGoverned(method: string): boolean {
  return GOVERNED.has(method);
}

/**
 * What was decided about a call that ended with `failure` (undefined: it succeeded). `forwarded`: it passed
 * every policy stage.
 */
export function callDecision(ctx: RequestContext, failure: unknown, forwarded: boolean): AuditDecision {
  if (forwarded) return ctx.decision.decision === 'approved' ? 'approved' : 'allowed';
  const wire = failure instanceof WireError ? failure : undefined;
  return ctx.decision.decision ?? (wire ? (DECISION_OF_REASON[wire.reason] ?? 'denied') : 'denied');
}

/** How a call ended: ok, a tool's own error (`isError`), or a JSON-RPC error. */
export function callOutcome(ctx: RequestContext, failure: unknown): 'ok' | 'tool_error' | 'error' {
  return failure === undefined ? (ctx.result?.['isError'] === true ? 'tool_error' : 'ok') : 'error';
}

/** The JSON-RPC error code the agent gets for `failure` (anything unmapped is -32603). */
export function errorCodeOf(failure: unknown): number {
  return failure instanceof WireError
    ? failure.code
    : failure instanceof BackendRpcError
      ? failure.error.code
      : WIRE_ERRORS.internal_error.code;
}

const FORWARDED = Symbol('forwarded');
const ARGS_SHA256 = Symbol('argsSha256');
type Marked = RequestContext & { [FORWARDED]?: true; [ARGS_SHA256]?: string };

export interface RecordDeps {
  readonly audit: AuditLog | undefined;
  readonly metrics: GatewayMetrics | undefined;
  readonly logger: Logger;
}

export function recordStages(
  deps: RecordDeps,
): { record: Stage<RequestContext>; decision: Stage<RequestContext> } | undefined {
  const { audit, metrics, logger } = deps;
  if (!audit && !metrics) return undefined;

  // Both lines of a call carry the same arguments: hashed once (a call's two lines cost one hash). The
  // hash is kept on the context, not in a WeakMap keyed by it: such a map grew by an entry per call
  // until a full GC, and its table and entries were promoted to the old generation (RSS under load).
  const hashOnce = (ctx: Marked, args: unknown): string => {
    let hash = ctx[ARGS_SHA256];
    if (hash === undefined) {
      hash = argsSha256(args);
      ctx[ARGS_SHA256] = hash;
    }
    return hash;
  };

  /**
   * A call's audit event, built as one object literal with every field. (Spreading a base object into a
   * literal with more keys took V8's slow path: about 8 µs and a dictionary-mode object per line.)
   */
  const eventOf = (
    ctx: RequestContext,
    event: 'call' | 'result',
    decision: AuditDecision,
    reason: string | null,
    outcome: AuditOutcome | null,
    errorCode: number | null,
    latencyMs: number | null,
  ): AuditEvent => {
    const t = ctx.target;
    const args =
      ctx.method === 'tools/call' || ctx.method === 'prompts/get'
        ? (ctx.params['arguments'] ?? {})
        : { uri: ctx.params['uri'] };
    return {
      event,
      agent: ctx.principal?.agent ?? null,
      session: ctx.session.id,
      server: t?.server ?? null,
      tool: t
        ? t.kind === 'resource'
          ? t.uri
          : t.name
        : typeof ctx.params['name'] === 'string'
          ? ctx.params['name']
          : null,
      method: ctx.method,
      request_id: ctx.request.id,
      args,
      args_sha256: hashOnce(ctx, args),
      amount_usd: ctx.decision.amountUsd ?? null,
      approval_id: ctx.decision.approvalId ?? null,
      decision,
      reason,
      outcome,
      error_code: errorCode,
      latency_ms: latencyMs,
    };
  };

  // Callers check `audit` first: with metrics alone, no event is built (nor its arguments hashed).
  const write = async (audit: AuditLog, event: AuditEvent): Promise<void> => {
    try {
      await audit.append(event);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'audit log write failed; the call is refused');
      throw new WireError(
        'internal_error',
        'The gateway could not record this call in its audit log; it was not completed',
      );
    }
  };

  const labels = (ctx: RequestContext) => {
    const t = ctx.target;
    if (!t) return { server: 'unknown', tool: 'unknown' };
    return {
      server: t.server,
      tool: t.kind === 'tool' ? t.name : t.kind === 'prompt' ? `prompt:${t.name}` : 'resource',
    };
  };

  const record = namedStage<RequestContext>('record', async (ctx, next) => {
    if (!GOVERNED.has(ctx.method)) return next();
    let failure: unknown;
    try {
      await next();
    } catch (err) {
      failure = err;
    }
    const forwarded = (ctx as Marked)[FORWARDED] === true;
    const latencyMs = Date.now() - ctx.startedAt;
    const wire = failure instanceof WireError ? failure : undefined;
    const decision = callDecision(ctx, failure, forwarded);
    const outcome = callOutcome(ctx, failure);
    const errorCode = failure === undefined ? null : errorCodeOf(failure);
    const l = labels(ctx);
    metrics?.requests.inc({ server: l.server, tool: l.tool, decision });
    metrics?.duration.observe(l, latencyMs / 1000);
    if (decision === 'rate_limited' && wire?.data?.['scope'])
      metrics?.rateLimited.inc({ scope: String(wire.data['scope']) });
    // Spend is what was sent to a backend with an amount, caps or not.
    if (forwarded && ctx.sent && ctx.decision.amountUsd) {
      metrics?.spend.inc(
        { agent: metrics.agentLabel(ctx.principal?.agent ?? 'anonymous') },
        ctx.decision.amountUsd,
      );
    }
    if (audit)
      await write(
        audit,
        eventOf(
          ctx,
          forwarded ? 'result' : 'call',
          decision,
          ctx.decision.reason ?? (wire && !forwarded ? wire.message : null),
          outcome,
          errorCode,
          latencyMs,
        ),
      );
    if (failure !== undefined) throw failure;
  });

  const decisionStage = namedStage<RequestContext>('record_decision', async (ctx, next) => {
    if (!GOVERNED.has(ctx.method)) return next();
    if (audit)
      await write(
        audit,
        eventOf(
          ctx,
          'call',
          ctx.decision.decision === 'approved' ? 'approved' : 'allowed',
          ctx.decision.reason ?? null,
          null,
          null,
          null,
        ),
      );
    (ctx as Marked)[FORWARDED] = true;
    await next();
  });

  return { record, decision: decisionStage };
}
