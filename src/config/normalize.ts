/**
 * Steps 2 and 3 of loading a config: turn the validated file form into the one internal form
 * (GuardConfig), then cross-check what a schema cannot see (a route to an unknown server, auth mode
 * without credentials, an HMAC algorithm next to a public key…). Problems carry the key path so the
 * loader can name the line.
 */
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { addressList } from '../core/address-list.js';
import { parseDuration } from './duration.js';
import type { ApiKeyEntryFile, ConfigFile } from './schema.js';
import type { ConfigProblem } from './source.js';
import type {
  AgentConfig,
  ApiKeyRecord,
  AuthConfig,
  CostRule,
  GuardConfig,
  HttpConfig,
  JwtConfig,
  OAuth2Config,
  PasswordHash,
  PoliciesConfig,
  ServerConfig,
  StateConfig,
  TelemetryConfig,
  ToolPolicy,
} from './types.js';

export const DEFAULTS = {
  httpHost: '127.0.0.1',
  httpPort: 8080,
  maxBodyBytes: 4 * 1024 * 1024,
  sessionIdleTtlMs: 30 * 60_000,
  maxSessions: 100,
  serverTimeoutMs: 60_000,
  connectTimeoutMs: 30_000,
  spendWindowMs: 86_400_000,
  approvalTtlMs: 3_600_000,
  approvedTtlMs: 3_600_000,
  approvalWaitMs: 5 * 60_000,
  adminSessionTtlMs: 12 * 3_600_000,
  authFailuresPerMinute: 10,
  auditKeepFiles: 5,
  auditMaxValueLength: 1024,
  notifyTimeoutMs: 5_000,
  jwtClockToleranceMs: 30_000,
  sqlitePath: 'mcp-guard.db',
  poolSize: 4,
  poolQueue: 128,
  poolQueueTimeoutMs: 30_000,
  poolCallsPerChild: 16,
  serviceName: 'mcp-guard',
  otlpEndpoint: 'http://127.0.0.1:4318/v1/traces',
  otlpTimeoutMs: 10_000,
  // The OpenTelemetry SDK's own default (OTEL_BSP_SCHEDULE_DELAY).
  batchDelayMs: 5_000,
} as const;

/** Thrown by normalize(); the loader adds file and line to each problem. */
export class NormalizeError extends Error {
  constructor(readonly problems: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>) {
    super(problems.map((p) => p.message).join('; '));
    this.name = 'NormalizeError';
  }
}

const ms = (value: string | number | undefined, fallback: number): number =>
  value === undefined ? fallback : (parseDuration(value) ?? fallback);

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * scrypt cost for configured passwords (Node's defaults: 16 MiB, tens of ms). The hash guards the copy in
 * memory (heap snapshots, core dumps); each sign-in pays this cost once, behind the failure limiter.
 */
const SCRYPT = { N: 2 ** 14, r: 8, p: 1 } as const;

/** A salted scrypt hash of a password's SHA-256 digest (the only form of a user's password kept). */
function scryptHash(digest: Buffer): PasswordHash {
  const salt = randomBytes(16);
  const hash = scryptSync(digest, salt, 32, { ...SCRYPT, maxmem: 32 * 1024 * 1024 });
  return { algorithm: 'scrypt', ...SCRYPT, salt, hash };
}

/** The agent id of an unnamed key: `key-<first 8 hex of its sha256>` (SPEC §2). */
export function unnamedAgentId(digest: Buffer): string {
  return `key-${digest.toString('hex').slice(0, 8)}`;
}

function toKeyRecord(entry: ApiKeyEntryFile): ApiKeyRecord {
  if (typeof entry === 'string') {
    const digest =
      entry.startsWith('sha256:') && /^sha256:[0-9a-fA-F]{64}$/.test(entry)
        ? Buffer.from(entry.slice(7), 'hex')
        : sha256(entry);
    return { agent: unnamedAgentId(digest), sha256: digest };
  }
  if ('key' in entry) return { agent: entry.agent, sha256: sha256(entry.key) };
  return { agent: entry.agent, sha256: Buffer.from(entry.key_sha256.replace(/^sha256:/, ''), 'hex') };
}

/** A loopback http redirect URI with an explicit port (where `backends login` listens). */
function isLoopbackRedirect(uri: string): boolean {
  const url = new URL(uri);
  return (
    url.protocol === 'http:' &&
    url.port !== '' &&
    ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) &&
    !url.hash &&
    !url.search
  );
}

/** Turns a validated config file into the frozen internal form, or throws NormalizeError. */
export function normalize(file: ConfigFile, source: string): GuardConfig {
  const problems: Array<{ path: readonly PropertyKey[]; message: string }> = [];
  const problem = (p: readonly PropertyKey[], message: string) => problems.push({ path: p, message });
  const baseDir = path.dirname(source);
  const resolvePath = (p: string) => path.resolve(baseDir, p);

  // --- auth ---
  const authFile = { ...file.auth, mode: file.auth?.mode ?? 'none' };
  const keys = (authFile.keys ?? []).map(toKeyRecord);
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const hex = k.sha256.toString('hex');
    if (seen.has(hex)) problem(['auth', 'keys', i], `duplicates key #${(seen.get(hex) ?? 0) + 1}`);
    seen.set(hex, i);
  });
  if (authFile.mode === 'api_key' && keys.length === 0) {
    problem(['auth', 'mode'], 'api_key mode needs at least one entry in auth.keys');
  }
  if (authFile.mode !== 'api_key' && authFile.keys !== undefined) {
    problem(
      ['auth', 'keys'],
      `keys are only used with mode api_key (mode is ${authFile.mode}); remove them or set the mode`,
    );
  }
  let jwt: JwtConfig | undefined;
  if (authFile.mode === 'jwt') {
    if (!authFile.jwt)
      problem(
        ['auth', 'mode'],
        'jwt mode needs an auth.jwt block (secret, public_key or jwks_url; issuer; audience)',
      );
    else jwt = normalizeJwt(authFile.jwt, resolvePath, problem);
  } else if (authFile.jwt !== undefined) {
    problem(['auth', 'jwt'], `auth.jwt is only used with mode jwt (mode is ${authFile.mode})`);
  }
  let oauth2: OAuth2Config | undefined;
  if (authFile.mode === 'oauth2') {
    const o = authFile.oauth2 ?? {};
    const scopes = o.scopes ?? ['mcp'];
    for (const s of o.required_scopes ?? []) {
      if (!scopes.includes(s))
        problem(
          ['auth', 'oauth2', 'required_scopes'],
          `${s} is not in auth.oauth2.scopes (${scopes.join(', ')}): no token could carry it`,
        );
    }
    // One spelling of the issuer for everyone (metadata, tokens, the 401 challenge): without a trailing
    // slash, so `${issuer}/.well-known/…` never gets two.
    const issuer = o.issuer?.replace(/\/+$/, '');
    if (o.issuer !== undefined && /[?#]/.test(o.issuer))
      problem(['auth', 'oauth2', 'issuer'], 'must be a URL without a query or fragment (RFC 8414 §2)');
    for (const key of ['session_max_age', 'dynamic_client_ttl'] as const) {
      if (o[key] !== undefined && ms(o[key], 0) <= 0)
        problem(['auth', 'oauth2', key], 'must be longer than 0');
    }
    oauth2 = {
      issuer,
      accessTokenTtlMs: ms(o.access_token_ttl, 3_600_000),
      refreshTokenTtlMs: ms(o.refresh_token_ttl, 30 * 86_400_000),
      codeTtlMs: ms(o.code_ttl, 60_000),
      deviceCodeTtlMs: ms(o.device_code_ttl, 600_000),
      sessionMaxAgeMs: ms(o.session_max_age, 30 * 86_400_000),
      scopes,
      // The admin scope opens the admin API, not /mcp: never required there unless asked for.
      requiredScopes: o.required_scopes ?? scopes.filter((s) => s !== 'admin'),
      users: (o.users ?? []).map((u, i) => {
        if ((u.password === undefined) === (u.password_sha256 === undefined)) {
          problem(['auth', 'oauth2', 'users', i], 'give exactly one of password or password_sha256');
        }
        for (const s of u.scopes ?? []) {
          if (!scopes.includes(s))
            problem(
              ['auth', 'oauth2', 'users', i, 'scopes'],
              `${s} is not in auth.oauth2.scopes (${scopes.join(', ')})`,
            );
        }
        const digest =
          u.password !== undefined
            ? sha256(u.password)
            : Buffer.from((u.password_sha256 ?? '').replace(/^sha256:/, ''), 'hex');
        return {
          name: u.name,
          password: scryptHash(digest),
          ...(u.scopes === undefined ? {} : { scopes: u.scopes }),
        };
      }),
      clients: (o.clients ?? []).map((c) => ({
        clientId: c.client_id,
        clientSecretSha256: c.client_secret === undefined ? undefined : sha256(c.client_secret),
        redirectUris: c.redirect_uris,
        name: c.name,
      })),
      dynamicRegistration: o.dynamic_registration ?? true,
      registrationsPerMinute: o.registrations_per_minute ?? 10,
      dynamicClientTtlMs: ms(o.dynamic_client_ttl, 30 * 86_400_000),
      authorizationRequestsPerMinute: o.authorization_requests_per_minute ?? 60,
      signingKeyFile: o.signing_key_file === undefined ? undefined : resolvePath(o.signing_key_file),
      clientIdMetadataDocuments: o.client_id_metadata_documents ?? true,
    };
  } else if (authFile.oauth2 !== undefined) {
    problem(['auth', 'oauth2'], `auth.oauth2 is only used with mode oauth2 (mode is ${authFile.mode})`);
  }
  const auth: AuthConfig = { mode: authFile.mode, keys, jwt, oauth2 };

  // --- servers and routes ---
  const servers: ServerConfig[] = [];
  for (const [name, s] of Object.entries(file.servers)) {
    const common = {
      name,
      prefix: s.prefix ?? false,
      allow: s.allow,
      deny: s.deny ?? [],
      timeoutMs: ms(s.timeout, DEFAULTS.serverTimeoutMs),
      connectTimeoutMs: ms(s.connect_timeout, DEFAULTS.connectTimeoutMs),
      isolation: s.isolation,
      pool: {
        size: s.pool_size ?? DEFAULTS.poolSize,
        queue: s.pool_queue ?? DEFAULTS.poolQueue,
        queueTimeoutMs: ms(s.pool_queue_timeout, DEFAULTS.poolQueueTimeoutMs),
        callsPerChild: s.pool_calls_per_child ?? DEFAULTS.poolCallsPerChild,
      },
      agentRoots: s.agent_roots ?? false,
    };
    if (s.agent_roots && 'roots' in s && s.roots !== undefined)
      problem(
        ['servers', name, 'agent_roots'],
        'roots (from config) and agent_roots (from the agent) exclude each other',
      );
    if (s.isolation !== undefined && s.isolation !== 'pooled') {
      for (const key of ['pool_size', 'pool_queue', 'pool_queue_timeout', 'pool_calls_per_child'] as const) {
        if (s[key] !== undefined)
          problem(
            ['servers', name, key],
            `is only used with isolation: pooled (isolation is ${s.isolation})`,
          );
      }
    }
    if (common.pool.queueTimeoutMs <= 0)
      problem(['servers', name, 'pool_queue_timeout'], 'must be longer than 0');
    if ('command' in s) {
      servers.push({
        ...common,
        kind: 'stdio',
        command: s.command,
        args: s.args ?? [],
        env: s.env ?? {},
        cwd: s.cwd === undefined ? undefined : resolvePath(s.cwd),
        roots: (s.roots ?? []).map((r) => pathToFileURL(resolvePath(r)).href),
      });
    } else {
      const oauth = s.oauth === undefined ? undefined : s.oauth === 'auto' ? {} : s.oauth;
      const at = (k: string) => ['servers', name, 'oauth', k];
      if (oauth) {
        if (Object.keys(s.headers ?? {}).some((h) => h.toLowerCase() === 'authorization'))
          problem(
            ['servers', name, 'headers'],
            'an Authorization header and oauth both set: the gateway sends its OAuth token; remove one',
          );
        if (oauth.client_secret !== undefined && oauth.client_id === undefined)
          problem(at('client_secret'), 'a client_secret needs its client_id');
        if (oauth.redirect_uri !== undefined && !isLoopbackRedirect(oauth.redirect_uri))
          problem(
            at('redirect_uri'),
            'must be http on a loopback address with an explicit port, e.g. http://127.0.0.1:8976/callback',
          );
        if (oauth.tokens === 'per_user' && s.isolation === 'shared')
          problem(
            at('tokens'),
            'per_user tokens need isolation: per_session (a shared connection has no single user)',
          );
        if (oauth.tokens === 'per_user' && authFile.mode !== 'oauth2')
          problem(at('tokens'), 'per_user tokens need auth.mode oauth2 (users who sign in to the gateway)');
      }
      servers.push({
        ...common,
        kind: 'remote',
        url: s.url,
        headers: s.headers ?? {},
        transport: s.transport ?? 'streamable-http',
        roots: [],
        ...(oauth
          ? {
              oauth: {
                ...(oauth.client_id === undefined ? {} : { clientId: oauth.client_id }),
                ...(oauth.client_secret === undefined ? {} : { clientSecret: oauth.client_secret }),
                ...(oauth.scopes === undefined || oauth.scopes === 'auto' ? {} : { scopes: oauth.scopes }),
                ...(oauth.client_metadata_url === undefined
                  ? {}
                  : { clientMetadataUrl: oauth.client_metadata_url }),
                ...(oauth.redirect_uri === undefined ? {} : { redirectUri: oauth.redirect_uri }),
                tokens: oauth.tokens ?? 'service',
                refreshBeforeMs: ms(oauth.refresh_before, 60_000),
              },
            }
          : {}),
      });
    }
  }
  if (servers.length === 0) problem(['servers'], 'at least one server is needed');
  const serverNames = new Set(servers.map((s) => s.name));
  const routes: Record<string, string> = {};
  let defaultRoute: string | undefined;
  for (const [tool, server] of Object.entries(file.routes ?? {})) {
    if (!serverNames.has(server)) {
      problem(
        ['routes', tool],
        `routes to unknown server "${server}" (servers: ${[...serverNames].join(', ')})`,
      );
    }
    if (tool === 'default') defaultRoute = server;
    else routes[tool] = server;
  }

  // --- policies ---
  const p = file.policies ?? {};
  const tools: Record<string, ToolPolicy> = {};
  for (const [tool, t] of Object.entries(p.tools ?? {})) {
    let cost: CostRule | undefined;
    if (t.cost && 'usd' in t.cost) cost = { kind: 'fixed', usd: t.cost.usd };
    else if (t.cost) cost = { kind: 'argument', path: t.cost.argument.split('.'), scale: t.cost.scale ?? 1 };
    tools[tool] = { cost, requireApprovalAbove: t.require_approval_above };
  }
  const policies: PoliciesConfig = {
    spendCapUsd: p.spend_cap_usd,
    globalSpendCapUsd: p.global_spend_cap_usd,
    spendWindowMs: ms(p.spend_window, DEFAULTS.spendWindowMs),
    requireApprovalAbove: p.require_approval_above,
    approvalTtlMs: ms(p.approval_ttl, DEFAULTS.approvalTtlMs),
    approvedTtlMs: ms(p.approved_ttl, DEFAULTS.approvedTtlMs),
    approvalMode: p.approval_mode ?? 'error',
    approvalWaitMs: ms(p.approval_wait, DEFAULTS.approvalWaitMs),
    allow: p.allow,
    deny: p.deny ?? [],
    audit:
      p.audit_log === undefined
        ? undefined
        : {
            path: resolvePath(p.audit_log),
            fsync: p.audit?.fsync ?? 'interval',
            rotateBytes: p.audit?.rotate_bytes,
            keepFiles: p.audit?.keep_files ?? DEFAULTS.auditKeepFiles,
            redactFields: p.audit?.redact_fields ?? [],
            maxValueLength: p.audit?.max_value_length ?? DEFAULTS.auditMaxValueLength,
          },
    tools,
    pinning: p.pinning ?? 'warn',
  };
  if (p.audit !== undefined && p.audit_log === undefined) {
    problem(['policies', 'audit'], 'audit settings need policies.audit_log (the file to write)');
  }
  if (policies.spendWindowMs <= 0) problem(['policies', 'spend_window'], 'must be longer than 0');
  if (p.approval_wait !== undefined && policies.approvalWaitMs <= 0)
    problem(['policies', 'approval_wait'], 'must be longer than 0');

  // --- agents ---
  const agents: Record<string, AgentConfig> = {};
  for (const [name, a] of Object.entries(file.agents ?? {})) {
    agents[name] = {
      allow: a.allow,
      deny: a.deny ?? [],
      requestsPerMinute: a.rate_limit?.requests_per_minute,
      perTool: a.rate_limit?.per_tool ?? {},
      spendCapUsd: a.spend_cap_usd,
      requireApprovalAbove: a.require_approval_above,
    };
  }

  // --- state, notify, http ---
  const stateFile = file.state ?? { store: 'sqlite' as const };
  const { encryption_key: encryptionKey, ...stateRest } = stateFile as typeof stateFile & {
    encryption_key?: string;
  };
  const keyPart = encryptionKey === undefined ? {} : { encryptionKey };
  const state: StateConfig =
    stateRest.store === 'sqlite'
      ? { store: 'sqlite', path: resolvePath(stateRest.path ?? DEFAULTS.sqlitePath), ...keyPart }
      : { ...stateRest, ...keyPart };
  const h = file.http ?? {};
  const http: HttpConfig = {
    host: h.host ?? DEFAULTS.httpHost,
    port: h.port ?? DEFAULTS.httpPort,
    publicUrl: h.public_url?.replace(/\/+$/, ''),
    allowedHosts: h.allowed_hosts ?? [],
    allowedOrigins: h.allowed_origins ?? [],
    trustedProxies: h.trusted_proxies ?? [],
    maxBodyBytes: h.max_body_bytes ?? DEFAULTS.maxBodyBytes,
    sessionIdleTtlMs: ms(h.session_idle_ttl, DEFAULTS.sessionIdleTtlMs),
    maxSessions: h.max_sessions ?? DEFAULTS.maxSessions,
  };
  try {
    addressList(http.trustedProxies);
  } catch (err) {
    problem(['http', 'trusted_proxies'], (err as Error).message);
  }
  const notify = file.notify && {
    slackWebhookUrl: file.notify.slack_webhook_url,
    webhookUrl: file.notify.webhook_url,
    webhookSecret: file.notify.webhook_secret,
    timeoutMs: ms(file.notify.timeout, DEFAULTS.notifyTimeoutMs),
  };

  if (file.notify?.webhook_secret !== undefined && file.notify.webhook_url === undefined)
    problem(['notify', 'webhook_secret'], 'signs webhook bodies: it needs notify.webhook_url');
  const adminKeys = (file.admin?.keys ?? []).map(toKeyRecord);
  // An agent must never hold an admin credential: one key in both lists would make it one.
  adminKeys.forEach((k, i) => {
    if (seen.has(k.sha256.toString('hex')))
      problem(['admin', 'keys', i], 'is also an agent key in auth.keys: admin keys must be separate');
  });
  const adminSessionTtlMs = ms(file.admin?.session_ttl, DEFAULTS.adminSessionTtlMs);
  if (adminSessionTtlMs <= 0) problem(['admin', 'session_ttl'], 'must be longer than 0');

  const t = file.telemetry ?? {};
  const telemetry: TelemetryConfig = {
    enabled: t.enabled ?? false,
    serviceName: t.service_name ?? DEFAULTS.serviceName,
    sampleRatio: t.sample_ratio ?? 1,
    batchDelayMs: ms(t.batch_delay, DEFAULTS.batchDelayMs),
    otlp: {
      endpoint: t.otlp?.endpoint ?? DEFAULTS.otlpEndpoint,
      protocol: t.otlp?.protocol ?? 'http/protobuf',
      headers: t.otlp?.headers ?? {},
      timeoutMs: ms(t.otlp?.timeout, DEFAULTS.otlpTimeoutMs),
    },
  };
  if (telemetry.otlp.timeoutMs <= 0) problem(['telemetry', 'otlp', 'timeout'], 'must be longer than 0');

  if (problems.length > 0) throw new NormalizeError(problems);

  return deepFreeze({
    source,
    auth,
    rateLimit: {
      requestsPerMinute: file.rate_limit?.requests_per_minute,
      globalRequestsPerMinute: file.rate_limit?.global_requests_per_minute,
      perTool: file.rate_limit?.per_tool ?? {},
      authFailuresPerMinute: file.rate_limit?.auth_failures_per_minute ?? DEFAULTS.authFailuresPerMinute,
    },
    policies,
    agents,
    servers,
    routes,
    defaultRoute,
    state,
    notify,
    http,
    metrics: { enabled: file.metrics?.enabled ?? true, public: file.metrics?.public ?? false },
    adminKeys,
    adminSessionTtlMs,
    telemetry,
  });
}

function normalizeJwt(
  j: NonNullable<NonNullable<ConfigFile['auth']>['jwt']>,
  resolvePath: (p: string) => string,
  problem: (p: readonly PropertyKey[], message: string) => void,
): JwtConfig {
  const at = (k: string) => ['auth', 'jwt', k];
  const sources = [j.secret, j.public_key, j.public_key_file, j.jwks_url].filter((v) => v !== undefined);
  if (sources.length !== 1) {
    problem(['auth', 'jwt'], 'give exactly one key source: secret, public_key, public_key_file or jwks_url');
  }
  if (j.jwks_url !== undefined && new URL(j.jwks_url).protocol !== 'https:') {
    // The keys that decide who an agent is must not travel in clear text (loopback is for tests and
    // sidecars on the same host).
    const host = new URL(j.jwks_url).hostname;
    if (!['localhost', '127.0.0.1', '[::1]'].includes(host) && !host.startsWith('127.'))
      problem(at('jwks_url'), 'must be https:// (http only to a loopback address)');
  }
  const hmac = j.secret !== undefined;
  let algorithms = j.algorithms;
  if (!algorithms) {
    if (hmac) algorithms = ['HS256'];
    else
      problem(at('algorithms'), 'pin the accepted algorithms (e.g. [RS256]) when using a public key or JWKS');
  }
  // Algorithm confusion (an RS256 public key used as an HMAC secret) is refused at load time.
  for (const alg of algorithms ?? []) {
    if (hmac !== alg.startsWith('HS')) {
      problem(
        at('algorithms'),
        hmac
          ? `${alg} needs a public key, but a shared secret is configured`
          : `${alg} needs a shared secret, but a public key is configured`,
      );
    }
  }
  if (hmac && (j.secret?.length ?? 0) < 32)
    problem(at('secret'), 'an HMAC secret must be at least 32 characters');
  return {
    secret: j.secret,
    publicKey: j.public_key,
    jwksUrl: j.jwks_url,
    ...(j.public_key_file === undefined ? {} : { publicKeyFile: resolvePath(j.public_key_file) }),
    algorithms: algorithms ?? [],
    issuer: j.issuer,
    audience: Array.isArray(j.audience) ? j.audience : [j.audience],
    agentClaim: j.agent_claim ?? 'sub',
    clockToleranceMs: ms(j.clock_tolerance, DEFAULTS.jwtClockToleranceMs),
    requiredScopes: j.required_scopes ?? [],
    ...(j.typ === undefined ? {} : { typ: j.typ }),
  };
}

/**
 * Freezes the config and drops the prototype of its plain objects: names from the file (agents, tools,
 * servers) are looked up as keys, and an agent called `constructor` or a tool called `toString` must
 * find nothing rather than an Object.prototype method.
 */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !Object.isFrozen(value)) {
    if (Object.getPrototypeOf(value) === Object.prototype) Object.setPrototypeOf(value, null);
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export type { ConfigProblem };
