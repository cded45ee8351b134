/**
 * The effective config as a plain object for display (`config check`), with every secret masked:
 * API keys appear only as a digest prefix, passwords, tokens and secret-looking env/header values as
 * `***`, URL passwords and webhook paths removed. Never print a config any other way.
 */
import { REDACTED, redactText } from '../redact/secret-text.js';
import type { ApiKeyRecord, GuardConfig, ServerConfig } from './types.js';

const SECRET_NAME = /(token|secret|passw(or)?d|api[-_]?key|auth|credential|cookie|private)/i;
/** A command-line flag whose value is the next argument: `--password x`, `-api-key x`, `--token x`. */
const SECRET_FLAG =
  /^--?[\w.-]*(token|secret|passw(or)?d|passphrase|api[-_]?key|credentials?|private[-_]?key)$/i;
const MASK = '***';

function maskKey(k: ApiKeyRecord): Record<string, string> {
  return { agent: k.agent, key_sha256: `${k.sha256.toString('hex').slice(0, 8)}…` };
}

function maskUrl(raw: string, keepPath = true): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = MASK;
    if (!keepPath) url.pathname = '/***';
    url.search = url.search ? '?***' : '';
    return url.toString();
  } catch {
    return MASK;
  }
}

/** A server's isolation as `config check` shows it: unset depends on the front; pool settings when pooled. */
function isolationOf(s: ServerConfig): Record<string, unknown> {
  const pool = {
    pool_size: s.pool.size,
    pool_queue: s.pool.queue,
    pool_queue_timeout_ms: s.pool.queueTimeoutMs,
  };
  if (s.isolation === undefined)
    return { isolation: 'default (serve-http: pooled, serve: per_session)', ...pool };
  return s.isolation === 'pooled' ? { isolation: 'pooled', ...pool } : { isolation: s.isolation };
}

/**
 * Env and header values: a secret-named entry is masked whole; any other value still goes through the
 * text redactor, because a secret often hides under an innocent name (DATABASE_URL=postgres://u:pw@…).
 */
function maskMap(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [k, SECRET_NAME.test(k) ? MASK : redactText(v)]),
  );
}

/**
 * Server arguments: each one through the text redactor (`--api-key=sk-…`, URLs with a password), and the
 * argument after a secret-named flag (`--password hunter2`) masked whole, since nothing in it says secret.
 */
function maskArgs(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const previous = i > 0 ? args[i - 1] : undefined;
    if (previous !== undefined && SECRET_FLAG.test(previous) && !arg.startsWith('-')) return REDACTED;
    return redactText(arg);
  });
}

function maskState(state: GuardConfig['state']): Record<string, unknown> {
  const { encryptionKey, ...rest } = state;
  return {
    ...(rest.store === 'sqlite' ? rest : { ...rest, url: maskUrl(rest.url) }),
    ...(encryptionKey ? { encryption_key: MASK } : {}),
  };
}

/** A display copy of the config with secrets masked (snake_case, like the file). */
export function maskedConfig(config: GuardConfig): Record<string, unknown> {
  const { auth } = config;
  return {
    auth: {
      mode: auth.mode,
      ...(auth.keys.length > 0 ? { keys: auth.keys.map(maskKey) } : {}),
      ...(auth.jwt
        ? {
            jwt: {
              ...(auth.jwt.secret ? { secret: MASK } : {}),
              ...(auth.jwt.publicKey ? { public_key: '(PEM)' } : {}),
              ...(auth.jwt.publicKeyFile ? { public_key_file: auth.jwt.publicKeyFile } : {}),
              ...(auth.jwt.jwksUrl ? { jwks_url: auth.jwt.jwksUrl } : {}),
              algorithms: auth.jwt.algorithms,
              issuer: auth.jwt.issuer,
              audience: auth.jwt.audience,
              agent_claim: auth.jwt.agentClaim,
              clock_tolerance_ms: auth.jwt.clockToleranceMs,
              required_scopes: auth.jwt.requiredScopes,
              typ: auth.jwt.typ ?? null,
            },
          }
        : {}),
      ...(auth.oauth2
        ? {
            oauth2: {
              issuer: auth.oauth2.issuer,
              access_token_ttl_ms: auth.oauth2.accessTokenTtlMs,
              refresh_token_ttl_ms: auth.oauth2.refreshTokenTtlMs,
              session_max_age_ms: auth.oauth2.sessionMaxAgeMs,
              scopes: auth.oauth2.scopes,
              required_scopes: auth.oauth2.requiredScopes,
              users: auth.oauth2.users.map((u) => ({ name: u.name, password: MASK })),
              clients: auth.oauth2.clients.map((c) => ({
                client_id: c.clientId,
                redirect_uris: c.redirectUris,
                ...(c.clientSecretSha256 ? { client_secret: MASK } : {}),
              })),
              dynamic_registration: auth.oauth2.dynamicRegistration,
              registrations_per_minute: auth.oauth2.registrationsPerMinute,
              dynamic_client_ttl_ms: auth.oauth2.dynamicClientTtlMs,
              authorization_requests_per_minute: auth.oauth2.authorizationRequestsPerMinute,
            },
          }
        : {}),
    },
    rate_limit: {
      requests_per_minute: config.rateLimit.requestsPerMinute ?? null,
      global_requests_per_minute: config.rateLimit.globalRequestsPerMinute ?? null,
      per_tool: config.rateLimit.perTool,
      auth_failures_per_minute: config.rateLimit.authFailuresPerMinute,
    },
    policies: {
      spend_cap_usd: config.policies.spendCapUsd ?? null,
      global_spend_cap_usd: config.policies.globalSpendCapUsd ?? null,
      spend_window_ms: config.policies.spendWindowMs,
      require_approval_above: config.policies.requireApprovalAbove ?? null,
      approval_ttl_ms: config.policies.approvalTtlMs,
      approval_mode: config.policies.approvalMode,
      approval_wait_ms: config.policies.approvalWaitMs,
      allow: config.policies.allow ?? null,
      deny: config.policies.deny,
      audit: config.policies.audit ?? null,
      tools: config.policies.tools,
      pinning: config.policies.pinning,
    },
    agents: config.agents,
    servers: Object.fromEntries(
      config.servers.map((s) => [
        s.name,
        s.kind === 'stdio'
          ? {
              command: redactText(s.command),
              args: maskArgs(s.args),
              env: maskMap(s.env),
              cwd: s.cwd ?? null,
              ...isolationOf(s),
              timeout_ms: s.timeoutMs,
              roots: s.roots,
            }
          : {
              url: maskUrl(s.url),
              transport: s.transport,
              headers: maskMap(s.headers),
              ...isolationOf(s),
              timeout_ms: s.timeoutMs,
              ...(s.oauth
                ? {
                    oauth: {
                      client_id: s.oauth.clientId ?? null,
                      ...(s.oauth.clientSecret ? { client_secret: MASK } : {}),
                      scopes: s.oauth.scopes ?? 'auto',
                      client_metadata_url: s.oauth.clientMetadataUrl ?? null,
                      redirect_uri: s.oauth.redirectUri ?? null,
                      tokens: s.oauth.tokens,
                      refresh_before_ms: s.oauth.refreshBeforeMs,
                    },
                  }
                : {}),
            },
      ]),
    ),
    routes: { ...config.routes, ...(config.defaultRoute ? { default: config.defaultRoute } : {}) },
    state: maskState(config.state),
    notify: config.notify
      ? {
          ...(config.notify.slackWebhookUrl
            ? { slack_webhook_url: maskUrl(config.notify.slackWebhookUrl, false) }
            : {}),
          ...(config.notify.webhookUrl ? { webhook_url: maskUrl(config.notify.webhookUrl) } : {}),
          ...(config.notify.webhookSecret ? { webhook_secret: MASK } : {}),
        }
      : null,
    http: config.http,
    metrics: config.metrics,
    admin: {
      ...(config.adminKeys.length > 0 ? { keys: config.adminKeys.map(maskKey) } : {}),
      session_ttl_ms: config.adminSessionTtlMs,
    },
  };
}
