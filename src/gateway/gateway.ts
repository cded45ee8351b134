/**
 * The gateway core shared by both fronts: the backend pool, the state store, the audit log, metrics,
 * notifications, and the current runtime (config + pipeline), with hot reload: a valid new config is
 * swapped in atomically for new requests; an invalid one is rejected with a clear log line and the old
 * one stays.
 */
import { isDeepStrictEqual } from 'node:util';
import { AuditLog } from '../audit/audit-log.js';
import { readLastLines } from '../audit/last-lines.js';
import { AuthFailureLimiter } from '../auth/failure-limiter.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { UpstreamRecords } from '../auth/upstream/records.js';
import { ENCRYPTION_KEY_ENV, resolveVaultKey, TokenVault } from '../auth/upstream/token-vault.js';
import { isOAuthServer, UpstreamOAuth, type UpstreamStatus } from '../auth/upstream/upstream-oauth.js';
import { BackendPool } from '../backends/pool.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/source.js';
import type { GuardConfig, Isolation } from '../config/types.js';
import { ExitError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { GatewayMetrics } from '../metrics/metrics.js';
import { Notifier } from '../notify/notifier.js';
import type { Approval, StateStore } from '../stores/state-store.js';
import { startTracing, type Tracing } from '../telemetry/tracing.js';
import { createRuntime, type Runtime, type Services } from './runtime.js';

/** What the gateway last saw of a backend: a probe at start, then every connect and loss. */
export interface BackendHealth {
  readonly up: boolean;
  readonly at: number;
  readonly error?: string;
}

/**
 * Prepares a front's part of a reload (e.g. the OAuth server for new users): throws to refuse the new
 * config, or returns what to switch over once the new runtime is in place.
 */
export type ReloadHook = (next: GuardConfig) => Promise<() => void>;

export type ReloadResult = { ok: true; changed: boolean } | { ok: false; error: string };

export interface GatewayOptions {
  readonly logger: Logger;
  readonly store: StateStore;
  readonly env?: NodeJS.ProcessEnv;
  /** How often decisions made elsewhere (the CLI) are picked up for the audit log. */
  readonly decisionPollMs?: number;
  /** Front-specific checks a reloaded config must pass too (e.g. auth on a public address). */
  readonly validate?: (config: GuardConfig) => string | undefined;
  /** Isolation of servers that set none: `pooled` under serve-http, `per_session` (default) under serve. */
  readonly defaultIsolation?: Isolation;
}

export class Gateway {
  readonly pool: BackendPool;
  readonly store: StateStore;
  readonly audit: AuditLog | undefined;
  readonly metrics: GatewayMetrics;
  readonly notifier: Notifier;
  readonly logger: Logger;
  private runtime: Runtime;
  private services: Services;
  private readonly env: NodeJS.ProcessEnv;
  private readonly validate: GatewayOptions['validate'];
  private readonly decisionTimer: NodeJS.Timeout;
  private decisionsSeenUntil: number;
  /** Decisions this gateway has recorded (bounded), so the poll and the approval stage record each once. */
  private readonly recordedDecisions = new Set<string>();
  private readonly backendHealth = new Map<string, BackendHealth>();
  private readonly reloadHooks: ReloadHook[] = [];
  private probing: Promise<void> | undefined;
  private closing = false;
  /** Upstream OAuth of remote servers with `oauth:` (tokens in the state store). */
  readonly upstream: UpstreamOAuth;
  private adminTokens: JwtVerifier | undefined;

  /** OpenTelemetry tracing, when the config turned it on at start. */
  private readonly tracing: Tracing | undefined;

  private constructor(
    config: GuardConfig,
    options: GatewayOptions,
    audit: AuditLog | undefined,
    resume: { readonly sinceMs: number; readonly recorded: readonly string[] },
    tracing: Tracing | undefined,
  ) {
    this.tracing = tracing;
    this.decisionsSeenUntil = resume.sinceMs;
    for (const id of resume.recorded) this.recordedDecisions.add(id);
    this.logger = options.logger;
    this.store = options.store;
    this.env = options.env ?? process.env;
    this.validate = options.validate;
    this.audit = audit;
    this.upstream = new UpstreamOAuth(
      new UpstreamRecords(new TokenVault(options.store, resolveVaultKey(config.state, this.env))),
      options.logger,
    );
    this.pool = new BackendPool(options.logger, (server, up) => this.setBackendHealth(server, { up }), {
      defaultIsolation: options.defaultIsolation,
      authFor: (server, agent) => this.upstream.authFor(server, agent),
      traceHeaders: tracing !== undefined,
    });
    this.metrics = new GatewayMetrics(config, {
      approvalsPending: () => this.store.countPending(Date.now()),
      backendStats: () => this.pool.stats(),
    });
    this.notifier = new Notifier(config.notify, options.logger, { publicUrl: config.http.publicUrl });
    this.services = {
      pool: this.pool,
      logger: this.logger,
      store: this.store,
      env: this.env,
      audit,
      metrics: this.metrics,
      notifier: this.notifier,
      onDecision: (approval) => this.recordDecision(approval),
      authFailures: new AuthFailureLimiter(config.rateLimit.authFailuresPerMinute, {
        store: this.store,
        scope: 'mcp',
        logger: this.logger,
      }),
      tracing,
    };
    this.runtime = createRuntime(config, this.services);
    // Decisions are made elsewhere (the CLI, another replica): the gateway records and announces them.
    this.decisionTimer = setInterval(() => void this.pollDecisions(), options.decisionPollMs ?? 1_000);
    this.decisionTimer.unref();
    this.logger.info(
      { stages: this.runtime.describe(), auth: config.auth.mode, store: this.store.kind },
      'pipeline ready',
    );
  }

  /** Opens the audit log named by the config (if any) and builds the gateway. Closes the store on failure. */
  static async open(config: GuardConfig, options: GatewayOptions): Promise<Gateway> {
    let audit: AuditLog | undefined;
    let tracing: Tracing | undefined;
    try {
      const missing = upstreamKeyProblem(config, options.env ?? process.env);
      if (missing) throw new ExitError(1, missing);
      tracing = await startTracing(config.telemetry, options.logger);
      const a = config.policies.audit;
      if (a) {
        audit = await AuditLog.open({
          path: a.path,
          fsync: a.fsync,
          rotateBytes: a.rotateBytes,
          keepFiles: a.keepFiles,
          redact: { fields: a.redactFields, maxStringLength: a.maxValueLength },
          onWarning: (message) => options.logger.warn(message),
        });
      }
      return new Gateway(config, options, audit, await decisionResumePoint(audit), tracing);
    } catch (err) {
      await tracing?.shutdown().catch(() => {});
      await audit?.close().catch(() => {});
      await options.store.close().catch(() => {});
      throw err;
    }
  }

  private setBackendHealth(server: string, health: { up: boolean; error?: string }): void {
    this.backendHealth.set(server, { ...health, at: Date.now() });
    this.metrics.backendUp.set({ server }, health.up ? 1 : 0);
  }

  /**
   * Starts every configured backend once so readiness means "the backends can be started", not only
   * "the config parsed". A pooled server keeps the child the probe started (the first session does not
   * wait for a spawn); a per-session backend is started, initialized and closed again.
   */
  probeBackends(): Promise<void> {
    this.probing ??= Promise.all(
      this.config.servers.map(async (server) => {
        // Per-user OAuth backends connect with each user's token: there is nobody to probe as.
        if (isOAuthServer(server) && server.oauth.tokens === 'per_user') return;
        try {
          await this.pool.probe(server);
          this.setBackendHealth(server.name, { up: true });
        } catch (err) {
          if (this.closing) return; // stopped by close(): not a backend failure
          const error = (err as Error).message;
          this.logger.warn({ server: server.name, err: error }, 'backend failed its start-up probe');
          this.setBackendHealth(server.name, { up: false, error });
        }
      }),
    ).then(() => {});
    return this.probing;
  }

  /** The upstream OAuth state of every remote server with `oauth:` (no secrets; for /readyz and the admin API). */
  upstreamStatus(): Promise<UpstreamStatus[]> {
    return this.upstream.status(this.config);
  }

  /** Each configured backend's last known state; undefined for one not started yet. */
  backends(): Map<string, BackendHealth | undefined> {
    return new Map(this.config.servers.map((s) => [s.name, this.backendHealth.get(s.name)]));
  }

  /** Adds a hook that every reload must pass (see ReloadHook). */
  onReload(hook: ReloadHook): void {
    this.reloadHooks.push(hook);
  }

  /** Turns on the built-in authorization server's tokens (serve-http with auth.mode oauth2). */
  enableOAuth(oauth: {
    readonly issuer: string;
    readonly resource: string;
    verifier(): JwtVerifier;
    adminVerifier(): JwtVerifier;
  }): void {
    this.services = {
      ...this.services,
      tokenVerifier: oauth.verifier(),
      oauthIssuer: oauth.issuer,
      oauthResource: oauth.resource,
    };
    this.adminTokens = oauth.adminVerifier();
    this.runtime = createRuntime(this.runtime.config, this.services);
  }

  /**
   * Verifies an access token of the built-in authorization server for the admin API: the `admin` scope,
   * held by a user still allowed it (undefined when the authorization server is off).
   */
  get adminTokenVerifier(): JwtVerifier | undefined {
    return this.adminTokens;
  }

  /** Issuer and resource of the built-in authorization server, when it is on. */
  get oauth(): { issuer: string; resource: string } | undefined {
    const { oauthIssuer, oauthResource } = this.services;
    return oauthIssuer && oauthResource ? { issuer: oauthIssuer, resource: oauthResource } : undefined;
  }

  /** The runtime new requests use. */
  current(): Runtime {
    return this.runtime;
  }

  get config(): GuardConfig {
    return this.runtime.config;
  }

  /** Re-reads the config file. Settings that need a restart (state store, audit file) are refused. */
  async reload(): Promise<ReloadResult> {
    const file = this.runtime.config.source;
    const reject = (error: string): ReloadResult => {
      this.logger.error({ file }, `config reload rejected, keeping the running config:\n${error}`);
      return { ok: false, error };
    };
    let next: GuardConfig;
    try {
      next = await loadConfig(file, this.env);
    } catch (err) {
      return reject(err instanceof ConfigError ? err.message : String(err));
    }
    const current = this.runtime.config;
    if (!isDeepStrictEqual(next.state, current.state))
      return reject(`${file}: state: the state store cannot change while running; restart the gateway`);
    if ((next.auth.mode === 'oauth2') !== (current.auth.mode === 'oauth2')) {
      return reject(
        `${file}: auth.mode: oauth2 cannot be switched on or off while running; restart the gateway`,
      );
    }
    if (next.policies.audit?.path !== current.policies.audit?.path)
      return reject(
        `${file}: policies.audit_log: the audit file cannot change while running; restart the gateway`,
      );
    const refusal = this.validate?.(next) ?? upstreamKeyProblem(next, this.env);
    if (refusal) return reject(`${file}: ${refusal}`);
    if (isDeepStrictEqual(next, current)) return { ok: true, changed: false };
    let runtime: Runtime;
    const switchOvers: Array<() => void> = [];
    try {
      runtime = createRuntime(next, this.services);
      for (const hook of this.reloadHooks) switchOvers.push(await hook(next));
    } catch (err) {
      return reject((err as Error).message);
    }
    this.runtime = runtime;
    for (const switchOver of switchOvers) switchOver();
    this.metrics.updateConfig(next);
    this.notifier.update(next.notify, next.http.publicUrl);
    if (!isDeepStrictEqual(next.http, current.http))
      this.logger.warn('http settings changed: host, port and limits apply after a restart');
    if (!isDeepStrictEqual(next.telemetry, current.telemetry))
      this.logger.warn('telemetry settings changed: they apply after a restart');
    if (!isDeepStrictEqual(next.servers, current.servers))
      this.logger.info('servers changed: new sessions use the new servers');
    this.logger.info({ file, stages: this.runtime.describe() }, 'config reloaded');
    return { ok: true, changed: true };
  }

  /** Picks up decisions made since the last poll (by the CLI or another replica) and records them. */
  async pollDecisions(): Promise<void> {
    // Nothing to record or announce: skip the store round trip (and do not announce old decisions
    // once a reload turns notifications on).
    if (!this.audit && !this.notifier.enabled) {
      this.decisionsSeenUntil = Date.now();
      return;
    }
    try {
      const decided = await this.store.decisionsSince(this.decisionsSeenUntil, 200);
      for (const a of decided) {
        await this.recordDecision(a);
        this.decisionsSeenUntil = Math.max(this.decisionsSeenUntil, a.decidedAt ?? 0);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not read approval decisions');
    }
  }

  /**
   * Records a decision once: an `approval_decided` audit line (called by the approval stage before the
   * approved call's own line, and by the poll for the rest) and the humans' notification, which of all
   * replicas on the store exactly one sends.
   */
  async recordDecision(a: Approval): Promise<void> {
    if (a.decidedAt === null || this.recordedDecisions.has(a.id)) return;
    this.recordedDecisions.add(a.id);
    if (this.recordedDecisions.size > 10_000) {
      const oldest = this.recordedDecisions.values().next().value;
      if (oldest !== undefined) this.recordedDecisions.delete(oldest);
    }
    await this.audit?.append({
      event: 'approval_decided',
      agent: a.agent,
      server: a.server,
      tool: a.tool,
      args_sha256: a.argsHash,
      amount_usd: a.amountUsd,
      decision: a.status === 'denied' ? 'denied' : 'approved',
      reason: a.note,
      approval_id: a.id,
      detail: { decided_by: a.decidedBy },
    });
    if (
      this.notifier.enabled &&
      (await this.store.kvPut('notified', `${a.id}:decided`, '1', { ifAbsent: true, ttlMs: 30 * DAY_MS }))
    )
      this.notifier.notify('approval_decided', a);
  }

  /** Closes shared backends, the audit log and the store (sessions close their own backends). */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.decisionTimer);
    await this.pool.close();
    await this.pollDecisions();
    // Notifications under way get a few seconds; a receiver that never answers must not hold up a stop.
    const settled = await Promise.race([
      this.notifier.idle().then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 5_000).unref()),
    ]);
    if (!settled) this.logger.warn('stopping with approval notifications still undelivered');
    await this.audit?.close();
    await this.services.authFailures?.close();
    await this.store.close();
    // Last: the spans of everything closed above are ended, and are exported now.
    await this.tracing?.shutdown();
  }
}

const DAY_MS = 86_400_000;

/**
 * Where the decision poll resumes: from the audit log's last line (decisions made while the gateway was
 * down are recorded when it starts again), a little before it in case the last poll had not run, with the
 * decisions already in the log's tail left out. Without an audit log: from now.
 */
async function decisionResumePoint(
  audit: AuditLog | undefined,
): Promise<{ sinceMs: number; recorded: string[] }> {
  const now = Date.now();
  if (!audit) return { sinceMs: now, recorded: [] };
  const { lines } = await readLastLines(audit.path, 500).catch(() => ({ lines: [] as Buffer[] }));
  const recorded: string[] = [];
  let lastTs: number | undefined;
  for (const line of lines) {
    try {
      const record = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
      const ts = Date.parse(String(record['ts']));
      if (Number.isFinite(ts)) lastTs = ts;
      if (record['event'] === 'approval_decided' && typeof record['approval_id'] === 'string')
        recorded.push(record['approval_id']);
    } catch {
      // a partial last line (a crash mid-write): the chain check reports it; nothing to resume from
    }
  }
  return { sinceMs: lastTs === undefined ? now : Math.min(now, lastTs - 5_000), recorded };
}

/** Why upstream OAuth cannot run with this config: tokens need an encryption key. */
function upstreamKeyProblem(config: GuardConfig, env: NodeJS.ProcessEnv): string | undefined {
  const names = config.servers.filter(isOAuthServer).map((s) => s.name);
  if (names.length === 0) return undefined;
  try {
    if (resolveVaultKey(config.state, env)) return undefined;
  } catch (err) {
    return (err as Error).message;
  }
  return `servers ${names.join(', ')} use oauth: set state.encryption_key or ${ENCRYPTION_KEY_ENV} (32+ characters) so their tokens are stored encrypted`;
}
