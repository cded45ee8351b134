/**
 * The config file's schema (SPEC §2) as written by users: snake_case keys, durations as text.
 * Every object is strict: an unknown key is an error naming its path, never silently ignored
 * (the original mcp-guard ignored typos and ran with auth off).
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

const nonEmpty = z.string().min(1, 'must not be empty');
const amountUsd = z.number().finite().nonnegative();
const positiveInt = z.number().int().positive();
export const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== undefined, {
  message: 'must be a duration such as 500ms, 30s, 5m, 1h or 1d',
});
const nameList = z.array(nonEmpty);
const stringMap = z.record(z.string(), z.string());

const sha256Hex = z
  .string()
  .regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'must be 64 hex characters (a SHA-256 digest)');

const apiKeyEntry = z.union([
  nonEmpty,
  z.strictObject({ agent: nonEmpty, key: nonEmpty }),
  z.strictObject({ agent: nonEmpty, key_sha256: sha256Hex }),
]);

const jwtAlgorithm = z.enum([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]);

const jwtSchema = z.strictObject({
  secret: nonEmpty.optional(),
  public_key: nonEmpty.optional(),
  public_key_file: nonEmpty.optional(),
  jwks_url: z.url({ protocol: /^https?$/ }).optional(),
  algorithms: z.array(jwtAlgorithm).min(1).optional(),
  issuer: nonEmpty,
  audience: z.union([nonEmpty, z.array(nonEmpty).min(1)]),
  agent_claim: nonEmpty.optional(),
  clock_tolerance: duration.optional(),
  required_scopes: nameList.optional(),
  /** The `typ` header every token must carry (e.g. at+jwt, RFC 9068); unset: not checked. */
  typ: nonEmpty.optional(),
});

/** An OAuth scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\`. */
const scopeList = z.array(
  z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope name: no spaces, quotes or backslashes'),
);

const oauthUser = z.strictObject({
  name: nonEmpty,
  password: nonEmpty.optional(),
  password_sha256: sha256Hex.optional(),
  /** Scopes this user may be granted (default: every offered scope but admin). */
  scopes: scopeList.optional(),
});

const oauthClient = z.strictObject({
  client_id: nonEmpty,
  client_secret: nonEmpty.optional(),
  redirect_uris: z.array(nonEmpty).min(1),
  name: nonEmpty.optional(),
});

const oauth2Schema = z.strictObject({
  issuer: z.url().optional(),
  access_token_ttl: duration.optional(),
  refresh_token_ttl: duration.optional(),
  code_ttl: duration.optional(),
  device_code_ttl: duration.optional(),
  session_max_age: duration.optional(),
  scopes: scopeList.optional(),
  required_scopes: scopeList.optional(),
  users: z.array(oauthUser).optional(),
  clients: z.array(oauthClient).optional(),
  dynamic_registration: z.boolean().optional(),
  registrations_per_minute: positiveInt.optional(),
  dynamic_client_ttl: duration.optional(),
  authorization_requests_per_minute: positiveInt.optional(),
  signing_key_file: nonEmpty.optional(),
  /** Accept Client ID Metadata Documents (an https URL as client_id); default true. */
  client_id_metadata_documents: z.boolean().optional(),
});

const authSchema = z.strictObject({
  /** Absent (`auth: {}`) means none, as when the whole block is absent. */
  mode: z.enum(['none', 'api_key', 'jwt', 'oauth2']).optional(),
  keys: z.array(apiKeyEntry).optional(),
  jwt: jwtSchema.optional(),
  oauth2: oauth2Schema.optional(),
});

const rateLimitSchema = z.strictObject({
  requests_per_minute: positiveInt.optional(),
  global_requests_per_minute: positiveInt.optional(),
  per_tool: z.record(nonEmpty, positiveInt).optional(),
  auth_failures_per_minute: positiveInt.optional(),
});

const costSchema = z.union([
  z.strictObject({ usd: amountUsd }),
  z.strictObject({ argument: nonEmpty, scale: z.number().finite().positive().optional() }),
]);

const toolPolicySchema = z.strictObject({
  cost: costSchema.optional(),
  require_approval_above: amountUsd.optional(),
});

const auditSchema = z.strictObject({
  fsync: z.enum(['always', 'interval', 'never']).optional(),
  rotate_bytes: positiveInt.optional(),
  keep_files: positiveInt.optional(),
  redact_fields: nameList.optional(),
  max_value_length: positiveInt.optional(),
});

const policiesSchema = z.strictObject({
  spend_cap_usd: amountUsd.optional(),
  global_spend_cap_usd: amountUsd.optional(),
  spend_window: duration.optional(),
  require_approval_above: amountUsd.optional(),
  approval_ttl: duration.optional(),
  approved_ttl: duration.optional(),
  /** error: a held call returns -32004 at once (the agent retries); wait: it stays open until decided. */
  approval_mode: z.enum(['error', 'wait']).optional(),
  approval_wait: duration.optional(),
  allow: nameList.optional(),
  deny: nameList.optional(),
  audit_log: nonEmpty.optional(),
  audit: auditSchema.optional(),
  tools: z.record(nonEmpty, toolPolicySchema).optional(),
  /** Tool pinning: off | warn (default: record changes) | enforce (quarantine changed definitions). */
  pinning: z.enum(['off', 'warn', 'enforce']).optional(),
});

const agentSchema = z.strictObject({
  allow: nameList.optional(),
  deny: nameList.optional(),
  rate_limit: z
    .strictObject({
      requests_per_minute: positiveInt.optional(),
      per_tool: z.record(nonEmpty, positiveInt).optional(),
    })
    .optional(),
  spend_cap_usd: amountUsd.optional(),
  require_approval_above: amountUsd.optional(),
});

const serverCommon = {
  prefix: z.boolean().optional(),
  allow: nameList.optional(),
  deny: nameList.optional(),
  timeout: duration.optional(),
  connect_timeout: duration.optional(),
  isolation: z.enum(['pooled', 'per_session', 'shared']).optional(),
  /** isolation pooled: the most children (or remote sessions) the server gets. */
  pool_size: z.number().int().min(1).max(64).optional(),
  /** isolation pooled: requests that may wait for a free child; past it a request is refused at once. */
  pool_queue: z.number().int().min(0).max(100_000).optional(),
  /** isolation pooled: the longest a request waits for a free child. */
  pool_queue_timeout: duration.optional(),
  /** isolation pooled: requests a child serves at once for sessions it never has to reach (1: each its own). */
  pool_calls_per_child: z.number().int().min(1).max(1024).optional(),
  agent_roots: z.boolean().optional(),
};

export const stdioServerSchema = z.strictObject({
  command: nonEmpty,
  args: z.array(z.string()).optional(),
  env: stringMap.optional(),
  cwd: nonEmpty.optional(),
  roots: nameList.optional(),
  ...serverCommon,
});

/** Upstream OAuth for a remote server: the gateway is the OAuth client (everything else is discovered). */
const upstreamOAuthSchema = z.strictObject({
  /** A client pre-registered with the server's authorization server (else CIMD or dynamic registration). */
  client_id: nonEmpty.optional(),
  client_secret: nonEmpty.optional(),
  /** Scopes to ask for, or auto (the server's 401 challenge, else its metadata's scopes_supported). */
  scopes: z.union([z.literal('auto'), scopeList]).optional(),
  /** The https URL of the gateway's Client ID Metadata Document, used where the server supports CIMD. */
  client_metadata_url: z.url({ protocol: /^https$/ }).optional(),
  /** The loopback redirect URI for `backends login` (a pre-registered client needs a fixed one). */
  redirect_uri: z.url({ protocol: /^http$/ }).optional(),
  /** One service token for everybody, or a token per user of the gateway (auth.mode oauth2). */
  tokens: z.enum(['service', 'per_user']).optional(),
  /** Refresh this long before the access token expires (default 60s). */
  refresh_before: duration.optional(),
});

export const remoteServerSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  headers: stringMap.optional(),
  transport: z.enum(['streamable-http', 'sse']).optional(),
  oauth: z.union([z.literal('auto'), upstreamOAuthSchema]).optional(),
  ...serverCommon,
});

// Chosen by the key present rather than a union, so an error names the right key (not "no union member").
export const serverSchema = z.unknown().transform((value, ctx) => {
  const shape = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  const schema = shape && 'url' in shape && !('command' in shape) ? remoteServerSchema : stdioServerSchema;
  if (shape && 'url' in shape && 'command' in shape) {
    ctx.addIssue({ code: 'custom', message: 'has both command (stdio) and url (remote): choose one' });
    return z.NEVER;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      ctx.addIssue({ ...issue, path: issue.path } as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  return parsed.data;
});

/** Encrypts upstream OAuth tokens at rest (at least 32 characters; else $MCP_GUARD_ENCRYPTION_KEY). */
const encryptionKey = z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)');

const stateSchema = z.discriminatedUnion('store', [
  z.strictObject({
    store: z.literal('sqlite'),
    path: nonEmpty.optional(),
    encryption_key: encryptionKey.optional(),
  }),
  z.strictObject({
    store: z.literal('redis'),
    url: z.url({ protocol: /^rediss?$/ }),
    prefix: nonEmpty.optional(),
    encryption_key: encryptionKey.optional(),
  }),
  z.strictObject({
    store: z.literal('postgres'),
    url: z.url({ protocol: /^postgres(ql)?$/ }),
    schema: nonEmpty.optional(),
    encryption_key: encryptionKey.optional(),
  }),
]);

const notifySchema = z.strictObject({
  slack_webhook_url: z.url({ protocol: /^https?$/ }).optional(),
  webhook_url: z.url({ protocol: /^https?$/ }).optional(),
  /** Signs webhook bodies (HMAC-SHA256); long enough not to be guessed. */
  webhook_secret: z.string().min(16, 'must be at least 16 characters').optional(),
  timeout: duration.optional(),
});

const httpSchema = z.strictObject({
  host: nonEmpty.optional(),
  port: z.number().int().min(0).max(65535).optional(),
  public_url: z.url({ protocol: /^https?$/ }).optional(),
  allowed_hosts: nameList.optional(),
  allowed_origins: nameList.optional(),
  trusted_proxies: nameList.optional(),
  max_body_bytes: positiveInt.optional(),
  session_idle_ttl: duration.optional(),
  max_sessions: positiveInt.optional(),
});

const metricsSchema = z.strictObject({
  enabled: z.boolean().optional(),
  public: z.boolean().optional(),
});

/** Where spans go: an OTLP/HTTP receiver (a collector, or a tracing backend that speaks OTLP). */
const otlpSchema = z.strictObject({
  /** The full traces URL, path included (OTLP/HTTP: `/v1/traces`). */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  protocol: z.enum(['http/protobuf', 'http/json']).optional(),
  /** Sent with every export (e.g. `Authorization: Bearer ${OTLP_TOKEN}`); printed masked. */
  headers: stringMap.optional(),
  /** How long one export may take. */
  timeout: duration.optional(),
});

const telemetrySchema = z.strictObject({
  /** Off by default; when off, no OpenTelemetry code is even loaded. */
  enabled: z.boolean().optional(),
  service_name: nonEmpty.optional(),
  /** The share of traces started here that are recorded (a caller's sampling decision is followed). */
  sample_ratio: z.number().min(0).max(1).optional(),
  /** How long finished spans wait to be exported together. */
  batch_delay: duration.optional(),
  otlp: otlpSchema.optional(),
});

const adminSchema = z.strictObject({
  keys: z.array(apiKeyEntry).min(1).optional(),
  /** How long a dashboard sign-in lasts. */
  session_ttl: duration.optional(),
});

export const configFileSchema = z.strictObject({
  auth: authSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  policies: policiesSchema.optional(),
  agents: z.record(nonEmpty, agentSchema).optional(),
  servers: z.record(
    z.string().regex(/^[A-Za-z0-9_-]{1,48}$/, 'server names use A-Z a-z 0-9 _ - (max 48)'),
    serverSchema,
  ),
  routes: z.record(nonEmpty, nonEmpty).optional(),
  state: stateSchema.optional(),
  notify: notifySchema.optional(),
  http: httpSchema.optional(),
  metrics: metricsSchema.optional(),
  admin: adminSchema.optional(),
  telemetry: telemetrySchema.optional(),
});

/** Keys of a stdio and of a remote server entry, for "did you mean" hints. */
export const STDIO_SERVER_KEYS: readonly string[] = Object.keys(stdioServerSchema.shape);
export const REMOTE_SERVER_KEYS: readonly string[] = Object.keys(remoteServerSchema.shape);

export type ConfigFile = z.infer<typeof configFileSchema>;
export type StdioServerFile = z.infer<typeof stdioServerSchema>;
export type RemoteServerFile = z.infer<typeof remoteServerSchema>;
export type ApiKeyEntryFile = z.infer<typeof apiKeyEntry>;
