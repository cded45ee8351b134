/**
 * The request pipeline, written down once. Every client→server request (initialize and ping included)
 * runs these stages in this order:
 *
 *   authenticate    who is calling — first, so an unauthenticated caller learns nothing else (stdio: -32010;
 *                   over HTTP a failure is already a 401 before the pipeline)
 *   record          audit log + metrics for governed calls: outermost after authentication, so every
 *                   refusal below and every outcome is recorded before the agent hears of it
 *   route           which backend and which original name the request addresses, so policy decides on
 *                   `server.tool`, never on an exposed alias
 *   authorize       allow/deny (-32011) — before rate limits (as agentgateway orders them): a forbidden call
 *                   costs no quota and no store round trip; lists are filtered on the way back
 *   pin             tool pinning (-32017 under enforce): after authorize, so a forbidden call is refused
 *                   without a store round trip; before rate limits, cost and spend, so a quarantined call
 *                   costs no quota and reserves nothing. It checks the definition a call was resolved to,
 *                   and pins (and under enforce filters) every listed tool, prompt and resource template
 *                   on the way back — all of a server's, whoever lists them: a definition changes for
 *                   everyone at once
 *   rate_limit      per agent, per tool, global (-32012), one atomic store operation
 *   cost            the call's amount (-32602 for a bad one) — for approval, spend and audit
 *   spend           reserve the amount against the caps atomically (-32013) — before approval, so a call
 *                   the cap would refuse is never held for a human, and an approved retry that the cap
 *                   refuses keeps its approval; a call that is held (or never sent) gives it back
 *   approval        hold at or above the threshold (-32004), consume an approval atomically on the retry
 *   record_decision the `call` audit line, written before forwarding (a crash mid-call loses nothing)
 *   forward         execute on the backend(s)
 *
 * A stage whose feature is off is left out when the pipeline is built, so the hot path pays only for
 * what is on.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { GuardConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { type ApprovalEvents, approvalStage } from '../stages/approval/approval-stage.js';
import { authenticateStage } from '../stages/authenticate/authenticate-stage.js';
import { authorizeStage } from '../stages/authorize/authorize-stage.js';
import { NamePolicy } from '../stages/authorize/name-policy.js';
import { costStage } from '../stages/cost/cost-stage.js';
import { forwardStage } from '../stages/forward/forward-stage.js';
import { type PinNotifier, pinStage } from '../stages/pin/pin-stage.js';
import { rateLimitStage } from '../stages/rate-limit/rate-limit-stage.js';
import { recordStages } from '../stages/record/record-stage.js';
import { routeStage } from '../stages/route/route-stage.js';
import { spendStage } from '../stages/spend/spend-stage.js';
import type { StateStore } from '../stores/state-store.js';
import type { Stage } from './compose.js';
import type { RequestContext } from './context.js';

export interface PipelineDeps {
  readonly config: GuardConfig;
  readonly authenticator: Authenticator;
  readonly store: StateStore;
  /** Environment of the `serve` process (MCP_GUARD_API_KEY for the stdio front). */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly audit?: AuditLog;
  readonly metrics?: GatewayMetrics;
  readonly approvals: ApprovalEvents;
  /** Redacts arguments kept for humans (approvals). */
  readonly redact: (value: unknown) => unknown;
  /** Where a changed or flagged tool definition is announced (the gateway's notifier). */
  readonly notifier?: PinNotifier;
}

/** Builds the ordered stage list for a config; stages that have nothing to do are left out. */
export function buildStages(deps: PipelineDeps): Stage<RequestContext>[] {
  const { config, store, metrics } = deps;
  const record = recordStages({ audit: deps.audit, metrics, logger: deps.logger });
  const stages: Array<Stage<RequestContext> | undefined> = [
    authenticateStage(deps.authenticator, deps.env),
    record?.record,
    routeStage(),
    authorizeStage(new NamePolicy(config)),
    pinStage({ config, store, logger: deps.logger, audit: deps.audit, notifier: deps.notifier }),
    rateLimitStage(config, store),
    costStage(config),
    spendStage(config, store),
    approvalStage({ config, store, events: deps.approvals, redact: deps.redact }),
    record?.decision,
    forwardStage(),
  ];
  return stages.filter((s): s is Stage<RequestContext> => s !== undefined);
}

/** Stage names in order (for logs and `config check`). */
export function describePipeline(stages: readonly Stage<RequestContext>[]): string[] {
  return stages.map((s) => s.stageName ?? 'anonymous');
}
