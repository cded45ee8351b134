/**
 * What every endpoint of the built-in authorization server shares: its config and store, who it is
 * (issuer, resource), the clients and users it knows, the token families, and the per-address limits
 * with the reporting of failures. Endpoints are plain functions of this context (one file per endpoint
 * or flow); the OAuthServer class only assembles them.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { OAuth2Config } from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import type { StateStore } from '../../stores/state-store.js';
import type { AuthEvents } from '../authenticator.js';
import type { AuthFailureLimiter } from '../failure-limiter.js';
import type { ClientRegistry } from './clients.js';
import { sendPage } from './pages.js';
import type { UserDirectory } from './passwords.js';
import type { TokenFamilies } from './token-families.js';

/** Store namespaces of the authorization server (each endpoint file uses its own; listed here once). */
export const NS = {
  keys: 'oauth_keys',
  client: 'oauth_client',
  pending: 'oauth_pending',
  state: 'oauth_state',
  code: 'oauth_code',
  refresh: 'oauth_refresh',
  device: 'oauth_device',
  deviceDecision: 'oauth_device_decision',
  devicePoll: 'oauth_device_poll',
  userCode: 'oauth_user_code',
} as const;

/** A consent or device page waits this long for its form. */
export const PENDING_TTL_MS = 10 * 60_000;
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const random = (bytes = 32) => randomBytes(bytes).toString('base64url');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class AsContext {
  constructor(
    readonly config: OAuth2Config,
    readonly store: StateStore,
    /** The issuer URL (no trailing slash). */
    readonly issuer: string,
    /** The protected resource (RFC 8707) tokens are for: `<issuer>/mcp`. */
    readonly resource: string,
    readonly logger: Logger,
    readonly limiter: AuthFailureLimiter,
    private readonly events: AuthEvents,
    readonly users: UserDirectory,
    readonly clients: ClientRegistry,
    readonly families: TokenFamilies,
  ) {}

  /**
   * Takes one request from the per-address bucket `bucket` (`perMinute` a minute, kept in the state store
   * so replicas share it): 0 when allowed, else the seconds until the next one is.
   */
  async throttled(bucket: 'register' | 'pending', address: string, perMinute: number): Promise<number> {
    const outcome = await this.store.consumeTokens(
      [{ key: `oauth_${bucket}:${address}`, capacity: perMinute, refillPerMs: perMinute / 60_000 }],
      Date.now(),
    );
    return outcome.allowed ? 0 : Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
  }

  /**
   * The scope a request may have: every offered scope when none is asked for, undefined when it asks
   * for one that is not offered.
   */
  checkScope(requested: string | null): string | undefined {
    if (!requested) return this.config.scopes.join(' ');
    const scopes = requested.split(' ').filter(Boolean);
    return scopes.every((s) => this.config.scopes.includes(s)) ? scopes.join(' ') : undefined;
  }

  /** Counts a failure against `address` and reports it (metrics, audit log). */
  async failed(address: string, reason: string): Promise<void> {
    this.limiter.fail(address);
    await this.report(reason, address);
  }

  async report(reason: string, client: string): Promise<void> {
    try {
      await this.events.onFailure?.({ mode: 'oauth2', reason, client });
    } catch (err) {
      // Reporting must not change the answer (the failure is already counted).
      this.logger.error({ err: (err as Error).message }, 'auth failure could not be reported');
    }
  }
}

/** The consent or device page that answers a page load past authorization_requests_per_minute. */
export function tooManyPages(res: ServerResponse, wait: number): void {
  sendPage(
    res,
    429,
    'Too many requests',
    `<p>Too many sign-in requests from this address. Try again in ${wait} s.</p>`,
    [],
    { 'Retry-After': String(wait) },
  );
}
