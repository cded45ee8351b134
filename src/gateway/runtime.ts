/**
 * The gateway's live state: the loaded config, its authenticator and the compiled pipeline, over
 * services that outlive a reload (backend pool, state store, audit log, metrics, notifier). A config
 * reload builds a new runtime and swaps it in one assignment; requests already running finish on the
 * runtime they started with.
 */
import type { AuditLog } from '../audit/audit-log.js';
import { type AuthEvents, Authenticator } from '../auth/authenticator.js';
import type { AuthFailureLimiter } from '../auth/failure-limiter.js';
import type { HttpAuthenticator } from '../auth/http-authenticator.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { BackendPool } from '../backends/pool.js';
import type { GuardConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { SessionRuntime } from '../mcp/session.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Notifier } from '../notify/notifier.js';
import { compose, type Stage } from '../pipeline/compose.js';
import type { RequestContext } from '../pipeline/context.js';
import { buildStages, describePipeline } from '../pipeline/pipeline.js';
import { createRedactor } from '../redact/redact-value.js';
import { guardStore } from '../stores/guarded-store.js';
import type { Approval, StateStore } from '../stores/state-store.js';
import type { Tracing } from '../telemetry/tracing.js';

export interface Services {
  readonly pool: BackendPool;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly env: NodeJS.ProcessEnv;
  readonly audit?: AuditLog;
  readonly metrics?: GatewayMetrics;
  readonly notifier: Notifier;
  /** Failed authentications per client address, kept across reloads. */
  readonly authFailures?: AuthFailureLimiter;
  /** Records a decision made elsewhere, once (audit line, notification); the approval stage calls it. */
  readonly onDecision?: (approval: Approval) => Promise<void>;
  /** Verifies the built-in authorization server's tokens (auth.mode oauth2, HTTP front only). */
  readonly tokenVerifier?: JwtVerifier;
  /** The issuer of those tokens and the resource they are for (for protected-resource metadata). */
  readonly oauthIssuer?: string;
  readonly oauthResource?: string;
  /** OpenTelemetry tracing, when `telemetry.enabled` (started once; a reload keeps it). */
  readonly tracing?: Tracing;
}

export interface Runtime extends SessionRuntime {
  readonly authenticator: Authenticator;
  readonly httpAuth: HttpAuthenticator;
  readonly stages: readonly Stage<RequestContext>[];
  describe(): string[];
}

/** What a refused authentication leaves behind: a metric and an audit line, written before the refusal. */
export function authFailureEvents(services: Pick<Services, 'audit' | 'metrics' | 'logger'>): AuthEvents {
  const { audit, metrics, logger } = services;
  return {
    // A failed write is logged; the refusal stands either way.
    onFailure: async ({ mode, reason, client }) => {
      metrics?.authFailures.inc({ mode });
      await audit
        ?.append({ event: 'auth_failed', reason, detail: { client } })
        .catch((err: Error) => logger.error({ err: err.message }, 'audit log write failed'));
    },
  };
}

/** Compiles a runtime for `config`. Throws if the config cannot be enforced (it never runs with less). */
export function createRuntime(config: GuardConfig, services: Services): Runtime {
  const { audit, metrics, notifier, logger } = services;
  const authenticator = new Authenticator(config, authFailureEvents(services), {
    limiter: services.authFailures,
    ...(config.auth.mode === 'oauth2' && services.tokenVerifier ? { jwt: services.tokenVerifier } : {}),
  });
  const redact = createRedactor({
    fields: config.policies.audit?.redactFields ?? [],
    maxStringLength: 1_024,
  });
  const stages = buildStages({
    config,
    authenticator,
    // Store failures refuse calls with -32016 naming the state store, never an anonymous -32603.
    store: guardStore(services.store),
    env: services.env,
    logger,
    audit,
    metrics,
    redact,
    notifier,
    approvals: {
      created: async (approval, ctx) => {
        await audit?.append({
          event: 'approval_created',
          agent: approval.agent,
          session: ctx.session.id,
          server: approval.server,
          tool: approval.tool,
          method: ctx.method,
          request_id: ctx.request.id,
          args: ctx.params['arguments'] ?? {},
          args_sha256: approval.argsHash,
          amount_usd: approval.amountUsd,
          decision: 'held',
          approval_id: approval.id,
        });
        notifier.notify('approval_created', approval);
      },
      decided: async (approval) => {
        await services.onDecision?.(approval);
      },
      link: (id) => notifier.linkTo(id),
    },
  });
  // Traced, every stage is wrapped in a span; untraced, the pipeline is exactly the stages.
  const run = services.tracing ? services.tracing.compose(stages) : compose(stages);
  return {
    config,
    pool: services.pool,
    logger,
    authenticator,
    httpAuth: authenticator.http(),
    stages,
    run,
    tracing: services.tracing,
    describe: () => describePipeline(stages),
  };
}
