/**
 * The one internal form of a loaded config: camelCase, durations in milliseconds, paths absolute,
 * API keys as SHA-256 digests, defaults applied. Produced by normalize(), deep-frozen, never mutated.
 */

export type AuthMode = 'none' | 'api_key' | 'jwt' | 'oauth2';

export interface ApiKeyRecord {
  /** The agent id this key authenticates as. */
  readonly agent: string;
  /** SHA-256 digest of the key (32 bytes). The plain key is not kept. */
  readonly sha256: Buffer;
}

export interface JwtConfig {
  readonly secret?: string;
  readonly publicKey?: string;
  readonly publicKeyFile?: string;
  readonly jwksUrl?: string;
  readonly algorithms: readonly string[];
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly agentClaim: string;
  readonly clockToleranceMs: number;
  readonly requiredScopes: readonly string[];
  /** The `typ` header every token must carry (compared as jose does: case-insensitive, `application/` optional). */
  readonly typ?: string;
}

/**
 * A configured user's password as a salted scrypt hash (RFC 7914) of its SHA-256 digest (so a
 * `password_sha256` in the file works too). The plaintext is not kept.
 */
export interface PasswordHash {
  readonly algorithm: 'scrypt';
  /** scrypt cost parameters. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** Random, per user and per load. */
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export interface OAuthUser {
  readonly name: string;
  readonly password: PasswordHash;
  /** Scopes this user may be granted; absent: every offered scope but `admin`. */
  readonly scopes?: readonly string[];
}

export interface OAuthClientConfig {
  readonly clientId: string;
  readonly clientSecretSha256?: Buffer;
  readonly redirectUris: readonly string[];
  readonly name?: string;
}

export interface OAuth2Config {
  readonly issuer?: string;
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly codeTtlMs: number;
  readonly deviceCodeTtlMs: number;
  /** The longest a token family lives from the user's sign-in, however often its refresh token rotates. */
  readonly sessionMaxAgeMs: number;
  /** Scopes the authorization server offers. */
  readonly scopes: readonly string[];
  /** Scopes every access token must carry on /mcp (else 403 insufficient_scope); default: all of `scopes` but admin. */
  readonly requiredScopes: readonly string[];
  readonly users: readonly OAuthUser[];
  readonly clients: readonly OAuthClientConfig[];
  readonly dynamicRegistration: boolean;
  /** Dynamic client registrations per client address per minute (past it: 429). */
  readonly registrationsPerMinute: number;
  /** A dynamically registered client unused for this long (since registration or last use) is forgotten. */
  readonly dynamicClientTtlMs: number;
  /** Consent and device page loads plus device authorizations per client address per minute (each stores a pending entry). */
  readonly authorizationRequestsPerMinute: number;
  readonly signingKeyFile?: string;
  /** Whether a client may introduce itself with a Client ID Metadata Document (an https URL as client_id). */
  readonly clientIdMetadataDocuments: boolean;
}

export interface AuthConfig {
  readonly mode: AuthMode;
  readonly keys: readonly ApiKeyRecord[];
  readonly jwt?: JwtConfig;
  readonly oauth2?: OAuth2Config;
}

export interface RateLimitConfig {
  readonly requestsPerMinute?: number;
  readonly globalRequestsPerMinute?: number;
  readonly perTool: Readonly<Record<string, number>>;
  readonly authFailuresPerMinute: number;
}

export type CostRule =
  | { readonly kind: 'fixed'; readonly usd: number }
  | { readonly kind: 'argument'; readonly path: readonly string[]; readonly scale: number };

export interface ToolPolicy {
  readonly cost?: CostRule;
  readonly requireApprovalAbove?: number;
}

export interface AuditConfig {
  readonly path: string;
  readonly fsync: 'always' | 'interval' | 'never';
  readonly rotateBytes?: number;
  readonly keepFiles: number;
  readonly redactFields: readonly string[];
  readonly maxValueLength: number;
}

export interface PoliciesConfig {
  /** Each agent's cap per window (agents.NAME.spend_cap_usd overrides). */
  readonly spendCapUsd?: number;
  /** The cap for all agents together per window. */
  readonly globalSpendCapUsd?: number;
  readonly spendWindowMs: number;
  readonly requireApprovalAbove?: number;
  readonly approvalTtlMs: number;
  readonly approvedTtlMs: number;
  /** `error`: a held call answers -32004 at once; `wait`: it stays open until decided (or approvalWaitMs). */
  readonly approvalMode: 'error' | 'wait';
  readonly approvalWaitMs: number;
  readonly allow?: readonly string[];
  readonly deny: readonly string[];
  readonly audit?: AuditConfig;
  readonly tools: Readonly<Record<string, ToolPolicy>>;
  /**
   * Tool pinning (docs/pinning.md): `warn` records changed or poisoned definitions, `enforce` also hides
   * and refuses them (-32017) until an operator approves; `off` leaves the stage out.
   */
  readonly pinning: 'off' | 'warn' | 'enforce';
}

export interface AgentConfig {
  readonly allow?: readonly string[];
  readonly deny: readonly string[];
  readonly requestsPerMinute?: number;
  readonly perTool: Readonly<Record<string, number>>;
  readonly spendCapUsd?: number;
  readonly requireApprovalAbove?: number;
}

interface ServerCommon {
  readonly name: string;
  readonly prefix: boolean;
  readonly allow?: readonly string[];
  readonly deny: readonly string[];
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Unset: the front decides (`pooled` under serve-http, `per_session` under serve). */
  readonly isolation?: Isolation;
  /** How `isolation: pooled` sizes and queues (defaults applied even when another isolation is set). */
  readonly pool: PoolConfig;
  /**
   * The agent's roots answer this server's roots/list (opt-in). Off by default: a filesystem server takes
   * roots as its sandbox, so an agent's roots could widen it.
   */
  readonly agentRoots: boolean;
}

export type Isolation = 'pooled' | 'per_session' | 'shared';

export interface PoolConfig {
  /** The most children (remote: upstream sessions) of the server at once. */
  readonly size: number;
  /** Requests that may wait for a free child; past it a request is refused at once (-32016). */
  readonly queue: number;
  /** The longest a request waits for a free child before -32016. */
  readonly queueTimeoutMs: number;
  /**
   * Requests a child serves at once for sessions it never needs to reach (no sampling, elicitation or
   * agent roots declared, no log level set); the others have a child to themselves. 1: every request does.
   */
  readonly callsPerChild: number;
}

export interface StdioServerConfig extends ServerCommon {
  readonly kind: 'stdio';
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Roots the gateway answers a backend's roots/list with (file:// URIs); never the agent's roots. */
  readonly roots: readonly string[];
}

/** The gateway as an OAuth client of a remote server (`servers.NAME.oauth`). */
export interface UpstreamOAuthConfig {
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Scopes to ask for; undefined: auto (the 401 challenge, else the resource's scopes_supported). */
  readonly scopes?: readonly string[];
  readonly clientMetadataUrl?: string;
  readonly redirectUri?: string;
  /** `service`: one token for the backend; `per_user`: a token per user of the gateway. */
  readonly tokens: 'service' | 'per_user';
  readonly refreshBeforeMs: number;
}

export interface RemoteServerConfig extends ServerCommon {
  readonly kind: 'remote';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly transport: 'streamable-http' | 'sse';
  readonly roots: readonly string[];
  readonly oauth?: UpstreamOAuthConfig;
}

export type ServerConfig = StdioServerConfig | RemoteServerConfig;

/** `encryptionKey` encrypts upstream OAuth tokens at rest (else $MCP_GUARD_ENCRYPTION_KEY). */
export type StateConfig = (
  | { readonly store: 'sqlite'; readonly path: string }
  | { readonly store: 'redis'; readonly url: string; readonly prefix?: string }
  | { readonly store: 'postgres'; readonly url: string; readonly schema?: string }
) & { readonly encryptionKey?: string };

export interface NotifyConfig {
  readonly slackWebhookUrl?: string;
  readonly webhookUrl?: string;
  /** Key of the HMAC-SHA256 signature on webhook bodies (header X-MCP-Guard-Signature). */
  readonly webhookSecret?: string;
  readonly timeoutMs: number;
}

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  readonly publicUrl?: string;
  readonly allowedHosts: readonly string[];
  readonly allowedOrigins: readonly string[];
  /** Reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client. */
  readonly trustedProxies: readonly string[];
  readonly maxBodyBytes: number;
  readonly sessionIdleTtlMs: number;
  readonly maxSessions: number;
}

/** OpenTelemetry tracing (`telemetry:`), exported over OTLP/HTTP. */
export interface TelemetryConfig {
  readonly enabled: boolean;
  readonly serviceName: string;
  /** Share of traces started at the gateway that are recorded; a caller's decision is followed. */
  readonly sampleRatio: number;
  readonly batchDelayMs: number;
  readonly otlp: {
    readonly endpoint: string;
    readonly protocol: 'http/protobuf' | 'http/json';
    readonly headers: Readonly<Record<string, string>>;
    readonly timeoutMs: number;
  };
}

export interface GuardConfig {
  /** Absolute path of the file this config came from (for messages and hot reload). */
  readonly source: string;
  readonly auth: AuthConfig;
  readonly rateLimit: RateLimitConfig;
  readonly policies: PoliciesConfig;
  readonly agents: Readonly<Record<string, AgentConfig>>;
  /** Servers in file order. */
  readonly servers: readonly ServerConfig[];
  /** Tool name → server name; `default` (if any) is kept apart. */
  readonly routes: Readonly<Record<string, string>>;
  readonly defaultRoute?: string;
  readonly state: StateConfig;
  readonly notify?: NotifyConfig;
  readonly http: HttpConfig;
  readonly metrics: { readonly enabled: boolean; readonly public: boolean };
  readonly adminKeys: readonly ApiKeyRecord[];
  /** How long a dashboard sign-in (/ui) lasts. */
  readonly adminSessionTtlMs: number;
  readonly telemetry: TelemetryConfig;
}
