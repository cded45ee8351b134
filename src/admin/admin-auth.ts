/**
 * Who may use `/admin` and `/ui` (SPEC §3a Admin): a key of `admin.keys` (Bearer), with `auth.mode:
 * oauth2` an access token of the built-in authorization server carrying the `admin` scope, or a dashboard
 * session made by signing in with one of those. An agent's credential is never looked at here, so it
 * cannot work: agent keys and admin keys are separate lists (config load refuses a key in both).
 *
 * - Credentials are compared in constant time (ApiKeyVerifier) and go through a failure limiter, like
 *   /mcp: repeated failures from one address get 429 without being checked.
 * - Dashboard sessions live in the state store (so every replica knows them), keyed by the SHA-256 of
 *   the cookie's random value (a leaked store does not yield live cookies). The cookie is HttpOnly,
 *   SameSite=Strict, Path=/, and Secure (with the `__Host-` prefix) when `http.public_url` is https.
 * - A request made with the cookie that changes something (any method but GET/HEAD) must also come
 *   from the gateway's own origin (Origin header) and carry the session's CSRF token
 *   (X-CSRF-Token): SameSite alone does not cover same-site subdomains or old browsers.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiKeyVerifier } from '../auth/api-keys.js';
import { type AuthEvents, AuthFailure, bearerToken } from '../auth/authenticator.js';
import type { AuthFailureLimiter } from '../auth/failure-limiter.js';
import { JwtRejected, type JwtVerifier } from '../auth/jwt.js';
import type { GuardConfig } from '../config/types.js';
import { clientAddressOf } from '../http/client-address.js';
import type { StateStore } from '../stores/state-store.js';
import { AdminError } from './admin-errors.js';

export interface AdminIdentity {
  /** Who: the admin key's name (`admin.keys[].agent`, or `key-…`) or the OAuth user. */
  readonly name: string;
  readonly via: 'admin_key' | 'oauth2';
  /** Set when the request came with the dashboard's session cookie. */
  readonly session?: { readonly id: string; readonly csrf: string; readonly expiresAt: number };
}

interface StoredSession {
  readonly name: string;
  readonly via: 'admin_key' | 'oauth2';
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface AdminAuthDeps {
  readonly config: () => GuardConfig;
  readonly store: StateStore;
  /** Verifies the built-in authorization server's tokens, requiring the `admin` scope (oauth2 only). */
  readonly tokenVerifier: () => JwtVerifier | undefined;
  readonly limiter: AuthFailureLimiter;
  readonly events: AuthEvents;
}

const SESSION_NS = 'admin_sessions';
const SAFE_METHODS = new Set(['GET', 'HEAD']);
export const CSRF_HEADER = 'x-csrf-token';

export class AdminAuth {
  private keys: { config: GuardConfig; verifier: ApiKeyVerifier } | undefined;

  constructor(private readonly deps: AdminAuthDeps) {}

  /** The cookie's name: `__Host-` only where the browser will accept it (a Secure cookie). */
  cookieName(): string {
    return this.secure() ? '__Host-mcpg_admin' : 'mcpg_admin';
  }

  private secure(): boolean {
    return this.deps.config().http.publicUrl?.startsWith('https:') ?? false;
  }

  /** Admin keys follow a config reload (a removed key stops working at once). */
  private adminKeys(): ApiKeyVerifier {
    const config = this.deps.config();
    if (this.keys?.config !== config) this.keys = { config, verifier: new ApiKeyVerifier(config.adminKeys) };
    return this.keys.verifier;
  }

  /** 429 when the client has failed too often lately. */
  private checkLimiter(req: IncomingMessage): void {
    const wait = this.deps.limiter.blockedFor(clientAddressOf(req));
    if (wait > 0)
      throw new AdminError('rate_limited', `Too many failed authentications: retry in ${wait} s`, {
        'Retry-After': String(wait),
      });
  }

  private async failed(req: IncomingMessage, reason: string, count: boolean): Promise<void> {
    const client = clientAddressOf(req);
    if (count) this.deps.limiter.fail(client);
    await this.deps.events.onFailure?.({ mode: 'admin', reason, client });
  }

  /** Checks a presented admin credential (key or OAuth token); throws AdminError 401/403. */
  async verifyCredential(req: IncomingMessage, credential: string): Promise<AdminIdentity> {
    if (credential.length > 8192) {
      await this.failed(req, 'admin credential too long', true);
      throw unauthorized('invalid admin credential');
    }
    const key = this.adminKeys().verify(credential);
    if (key) return { name: key.agent, via: 'admin_key' };
    const config = this.deps.config();
    const verifier = config.auth.mode === 'oauth2' ? this.deps.tokenVerifier() : undefined;
    if (verifier && credential.includes('.')) {
      try {
        const principal = await verifier.verify(credential);
        return { name: principal.agent, via: 'oauth2' };
      } catch (err) {
        if (err instanceof JwtRejected && err.insufficientScope) {
          await this.failed(req, 'token without the admin scope', false);
          throw new AdminError('insufficient_scope', 'This token lacks the admin scope', {
            'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="admin"',
          });
        }
        await this.failed(req, `admin token rejected: ${(err as Error).message}`, true);
        throw unauthorized('invalid admin credential', true);
      }
    }
    await this.failed(req, 'invalid admin credential', true);
    throw unauthorized('invalid admin credential', true);
  }

  /**
   * Authenticates an admin request: Bearer credential, else the session cookie (with the Origin and CSRF
   * checks for a request that changes something). Throws AdminError.
   */
  async authenticate(req: IncomingMessage): Promise<AdminIdentity> {
    this.checkLimiter(req);
    let credential: string | undefined;
    try {
      credential = bearerToken(req);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      await this.failed(req, err.message, true);
      if (err.kind === 'bad_request') throw new AdminError('bad_request', err.message);
      throw unauthorized(err.message, true);
    }
    if (credential !== undefined) return this.verifyCredential(req, credential);
    const identity = await this.session(req);
    if (!identity) throw unauthorized('sign in: send Authorization: Bearer <admin key> or use /ui');
    if (!SAFE_METHODS.has(req.method ?? 'GET')) {
      this.checkOrigin(req);
      const presented = headerOnce(req, CSRF_HEADER) ?? '';
      if (!equalText(presented, identity.session?.csrf ?? ''))
        throw new AdminError('csrf_failed', 'Missing or wrong X-CSRF-Token header for this session');
    }
    return identity;
  }

  /** The dashboard session of a request's cookie, or undefined. */
  async session(req: IncomingMessage): Promise<AdminIdentity | undefined> {
    const token = cookieOf(req, this.cookieName());
    if (token === undefined || !/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const id = digest(token);
    const stored = await this.deps.store.kvGet(SESSION_NS, id);
    if (stored === undefined) return undefined;
    let session: StoredSession;
    try {
      session = JSON.parse(stored) as StoredSession;
    } catch {
      return undefined;
    }
    if (session.expiresAt <= Date.now()) return undefined;
    return {
      name: session.name,
      via: session.via,
      session: { id, csrf: session.csrf, expiresAt: session.expiresAt },
    };
  }

  /**
   * A request that changes something with the cookie (or signs in) must come from our own page: its
   * Origin must be the gateway's (the one the browser used: Host, or http.public_url / the OAuth issuer).
   */
  checkOrigin(req: IncomingMessage): void {
    const origin = headerOnce(req, 'origin');
    if (origin === undefined || origin === 'null')
      throw new AdminError('origin_refused', 'A browser request must carry the Origin of this gateway');
    const own = new Set<string>();
    const host = req.headers.host?.toLowerCase();
    if (host) {
      own.add(`http://${host}`);
      own.add(`https://${host}`);
    }
    const config = this.deps.config();
    for (const u of [config.http.publicUrl, config.auth.oauth2?.issuer]) {
      if (u) own.add(new URL(u).origin.toLowerCase());
    }
    if (!own.has(origin.toLowerCase()))
      throw new AdminError('origin_refused', `Origin ${origin} is not this gateway's own`);
  }

  /** Signs in with an admin credential: a new session and its Set-Cookie header. */
  async signIn(
    req: IncomingMessage,
    credential: string,
  ): Promise<{ cookie: string; identity: AdminIdentity }> {
    this.checkLimiter(req);
    const identity = await this.verifyCredential(req, credential);
    return this.openSession(identity);
  }

  /** Opens a session for an identity established elsewhere (the OAuth admin sign-in). */
  async openSession(identity: AdminIdentity): Promise<{ cookie: string; identity: AdminIdentity }> {
    const ttl = this.deps.config().adminSessionTtlMs;
    const token = randomBytes(32).toString('base64url');
    const session: StoredSession = {
      name: identity.name,
      via: identity.via,
      csrf: randomBytes(32).toString('base64url'),
      expiresAt: Date.now() + ttl,
    };
    const id = digest(token);
    await this.deps.store.kvPut(SESSION_NS, id, JSON.stringify(session), { ttlMs: ttl });
    return {
      cookie: this.cookie(token, Math.floor(ttl / 1000)),
      identity: { ...identity, session: { id, csrf: session.csrf, expiresAt: session.expiresAt } },
    };
  }

  /** Ends a session; returns the Set-Cookie header that clears the cookie. */
  async signOut(identity: AdminIdentity | undefined): Promise<string> {
    if (identity?.session) await this.deps.store.kvDelete(SESSION_NS, identity.session.id);
    return this.cookie('', 0);
  }

  /** A Set-Cookie value that clears the cookie (a stale or unknown session). */
  clearCookie(): string {
    return this.cookie('', 0);
  }

  private cookie(value: string, maxAgeS: number): string {
    return [
      `${this.cookieName()}=${value}`,
      'Path=/',
      `Max-Age=${maxAgeS}`,
      'HttpOnly',
      'SameSite=Strict',
      ...(this.secure() ? ['Secure'] : []),
    ].join('; ');
  }
}

function unauthorized(message: string, presented = false): AdminError {
  return new AdminError('unauthorized', `Unauthorized: ${message}`, {
    'WWW-Authenticate': presented
      ? `Bearer realm="mcp-guard admin", error="invalid_token"`
      : 'Bearer realm="mcp-guard admin"',
  });
}

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two texts (of any lengths). */
function equalText(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length > 0;
}

function headerOnce(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** One cookie's value from the Cookie header (the first of that name). */
export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
