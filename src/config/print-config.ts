/**
 * The effective config in config syntax, for `mcp-guard config check`: the keys of the file
 * (snake_case, durations as text, every default written out, paths absolute, no nulls), so the output is
 * itself a config that loads to the same thing and prints the same again.
 *
 * Secrets never appear. API keys are printed as their SHA-256 digest (the form `keys new` puts in a
 * config). Any other secret is printed as the file wrote it when the file took it from the environment
 * (`${VAR}`, `Bearer ${TOKEN}`: references without a default, around text that holds no secret), and
 * otherwise as `!masked "<what can be shown>"`: the loader refuses that tag, so a printed config never
 * runs with a placeholder in place of a credential.
 */
import { fileURLToPath } from 'node:url';
import { Document, isScalar, parseDocument, type Tags } from 'yaml';
import { REDACTED, redactText } from '../redact/secret-text.js';
import { unnamedAgentId } from './normalize.js';
import { MASKED_TAG } from './source.js';
import type { ApiKeyRecord, GuardConfig, ServerConfig, StateConfig, TelemetryConfig } from './types.js';

/** A value printed as `!masked "<shown>"`. */
class Masked {
  constructor(readonly shown: string) {}
}

const maskedTag: Tags[number] = {
  tag: MASKED_TAG,
  identify: (value) => value instanceof Masked,
  resolve: (text: string) => new Masked(text),
  stringify: (item) => JSON.stringify((item as { value: Masked }).value.shown),
};

const SECRET_NAME = /(token|secret|passw(or)?d|api[-_]?key|auth|credential|cookie|private)/i;
/** A command-line flag whose value is the next argument: `--password x`, `-api-key x`, `--token x`. */
const SECRET_FLAG =
  /^--?[\w.-]*(token|secret|passw(or)?d|passphrase|api[-_]?key|credentials?|private[-_]?key)$/i;
const REFERENCE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/g;

type Path = ReadonlyArray<string | number>;
type Plain = Record<string, unknown>;

/** Durations as the file writes them: the largest unit that divides exactly (`90s`, `5m`, `1d`). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const)
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  return ms === 0 ? '0s' : `${ms}ms`;
}

/** Drops undefined entries, so the output has no nulls and no empty keys. */
function compact(object: Plain): Plain {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));
}

interface RawFile {
  /** Whether the file has a value at `path`. */
  has(path: Path): boolean;
  /**
   * The value at `path` as written, when it is `${VAR}` references without a default around text that
   * holds no secret (so it can be printed as is); else undefined.
   */
  reference(path: Path): string | undefined;
}

/** Reads the file as written (before `${VAR}` expansion) to find how each secret was given. */
function rawFile(text: string): RawFile {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true });
  return {
    has: (path) => doc.hasIn(path as unknown[]),
    reference(path) {
      const node = doc.getIn(path as unknown[], true);
      if (!isScalar(node) || typeof node.value !== 'string') return undefined;
      const raw = node.value;
      if (raw.includes('$${') || !raw.includes('${')) return undefined;
      // Only references without a `:-default` match REFERENCE; a default would be a literal secret.
      if (/\$\{[^}]*:-/.test(raw)) return undefined;
      const rest = raw.replace(REFERENCE, '');
      return redactText(rest) === rest ? raw : undefined;
    },
  };
}

/** Prints the effective config as YAML (see the module comment). `text` is the file the config came from. */
export function printConfig(config: GuardConfig, text: string): string {
  const raw = rawFile(text);
  /** A secret: the file's own reference text when it has one, else masked. */
  const secret = (path: Path, shown = '***'): string | Masked => raw.reference(path) ?? new Masked(shown);
  /** A value that is shown unless masking would change it. */
  const maybeSecret = (path: Path, value: string, masked: string): string | Masked =>
    masked === value ? value : secret(path, masked);

  const keys = (list: readonly ApiKeyRecord[]) =>
    list.map((k) => {
      const hex = k.sha256.toString('hex');
      return k.agent === unnamedAgentId(k.sha256) ? `sha256:${hex}` : { agent: k.agent, key_sha256: hex };
    });

  const { auth } = config;
  const authOut: Plain = { mode: auth.mode };
  if (auth.mode === 'api_key') authOut['keys'] = keys(auth.keys);
  if (auth.jwt) {
    const j = auth.jwt;
    authOut['jwt'] = compact({
      secret: j.secret === undefined ? undefined : secret(['auth', 'jwt', 'secret']),
      public_key: j.publicKey,
      public_key_file: j.publicKeyFile,
      jwks_url: j.jwksUrl,
      algorithms: j.algorithms,
      issuer: j.issuer,
      audience: j.audience,
      agent_claim: j.agentClaim,
      clock_tolerance: formatDuration(j.clockToleranceMs),
      required_scopes: j.requiredScopes,
      typ: j.typ,
    });
  }
  if (auth.oauth2) {
    const o = auth.oauth2;
    const at = (...rest: Path) => ['auth', 'oauth2', ...rest];
    authOut['oauth2'] = compact({
      issuer: o.issuer,
      access_token_ttl: formatDuration(o.accessTokenTtlMs),
      refresh_token_ttl: formatDuration(o.refreshTokenTtlMs),
      code_ttl: formatDuration(o.codeTtlMs),
      device_code_ttl: formatDuration(o.deviceCodeTtlMs),
      session_max_age: formatDuration(o.sessionMaxAgeMs),
      scopes: o.scopes,
      required_scopes: o.requiredScopes,
      // Only a salted hash of each password is kept: the file's own reference, or masked.
      users: o.users.map((u, i) => {
        const key = raw.has(at('users', i, 'password_sha256')) ? 'password_sha256' : 'password';
        return compact({ name: u.name, [key]: secret(at('users', i, key)), scopes: u.scopes });
      }),
      clients: o.clients.map((c, i) =>
        compact({
          client_id: c.clientId,
          client_secret: c.clientSecretSha256 ? secret(at('clients', i, 'client_secret')) : undefined,
          redirect_uris: c.redirectUris,
          name: c.name,
        }),
      ),
      dynamic_registration: o.dynamicRegistration,
      registrations_per_minute: o.registrationsPerMinute,
      dynamic_client_ttl: formatDuration(o.dynamicClientTtlMs),
      authorization_requests_per_minute: o.authorizationRequestsPerMinute,
      signing_key_file: o.signingKeyFile,
      client_id_metadata_documents: o.clientIdMetadataDocuments,
    });
  }

  const p = config.policies;
  const out: Plain = {
    auth: authOut,
    rate_limit: compact({
      requests_per_minute: config.rateLimit.requestsPerMinute,
      global_requests_per_minute: config.rateLimit.globalRequestsPerMinute,
      per_tool: config.rateLimit.perTool,
      auth_failures_per_minute: config.rateLimit.authFailuresPerMinute,
    }),
    policies: compact({
      spend_cap_usd: p.spendCapUsd,
      global_spend_cap_usd: p.globalSpendCapUsd,
      spend_window: formatDuration(p.spendWindowMs),
      require_approval_above: p.requireApprovalAbove,
      approval_ttl: formatDuration(p.approvalTtlMs),
      approved_ttl: formatDuration(p.approvedTtlMs),
      approval_mode: p.approvalMode,
      approval_wait: formatDuration(p.approvalWaitMs),
      allow: p.allow,
      deny: p.deny,
      audit_log: p.audit?.path,
      audit: p.audit
        ? compact({
            fsync: p.audit.fsync,
            rotate_bytes: p.audit.rotateBytes,
            keep_files: p.audit.keepFiles,
            redact_fields: p.audit.redactFields,
            max_value_length: p.audit.maxValueLength,
          })
        : undefined,
      tools: Object.fromEntries(
        Object.entries(p.tools).map(([tool, t]) => [
          tool,
          compact({
            cost:
              t.cost === undefined
                ? undefined
                : t.cost.kind === 'fixed'
                  ? { usd: t.cost.usd }
                  : { argument: t.cost.path.join('.'), scale: t.cost.scale },
            require_approval_above: t.requireApprovalAbove,
          }),
        ]),
      ),
      pinning: p.pinning,
    }),
    agents: Object.fromEntries(
      Object.entries(config.agents).map(([name, a]) => [
        name,
        compact({
          allow: a.allow,
          deny: a.deny,
          rate_limit: compact({ requests_per_minute: a.requestsPerMinute, per_tool: a.perTool }),
          spend_cap_usd: a.spendCapUsd,
          require_approval_above: a.requireApprovalAbove,
        }),
      ]),
    ),
    servers: Object.fromEntries(config.servers.map((s) => [s.name, printServer(s, secret, maybeSecret)])),
    routes: { ...config.routes, ...(config.defaultRoute ? { default: config.defaultRoute } : {}) },
    state: printState(config.state, secret, maybeSecret),
    notify: config.notify
      ? compact({
          // A Slack webhook's path is its credential.
          slack_webhook_url:
            config.notify.slackWebhookUrl === undefined
              ? undefined
              : secret(['notify', 'slack_webhook_url'], maskUrl(config.notify.slackWebhookUrl, false)),
          webhook_url:
            config.notify.webhookUrl === undefined
              ? undefined
              : maybeSecret(
                  ['notify', 'webhook_url'],
                  config.notify.webhookUrl,
                  maskUrl(config.notify.webhookUrl),
                ),
          webhook_secret:
            config.notify.webhookSecret === undefined ? undefined : secret(['notify', 'webhook_secret']),
          timeout: formatDuration(config.notify.timeoutMs),
        })
      : undefined,
    http: compact({
      host: config.http.host,
      port: config.http.port,
      public_url: config.http.publicUrl,
      allowed_hosts: config.http.allowedHosts,
      allowed_origins: config.http.allowedOrigins,
      trusted_proxies: config.http.trustedProxies,
      max_body_bytes: config.http.maxBodyBytes,
      session_idle_ttl: formatDuration(config.http.sessionIdleTtlMs),
      max_sessions: config.http.maxSessions,
    }),
    metrics: { enabled: config.metrics.enabled, public: config.metrics.public },
    admin: compact({
      keys: config.adminKeys.length > 0 ? keys(config.adminKeys) : undefined,
      session_ttl: formatDuration(config.adminSessionTtlMs),
    }),
    telemetry: printTelemetry(config.telemetry, secret, maybeSecret),
  };
  return new Document(compact(out), { customTags: [maskedTag] }).toString({ lineWidth: 0 });
}

type SecretFn = (path: Path, shown?: string) => string | Masked;
type MaybeSecretFn = (path: Path, value: string, masked: string) => string | Masked;

/**
 * Environment variables or headers: a secret-named entry is hidden whole; any other still goes through
 * the text redactor, since a secret often hides under an innocent name (DATABASE_URL=postgres://u:pw@…).
 */
function printEntries(
  at: Path,
  entries: Readonly<Record<string, string>>,
  secret: SecretFn,
  maybeSecret: MaybeSecretFn,
): Plain {
  return Object.fromEntries(
    Object.entries(entries).map(([k, v]) => [
      k,
      SECRET_NAME.test(k) ? secret([...at, k]) : maybeSecret([...at, k], v, redactText(v)),
    ]),
  );
}

function printServer(s: ServerConfig, secret: SecretFn, maybeSecret: MaybeSecretFn): Plain {
  const at = (...rest: Path) => ['servers', s.name, ...rest];
  const map = (key: 'env' | 'headers', entries: Readonly<Record<string, string>>) =>
    printEntries(at(key), entries, secret, maybeSecret);
  const common = {
    prefix: s.prefix,
    allow: s.allow,
    deny: s.deny,
    timeout: formatDuration(s.timeoutMs),
    connect_timeout: formatDuration(s.connectTimeoutMs),
    isolation: s.isolation,
    // The pool's settings exist only where the server may be pooled (unset: the front decides).
    ...(s.isolation === undefined || s.isolation === 'pooled'
      ? {
          pool_size: s.pool.size,
          pool_queue: s.pool.queue,
          pool_queue_timeout: formatDuration(s.pool.queueTimeoutMs),
          pool_calls_per_child: s.pool.callsPerChild,
        }
      : {}),
    agent_roots: s.agentRoots,
  };
  if (s.kind === 'stdio') {
    return compact({
      command: maybeSecret(at('command'), s.command, redactText(s.command)),
      args: s.args.map((arg, i) => {
        // The argument after a secret-named flag (`--password hunter2`) is hidden whole.
        const previous = i > 0 ? s.args[i - 1] : undefined;
        if (previous !== undefined && SECRET_FLAG.test(previous) && !arg.startsWith('-'))
          return secret(at('args', i), REDACTED);
        return maybeSecret(at('args', i), arg, redactText(arg));
      }),
      env: map('env', s.env),
      cwd: s.cwd,
      // Printed only when set: roots and agent_roots exclude each other in the file.
      roots: s.roots.length > 0 ? s.roots.map((r) => fileURLToPath(r)) : undefined,
      ...common,
    });
  }
  const o = s.oauth;
  return compact({
    url: maybeSecret(at('url'), s.url, maskUrl(s.url)),
    headers: map('headers', s.headers),
    transport: s.transport,
    oauth: o
      ? compact({
          client_id: o.clientId,
          client_secret: o.clientSecret === undefined ? undefined : secret(at('oauth', 'client_secret')),
          scopes: o.scopes ?? 'auto',
          client_metadata_url: o.clientMetadataUrl,
          redirect_uri: o.redirectUri,
          tokens: o.tokens,
          refresh_before: formatDuration(o.refreshBeforeMs),
        })
      : undefined,
    ...common,
  });
}

function printTelemetry(t: TelemetryConfig, secret: SecretFn, maybeSecret: MaybeSecretFn): Plain {
  const at = (...rest: Path) => ['telemetry', 'otlp', ...rest];
  return {
    enabled: t.enabled,
    service_name: t.serviceName,
    sample_ratio: t.sampleRatio,
    batch_delay: formatDuration(t.batchDelayMs),
    otlp: {
      endpoint: maybeSecret(at('endpoint'), t.otlp.endpoint, maskUrl(t.otlp.endpoint)),
      protocol: t.otlp.protocol,
      headers: printEntries(at('headers'), t.otlp.headers, secret, maybeSecret),
      timeout: formatDuration(t.otlp.timeoutMs),
    },
  };
}

function printState(state: StateConfig, secret: SecretFn, maybeSecret: MaybeSecretFn): Plain {
  const encryption_key = state.encryptionKey === undefined ? undefined : secret(['state', 'encryption_key']);
  if (state.store === 'sqlite') return compact({ store: 'sqlite', path: state.path, encryption_key });
  const url = maybeSecret(['state', 'url'], state.url, maskUrl(state.url));
  return state.store === 'redis'
    ? compact({ store: 'redis', url, prefix: state.prefix, encryption_key })
    : compact({ store: 'postgres', url, schema: state.schema, encryption_key });
}

/**
 * A URL with its password and its query values hidden (a query often carries an API key), and, unless
 * `keepPath`, its path; unchanged when it has none of these.
 */
function maskUrl(raw: string, keepPath = true): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '***';
  }
  if (!url.password && !url.search && keepPath) return redactText(raw);
  if (url.password) url.password = '***';
  if (!keepPath) url.pathname = '/***';
  const names = [...url.searchParams.keys()];
  url.search = names.map((n) => `${encodeURIComponent(n)}=***`).join('&');
  return url.toString();
}
