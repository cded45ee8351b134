/**
 * "Sign in with OAuth" on the dashboard (`auth.mode: oauth2`): the dashboard is an ordinary client of the
 * gateway's own authorization server — a configured public client `mcp-guard-dashboard` whose redirect URI
 * is `<issuer>/ui/oauth/callback` — and runs the authorization code flow with PKCE for the `admin` scope.
 * The access token it gets is verified like any admin token (the `admin` scope is required), used once
 * to open a dashboard session, and dropped: the browser only ever holds the session cookie.
 *
 * The code is exchanged by a request to the gateway's own /token over loopback, with the issuer's Host
 * (the one the Host check accepts), so the token endpoint's rules apply unchanged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AdminAuth, cookieOf } from '../admin/admin-auth.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { GuardConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { StateStore } from '../stores/state-store.js';

export const DASHBOARD_CLIENT_ID = 'mcp-guard-dashboard';
const NS = 'admin_oauth';
const STATE_COOKIE = 'mcpg_oauth_state';
const FLOW_TTL_MS = 10 * 60_000;

export interface OAuthEndpoints {
  /** The authorization server's issuer (the gateway's public base URL). */
  readonly issuer: string;
  /** Where this process listens, e.g. http://127.0.0.1:8080 (the code is exchanged there). */
  readonly listenBase: string;
}

export interface OAuthLoginDeps {
  readonly auth: AdminAuth;
  readonly store: StateStore;
  readonly config: () => GuardConfig;
  readonly endpoints: () => OAuthEndpoints | undefined;
  /** Verifies the server's access tokens requiring the `admin` scope. */
  readonly tokenVerifier: () => JwtVerifier | undefined;
  readonly logger: Logger;
}

export class DashboardOAuthLogin {
  constructor(private readonly deps: OAuthLoginDeps) {}

  /** Why the OAuth sign-in is not offered (undefined: it is). */
  unavailable(): string | undefined {
    const config = this.deps.config();
    const endpoints = this.deps.endpoints();
    if (config.auth.mode !== 'oauth2' || !endpoints) return 'auth.mode is not oauth2';
    if (!config.auth.oauth2?.scopes.includes('admin')) return 'auth.oauth2.scopes does not offer admin';
    const client = config.auth.oauth2.clients.find((c) => c.clientId === DASHBOARD_CLIENT_ID);
    if (!client) return `no client ${DASHBOARD_CLIENT_ID} in auth.oauth2.clients`;
    if (client.clientSecretSha256)
      return `the ${DASHBOARD_CLIENT_ID} client must be public (no client_secret)`;
    if (!client.redirectUris.includes(this.redirectUri(endpoints)))
      return `the ${DASHBOARD_CLIENT_ID} client's redirect_uris must include ${this.redirectUri(endpoints)}`;
    return undefined;
  }

  private redirectUri(endpoints: OAuthEndpoints): string {
    return `${endpoints.issuer}/ui/oauth/callback`;
  }

  /** GET /ui/oauth/start?next=…: on to the authorization server with a fresh state and PKCE verifier. */
  async start(res: ServerResponse, next: string): Promise<void> {
    const endpoints = this.deps.endpoints();
    const why = this.unavailable();
    if (why || !endpoints) return redirect(res, '/ui/login?error=oauth_off');
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    await this.deps.store.kvPut(NS, digest(state), JSON.stringify({ verifier, next }), {
      ttlMs: FLOW_TTL_MS,
    });
    const url = `${endpoints.issuer}/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: DASHBOARD_CLIENT_ID,
      redirect_uri: this.redirectUri(endpoints),
      scope: 'admin',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      resource: `${endpoints.issuer}/mcp`,
    })}`;
    // The state is bound to this browser: a callback from another browser (a login CSRF) finds no cookie.
    redirect(res, url, {
      'Set-Cookie': `${STATE_COOKIE}=${state}; Path=/ui/oauth; Max-Age=${FLOW_TTL_MS / 1000}; HttpOnly; SameSite=Lax${this.secure() ? '; Secure' : ''}`,
    });
  }

  /** GET /ui/oauth/callback: checks the state, exchanges the code, opens a session for an admin token. */
  async callback(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const clear = `${STATE_COOKIE}=; Path=/ui/oauth; Max-Age=0; HttpOnly; SameSite=Lax${this.secure() ? '; Secure' : ''}`;
    const fail = (error: string) => redirect(res, `/ui/login?error=${error}`, { 'Set-Cookie': clear });
    const endpoints = this.deps.endpoints();
    if (!endpoints || this.unavailable()) return fail('oauth_off');
    const state = url.searchParams.get('state') ?? '';
    const cookie = cookieOf(req, STATE_COOKIE) ?? '';
    if (!state || !sameText(state, cookie)) return fail('oauth_failed');
    const stored = await this.deps.store.kvTake(NS, digest(state));
    if (!stored) return fail('oauth_failed');
    const flow = JSON.parse(stored) as { verifier: string; next: string };
    if (url.searchParams.get('error') === 'access_denied') return fail('oauth_denied');
    const code = url.searchParams.get('code');
    if (!code || url.searchParams.get('iss') !== endpoints.issuer) return fail('oauth_failed');

    const accessToken = await this.exchange(endpoints, code, flow.verifier);
    if (!accessToken) return fail('oauth_failed');
    const verifier = this.deps.tokenVerifier();
    if (!verifier) return fail('oauth_off');
    let name: string;
    try {
      name = (await verifier.verify(accessToken)).agent;
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'dashboard OAuth sign-in: token refused');
      return fail('oauth_scope');
    }
    const { cookie: session } = await this.deps.auth.openSession({ name, via: 'oauth2' });
    this.deps.logger.info({ admin: name }, 'dashboard sign-in (OAuth)');
    res.writeHead(303, { Location: flow.next, 'Set-Cookie': [session, clear], 'Cache-Control': 'no-store' });
    res.end();
  }

  private async exchange(
    endpoints: OAuthEndpoints,
    code: string,
    verifier: string,
  ): Promise<string | undefined> {
    try {
      const { request } = await import('undici'); // loaded when someone signs in, not at start
      const res = await request(`${endpoints.listenBase}/token`, {
        method: 'POST',
        headers: {
          host: new URL(endpoints.issuer).host,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: this.redirectUri(endpoints),
          client_id: DASHBOARD_CLIENT_ID,
          code_verifier: verifier,
          resource: `${endpoints.issuer}/mcp`,
        }).toString(),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const body = (await res.body.json()) as { access_token?: unknown; error?: unknown };
      if (res.statusCode !== 200 || typeof body.access_token !== 'string') {
        this.deps.logger.warn(
          { status: res.statusCode, error: body.error },
          'dashboard OAuth sign-in: code exchange failed',
        );
        return undefined;
      }
      return body.access_token;
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'dashboard OAuth sign-in: code exchange failed');
      return undefined;
    }
  }

  private secure(): boolean {
    return this.deps.config().http.publicUrl?.startsWith('https:') ?? false;
  }
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { Location: location, 'Cache-Control': 'no-store', ...headers });
  res.end();
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameText(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
