/**
 * `mcp-guard backends login NAME`: a person consents once, and the gateway keeps (and refreshes) the
 * token from then on. The server is asked what it wants (its 401), everything else is discovered; the
 * person opens the printed URL and is sent back to a one-shot listener on loopback (RFC 8252), or, with
 * `--device`, enters a code on another device (RFC 8628) where the server offers that.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RemoteServerConfig, UpstreamOAuthConfig } from '../../config/types.js';
import { VERSION } from '../../core/version.js';
import {
  type BearerChallenge,
  type Discovery,
  discoverAuthServer,
  discoverProtectedResource,
  parseBearerChallenge,
} from './discovery.js';
import {
  authorizationCode,
  authorizationRequest,
  chooseScope,
  type DeviceAuthorization,
  exchangeCode,
  type PendingAuthorization,
  pollDeviceToken,
  registerClient,
  startDeviceAuthorization,
  type TokenSet,
  UpstreamOAuthError,
} from './oauth-client.js';
import type { ClientMeta, ClientSecret, Subject, UpstreamRecords } from './records.js';

type OAuthServerConfig = RemoteServerConfig & { readonly oauth: UpstreamOAuthConfig };

export interface LoginOptions {
  readonly server: OAuthServerConfig;
  readonly records: UpstreamRecords;
  readonly subject: Subject;
  /** The URL the person opens (the CLI prints it; a test follows it). */
  readonly onAuthorizationUrl: (url: string) => void | Promise<void>;
  /** Use the device flow instead of a loopback redirect. */
  readonly device?: boolean;
  readonly onDeviceCode?: (device: DeviceAuthorization) => void;
  /** How long to wait for the person (default 5 minutes). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface LoginResult {
  readonly issuer: string;
  readonly clientId: string;
  readonly registration: ClientMeta['source'];
  readonly scope?: string;
  readonly expiresAt?: number;
  readonly refreshable: boolean;
}

const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

/**
 * Asks the server without a token what it wants: the Bearer challenge of its 401 (or 403). A server that
 * lets initialize through unauthenticated is asked again with tools/list in that session.
 */
export async function probeServer(server: RemoteServerConfig): Promise<BearerChallenge | undefined> {
  const headers = { ...server.headers };
  const signal = AbortSignal.timeout(15_000);
  const challengeOf = async (res: Response) => {
    await res.body?.cancel().catch(() => {});
    return res.status === 401 || res.status === 403
      ? (parseBearerChallenge(res.headers.get('www-authenticate')) ?? {})
      : undefined;
  };
  if (server.transport === 'sse') {
    return challengeOf(
      await fetch(server.url, {
        headers: { ...headers, accept: 'text/event-stream' },
        signal,
        redirect: 'manual',
      }),
    );
  }
  const post = (body: unknown, session?: string) =>
    fetch(server.url, {
      method: 'POST',
      headers: { ...headers, ...MCP_HEADERS, ...(session ? { 'mcp-session-id': session } : {}) },
      body: JSON.stringify(body),
      signal,
      // The configured URL is asked, not wherever it redirects.
      redirect: 'manual',
    });
  const init = await post({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'mcp-guard-login', version: VERSION },
    },
  });
  const session = init.headers.get('mcp-session-id') ?? undefined;
  const first = await challengeOf(init);
  if (first || !init.ok) return first;
  try {
    const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    await initialized.body?.cancel().catch(() => {});
    return await challengeOf(
      await post({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, session),
    );
  } finally {
    if (session)
      await fetch(server.url, {
        method: 'DELETE',
        headers: { ...headers, 'mcp-session-id': session },
        signal,
        redirect: 'manual',
      })
        .then((r) => r.body?.cancel())
        .catch(() => {});
  }
}

/** Steps 1–3 of discovery (discovery.ts) for a configured server. */
export async function discover(server: RemoteServerConfig): Promise<Discovery> {
  const challenge = await probeServer(server);
  const resource = await discoverProtectedResource(server.url, challenge);
  const issuer = resource.authorizationServers[0] as string;
  const authServer = await discoverAuthServer(issuer);
  return { resource, authServer, ...(challenge?.scope ? { challengeScope: challenge.scope } : {}) };
}

/** What an authorization needs before the person is asked: discovery, the scope, a client. */
export interface Prepared {
  readonly discovery: Discovery;
  readonly resource: string;
  readonly scope: string | undefined;
  readonly client: { meta: ClientMeta; secret: ClientSecret | undefined };
}

/**
 * Discovers, chooses the scope (with what was granted before and what a step-up asked for) and finds or
 * registers a client for `redirectUris`.
 */
export async function prepare(
  server: OAuthServerConfig,
  records: UpstreamRecords,
  subject: Subject,
  redirectUris: readonly string[],
  device = false,
): Promise<Prepared> {
  const discovery = await discover(server);
  const as = discovery.authServer;
  const previous = await records.tokenMeta(server.name, subject);
  const need = await records.need(server.name, subject);
  const scope = chooseScope(server.oauth, discovery, {
    ...(previous?.issuer === as.issuer && previous.scope ? { granted: previous.scope } : {}),
    ...(need?.scope ? { needed: need.scope } : {}),
  });
  const client = await clientFor(server, records, discovery, redirectUris, scope, device);
  return { discovery, resource: discovery.resource.resource, scope, client };
}

/** Keeps what the person's consent bought: the discovery, the token (sealed); clears what was missing. */
export async function storeLogin(
  server: OAuthServerConfig,
  records: UpstreamRecords,
  subject: Subject,
  prepared: Prepared,
  tokens: TokenSet,
): Promise<LoginResult> {
  const now = Date.now();
  const as = prepared.discovery.authServer;
  await records.saveDiscovery(server.name, { ...prepared.discovery, serverUrl: server.url, at: now });
  await records.saveToken(
    server.name,
    subject,
    {
      issuer: as.issuer,
      clientId: prepared.client.meta.clientId,
      ...(tokens.scope ? { scope: tokens.scope } : {}),
      ...(tokens.expiresAt ? { expiresAt: tokens.expiresAt } : {}),
      obtainedAt: now,
      refreshable: tokens.refreshToken !== undefined,
      resource: prepared.resource,
    },
    {
      accessToken: tokens.accessToken,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    },
  );
  await records.clearNeed(server.name, subject);
  return {
    issuer: as.issuer,
    clientId: prepared.client.meta.clientId,
    registration: prepared.client.meta.source,
    ...(tokens.scope ? { scope: tokens.scope } : {}),
    ...(tokens.expiresAt ? { expiresAt: tokens.expiresAt } : {}),
    refreshable: tokens.refreshToken !== undefined,
  };
}

/** Runs the whole login for `server` and stores the token for `subject`. */
export async function login(options: LoginOptions): Promise<LoginResult> {
  const { server, records, subject } = options;
  const stored = await records.clientMeta(server.name);
  const listener = options.device ? undefined : await loopbackListener(server.oauth, stored);
  try {
    const prepared = await prepare(
      server,
      records,
      subject,
      listener ? [listener.redirectUri] : [],
      options.device,
    );
    const { discovery, resource, scope, client } = prepared;
    const as = discovery.authServer;
    let tokens: TokenSet;
    if (options.device) {
      const device = await startDeviceAuthorization({ authServer: as, client, scope, resource });
      options.onDeviceCode?.(device);
      tokens = await pollDeviceToken({
        authServer: as,
        client,
        device,
        resource,
        scope,
        signal: options.signal,
      });
    } else {
      const l = listener as Loopback;
      const pending = authorizationRequest({
        authServer: as,
        clientId: client.meta.clientId,
        redirectUri: l.redirectUri,
        scope,
        resource,
      });
      const callback = l.wait(pending, as, options.timeoutMs ?? 300_000, options.signal);
      await options.onAuthorizationUrl(pending.url);
      const code = await callback;
      tokens = await exchangeCode({ authServer: as, client, code, pending, resource, scope });
    }
    return await storeLogin(server, records, subject, prepared, tokens);
  } finally {
    listener?.close();
  }
}

/**
 * The stored client when it still fits (same authorization server and kind, our redirect URI), else a
 * new registration, stored.
 */
async function clientFor(
  server: OAuthServerConfig,
  records: UpstreamRecords,
  discovery: Discovery,
  redirectUris: readonly string[],
  scope: string | undefined,
  device: boolean,
): Promise<{ meta: ClientMeta; secret: ClientSecret | undefined }> {
  const oauth = server.oauth;
  const stored = await records.client(server.name);
  const as = discovery.authServer;
  const wantedSource: ClientMeta['source'] = oauth.clientId
    ? 'configured'
    : oauth.clientMetadataUrl && as.client_id_metadata_document_supported === true
      ? 'metadata_document'
      : 'dynamic';
  const fits =
    stored &&
    stored.meta.issuer === as.issuer &&
    stored.meta.source === wantedSource &&
    (wantedSource !== 'configured' || stored.meta.clientId === oauth.clientId) &&
    (wantedSource !== 'metadata_document' || stored.meta.clientId === oauth.clientMetadataUrl) &&
    redirectUris.every((u) => stored.meta.redirectUris.includes(u));
  if (fits && wantedSource !== 'configured') return stored;
  // A new dynamic registration keeps the redirect URIs of the one it replaces (the CLI's loopback and the
  // gateway's per-user callback), so the two do not take turns registering.
  const keep =
    stored?.meta.source === 'dynamic' && stored.meta.issuer === as.issuer ? stored.meta.redirectUris : [];
  const registered = await registerClient({
    serverName: server.name,
    oauth,
    authServer: as,
    redirectUris: wantedSource === 'dynamic' ? [...new Set([...keep, ...redirectUris])] : redirectUris,
    scope,
    device,
  });
  await records.saveClient(server.name, registered.meta, registered.secret);
  return registered;
}

interface Loopback {
  readonly redirectUri: string;
  wait(
    pending: PendingAuthorization,
    as: Discovery['authServer'],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string>;
  close(): void;
}

/**
 * The one-shot listener the authorization server sends the person back to: the configured redirect URI,
 * else the port of the stored dynamic registration (so it need not register again), else a free port.
 */
async function loopbackListener(
  oauth: UpstreamOAuthConfig,
  stored: ClientMeta | undefined,
): Promise<Loopback> {
  const reuse =
    oauth.redirectUri ??
    (stored?.source === 'dynamic'
      ? stored.redirectUris.find((u) => u.startsWith('http://127.0.0.1:'))
      : undefined);
  let target = reuse ? new URL(reuse) : new URL('http://127.0.0.1:0/callback');
  let server: Server;
  try {
    server = await listen(target);
  } catch (err) {
    // A configured redirect URI must be used as it is; a remembered port may be taken by now.
    if (oauth.redirectUri)
      throw new UpstreamOAuthError(`cannot listen on ${oauth.redirectUri}: ${(err as Error).message}`);
    target = new URL('http://127.0.0.1:0/callback');
    server = await listen(target);
  }
  const port = (server.address() as AddressInfo).port;
  const redirect = new URL(target.toString());
  redirect.port = String(port);
  const redirectUri = redirect.toString();
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  server.on('request', (req, res) => {
    if (handler) handler(req, res);
    else {
      res.writeHead(404).end();
    }
  });
  return {
    redirectUri,
    wait: (pending, as, timeoutMs, signal) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new UpstreamOAuthError(
                `no answer from the authorization server within ${Math.round(timeoutMs / 1000)} s`,
              ),
            ),
          timeoutMs,
        );
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new UpstreamOAuthError('the login was cancelled'));
        });
        handler = (req, res) => {
          const url = new URL(req.url ?? '/', redirectUri);
          if (url.pathname !== redirect.pathname) {
            res.writeHead(404).end();
            return;
          }
          // Another tab or a forged request: not ours, keep waiting for the real answer.
          if (!sameText(url.searchParams.get('state') ?? '', pending.state)) {
            page(res, 400, 'This answer does not belong to the login in progress.');
            return;
          }
          clearTimeout(timer);
          try {
            const code = authorizationCode(url.searchParams, pending, as);
            page(res, 200, 'mcp-guard has the authorization. You can close this page.');
            resolve(code);
          } catch (err) {
            page(res, 400, `The login failed: ${(err as Error).message}`);
            reject(err);
          }
        };
      }),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function listen(target: URL): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(Number(target.port || 0), target.hostname.replace(/^\[|\]$/g, ''), () => resolve(server));
  });
}

function page(res: ServerResponse, status: number, text: string): void {
  const safe = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
  });
  res.end(`<!doctype html><meta charset="utf-8"><title>mcp-guard</title><p>${safe}</p>`);
}
