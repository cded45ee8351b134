/**
 * The built-in OAuth 2.1 authorization server (`auth.mode: oauth2`): RFC 8414 metadata, authorization
 * code with PKCE (S256 only), exact redirect-URI matching, single-use short-lived codes and `state`,
 * refresh tokens with rotation, three kinds of clients (configured, Dynamic Client Registration and
 * Client ID Metadata Documents), the device authorization grant (RFC 8628), and an `admin` scope for the
 * admin API. Access tokens are ES256 JWTs whose audience is this gateway.
 *
 * Every piece of state — clients, pending consents, codes, device codes, refresh tokens, token families
 * and the signing key — lives in the state store (single-use items are spent with one atomic operation),
 * so a restart or a second replica on the same store continues any flow. This class only assembles the
 * parts: one file per endpoint or flow (authorize-endpoint, token-endpoint, register-endpoint,
 * device-flow), clients (clients, client-metadata-documents), and the token-family logic in one place
 * (token-families). Failed sign-ins and client authentications are limited per client address (one
 * limiter for all of them) and passed to the auth-failure hook (`events`).
 */
import type { IncomingMessage } from 'node:http';
import { createLocalJWKSet } from 'jose';
import type { OAuth2Config } from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import { clientAddressOf } from '../../http/client-address.js';
import type { RouteHandler } from '../../http/route.js';
import { isLoopbackHost } from '../../http/safe-fetch.js';
import type { StateStore } from '../../stores/state-store.js';
import type { AuthEvents } from '../authenticator.js';
import { AuthFailureLimiter } from '../failure-limiter.js';
import type { JwtVerifier } from '../jwt.js';
import { AsContext, DEVICE_GRANT, random, sha256 } from './as-context.js';
import { authorizeEndpoint } from './authorize-endpoint.js';
import { ClientMetadataDocuments } from './client-metadata-documents.js';
import { ClientRegistry } from './clients.js';
import { deviceAuthorizationEndpoint, devicePageEndpoint } from './device-flow.js';
import { json } from './http-utils.js';
import { ADMIN_SCOPE, UserDirectory } from './passwords.js';
import { registerEndpoint } from './register-endpoint.js';
import { type SignInResult, signIn } from './sign-in.js';
import { loadSigningKey, type SigningKey } from './signing-key.js';
import { tokenEndpoint } from './token-endpoint.js';
import { FamilyAwareVerifier, TokenFamilies } from './token-families.js';

export { acceptableRedirectUri } from './clients.js';

export interface OAuthServerOptions {
  readonly config: OAuth2Config;
  readonly store: StateStore;
  /** The issuer URL (no trailing slash), e.g. http://127.0.0.1:8080. */
  readonly issuer: string;
  /** The protected resource (RFC 8707) tokens are for: `<issuer>/mcp`. */
  readonly resource: string;
  readonly logger: Logger;
  /**
   * Failed sign-ins and client authentications from one address per minute before the pages, /token and
   * /device_authorization answer 429 (rate_limit.auth_failures_per_minute).
   */
  readonly authFailuresPerMinute: number;
  /** Where failed sign-ins, failed client authentications and replayed credentials are reported. */
  readonly events?: AuthEvents;
  /** A limiter that outlives this server (config reloads build a new one); else its own. */
  readonly limiter?: AuthFailureLimiter;
}

export class OAuthServer {
  readonly issuer: string;
  readonly resource: string;
  private readonly ctx: AsContext;

  private constructor(
    options: OAuthServerOptions,
    private readonly signingKey: SigningKey,
  ) {
    this.issuer = options.issuer;
    this.resource = options.resource;
    const { config, store, logger } = options;
    const limiter = options.limiter ?? new AuthFailureLimiter(options.authFailuresPerMinute);
    limiter.setLimit(options.authFailuresPerMinute);
    const users = new UserDirectory(config.users, config.scopes);
    // Plain-http metadata documents only where the gateway itself is a loopback development setup.
    const issuerUrl = new URL(options.issuer);
    const documents = config.clientIdMetadataDocuments
      ? new ClientMetadataDocuments(
          store,
          logger,
          issuerUrl.protocol === 'http:' && isLoopbackHost(issuerUrl.hostname),
        )
      : undefined;
    const clients = new ClientRegistry(config, store, documents);
    let ctx: AsContext | undefined;
    const families = new TokenFamilies({
      store,
      config,
      issuer: options.issuer,
      resource: options.resource,
      signer: { key: signingKey.key, kid: signingKey.kid },
      users,
      logger,
      report: (reason, address) => (ctx as AsContext).report(reason, address),
      sha256,
      random,
    });
    ctx = new AsContext(
      config,
      store,
      options.issuer,
      options.resource,
      logger,
      limiter,
      options.events ?? {},
      users,
      clients,
      families,
    );
    this.ctx = ctx;
  }

  /** Loads (or creates, once for all replicas) the signing key and returns a ready server. */
  static async open(options: OAuthServerOptions): Promise<OAuthServer> {
    return new OAuthServer(options, await loadSigningKey(options.config, options.store));
  }

  /**
   * The resource server's view: verifies this server's access tokens (`typ` at+jwt, issuer, audience,
   * expiry, the configured required scopes — missing ones get 403 insufficient_scope —, a family not
   * revoked and a subject that is still a configured user). `requiredScopes` replaces the configured ones
   * (the admin API asks for `admin` alone).
   */
  verifier(): JwtVerifier {
    return this.verifierFor(this.ctx.config.requiredScopes);
  }

  /**
   * The admin API's view (`/admin`, `/ui`): the same checks, with the `admin` scope required, and the
   * user must still be allowed it by config (a reload that takes `admin` away ends it at once).
   */
  adminVerifier(): JwtVerifier {
    return this.verifierFor([ADMIN_SCOPE], (user, scope) => this.ctx.users.mayHold(user, scope));
  }

  private verifierFor(
    requiredScopes: readonly string[],
    mayHold?: (user: string, scope: string) => boolean,
  ): JwtVerifier {
    const { users, families } = this.ctx;
    return new FamilyAwareVerifier(
      {
        algorithms: ['ES256'],
        issuer: this.issuer,
        audience: [this.resource],
        agentClaim: 'sub',
        clockToleranceMs: 30_000,
        requiredScopes,
        // Only its own access tokens (RFC 9068 §2.1): never another JWT signed with the same key.
        typ: 'at+jwt',
      },
      { keySet: createLocalJWKSet({ keys: [this.signingKey.publicJwk] }), via: 'oauth2' },
      families,
      (user) => users.has(user),
      mayHold,
    );
  }

  /**
   * Signs a configured user in from a form (`username`, `password`), behind the same per-address failure
   * limit and reporting as the consent page (the per-user upstream login page uses it).
   */
  signIn(req: IncomingMessage, form: URLSearchParams): Promise<SignInResult> {
    return signIn(this.ctx, clientAddressOf(req), form);
  }

  /** RFC 8414 metadata. */
  metadata(): Record<string, unknown> {
    const i = this.issuer;
    const config = this.ctx.config;
    return {
      issuer: i,
      authorization_endpoint: `${i}/authorize`,
      token_endpoint: `${i}/token`,
      ...(config.dynamicRegistration ? { registration_endpoint: `${i}/register` } : {}),
      device_authorization_endpoint: `${i}/device_authorization`,
      jwks_uri: `${i}/jwks.json`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      scopes_supported: config.scopes,
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: config.clientIdMetadataDocuments,
    };
  }

  routes(): Map<string, RouteHandler> {
    const ctx = this.ctx;
    return new Map<string, RouteHandler>([
      ['/.well-known/oauth-authorization-server', (_req, res) => json(res, 200, this.metadata())],
      ['/jwks.json', (_req, res) => json(res, 200, { keys: [this.signingKey.publicJwk] })],
      ['/authorize', authorizeEndpoint(ctx)],
      ['/token', tokenEndpoint(ctx)],
      ['/register', registerEndpoint(ctx)],
      ['/device_authorization', deviceAuthorizationEndpoint(ctx)],
      ['/device', devicePageEndpoint(ctx)],
    ]);
  }
}
