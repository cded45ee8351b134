/**
 * Token families: everything issued from one authorization (its code, every rotated refresh token and
 * the access tokens that came with them) shares a family id, carried as the access token's `sid` claim.
 * A single-use credential (a code or a refresh token) is spent with one atomic store operation that
 * remembers its family; when a spent one comes back, someone holds a copy, so the whole family is revoked
 * (RFC 6749 §4.1.2 for codes, OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2 for refresh tokens) and the
 * resource server refuses its access tokens from then on.
 */
import { decodeJwt } from 'jose';
import type { Principal } from '../../core/principal.js';
import type { StateStore } from '../../stores/state-store.js';
import { JwtRejected, JwtVerifier } from '../jwt.js';

const NS = {
  spent: 'oauth_spent',
  revoked: 'oauth_family_revoked',
} as const;

export type SingleUse = 'code' | 'refresh';

export class TokenFamilies {
  /**
   * @param lifetimeMs how long any token of a family can still be live after its last use (the longest
   *   token lifetime): spent markers and revocations are kept that long.
   */
  constructor(
    private readonly store: StateStore,
    private readonly lifetimeMs: number,
  ) {}

  /** Spends `key` of `kind` for `family`: true for the first caller only (one atomic put-if-absent). */
  spend(kind: SingleUse, key: string, family: string): Promise<boolean> {
    return this.store.kvPut(NS.spent, `${kind}:${key}`, family, { ifAbsent: true, ttlMs: this.lifetimeMs });
  }

  /** The family of an already spent `key`, or undefined when it was never spent (or is long gone). */
  spentFamily(kind: SingleUse, key: string): Promise<string | undefined> {
    return this.store.kvGet(NS.spent, `${kind}:${key}`);
  }

  async revoke(family: string): Promise<void> {
    await this.store.kvPut(NS.revoked, family, String(Date.now()), { ttlMs: this.lifetimeMs });
  }

  async isRevoked(family: string): Promise<boolean> {
    return (await this.store.kvGet(NS.revoked, family)) !== undefined;
  }
}

/**
 * The resource server's check of this server's access tokens: the JWT checks of JwtVerifier (issuer,
 * audience, expiry, required scopes), then the token's family must not be revoked and its subject must
 * still be a configured user (a removed user's tokens stop once the config is reloaded, not at their expiry).
 * The signature is verified before the family is looked up, so a forged `sid` never reaches the store.
 */
export class FamilyAwareVerifier extends JwtVerifier {
  constructor(
    config: ConstructorParameters<typeof JwtVerifier>[0],
    options: ConstructorParameters<typeof JwtVerifier>[1],
    private readonly families: TokenFamilies,
    private readonly isUser: (name: string) => boolean,
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
    return principal as Principal;
  }
}
