/**
 * Who is calling, for both fronts (SPEC §2 auth, §4):
 * - HTTP: `Authorization: Bearer <api key | JWT>` on every request. A missing or bad credential gets 401
 *   with `WWW-Authenticate: Bearer resource_metadata="…"`; a token in the query string, a second
 *   Authorization header or another scheme is refused; repeated failures from one address get 429.
 * - stdio: the key (or JWT) in `MCP_GUARD_API_KEY` of the `serve` process.
 * The credential is only ever compared here: it is not kept on the principal, not logged, and never
 * forwarded to a backend (backends get only their own configured headers/env).
 */
import type { IncomingMessage } from 'node:http';
import type { GuardConfig } from '../config/types.js';
import { WIRE_ERRORS, type WireReason } from '../core/errors.js';
import { ANONYMOUS, type Principal } from '../core/principal.js';
import { clientAddressOf } from '../http/client-address.js';
import { ApiKeyVerifier } from './api-keys.js';
import { AuthFailureLimiter } from './failure-limiter.js';
import type { HttpAuthenticator } from './http-authenticator.js';
import { JwtRejected, JwtVerifier } from './jwt.js';

export class AuthFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'missing' | 'invalid' | 'insufficient_scope' | 'bad_request',
  ) {
    super(message);
    this.name = 'AuthFailure';
  }
}

/** Query parameters that would carry a credential in the URL (refused: URLs end up in logs). */
const TOKEN_QUERY_PARAMS = ['access_token', 'token', 'api_key', 'apikey', 'key', 'auth'];

export interface AuthEvents {
  /** Called on every refused authentication (metrics, audit log); awaited before the refusal is sent. */
  onFailure?(info: { mode: string; reason: string; client: string }): void | Promise<void>;
}

export class Authenticator {
  readonly mode: GuardConfig['auth']['mode'];
  private readonly apiKeys: ApiKeyVerifier | undefined;
  private readonly jwt: JwtVerifier | undefined;
  private readonly limiter: AuthFailureLimiter;

  constructor(
    private readonly config: GuardConfig,
    private readonly events: AuthEvents = {},
    extra: { jwt?: JwtVerifier; limiter?: AuthFailureLimiter } = {},
  ) {
    this.mode = config.auth.mode;
    this.apiKeys = config.auth.mode === 'api_key' ? new ApiKeyVerifier(config.auth.keys) : undefined;
    this.jwt =
      extra.jwt ??
      (config.auth.mode === 'jwt' && config.auth.jwt ? new JwtVerifier(config.auth.jwt) : undefined);
    // A limiter handed in outlives config reloads (each builds a new Authenticator).
    this.limiter = extra.limiter ?? new AuthFailureLimiter(config.rateLimit.authFailuresPerMinute);
    this.limiter.setLimit(config.rateLimit.authFailuresPerMinute);
  }

  get enabled(): boolean {
    return this.mode !== 'none';
  }

  /** Verifies one presented credential (an API key or a JWT, by mode). Throws AuthFailure. */
  async verify(credential: string | undefined): Promise<Principal> {
    if (this.mode === 'none') return ANONYMOUS;
    if (credential === undefined || credential.length === 0)
      throw new AuthFailure('no credential presented', 'missing');
    if (credential.length > 8192) throw new AuthFailure('credential too long', 'invalid');
    if (this.apiKeys) {
      const principal = this.apiKeys.verify(credential);
      if (!principal) throw new AuthFailure('invalid API key', 'invalid');
      return principal;
    }
    if (this.jwt) {
      try {
        return await this.jwt.verify(credential);
      } catch (err) {
        if (err instanceof JwtRejected)
          throw new AuthFailure(err.message, err.insufficientScope ? 'insufficient_scope' : 'invalid');
        throw new AuthFailure('token could not be verified', 'invalid');
      }
    }
    throw new AuthFailure(`auth mode ${this.mode} is not available on this front`, 'invalid');
  }

  /** The principal of the stdio front, from MCP_GUARD_API_KEY; a failure is reported on every request. */
  async stdioPrincipal(env: NodeJS.ProcessEnv): Promise<Principal | AuthFailure> {
    try {
      return await this.verify(env['MCP_GUARD_API_KEY']);
    } catch (err) {
      if (err instanceof AuthFailure) {
        await this.events.onFailure?.({ mode: this.mode, reason: err.message, client: 'stdio' });
        return err;
      }
      throw err;
    }
  }

  /** The HTTP side: parses the request's credential and answers 400/401/403/429 itself. */
  http(): HttpAuthenticator {
    return {
      authenticate: async (req, alsoAccept) => {
        if (this.mode === 'none') return { ok: true, principal: ANONYMOUS };
        const client = clientAddressOf(req);
        const wait = this.limiter.blockedFor(client);
        if (wait > 0) {
          return refuse(
            429,
            { 'Retry-After': String(wait) },
            'rate_limited',
            `Too many failed authentication attempts: retry in ${wait} s`,
            { reason: 'rate_limited', retry_after_s: wait, scope: 'auth' },
          );
        }
        try {
          const credential = bearerToken(req);
          const accepted = credential === undefined ? undefined : alsoAccept?.(credential);
          if (accepted) return { ok: true, principal: accepted };
          return { ok: true, principal: await this.verify(credential) };
        } catch (err) {
          if (!(err instanceof AuthFailure)) throw err;
          // Only a presented credential that fails counts toward the limit: every client's first request
          // comes without one (to discover the authorization server), a valid token lacking a scope is
          // no guess, and neither may let one client lock out everyone behind the same address.
          if (err.kind === 'invalid' || err.kind === 'bad_request') this.limiter.fail(client);
          await this.events.onFailure?.({ mode: this.mode, reason: err.message, client });
          const metadata = `resource_metadata="${resourceMetadataUrl(this.config, req)}"`;
          if (err.kind === 'bad_request')
            return refuse(400, {}, 'invalid_request', `Bad Request: ${err.message}`);
          if (err.kind === 'insufficient_scope') {
            const required =
              this.mode === 'oauth2'
                ? this.config.auth.oauth2?.requiredScopes
                : this.config.auth.jwt?.requiredScopes;
            const scope = required?.join(' ') ?? '';
            return refuse(
              403,
              { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}", ${metadata}` },
              'unauthenticated',
              `Forbidden: ${err.message}`,
            );
          }
          // With the built-in authorization server, the scope to ask for rides along (MCP scope selection):
          // what /mcp needs, never the admin API's scope.
          const oauth2 = this.config.auth.oauth2;
          const scopes =
            this.mode !== 'oauth2' || !oauth2
              ? []
              : oauth2.requiredScopes.length > 0
                ? oauth2.requiredScopes
                : oauth2.scopes.filter((s) => s !== 'admin');
          const scope = scopes.length > 0 ? `, scope="${scopes.join(' ')}"` : '';
          const challenge =
            err.kind === 'missing'
              ? `Bearer ${metadata}${scope}`
              : `Bearer error="invalid_token", error_description="${err.message.replace(/"/g, "'")}", ${metadata}${scope}`;
          return refuse(
            401,
            { 'WWW-Authenticate': challenge },
            'unauthenticated',
            `Unauthorized: ${err.message}`,
          );
        }
      },
    };
  }
}

/** An HTTP refusal with the registry's code for `reason`; `data` only as given (the status says the rest). */
function refuse(
  status: number,
  headers: Record<string, string>,
  reason: WireReason,
  message: string,
  data?: Record<string, unknown>,
) {
  const code = WIRE_ERRORS[reason].code;
  return {
    ok: false as const,
    status,
    headers,
    body: { jsonrpc: '2.0', id: null, error: { code, message, ...(data ? { data } : {}) } },
  };
}

/** The bearer credential of a request; throws AuthFailure for credentials in the wrong place or form. */
export function bearerToken(req: IncomingMessage): string | undefined {
  // Only a URL with a query can carry a credential there (parsing every URL costs on the hot path).
  if (req.url?.includes('?')) {
    const url = new URL(req.url, 'http://gateway.invalid');
    for (const name of TOKEN_QUERY_PARAMS) {
      if (url.searchParams.has(name))
        throw new AuthFailure(
          `credentials in the query string are refused (parameter "${name}"): send Authorization: Bearer`,
          'bad_request',
        );
    }
  }
  // Node keeps only the first of duplicated Authorization headers; count them in the raw list.
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if (req.rawHeaders[i]?.toLowerCase() === 'authorization') count++;
  if (count > 1) throw new AuthFailure('more than one Authorization header', 'bad_request');
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  if (!match) throw new AuthFailure('the Authorization header must be "Bearer <token>"', 'invalid');
  return match[1];
}

/** The public base URL of the gateway (config `http.public_url`, else from the request's Host). */
export function publicBaseUrl(config: GuardConfig, req: IncomingMessage): string {
  return config.http.publicUrl ?? `http://${req.headers.host ?? `${config.http.host}:${config.http.port}`}`;
}

export function resourceMetadataUrl(config: GuardConfig, req: IncomingMessage): string {
  if (config.auth.mode === 'oauth2' && config.auth.oauth2?.issuer)
    return `${config.auth.oauth2.issuer}/.well-known/oauth-protected-resource/mcp`;
  return `${publicBaseUrl(config, req)}/.well-known/oauth-protected-resource/mcp`;
}

/**
 * RFC 9728 protected resource metadata for /mcp. With the built-in authorization server, `oauth` names its
 * issuer and the canonical resource its tokens are for.
 */
export function protectedResourceMetadata(
  config: GuardConfig,
  req: IncomingMessage,
  oauth?: { issuer: string; resource: string },
): Record<string, unknown> {
  const base = publicBaseUrl(config, req);
  const issuers =
    config.auth.mode === 'jwt' && config.auth.jwt ? [config.auth.jwt.issuer] : oauth ? [oauth.issuer] : [];
  const scopes =
    config.auth.mode === 'jwt'
      ? (config.auth.jwt?.requiredScopes ?? [])
      : config.auth.mode === 'oauth2'
        ? (config.auth.oauth2?.scopes ?? [])
        : [];
  return {
    resource: oauth?.resource ?? `${base}/mcp`,
    ...(issuers.length > 0 ? { authorization_servers: issuers } : {}),
    bearer_methods_supported: ['header'],
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    resource_name: 'mcp-guard',
  };
}
