/**
 * Token families, in one place: everything issued from one authorization (its code, every rotated
 * refresh token and the access tokens that came with them) shares a family id, carried as the access
 * token's `sid` claim. This module issues the tokens of a grant, spends single-use credentials, and ends
 * families:
 * - a single-use credential (a code or a refresh token) is spent with one atomic store operation that
 *   remembers its family; when a spent one comes back, someone holds a copy, so the whole family is
 *   revoked (RFC 6749 §4.1.2 for codes, OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2 for refresh tokens);
 * - a grant whose user is no longer configured, or whose session is older than session_max_age, ends
 *   and its family is revoked;
 * and the resource server (FamilyAwareVerifier) refuses access tokens of a revoked family from then on.
 */
import type { ServerResponse } from 'node:http';
import { type CryptoKey, decodeJwt, SignJWT } from 'jose';
import type { OAuth2Config } from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import type { Principal } from '../../core/principal.js';
import type { StateStore } from '../../stores/state-store.js';
import { JwtRejected, JwtVerifier } from '../jwt.js';
import { json, oauthError } from './http-utils.js';
import type { UserDirectory } from './passwords.js';

const NS = {
  spent: 'oauth_spent',
  revoked: 'oauth_family_revoked',
  refresh: 'oauth_refresh',
} as const;

export type SingleUse = 'code' | 'refresh';

export interface Grant {
  readonly clientId: string;
  readonly user: string;
  /** What the user granted; a refresh may ask for less, never more (RFC 6749 §6). */
  readonly scope: string;
  /** The token family everything issued from this authorization belongs to. */
  readonly family: string;
  /** When the user signed in (ms): the family ends `session_max_age` later, however often it rotates. */
  readonly authTime: number;
}

/** A grant as stored: `family` and `authTime` are absent only on items stored before they existed. */
export type StoredGrant = Omit<Grant, 'family' | 'authTime'> & {
  readonly family?: string;
  readonly authTime?: number;
};

export interface TokenFamiliesOptions {
  readonly store: StateStore;
  readonly config: OAuth2Config;
  readonly issuer: string;
  readonly resource: string;
  readonly signer: { readonly key: CryptoKey | Uint8Array; readonly kid: string };
  readonly users: UserDirectory;
  readonly logger: Logger;
  /** Reports a replay (audit log, metrics). */
  readonly report: (reason: string, address: string) => Promise<void>;
  readonly sha256: (s: string) => string;
  readonly random: (bytes?: number) => string;
}

export class TokenFamilies {
  /** How long any token of a family can still be live after its last use: spent markers and revocations are kept that long. */
  private readonly lifetimeMs: number;

  constructor(private readonly o: TokenFamiliesOptions) {
    const c = o.config;
    this.lifetimeMs = Math.max(c.refreshTokenTtlMs, c.accessTokenTtlMs, c.codeTtlMs);
  }

  /** A new family id, for a fresh authorization. */
  newFamily(): string {
    return this.o.random(16);
  }

  /** The family of a code or refresh token stored before families existed: fixed per item, not its key. */
  legacyFamily(key: string): string {
    return this.o.sha256(`family:${key}`);
  }

  /** Spends `key` of `kind` for `family`: true for the first caller only (one atomic put-if-absent). */
  spend(kind: SingleUse, key: string, family: string): Promise<boolean> {
    return this.o.store.kvPut(NS.spent, `${kind}:${key}`, family, { ifAbsent: true, ttlMs: this.lifetimeMs });
  }

  /** The family of an already spent `key`, or undefined when it was never spent (or is long gone). */
  spentFamily(kind: SingleUse, key: string): Promise<string | undefined> {
    return this.o.store.kvGet(NS.spent, `${kind}:${key}`);
  }

  async revoke(family: string): Promise<void> {
    await this.o.store.kvPut(NS.revoked, family, String(Date.now()), { ttlMs: this.lifetimeMs });
  }

  async isRevoked(family: string): Promise<boolean> {
    return (await this.o.store.kvGet(NS.revoked, family)) !== undefined;
  }

  /** A spent code or refresh token came back: revokes everything its family issued and reports it. */
  async replayed(kind: SingleUse, family: string, address: string): Promise<void> {
    await this.revoke(family);
    const what = kind === 'code' ? 'authorization code' : 'refresh token';
    this.o.logger.warn({ client: address }, `${what} used twice: its token family is revoked`);
    await this.o.report(`${what} replayed; token family revoked`, address);
  }

  /**
   * Why a grant may no longer be used — its user is no longer configured, or its session is older than
   * `session_max_age` — or undefined while it may.
   */
  ended(grant: Grant, now = Date.now()): string | undefined {
    if (!this.o.users.has(grant.user)) return 'the user of this grant is no longer configured; sign in again';
    if (now >= grant.authTime + this.o.config.sessionMaxAgeMs)
      return 'the session is older than auth.oauth2.session_max_age; sign in again';
    return undefined;
  }

  /** Refuses an ended grant and revokes its family, so its live access tokens stop working too. */
  async end(res: ServerResponse, grant: Grant, why: string): Promise<void> {
    await this.revoke(grant.family);
    this.o.logger.info({ client_id: grant.clientId, user: grant.user }, `oauth grant ended: ${why}`);
    oauthError(res, 400, 'invalid_grant', why);
  }

  /**
   * Signs an access token for `scope` (default: the whole grant), expiring at the session's end
   * (`authTime` + session_max_age) at the latest, stores a new refresh token for the grant and answers
   * the token response.
   */
  async issue(res: ServerResponse, grant: Grant, scope = grant.scope): Promise<void> {
    const { config, signer } = this.o;
    const sessionEnd = grant.authTime + config.sessionMaxAgeMs;
    const nowS = Math.floor(Date.now() / 1000);
    const expS = Math.min(nowS + Math.floor(config.accessTokenTtlMs / 1000), Math.floor(sessionEnd / 1000));
    // `sid` names the token family, so the resource server can refuse tokens of a revoked one.
    const accessToken = await new SignJWT({ scope, client_id: grant.clientId, sid: grant.family })
      .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' })
      .setIssuer(this.o.issuer)
      .setAudience(this.o.resource)
      .setSubject(grant.user)
      .setIssuedAt(nowS)
      .setExpirationTime(expS)
      .setJti(this.o.random(16))
      .sign(signer.key);
    const refreshToken = this.o.random(32);
    const record: Grant = {
      clientId: grant.clientId,
      user: grant.user,
      scope: grant.scope,
      family: grant.family,
      authTime: grant.authTime,
    };
    await this.o.store.kvPut(NS.refresh, this.o.sha256(refreshToken), JSON.stringify(record), {
      // Not cut at the session's end: presented after it, the token is refused by name and its family revoked.
      ttlMs: config.refreshTokenTtlMs,
    });
    json(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(0, expS - nowS),
      refresh_token: refreshToken,
      scope,
    });
  }
}

/**
 * The resource server's check of this server's access tokens: the JWT checks of JwtVerifier (issuer,
 * audience, expiry, required scopes), then the token's family must not be revoked and its subject must
 * still be a configured user (a removed user's tokens stop once the config is reloaded, not at their expiry).
 * The signature is verified before the family is looked up, so a forged `sid` never reaches the store.
 * With `mayHold`, every required scope must also still be one the user may be granted (an `admin` taken
 * away from a user stops working at once).
 */
export class FamilyAwareVerifier extends JwtVerifier {
  constructor(
    config: ConstructorParameters<typeof JwtVerifier>[0],
    options: ConstructorParameters<typeof JwtVerifier>[1],
    private readonly families: TokenFamilies,
    private readonly isUser: (name: string) => boolean,
    private readonly mayHold?: (user: string, scope: string) => boolean,
  ) {
    super(config, options);
  }

  override async verify(token: string): Promise<Principal> {
    let principal: Principal | undefined;
    let scopeRefusal: JwtRejected | undefined;
    try {
      principal = await super.verify(token);
    } catch (err) {
      // A valid token that lacks a scope: a revoked one must still read as revoked (401, not 403).
      if (!(err instanceof JwtRejected && err.insufficientScope)) throw err;
      scopeRefusal = err;
    }
    const claims = decodeJwt(token);
    const family = claims['sid'];
    if (typeof family !== 'string' || family.length === 0)
      throw new JwtRejected('access token has no sid (token family)');
    if (await this.families.isRevoked(family)) throw new JwtRejected('access token has been revoked');
    if (typeof claims.sub !== 'string' || !this.isUser(claims.sub))
      throw new JwtRejected('access token of a user who is no longer configured');
    if (scopeRefusal) throw scopeRefusal;
    const user = claims.sub;
    const withdrawn = this.mayHold ? this.requiredScopes.filter((s) => !this.mayHold?.(user, s)) : [];
    if (withdrawn.length > 0)
      throw new JwtRejected(`scope no longer granted to this user: ${withdrawn.join(' ')}`, true);
    return principal as Principal;
  }
}
