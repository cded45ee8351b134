/**
 * JWT authentication with `jose`. Every check is explicit and configured, never taken from the token:
 * - algorithms are pinned in config (so `alg: none` and HS/RS confusion cannot pass);
 * - the key comes only from config: a shared secret, a PEM public key, or a configured JWKS URL — the
 *   token's own `jku`, `x5u`, `x5c` and embedded `jwk` headers are refused outright;
 * - with a JWKS, `kid` is required and must name a published key (the set is cached; refetch is limited);
 * - `exp` is required; `nbf`, `iss`, `aud` are checked with a small clock tolerance, and `iat` must not be
 *   in the future; unknown `crit` fails;
 * - with `typ` configured, the header must carry it (the built-in authorization server requires at+jwt).
 */

import { createPublicKey, createSecretKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type KeyObject,
} from 'jose';
import type { JwtConfig } from '../config/types.js';
import type { Principal } from '../core/principal.js';

export class JwtRejected extends Error {
  constructor(
    message: string,
    /** True when the token was valid but lacks a required scope (HTTP 403 insufficient_scope). */
    readonly insufficientScope = false,
  ) {
    super(message);
    this.name = 'JwtRejected';
  }
}

const FORBIDDEN_HEADERS = ['jku', 'x5u', 'x5c', 'jwk'] as const;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface JwtVerifierOptions {
  /** Overrides for tests: a custom fetch-free key set. */
  readonly keySet?: JWTVerifyGetKey;
  /** Expected `via` of the principal. */
  readonly via?: 'jwt' | 'oauth2';
}

export class JwtVerifier {
  private readonly getKey: JWTVerifyGetKey | KeyObject | Promise<KeyObject>;
  private readonly requireKid: boolean;
  private readonly via: 'jwt' | 'oauth2';

  constructor(
    private readonly config: JwtConfig,
    options: JwtVerifierOptions = {},
  ) {
    this.via = options.via ?? 'jwt';
    if (options.keySet) {
      this.getKey = options.keySet;
      this.requireKid = true;
    } else if (config.secret !== undefined) {
      this.getKey = createSecretKey(Buffer.from(config.secret, 'utf8'));
      this.requireKid = false;
    } else if (config.jwksUrl !== undefined) {
      // Cached; a token with an unknown kid triggers at most one refetch per cooldown period.
      this.getKey = createRemoteJWKSet(new URL(config.jwksUrl), {
        cooldownDuration: 30_000,
        cacheMaxAge: 600_000,
        timeoutDuration: 5_000,
      });
      this.requireKid = true;
    } else {
      // A KeyObject, not a WebCrypto key bound to one algorithm: every pinned algorithm of the key's
      // type verifies (jose still refuses an algorithm the key type cannot do).
      const pem = config.publicKey ?? readFileSync(config.publicKeyFile as string, 'utf8');
      this.getKey = createPublicKey(pem);
      this.requireKid = false;
    }
  }

  /** The scopes every token must carry (for subclasses that check more about them). */
  protected get requiredScopes(): readonly string[] {
    return this.config.requiredScopes;
  }

  /** Verifies a token; resolves to the principal or throws JwtRejected with the reason. */
  async verify(token: string): Promise<Principal> {
    if (!JWT_SHAPE.test(token)) throw new JwtRejected('not a JWT');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new JwtRejected('malformed JWT header');
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (name in header)
        throw new JwtRejected(
          `JWT header "${name}" is not accepted: keys come only from the gateway's config`,
        );
    }
    if (this.requireKid && (typeof header.kid !== 'string' || header.kid.length === 0))
      throw new JwtRejected('JWT has no kid');
    let payload: JWTPayload;
    try {
      const key = this.getKey instanceof Promise ? await this.getKey : this.getKey;
      // One call for both key kinds; jose picks the overload from the argument at run time.
      payload = (await jwtVerify(token, key as KeyObject, this.verifyOptions())).payload;
    } catch (err) {
      throw new JwtRejected(describeJoseError(err));
    }
    // jose checks iat only against a maximum age; a token "issued" in the future is a forged or
    // mis-clocked one.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + this.config.clockToleranceMs)
      throw new JwtRejected('JWT claim "iat" is in the future');
    const agent = payload[this.config.agentClaim];
    if (typeof agent !== 'string' || agent.length === 0 || agent.length > 256) {
      throw new JwtRejected(
        `JWT claim "${this.config.agentClaim}" (the agent id) is missing or not a string`,
      );
    }
    const scopes = scopesOf(payload);
    const missing = this.config.requiredScopes.filter((s) => !scopes.includes(s));
    if (missing.length > 0) throw new JwtRejected(`missing scope: ${missing.join(' ')}`, true);
    return { agent, via: this.via, scopes };
  }

  private verifyOptions() {
    return {
      algorithms: [...this.config.algorithms],
      issuer: this.config.issuer,
      audience: [...this.config.audience],
      clockTolerance: Math.round(this.config.clockToleranceMs / 1000),
      requiredClaims: ['exp', 'iss', 'aud'],
      // A token of another kind (an ID token, a DPoP proof) signed by the same issuer is not an access token.
      ...(this.config.typ === undefined ? {} : { typ: this.config.typ }),
    };
  }
}

function scopesOf(payload: JWTPayload): string[] {
  const scope = payload['scope'];
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  const scp = payload['scp'];
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  return [];
}

function describeJoseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'JWT has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'typ') return 'JWT header "typ" is missing or not the required one';
      return claim ? `JWT claim "${claim}" is invalid or missing` : 'JWT claims are invalid';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'JWT algorithm is not allowed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'JWT kid does not name a known key';
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'JWT key is ambiguous';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'JWT signature is invalid';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'JWT is malformed';
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'JWT uses an unsupported feature (e.g. an unknown crit header)';
    default:
      return 'JWT could not be verified';
  }
}
