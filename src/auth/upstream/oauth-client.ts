/**
 * The gateway's side of the OAuth exchanges with an upstream authorization server: choosing the scope,
 * registering (pre-registered, else a Client ID Metadata Document, else Dynamic Client Registration),
 * the authorization request (PKCE S256, `state`, the `resource` indicator), checking the authorization
 * response (`state`, RFC 9207 `iss`), and the token endpoint (code, refresh and device grants) with the
 * client authentication the server supports. Every request goes through the outbound rules.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UpstreamOAuthConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import { safeFetch } from '../../http/safe-fetch.js';
import type { AuthServerMetadata, Discovery } from './discovery.js';
import type { ClientAuthMethod, ClientMeta, ClientSecret } from './records.js';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** An error from the authorization server (RFC 6749 §5.2), with its `error` code kept for decisions. */
export class UpstreamOAuthError extends GatewayError {
  constructor(
    message: string,
    /** The OAuth error code (`invalid_grant`, …), when the server gave one. */
    readonly oauthError?: string,
  ) {
    super('UPSTREAM_OAUTH', message);
    this.name = 'UpstreamOAuthError';
  }
}

export interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly expiresAt?: number;
  readonly scope?: string;
}

const split = (scope: string | undefined) => (scope ?? '').split(' ').filter(Boolean);

/**
 * The scope to ask for (MCP scope selection): the configured scopes, else the server's 401 challenge,
 * else the resource's scopes_supported, else none; plus what was granted before and what a step-up asked
 * for (so a re-authorization never loses a scope, SEP-2350), plus offline_access when the authorization
 * server offers it (the gateway needs a refresh token to keep working unattended).
 */
export function chooseScope(
  oauth: UpstreamOAuthConfig,
  discovery: Discovery,
  extra: { granted?: string; needed?: string } = {},
): string | undefined {
  const base = oauth.scopes
    ? [...oauth.scopes]
    : discovery.challengeScope
      ? split(discovery.challengeScope)
      : [...(discovery.resource.scopesSupported ?? [])];
  const all = [...new Set([...base, ...split(extra.granted), ...split(extra.needed)])].filter(
    (s) => s !== 'offline_access',
  );
  if (all.length === 0) return undefined;
  if (discovery.authServer.scopes_supported?.includes('offline_access')) all.push('offline_access');
  return all.join(' ');
}

/** How to authenticate at the token endpoint with `secret` (RFC 8414 default: client_secret_basic). */
function authMethodFor(as: AuthServerMetadata, hasSecret: boolean): ClientAuthMethod {
  const supported = as.token_endpoint_auth_methods_supported;
  if (!hasSecret) return 'none';
  if (!supported || supported.length === 0 || supported.includes('client_secret_basic'))
    return 'client_secret_basic';
  if (supported.includes('client_secret_post')) return 'client_secret_post';
  return 'client_secret_basic';
}

/**
 * A client for this authorization server, in the spec's order of preference: the configured
 * (pre-registered) client, then the gateway's Client ID Metadata Document where the server accepts
 * them, then Dynamic Client Registration.
 */
export async function registerClient(options: {
  readonly serverName: string;
  readonly oauth: UpstreamOAuthConfig;
  readonly authServer: AuthServerMetadata;
  readonly redirectUris: readonly string[];
  readonly scope: string | undefined;
  readonly device: boolean;
}): Promise<{ meta: ClientMeta; secret: ClientSecret }> {
  const { oauth, authServer: as, redirectUris } = options;
  if (oauth.clientId) {
    return {
      meta: {
        issuer: as.issuer,
        clientId: oauth.clientId,
        authMethod: authMethodFor(as, oauth.clientSecret !== undefined),
        source: 'configured',
        redirectUris,
      },
      secret: oauth.clientSecret === undefined ? {} : { clientSecret: oauth.clientSecret },
    };
  }
  if (oauth.clientMetadataUrl && as.client_id_metadata_document_supported === true) {
    return {
      meta: {
        issuer: as.issuer,
        clientId: oauth.clientMetadataUrl,
        authMethod: 'none',
        source: 'metadata_document',
        redirectUris,
      },
      secret: {},
    };
  }
  if (!as.registration_endpoint)
    throw new UpstreamOAuthError(
      `the authorization server ${as.issuer} offers neither dynamic client registration nor (usable) client ID metadata documents: register mcp-guard there and set servers.${options.serverName}.oauth.client_id${as.client_id_metadata_document_supported ? ' (or client_metadata_url)' : ''}`,
    );
  const supported = as.token_endpoint_auth_methods_supported;
  // A public client where allowed (PKCE protects the code); else a secret the server issues.
  const wanted: ClientAuthMethod =
    !supported || supported.length === 0 || supported.includes('none')
      ? 'none'
      : supported.includes('client_secret_basic')
        ? 'client_secret_basic'
        : 'client_secret_post';
  const body = {
    client_name: `mcp-guard (${options.serverName})`,
    software_id: 'mcp-guard',
    software_version: VERSION,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token', ...(options.device ? [DEVICE_GRANT] : [])],
    response_types: ['code'],
    token_endpoint_auth_method: wanted,
    application_type: 'native',
    ...(options.scope ? { scope: options.scope } : {}),
  };
  const res = await safeFetch(as.registration_endpoint, {
    what: 'dynamic client registration',
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const reply = parseJson(res.text);
  if (res.status !== 200 && res.status !== 201)
    throw errorFrom(
      reply,
      `dynamic client registration at ${as.registration_endpoint} failed (HTTP ${res.status})`,
    );
  const clientId = reply?.['client_id'];
  if (typeof clientId !== 'string' || !clientId)
    throw new UpstreamOAuthError(
      `dynamic client registration at ${as.registration_endpoint} returned no client_id`,
    );
  const secret =
    typeof reply?.['client_secret'] === 'string' ? (reply['client_secret'] as string) : undefined;
  const granted = reply?.['token_endpoint_auth_method'];
  const authMethod: ClientAuthMethod =
    granted === 'none' || granted === 'client_secret_basic' || granted === 'client_secret_post'
      ? granted
      : secret
        ? authMethodFor(as, true)
        : 'none';
  return {
    meta: { issuer: as.issuer, clientId, authMethod, source: 'dynamic', redirectUris },
    secret: secret === undefined ? {} : { clientSecret: secret },
  };
}

export interface PendingAuthorization {
  readonly url: string;
  readonly state: string;
  readonly verifier: string;
  readonly redirectUri: string;
}

/** The authorization request: PKCE S256, a fresh `state`, the scope and the resource indicator. */
export function authorizationRequest(options: {
  readonly authServer: AuthServerMetadata;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string | undefined;
  readonly resource: string;
}): PendingAuthorization {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(24).toString('base64url');
  const url = new URL(options.authServer.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', options.clientId);
  url.searchParams.set('redirect_uri', options.redirectUri);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  url.searchParams.set('resource', options.resource);
  if (options.scope) url.searchParams.set('scope', options.scope);
  return { url: url.toString(), state, verifier, redirectUri: options.redirectUri };
}

/**
 * Checks the redirect back from the authorization server and returns the code: the `state` must be ours;
 * an `iss` must be the issuer exactly (RFC 9207, simple string comparison), and is required when the
 * server says it sends one (a mix-up defence).
 */
export function authorizationCode(
  params: URLSearchParams,
  pending: PendingAuthorization,
  as: AuthServerMetadata,
): string {
  const state = params.get('state') ?? '';
  const a = Buffer.from(state);
  const b = Buffer.from(pending.state);
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw new UpstreamOAuthError('the authorization response does not carry our state: ignored');
  for (const key of ['code', 'state', 'iss'])
    if (params.getAll(key).length > 1)
      throw new UpstreamOAuthError(`the authorization response repeats ${key}`);
  const iss = params.get('iss');
  if (iss !== null && iss !== as.issuer)
    throw new UpstreamOAuthError(
      `the authorization response comes from issuer ${iss}, not ${as.issuer}: refused (RFC 9207 mix-up defence)`,
    );
  if (iss === null && as.authorization_response_iss_parameter_supported === true)
    throw new UpstreamOAuthError(
      `the authorization response lacks the iss that ${as.issuer} promises (RFC 9207): refused`,
    );
  const error = params.get('error');
  if (error)
    throw new UpstreamOAuthError(
      `the authorization server answered ${error}${params.get('error_description') ? `: ${params.get('error_description')}` : ''}`,
      error,
    );
  const code = params.get('code');
  if (!code) throw new UpstreamOAuthError('the authorization response has no code');
  return code;
}

/** A token endpoint (or device authorization endpoint) request with the client's authentication. */
async function tokenRequest(
  endpoint: string,
  what: string,
  client: { meta: ClientMeta; secret: ClientSecret | undefined },
  params: Record<string, string>,
): Promise<Record<string, unknown>> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const secret = client.secret?.clientSecret;
  const { authMethod, clientId } = client.meta;
  if (authMethod === 'client_secret_basic' && secret !== undefined) {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    headers['authorization'] = `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}`;
  } else {
    form.set('client_id', clientId);
    if (authMethod === 'client_secret_post' && secret !== undefined) form.set('client_secret', secret);
  }
  const res = await safeFetch(endpoint, { what, method: 'POST', headers, body: form.toString() });
  const reply = parseJson(res.text);
  if (res.status !== 200) throw errorFrom(reply, `${what} failed (HTTP ${res.status})`);
  if (!reply) throw new UpstreamOAuthError(`${what}: the answer is not a JSON object`);
  return reply;
}

function tokenSet(reply: Record<string, unknown>, asked: string | undefined): TokenSet {
  const accessToken = reply['access_token'];
  if (typeof accessToken !== 'string' || !accessToken)
    throw new UpstreamOAuthError('the token response has no access_token');
  const type = reply['token_type'];
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer'))
    throw new UpstreamOAuthError(`the token response is of type ${String(type)}; only Bearer is supported`);
  const expiresIn = reply['expires_in'];
  const refresh = reply['refresh_token'];
  const scope = typeof reply['scope'] === 'string' ? reply['scope'] : asked;
  return {
    accessToken,
    ...(typeof refresh === 'string' && refresh ? { refreshToken: refresh } : {}),
    ...(typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
      ? { expiresAt: Date.now() + expiresIn * 1000 }
      : {}),
    ...(scope ? { scope } : {}),
  };
}

/** The authorization code grant. */
export async function exchangeCode(options: {
  readonly authServer: AuthServerMetadata;
  readonly client: { meta: ClientMeta; secret: ClientSecret | undefined };
  readonly code: string;
  readonly pending: PendingAuthorization;
  readonly resource: string;
  readonly scope: string | undefined;
}): Promise<TokenSet> {
  const reply = await tokenRequest(options.authServer.token_endpoint, 'the token request', options.client, {
    grant_type: 'authorization_code',
    code: options.code,
    redirect_uri: options.pending.redirectUri,
    code_verifier: options.pending.verifier,
    resource: options.resource,
  });
  return tokenSet(reply, options.scope);
}

/** The refresh token grant; a server that does not rotate keeps the old refresh token valid. */
export async function refreshTokens(options: {
  readonly authServer: AuthServerMetadata;
  readonly client: { meta: ClientMeta; secret: ClientSecret | undefined };
  readonly refreshToken: string;
  readonly resource: string;
  readonly scope: string | undefined;
}): Promise<TokenSet> {
  const reply = await tokenRequest(options.authServer.token_endpoint, 'the token refresh', options.client, {
    grant_type: 'refresh_token',
    refresh_token: options.refreshToken,
    resource: options.resource,
  });
  const set = tokenSet(reply, options.scope);
  return set.refreshToken ? set : { ...set, refreshToken: options.refreshToken };
}

export interface DeviceAuthorization {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  readonly intervalS: number;
  readonly expiresAt: number;
}

/** Starts the device authorization grant (RFC 8628). */
export async function startDeviceAuthorization(options: {
  readonly authServer: AuthServerMetadata;
  readonly client: { meta: ClientMeta; secret: ClientSecret | undefined };
  readonly scope: string | undefined;
  readonly resource: string;
}): Promise<DeviceAuthorization> {
  const endpoint = options.authServer.device_authorization_endpoint;
  if (!endpoint)
    throw new UpstreamOAuthError(
      `the authorization server ${options.authServer.issuer} does not offer the device flow`,
    );
  const reply = await tokenRequest(endpoint, 'the device authorization request', options.client, {
    ...(options.scope ? { scope: options.scope } : {}),
    resource: options.resource,
  });
  const deviceCode = reply['device_code'];
  const userCode = reply['user_code'];
  const uri = reply['verification_uri'];
  if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof uri !== 'string')
    throw new UpstreamOAuthError(
      'the device authorization response lacks device_code, user_code or verification_uri',
    );
  const interval = typeof reply['interval'] === 'number' ? reply['interval'] : 5;
  const expiresIn = typeof reply['expires_in'] === 'number' ? reply['expires_in'] : 600;
  const complete = reply['verification_uri_complete'];
  return {
    deviceCode,
    userCode,
    verificationUri: uri,
    ...(typeof complete === 'string' ? { verificationUriComplete: complete } : {}),
    intervalS: Math.max(1, interval),
    expiresAt: Date.now() + expiresIn * 1000,
  };
}

/** Polls the token endpoint until the user decides (slow_down adds 5 s, RFC 8628 §3.5). */
export async function pollDeviceToken(options: {
  readonly authServer: AuthServerMetadata;
  readonly client: { meta: ClientMeta; secret: ClientSecret | undefined };
  readonly device: DeviceAuthorization;
  readonly resource: string;
  readonly scope: string | undefined;
  readonly signal?: AbortSignal;
}): Promise<TokenSet> {
  let interval = options.device.intervalS;
  for (;;) {
    if (Date.now() > options.device.expiresAt)
      throw new UpstreamOAuthError('the device code expired before approval');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, interval * 1000);
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new UpstreamOAuthError('the login was cancelled'));
      });
    });
    try {
      const reply = await tokenRequest(
        options.authServer.token_endpoint,
        'the device token request',
        options.client,
        {
          grant_type: DEVICE_GRANT,
          device_code: options.device.deviceCode,
          resource: options.resource,
        },
      );
      return tokenSet(reply, options.scope);
    } catch (err) {
      if (!(err instanceof UpstreamOAuthError)) throw err;
      if (err.oauthError === 'authorization_pending') continue;
      if (err.oauthError === 'slow_down') {
        interval += 5;
        continue;
      }
      throw err;
    }
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** An OAuth error answer as an UpstreamOAuthError (the server's description, never our credentials). */
function errorFrom(reply: Record<string, unknown> | undefined, fallback: string): UpstreamOAuthError {
  const error = typeof reply?.['error'] === 'string' ? (reply['error'] as string) : undefined;
  const description =
    typeof reply?.['error_description'] === 'string' ? (reply['error_description'] as string) : '';
  return error
    ? new UpstreamOAuthError(
        `${fallback}: ${error}${description ? ` (${description.slice(0, 300)})` : ''}`,
        error,
      )
    : new UpstreamOAuthError(fallback);
}
