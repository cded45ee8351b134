/**
 * The built-in OAuth 2.1 authorization server (`auth.mode: oauth2`): RFC 8414 metadata, authorization
 * code with PKCE (S256 only), exact redirect-URI matching, single-use short-lived codes and `state`,
 * refresh tokens with rotation, Dynamic Client Registration (https or loopback redirect URIs only) and
 * the device authorization grant (RFC 8628). Access tokens are ES256 JWTs whose audience is this gateway.
 *
 * Every piece of state — clients, pending consents, codes, device codes, refresh tokens, token families
 * and the signing key — lives in the state store (single-use items are spent with one atomic operation),
 * so a restart or a second replica on the same store continues any flow. A spent code or refresh token
 * that comes back revokes its whole token family (token-families.ts). Failed sign-ins on the consent and
 * device pages and failed client authentications at /token and /device_authorization are limited per
 * client address (one limiter for all of them) and passed to the auth-failure hook (`events`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CryptoKey,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JWK,
  SignJWT,
} from 'jose';
import type { OAuth2Config, OAuthClientConfig } from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import { clientAddressOf } from '../../server/client-address.js';
import type { RouteHandler } from '../../server/http-server.js';
import type { StateStore } from '../../stores/state-store.js';
import type { AuthEvents } from '../authenticator.js';
import { AuthFailureLimiter } from '../failure-limiter.js';
import type { JwtVerifier } from '../jwt.js';
import { basicCredentials, json, oauthError, readForm, readJson, redirect } from './http-utils.js';
import { consentPage, devicePage, sendPage } from './pages.js';
import { UserDirectory } from './passwords.js';
import { isValidChallenge, isValidVerifier, verifierMatches } from './pkce.js';
import { FamilyAwareVerifier, TokenFamilies } from './token-families.js';

const NS = {
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

const PENDING_TTL_MS = 10 * 60_000;
const STATE_TTL_MS = 10 * 60_000;
const DEVICE_INTERVAL_S = 5;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

interface Client {
  readonly clientId: string;
  readonly clientSecretSha256?: string;
  readonly redirectUris: readonly string[];
  readonly name: string;
  /** Dynamically registered clients: when the stored record's expiry was last pushed back (ms). */
  readonly touchedAt?: number;
}

interface PendingAuthorization {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly codeChallenge: string;
  readonly scope: string;
  readonly csrf: string;
}

interface Grant {
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
type StoredGrant = Omit<Grant, 'family' | 'authTime'> & {
  readonly family?: string;
  readonly authTime?: number;
};

interface CodeRecord extends StoredGrant {
  readonly redirectUri: string;
  readonly codeChallenge: string;
}

type RefreshRecord = StoredGrant;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** The family of a code or refresh token stored before families existed: fixed per item, not its key. */
const legacyFamily = (key: string) => sha256(`family:${key}`);
const random = (bytes = 32) => randomBytes(bytes).toString('base64url');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Redirect URIs for a client: https anywhere, http only on loopback (RFC 8252 native apps); never a fragment or wildcard. */
export function acceptableRedirectUri(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash || uri.includes('*') || url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

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
  private readonly config: OAuth2Config;
  private readonly store: StateStore;
  private readonly logger: Logger;
  private readonly limiter: AuthFailureLimiter;
  private readonly events: AuthEvents;
  private readonly users: UserDirectory;
  private readonly families: TokenFamilies;
  private readonly configClients: Map<string, OAuthClientConfig>;

  private constructor(
    options: OAuthServerOptions,
    private readonly signingKey: CryptoKey | Uint8Array,
    private readonly publicJwk: JWK,
  ) {
    this.issuer = options.issuer;
    this.resource = options.resource;
    this.config = options.config;
    this.store = options.store;
    this.logger = options.logger;
    this.limiter = options.limiter ?? new AuthFailureLimiter(options.authFailuresPerMinute);
    this.limiter.setLimit(options.authFailuresPerMinute);
    this.events = options.events ?? {};
    this.users = new UserDirectory(options.config.users);
    this.families = new TokenFamilies(
      options.store,
      Math.max(options.config.refreshTokenTtlMs, options.config.accessTokenTtlMs, options.config.codeTtlMs),
    );
    this.configClients = new Map(options.config.clients.map((c) => [c.clientId, c]));
  }

  /** Loads (or creates, once for all replicas) the signing key and returns a ready server. */
  static async open(options: OAuthServerOptions): Promise<OAuthServer> {
    let privateJwk: JWK;
    if (options.config.signingKeyFile) {
      const key = await importPKCS8(readFileSync(options.config.signingKeyFile, 'utf8'), 'ES256', {
        extractable: true,
      });
      privateJwk = { ...(await exportJWK(key)), kid: 'file' };
    } else {
      let stored = await options.store.kvGet(NS.keys, 'signing');
      if (!stored) {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true });
        const jwk = { ...(await exportJWK(privateKey)), kid: random(8) };
        // First writer wins: replicas starting together agree on one key.
        await options.store.kvPut(NS.keys, 'signing', JSON.stringify(jwk), { ifAbsent: true });
        stored = await options.store.kvGet(NS.keys, 'signing');
      }
      privateJwk = JSON.parse(stored as string) as JWK;
    }
    const signingKey = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
    const { d: _private, ...publicPart } = privateJwk;
    return new OAuthServer(options, signingKey, { ...publicPart, alg: 'ES256', use: 'sig' });
  }

  /**
   * The resource server's view: verifies this server's access tokens (`typ` at+jwt, issuer, audience,
   * expiry, the configured required scopes — missing ones get 403 insufficient_scope —, a family not
   * revoked and a subject that is still a configured user). `requiredScopes` replaces the configured ones
   * (the admin API asks for `admin` alone).
   */
  verifier(requiredScopes: readonly string[] = this.config.requiredScopes): JwtVerifier {
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
      { keySet: createLocalJWKSet({ keys: [this.publicJwk] }), via: 'oauth2' },
      this.families,
      (user) => this.users.has(user),
    );
  }

  /** RFC 8414 metadata. */
  metadata(): Record<string, unknown> {
    const i = this.issuer;
    return {
      issuer: i,
      authorization_endpoint: `${i}/authorize`,
      token_endpoint: `${i}/token`,
      ...(this.config.dynamicRegistration ? { registration_endpoint: `${i}/register` } : {}),
      device_authorization_endpoint: `${i}/device_authorization`,
      jwks_uri: `${i}/jwks.json`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      scopes_supported: this.config.scopes,
      authorization_response_iss_parameter_supported: true,
    };
  }

  routes(): Map<string, RouteHandler> {
    return new Map<string, RouteHandler>([
      ['/.well-known/oauth-authorization-server', (_req, res) => json(res, 200, this.metadata())],
      ['/jwks.json', (_req, res) => json(res, 200, { keys: [this.publicJwk] })],
      [
        '/authorize',
        (req, res, url) =>
          req.method === 'POST' ? this.authorizeDecision(req, res) : this.authorizeStart(req, res, url),
      ],
      ['/token', (req, res) => this.token(req, res)],
      ['/register', (req, res) => this.register(req, res)],
      ['/device_authorization', (req, res) => this.deviceAuthorization(req, res)],
      [
        '/device',
        (req, res, url) =>
          req.method === 'POST' ? this.deviceDecision(req, res) : this.devicePageStart(req, res, url),
      ],
    ]);
  }

  // ------------------------------------------------------------------ clients

  private async client(clientId: string): Promise<Client | undefined> {
    const configured = this.configClients.get(clientId);
    if (configured) {
      return {
        clientId,
        clientSecretSha256: configured.clientSecretSha256?.toString('hex'),
        redirectUris: configured.redirectUris,
        name: configured.name ?? clientId,
      };
    }
    const stored = clientId.length <= 200 ? await this.store.kvGet(NS.client, clientId) : undefined;
    return stored ? (JSON.parse(stored) as Client) : undefined;
  }

  /**
   * A dynamically registered client was used (a consent or device flow started, a client authentication
   * passed): it lives another dynamic_client_ttl. The record is rewritten at most once per 30th of that
   * TTL (a day for the default 30 days), not on every request.
   */
  private async used(client: Client): Promise<void> {
    if (this.configClients.has(client.clientId)) return;
    const ttlMs = this.config.dynamicClientTtlMs;
    const now = Date.now();
    if (now - (client.touchedAt ?? 0) < Math.min(ttlMs / 30, 86_400_000)) return;
    await this.store.kvPut(NS.client, client.clientId, JSON.stringify({ ...client, touchedAt: now }), {
      ttlMs,
    });
  }

  /**
   * Takes one request from the per-address bucket `bucket` (`perMinute` a minute, kept in the state store so
   * replicas share it): 0 when allowed, else the seconds until the next one is.
   */
  private async throttled(
    bucket: 'register' | 'pending',
    address: string,
    perMinute: number,
  ): Promise<number> {
    const outcome = await this.store.consumeTokens(
      [{ key: `oauth_${bucket}:${address}`, capacity: perMinute, refillPerMs: perMinute / 60_000 }],
      Date.now(),
    );
    return outcome.allowed ? 0 : Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
  }

  /** The consent or device page that answers a page load past authorization_requests_per_minute. */
  private tooManyPages(res: ServerResponse, wait: number): void {
    sendPage(
      res,
      429,
      'Too many requests',
      `<p>Too many sign-in requests from this address. Try again in ${wait} s.</p>`,
      [],
      { 'Retry-After': String(wait) },
    );
  }

  private async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    if (!this.config.dynamicRegistration)
      return oauthError(res, 403, 'access_denied', 'dynamic client registration is off');
    const body = await readJson(req);
    if (!body) return oauthError(res, 400, 'invalid_client_metadata', 'the body must be a JSON object');
    const uris = body['redirect_uris'];
    if (
      !Array.isArray(uris) ||
      uris.length === 0 ||
      uris.length > 10 ||
      !uris.every((u) => typeof u === 'string')
    ) {
      return oauthError(res, 400, 'invalid_redirect_uri', 'redirect_uris must be a non-empty list of URLs');
    }
    const bad = (uris as string[]).find((u) => !acceptableRedirectUri(u));
    if (bad)
      return oauthError(
        res,
        400,
        'invalid_redirect_uri',
        `redirect URI must be https, or http on a loopback address: ${bad}`,
      );
    const method =
      typeof body['token_endpoint_auth_method'] === 'string' ? body['token_endpoint_auth_method'] : 'none';
    if (!['none', 'client_secret_basic', 'client_secret_post'].includes(method)) {
      return oauthError(
        res,
        400,
        'invalid_client_metadata',
        `token_endpoint_auth_method ${method} is not supported`,
      );
    }
    // Each registration is a store entry: limited per address, and forgotten when unused (used()).
    const wait = await this.throttled('register', clientAddressOf(req), this.config.registrationsPerMinute);
    if (wait > 0)
      return oauthError(
        res,
        429,
        'temporarily_unavailable',
        `too many client registrations from this address; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
    const clientId = `mcpg_client_${random(12)}`;
    const secret = method === 'none' ? undefined : random(32);
    const name = typeof body['client_name'] === 'string' ? body['client_name'].slice(0, 100) : clientId;
    const client: Client = {
      clientId,
      redirectUris: uris as string[],
      name,
      ...(secret ? { clientSecretSha256: sha256(secret) } : {}),
      touchedAt: Date.now(),
    };
    await this.store.kvPut(NS.client, clientId, JSON.stringify(client), {
      ttlMs: this.config.dynamicClientTtlMs,
    });
    this.logger.info({ client_id: clientId, name }, 'oauth client registered');
    json(res, 201, {
      client_id: clientId,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_name: name,
      redirect_uris: uris,
      token_endpoint_auth_method: method,
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
    });
  }

  /**
   * Authenticates the client at the token and device authorization endpoints (secret compared as SHA-256
   * digests, in constant time); on failure, why (for the audit log: it never contains what was sent).
   * An unreadable Basic header, or Basic next to a client_secret or another client_id in the body, is a
   * failure: it never falls back to the body (RFC 6749 §2.3: one method per request).
   */
  private async authenticateClient(
    req: IncomingMessage,
    form: URLSearchParams,
  ): Promise<{ client: Client } | { refused: string }> {
    const basic = basicCredentials(req);
    if (basic === 'malformed') return { refused: 'unreadable HTTP Basic credentials' };
    if (basic && (form.has('client_secret') || (form.has('client_id') && form.get('client_id') !== basic.id)))
      return { refused: 'more than one client authentication method' };
    const clientId = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? undefined;
    const client = await this.client(clientId);
    if (!client) return { refused: 'unknown client' };
    if (client.clientSecretSha256 === undefined)
      return secret === undefined ? { client } : { refused: 'a secret for a public client' };
    if (secret === undefined) return { refused: 'no client secret' };
    return safeEqual(sha256(secret), client.clientSecretSha256)
      ? { client }
      : { refused: 'wrong client secret' };
  }

  /**
   * Client authentication behind the per-address failure limit shared with the sign-in pages: a blocked
   * address gets 429 without its credentials being looked at, and a refusal counts and is reported.
   * Answers the refusal itself and returns undefined then.
   */
  private async limitedClient(
    req: IncomingMessage,
    res: ServerResponse,
    form: URLSearchParams,
    endpoint: '/token' | '/device_authorization',
  ): Promise<Client | undefined> {
    const address = clientAddressOf(req);
    const wait = this.limiter.blockedFor(address);
    if (wait > 0) {
      oauthError(
        res,
        429,
        'temporarily_unavailable',
        `too many failed authentications from this address; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
      return undefined;
    }
    const outcome = await this.authenticateClient(req, form);
    if ('client' in outcome) {
      await this.used(outcome.client);
      return outcome.client;
    }
    // Worded so that no `token: …` appears, which the audit log's secret masking would hide.
    await this.failed(address, `client authentication at ${endpoint} refused: ${outcome.refused}`);
    oauthError(res, 401, 'invalid_client', 'unknown client or wrong client credentials', {
      'WWW-Authenticate': 'Basic realm="mcp-guard"',
    });
    return undefined;
  }

  // ------------------------------------------------------------------ authorization code

  private async authorizeStart(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const p = url.searchParams;
    const client = await this.client(p.get('client_id') ?? '');
    if (!client)
      return sendPage(
        res,
        400,
        'Unknown client',
        '<p>This application is not registered with the gateway.</p>',
      );
    const redirectUri = p.get('redirect_uri') ?? '';
    // Exact match only; on a mismatch nothing is redirected anywhere.
    if (!client.redirectUris.includes(redirectUri)) {
      return sendPage(
        res,
        400,
        'Invalid redirect URI',
        '<p>The redirect URI does not match any registered for this application.</p>',
      );
    }
    const state = p.get('state') ?? '';
    const fail = (error: string, description: string) =>
      redirect(res, this.callbackUrl(redirectUri, { error, error_description: description, state }));
    if (p.get('response_type') !== 'code')
      return fail('unsupported_response_type', 'response_type must be code');
    const method = p.get('code_challenge_method');
    if (method !== 'S256')
      return fail('invalid_request', 'PKCE with code_challenge_method=S256 is required (plain is refused)');
    const challenge = p.get('code_challenge') ?? '';
    if (!isValidChallenge(challenge))
      return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
    // state is optional (PKCE already binds the code to this client's request); when given it is single-use.
    if (state.length > 512) return fail('invalid_request', 'state is longer than 512 characters');
    if (state && (await this.store.kvGet(NS.state, `${client.clientId}:${sha256(state)}`)))
      return fail('invalid_request', 'this state was already used');
    const resource = p.get('resource');
    if (resource !== null && resource !== this.resource)
      return fail('invalid_target', `tokens are only issued for ${this.resource}`);
    const scope = this.checkScope(p.get('scope'));
    if (scope === undefined)
      return fail('invalid_scope', `supported scopes: ${this.config.scopes.join(' ')}`);
    const pending: PendingAuthorization = {
      clientId: client.clientId,
      redirectUri,
      state,
      codeChallenge: challenge,
      scope,
      csrf: random(24),
    };
    const wait = await this.throttled(
      'pending',
      clientAddressOf(req),
      this.config.authorizationRequestsPerMinute,
    );
    if (wait > 0) return this.tooManyPages(res, wait);
    const requestId = random(24);
    await this.store.kvPut(NS.pending, requestId, JSON.stringify(pending), { ttlMs: PENDING_TTL_MS });
    await this.used(client);
    sendPage(
      res,
      200,
      'Sign in to mcp-guard',
      consentPage({
        clientName: client.name,
        clientId: client.clientId,
        redirectUri,
        scope,
        requestId,
        csrf: pending.csrf,
      }),
      [new URL(redirectUri).origin],
    );
  }

  private checkScope(requested: string | null): string | undefined {
    if (!requested) return this.config.scopes.join(' ');
    const scopes = requested.split(' ').filter(Boolean);
    return scopes.every((s) => this.config.scopes.includes(s)) ? scopes.join(' ') : undefined;
  }

  private async authorizeDecision(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const requestId = form?.get('request_id') ?? '';
    // Single use: a consent form can be submitted once (a wrong password gets a fresh one).
    const stored = requestId ? await this.store.kvTake(NS.pending, requestId) : undefined;
    if (!form || !stored)
      return sendPage(
        res,
        400,
        'Request expired',
        '<p>This sign-in request has expired or was already used. Start again from the application.</p>',
      );
    const pending = JSON.parse(stored) as PendingAuthorization;
    if (!safeEqual(form.get('csrf') ?? '', pending.csrf))
      return sendPage(res, 403, 'Forbidden', '<p>The form did not come from this gateway.</p>');
    const back = (params: Record<string, string>) =>
      redirect(res, this.callbackUrl(pending.redirectUri, { ...params, state: pending.state }));
    if (form.get('decision') !== 'approve')
      return back({ error: 'access_denied', error_description: 'the user denied the request' });

    const address = clientAddressOf(req);
    const signIn = await this.signIn(address, form);
    if (!signIn.ok) {
      // A fresh form, so the user can try again (after the wait, when blocked).
      const again: PendingAuthorization = { ...pending, csrf: random(24) };
      const nextId = random(24);
      await this.store.kvPut(NS.pending, nextId, JSON.stringify(again), { ttlMs: PENDING_TTL_MS });
      const registered = await this.client(pending.clientId);
      return sendPage(
        res,
        signIn.status,
        'Sign in to mcp-guard',
        consentPage({
          clientName: registered?.name ?? pending.clientId,
          clientId: pending.clientId,
          redirectUri: pending.redirectUri,
          scope: pending.scope,
          requestId: nextId,
          csrf: again.csrf,
          error: signIn.error,
        }),
        [new URL(pending.redirectUri).origin],
        signIn.headers,
      );
    }
    const user = signIn.user;
    // The state is spent now: a replayed authorization response (or a second flow reusing it) is refused.
    if (
      pending.state &&
      !(await this.store.kvPut(NS.state, `${pending.clientId}:${sha256(pending.state)}`, '1', {
        ttlMs: STATE_TTL_MS,
        ifAbsent: true,
      }))
    ) {
      return back({ error: 'invalid_request', error_description: 'this state was already used' });
    }
    const code = random(32);
    const grant: CodeRecord = {
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      scope: pending.scope,
      user,
      family: random(16),
      authTime: Date.now(),
    };
    await this.store.kvPut(NS.code, sha256(code), JSON.stringify(grant), { ttlMs: this.config.codeTtlMs });
    this.logger.info({ client_id: pending.clientId, user }, 'authorization code issued');
    back({ code });
  }

  private callbackUrl(redirectUri: string, params: Record<string, string>): string {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
    // RFC 9207: the client can check which authorization server answered (mix-up defence).
    url.searchParams.set('iss', this.issuer);
    return url.toString();
  }

  /**
   * Checks the user and password of a consent or device form. An address with too many recent failures
   * gets 429 without its password even being looked at; a wrong one counts as a failure.
   */
  private async signIn(
    address: string,
    form: URLSearchParams,
  ): Promise<
    { ok: true; user: string } | { ok: false; status: number; error: string; headers: Record<string, string> }
  > {
    const wait = this.limiter.blockedFor(address);
    if (wait > 0)
      return {
        ok: false,
        status: 429,
        error: `Too many failed sign-ins; try again in ${wait} s.`,
        headers: { 'Retry-After': String(wait) },
      };
    const user = await this.users.check(form.get('username') ?? '', form.get('password') ?? '');
    if (user) return { ok: true, user };
    await this.failed(address, 'sign-in refused: wrong user or password');
    return { ok: false, status: 401, error: 'Wrong user or password.', headers: {} };
  }

  /** Counts a failure against `address` and reports it (metrics, audit log). */
  private async failed(address: string, reason: string): Promise<void> {
    this.limiter.fail(address);
    await this.report(reason, address);
  }

  /** A spent code or refresh token came back: revokes everything its family issued and reports it. */
  private async replayed(kind: 'code' | 'refresh', family: string, address: string): Promise<void> {
    await this.families.revoke(family);
    const what = kind === 'code' ? 'authorization code' : 'refresh token';
    this.logger.warn({ client: address }, `${what} used twice: its token family is revoked`);
    await this.report(`${what} replayed; token family revoked`, address);
  }

  private async report(reason: string, client: string): Promise<void> {
    try {
      await this.events.onFailure?.({ mode: 'oauth2', reason, client });
    } catch (err) {
      // Reporting must not change the answer (the failure is already counted).
      this.logger.error({ err: (err as Error).message }, 'auth failure could not be reported');
    }
  }

  // ------------------------------------------------------------------ token endpoint

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    const form = await readForm(req);
    if (!form)
      return oauthError(
        res,
        400,
        'invalid_request',
        'the body must be application/x-www-form-urlencoded, each parameter once',
      );
    const client = await this.limitedClient(req, res, form, '/token');
    if (!client) return;
    const address = clientAddressOf(req);
    switch (form.get('grant_type')) {
      case 'authorization_code':
        return this.exchangeCode(res, client, form, address);
      case 'refresh_token':
        return this.refresh(res, client, form, address);
      case DEVICE_GRANT:
        return this.pollDevice(res, client, form);
      default:
        return oauthError(
          res,
          400,
          'unsupported_grant_type',
          'grant_type must be authorization_code, refresh_token or the device code grant',
        );
    }
  }

  private async exchangeCode(
    res: ServerResponse,
    client: Client,
    form: URLSearchParams,
    address: string,
  ): Promise<void> {
    const code = form.get('code') ?? '';
    const key = code ? sha256(code) : '';
    const stored = key ? await this.store.kvGet(NS.code, key) : undefined;
    if (!stored) {
      // A spent code back again: whoever redeemed it first may not be its owner (RFC 6749 §4.1.2).
      const family = key ? await this.families.spentFamily('code', key) : undefined;
      if (family) await this.replayed('code', family, address);
      return oauthError(res, 400, 'invalid_grant', 'the code is invalid, expired or already used');
    }
    const grant = JSON.parse(stored) as CodeRecord;
    const family = grant.family ?? legacyFamily(key);
    // Spent in one atomic operation before anything else is checked: of two racing requests one wins
    // (and the other revokes what it got), and a failed attempt uses the code up.
    if (!(await this.families.spend('code', key, family))) {
      await this.replayed('code', family, address);
      return oauthError(res, 400, 'invalid_grant', 'the code was already used');
    }
    await this.store.kvDelete(NS.code, key);
    if (grant.clientId !== client.clientId)
      return oauthError(res, 400, 'invalid_grant', 'the code was issued to another client');
    if (form.get('redirect_uri') !== grant.redirectUri)
      return oauthError(res, 400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    const verifier = form.get('code_verifier') ?? '';
    if (!isValidVerifier(verifier))
      return oauthError(
        res,
        400,
        'invalid_grant',
        'code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]',
      );
    if (!verifierMatches(verifier, grant.codeChallenge))
      return oauthError(res, 400, 'invalid_grant', 'code_verifier does not match the code_challenge');
    const resource = form.get('resource');
    if (resource !== null && resource !== this.resource)
      return oauthError(res, 400, 'invalid_target', `tokens are only issued for ${this.resource}`);
    if (await this.families.isRevoked(family))
      return oauthError(res, 400, 'invalid_grant', 'the code was already used');
    const issued: Grant = {
      clientId: client.clientId,
      user: grant.user,
      scope: grant.scope,
      family,
      authTime: grant.authTime ?? Date.now(),
    };
    const ended = this.grantEnded(issued);
    if (ended) return this.endGrant(res, issued, ended);
    await this.issueTokens(res, issued);
  }

  /**
   * Why a grant may no longer be used — its user is no longer configured, or its session is older than
   * `session_max_age` — or undefined while it may.
   */
  private grantEnded(grant: Grant, now = Date.now()): string | undefined {
    if (!this.users.has(grant.user)) return 'the user of this grant is no longer configured; sign in again';
    if (now >= grant.authTime + this.config.sessionMaxAgeMs)
      return 'the session is older than auth.oauth2.session_max_age; sign in again';
    return undefined;
  }

  /** Refuses an ended grant and revokes its family, so its live access tokens stop working too. */
  private async endGrant(res: ServerResponse, grant: Grant, why: string): Promise<void> {
    await this.families.revoke(grant.family);
    this.logger.info({ client_id: grant.clientId, user: grant.user }, `oauth grant ended: ${why}`);
    oauthError(res, 400, 'invalid_grant', why);
  }

  private async refresh(
    res: ServerResponse,
    client: Client,
    form: URLSearchParams,
    address: string,
  ): Promise<void> {
    const token = form.get('refresh_token') ?? '';
    const key = token ? sha256(token) : '';
    const stored = key ? await this.store.kvGet(NS.refresh, key) : undefined;
    if (!stored) {
      // A rotated refresh token back again: one of its holders is not the client (OAuth 2.1 §4.3.1).
      const family = key ? await this.families.spentFamily('refresh', key) : undefined;
      if (family) await this.replayed('refresh', family, address);
      return oauthError(res, 400, 'invalid_grant', 'the refresh token is invalid, expired or already used');
    }
    const record = JSON.parse(stored) as RefreshRecord;
    // A token stored before authTime existed starts its session now: one more session_max_age at most.
    const grant: Grant = {
      ...record,
      family: record.family ?? legacyFamily(key),
      authTime: record.authTime ?? Date.now(),
    };
    // Refusals that are the client's mistake leave the token usable.
    if (grant.clientId !== client.clientId)
      return oauthError(res, 400, 'invalid_grant', 'the refresh token was issued to another client');
    // A removed user or a session past its age ends the whole family: nothing of it works from now on.
    const ended = this.grantEnded(grant);
    if (ended) {
      await this.store.kvDelete(NS.refresh, key);
      return this.endGrant(res, grant, ended);
    }
    const granted = grant.scope.split(' ').filter(Boolean);
    const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const beyond = asked.filter((s) => !granted.includes(s));
    if (beyond.length > 0)
      return oauthError(res, 400, 'invalid_scope', `not in the original grant: ${beyond.join(' ')}`);
    // Rotation: spent in one atomic operation; a second use of it revokes the family.
    if (!(await this.families.spend('refresh', key, grant.family))) {
      await this.replayed('refresh', grant.family, address);
      return oauthError(res, 400, 'invalid_grant', 'the refresh token was already used');
    }
    await this.store.kvDelete(NS.refresh, key);
    if (await this.families.isRevoked(grant.family))
      return oauthError(res, 400, 'invalid_grant', 'the refresh token has been revoked');
    // Omitted scope means the whole original grant (RFC 6749 §6); the new refresh token keeps all of it.
    await this.issueTokens(res, grant, asked.length > 0 ? asked.join(' ') : grant.scope);
  }

  /**
   * Signs an access token for `scope` (default: the whole grant), expiring at the session's end
   * (`authTime` + session_max_age) at the latest, and stores a new refresh token for the grant.
   */
  private async issueTokens(res: ServerResponse, grant: Grant, scope = grant.scope): Promise<void> {
    const sessionEnd = grant.authTime + this.config.sessionMaxAgeMs;
    const nowS = Math.floor(Date.now() / 1000);
    const expS = Math.min(
      nowS + Math.floor(this.config.accessTokenTtlMs / 1000),
      Math.floor(sessionEnd / 1000),
    );
    // `sid` names the token family, so the resource server can refuse tokens of a revoked one.
    const accessToken = await new SignJWT({ scope, client_id: grant.clientId, sid: grant.family })
      .setProtectedHeader({ alg: 'ES256', kid: this.publicJwk.kid ?? 'key', typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(this.resource)
      .setSubject(grant.user)
      .setIssuedAt(nowS)
      .setExpirationTime(expS)
      .setJti(random(16))
      .sign(this.signingKey);
    const refreshToken = random(32);
    const record: Grant = {
      clientId: grant.clientId,
      user: grant.user,
      scope: grant.scope,
      family: grant.family,
      authTime: grant.authTime,
    };
    await this.store.kvPut(NS.refresh, sha256(refreshToken), JSON.stringify(record), {
      // Not cut at the session's end: presented after it, the token is refused by name and its family revoked.
      ttlMs: this.config.refreshTokenTtlMs,
    });
    json(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(0, expS - nowS),
      refresh_token: refreshToken,
      scope,
    });
  }

  // ------------------------------------------------------------------ device authorization grant

  private async deviceAuthorization(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    const form = await readForm(req);
    if (!form)
      return oauthError(res, 400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    const client = await this.limitedClient(req, res, form, '/device_authorization');
    if (!client) return;
    const scope = this.checkScope(form.get('scope'));
    if (scope === undefined)
      return oauthError(res, 400, 'invalid_scope', `supported scopes: ${this.config.scopes.join(' ')}`);
    const wait = await this.throttled(
      'pending',
      clientAddressOf(req),
      this.config.authorizationRequestsPerMinute,
    );
    if (wait > 0)
      return oauthError(
        res,
        429,
        'temporarily_unavailable',
        `too many device authorizations from this address; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
    const deviceCode = random(32);
    const bytes = randomBytes(8);
    const userCode = [...bytes]
      .map((b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length])
      .join('')
      .replace(/^(.{4})/, '$1-');
    const ttl = this.config.deviceCodeTtlMs;
    const record = { clientId: client.clientId, scope, userCode };
    await this.store.kvPut(NS.device, sha256(deviceCode), JSON.stringify(record), { ttlMs: ttl });
    await this.store.kvPut(NS.userCode, userCode, sha256(deviceCode), { ttlMs: ttl });
    json(res, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${this.issuer}/device`,
      verification_uri_complete: `${this.issuer}/device?user_code=${encodeURIComponent(userCode)}`,
      expires_in: Math.floor(ttl / 1000),
      interval: DEVICE_INTERVAL_S,
    });
  }

  private async devicePageStart(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const wait = await this.throttled(
      'pending',
      clientAddressOf(req),
      this.config.authorizationRequestsPerMinute,
    );
    if (wait > 0) return this.tooManyPages(res, wait);
    const requestId = random(24);
    const csrf = random(24);
    await this.store.kvPut(NS.pending, requestId, JSON.stringify({ csrf, device: true }), {
      ttlMs: PENDING_TTL_MS,
    });
    sendPage(
      res,
      200,
      'Approve a device',
      devicePage({ userCode: url.searchParams.get('user_code') ?? '', requestId, csrf }),
    );
  }

  private async deviceDecision(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const requestId = form?.get('request_id') ?? '';
    const stored = requestId ? await this.store.kvTake(NS.pending, requestId) : undefined;
    if (!form || !stored)
      return sendPage(res, 400, 'Request expired', '<p>This page has expired. Load it again.</p>');
    const pending = JSON.parse(stored) as { csrf: string; device?: boolean };
    if (!pending.device || !safeEqual(form.get('csrf') ?? '', pending.csrf))
      return sendPage(res, 403, 'Forbidden', '<p>The form did not come from this gateway.</p>');
    const retry = async (status: number, error: string, headers: Record<string, string> = {}) => {
      const nextId = random(24);
      const csrf = random(24);
      await this.store.kvPut(NS.pending, nextId, JSON.stringify({ csrf, device: true }), {
        ttlMs: PENDING_TTL_MS,
      });
      sendPage(
        res,
        status,
        'Approve a device',
        devicePage({ userCode: form.get('user_code') ?? '', requestId: nextId, csrf, error }),
        [],
        headers,
      );
    };
    // Credentials first: without them the page says nothing about the code, so it cannot be used to
    // guess user codes; signed in, a wrong code counts as a failure too (RFC 8628 §5.1).
    const address = clientAddressOf(req);
    const signIn = await this.signIn(address, form);
    if (!signIn.ok) return retry(signIn.status, signIn.error, signIn.headers);
    const user = signIn.user;
    const userCode = (form.get('user_code') ?? '')
      .toUpperCase()
      .replace(/[^A-Z]/g, '')
      .replace(/^(.{4})/, '$1-');
    const deviceKey = userCode ? await this.store.kvGet(NS.userCode, userCode) : undefined;
    if (!deviceKey) {
      await this.failed(address, 'device approval refused: unknown or expired user code');
      return retry(400, 'Unknown or expired code.');
    }
    const decision = form.get('decision') === 'approve' ? 'approved' : 'denied';
    // Written once: the first decision stands.
    await this.store.kvPut(NS.deviceDecision, deviceKey, JSON.stringify({ decision, user }), {
      ttlMs: this.config.deviceCodeTtlMs,
      ifAbsent: true,
    });
    await this.store.kvDelete(NS.userCode, userCode);
    this.logger.info({ user, decision }, 'device authorization decided');
    sendPage(
      res,
      200,
      'Done',
      devicePage({
        requestId: '',
        csrf: '',
        done:
          decision === 'approved'
            ? 'The device is approved. You can close this page.'
            : 'The device was denied.',
      }),
    );
  }

  private async pollDevice(res: ServerResponse, client: Client, form: URLSearchParams): Promise<void> {
    const key = sha256(form.get('device_code') ?? '');
    const stored = await this.store.kvGet(NS.device, key);
    if (!stored) return oauthError(res, 400, 'expired_token', 'the device code is unknown or has expired');
    const record = JSON.parse(stored) as { clientId: string; scope: string };
    if (record.clientId !== client.clientId)
      return oauthError(res, 400, 'invalid_grant', 'the device code was issued to another client');
    const decided = await this.store.kvGet(NS.deviceDecision, key);
    if (!decided) {
      const last = Number((await this.store.kvGet(NS.devicePoll, key)) ?? 0);
      const now = Date.now();
      await this.store.kvPut(NS.devicePoll, key, String(now), { ttlMs: this.config.deviceCodeTtlMs });
      if (now - last < DEVICE_INTERVAL_S * 1000 - 250)
        return oauthError(res, 400, 'slow_down', `poll at most every ${DEVICE_INTERVAL_S} seconds`);
      return oauthError(res, 400, 'authorization_pending', 'the user has not decided yet');
    }
    // One token per device code: whoever takes the code first gets it.
    if (!(await this.store.kvTake(NS.device, key)))
      return oauthError(res, 400, 'expired_token', 'the device code was already used');
    const { decision, user } = JSON.parse(decided) as { decision: string; user: string };
    if (decision !== 'approved') return oauthError(res, 400, 'access_denied', 'the user denied the device');
    const grant: Grant = {
      clientId: client.clientId,
      user,
      scope: record.scope,
      family: random(16),
      authTime: Date.now(),
    };
    const ended = this.grantEnded(grant);
    if (ended) return this.endGrant(res, grant, ended);
    await this.issueTokens(res, grant);
  }
}
