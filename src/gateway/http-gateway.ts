/**
 * Assembles `serve-http`: the gateway core, the /mcp endpoint, OAuth protected-resource metadata,
 * health endpoints, the listener, and hot reload (the config file is watched; SIGHUP also reloads).
 */
import { type FSWatcher, statSync, watch } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mountAdmin } from '../admin/mount.js';
import { ApiKeyVerifier } from '../auth/api-keys.js';
import { protectedResourceMetadata } from '../auth/authenticator.js';
import { AuthFailureLimiter } from '../auth/failure-limiter.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { OAuthServer } from '../auth/oauth/oauth-server.js';
import { userLoginRoutes } from '../auth/upstream/user-login.js';
import { liveChildCount } from '../backends/stdio-transport.js';
import type { GuardConfig } from '../config/types.js';
import { addressList } from '../core/address-list.js';
import { ExitError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactText } from '../redact/secret-text.js';
import { SessionContinuityService } from '../server/continuity.js';
import { createHttpServer, type RouteHandler, sendJson } from '../server/http-server.js';
import { McpEndpoint } from '../server/mcp-endpoint.js';
import { ModernFront } from '../server/modern/modern-front.js';
import { isLoopbackHost } from '../server/origin-checks.js';
import { SessionSealer, sharedSessionKey } from '../server/session-seal.js';
import type { StateStore } from '../stores/state-store.js';
import { Gateway } from './gateway.js';
import { authFailureEvents } from './runtime.js';

export interface HttpGateway {
  readonly url: string;
  readonly server: Server;
  readonly gateway: Gateway;
  readonly endpoint: McpEndpoint;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly host?: string;
  readonly port?: number;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly env?: NodeJS.ProcessEnv;
  /** Watch the config file and reload on change (serve-http does; tests usually don't). */
  readonly watchConfig?: boolean;
  /** Start every backend once at start-up, so /readyz waits for them (serve-http does). */
  readonly probeBackends?: boolean;
}

/**
 * Why `config` may not serve on `host`, if it may not: beyond loopback, authentication is required, and
 * the built-in authorization server needs the public URL its tokens are issued for (not 0.0.0.0).
 */
export function exposureProblem(config: GuardConfig, host: string): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  if (config.auth.mode === 'none')
    return `refusing to listen on ${host} without authentication: set auth.mode (api_key, jwt or oauth2) or bind 127.0.0.1`;
  if (config.auth.mode === 'oauth2' && !config.auth.oauth2?.issuer && !config.http.publicUrl)
    return `auth.mode oauth2 on ${host} needs http.public_url (or auth.oauth2.issuer): the URL agents use, which tokens are issued for`;
  return undefined;
}

/** Starts `serve-http` for a loaded config; resolves once listening. */
export async function startHttpGateway(config: GuardConfig, options: StartOptions): Promise<HttpGateway> {
  const host = options.host ?? config.http.host;
  const port = options.port ?? config.http.port;
  const loopback = isLoopbackHost(host);
  const refusal = exposureProblem(config, host);
  if (refusal) {
    await options.store.close();
    throw new ExitError(1, refusal);
  }
  if (!loopback && !config.http.publicUrl)
    options.logger.warn(
      { host },
      'listening beyond loopback without http.public_url: metadata URLs are built from the Host header',
    );
  const logger = options.logger;
  const gateway = await Gateway.open(config, {
    logger,
    store: options.store,
    env: options.env ?? process.env,
    // A reload must pass the same checks as the start on this address.
    validate: (next) => exposureProblem(next, host),
    // Many sessions share a few children per stdio server unless a server asks otherwise.
    defaultIsolation: 'pooled',
  });
  // Sessions any replica on the store can continue (their ids are sealed with a key the store holds).
  const continuity = new SessionContinuityService(
    new SessionSealer(await sharedSessionKey(options.store)),
    options.store,
    config.http.sessionIdleTtlMs,
    logger,
  );
  const endpoint = new McpEndpoint({
    continuity,
    runtime: () => gateway.current(),
    modern: new ModernFront({ runtime: () => gateway.current(), logger }),
    maxBodyBytes: config.http.maxBodyBytes,
    maxSessions: config.http.maxSessions,
    idleTtlMs: config.http.sessionIdleTtlMs,
    logger,
  });
  gateway.metrics.sessionCount = () => endpoint.sessionCount;
  const metadata: RouteHandler = (req, res) => {
    const current = gateway.config;
    if (current.auth.mode === 'none') return sendJson(res, 404, { error: 'authentication is off' });
    sendJson(res, 200, protectedResourceMetadata(current, req, gateway.oauth));
  };
  // Admin keys follow a config reload (a removed key stops working at once).
  let admin = { config: gateway.config, keys: new ApiKeyVerifier(gateway.config.adminKeys) };
  const adminKeys = () => {
    if (admin.config !== gateway.config)
      admin = { config: gateway.config, keys: new ApiKeyVerifier(gateway.config.adminKeys) };
    return admin.keys;
  };
  const metrics: RouteHandler = async (req, res) => {
    const current = gateway.config;
    if (!current.metrics.enabled) return sendJson(res, 404, { error: 'metrics are off' });
    if (!current.metrics.public && current.auth.mode !== 'none') {
      // Metrics name agents and tools: behind the same credentials as /mcp (or an admin key), and the
      // same failure limiter and failure records.
      const auth = await gateway
        .current()
        .httpAuth.authenticate(req, (credential) => adminKeys().verify(credential));
      if (!auth.ok) {
        res.writeHead(auth.status, { ...auth.headers, 'Content-Type': 'application/json' });
        res.end(JSON.stringify(auth.body));
        return;
      }
    }
    const { contentType, body } = await gateway.metrics.render();
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  let probed = !options.probeBackends;
  if (options.probeBackends)
    void gateway.probeBackends().then(() => {
      probed = true;
    });
  const ready: RouteHandler = async (_req, res) => {
    const checks: Record<string, string> = { config: 'loaded' };
    let ok = true;
    try {
      await gateway.store.ping();
      checks['store'] = 'ok';
    } catch (err) {
      ok = false;
      checks['store'] = `unreachable: ${(err as Error).message}`;
    }
    const backends: Record<string, string> = {};
    for (const [name, health] of gateway.backends()) {
      if (health === undefined) {
        backends[name] = probed ? 'not started yet (starts with the first session)' : 'starting';
        ok &&= probed;
      } else if (health.up) {
        backends[name] = 'up';
      } else {
        backends[name] = `down: ${redactText(health.error ?? 'connection lost')}`;
        ok = false;
      }
    }
    // Upstream OAuth: who is logged in, what is missing (a backend without its token is also down above).
    const upstream = await gateway.upstreamStatus().catch((err: Error) => [{ error: err.message }]);
    sendJson(res, ok ? 200 : 503, {
      status: ok ? 'ready' : 'not ready',
      checks,
      backends,
      ...(upstream.length > 0 ? { upstream_oauth: upstream } : {}),
      sessions: endpoint.sessionCount,
      backend_processes: liveChildCount(),
      backend_load: gateway.pool.stats(),
    });
  };
  const routes = new Map<string, RouteHandler>([
    ['/mcp', (req, res) => endpoint.handle(req, res)],
    ['/.well-known/oauth-protected-resource', metadata],
    ['/.well-known/oauth-protected-resource/mcp', metadata],
    ['/metrics', metrics],
    ['/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' })],
    ['/readyz', ready],
  ]);
  // The admin API and dashboard; with oauth2, tokens carrying the `admin` scope work there too.
  let adminTokens: JwtVerifier | undefined;
  const adminRoutes = mountAdmin(routes, {
    gateway,
    logger,
    sessions: () => endpoint.sessionCount,
    tokenVerifier: () => adminTokens,
  });
  const server = createHttpServer({
    originPolicy: {
      allowedHosts: config.http.allowedHosts,
      allowedOrigins: config.http.allowedOrigins,
      loopbackOnly: loopback,
      ownOrigins: [config.http.publicUrl, config.auth.oauth2?.issuer]
        .filter((u): u is string => u !== undefined)
        .map((u) => new URL(u).origin.toLowerCase()),
    },
    trustedProxies: addressList(config.http.trustedProxies),
    logger,
    routes,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new ExitError(1, `cannot listen on ${host}:${port}: the address is in use`)
            : err,
        ),
      );
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    adminRoutes.close();
    await endpoint.close();
    await gateway.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}/mcp`;
  logger.info({ url }, 'mcp-guard listening');
  // Notifications link to the dashboard here unless http.public_url says where it is seen from.
  gateway.notifier.setListenUrl(url.replace(/\/mcp$/, ''));

  if (config.auth.mode === 'oauth2' && config.auth.oauth2) {
    // The issuer is this gateway's public URL: configured, or the address it listens on.
    const issuerOf = (c: GuardConfig) =>
      (c.auth.oauth2?.issuer ?? c.http.publicUrl ?? url.replace(/\/mcp$/, '')).replace(/\/+$/, '');
    const issuer = issuerOf(config);
    // One count of failed sign-ins for the life of the process: a reload must not reset it.
    const signInFailures = new AuthFailureLimiter(config.rateLimit.authFailuresPerMinute, {
      store: options.store,
      scope: 'oauth',
      logger,
    });
    const open = (c: GuardConfig) =>
      OAuthServer.open({
        limiter: signInFailures,
        config: c.auth.oauth2 as NonNullable<GuardConfig['auth']['oauth2']>,
        store: options.store,
        issuer,
        resource: `${issuer}/mcp`,
        logger,
        authFailuresPerMinute: c.rateLimit.authFailuresPerMinute,
        events: authFailureEvents({ audit: gateway.audit, metrics: gateway.metrics, logger }),
      });
    let oauth = await open(config);
    let oauthRoutes = oauth.routes();
    gateway.enableOAuth(oauth);
    adminTokens = oauth.adminVerifier();
    // The routes ask for the current server, so a reload (users, clients, scopes) takes effect at once.
    for (const path of oauthRoutes.keys())
      routes.set(path, (req, res, u) => oauthRoutes.get(path)?.(req, res, u));
    // Per-user upstream tokens: users connect their own accounts on /upstream/login, signed in as themselves.
    gateway.upstream.enableUserLogin(issuer);
    for (const [path, handler] of userLoginRoutes({
      servers: () => gateway.config.servers,
      records: gateway.upstream.records,
      signIn: (req, form) => oauth.signIn(req, form),
      base: issuer,
      logger,
    }))
      routes.set(path, handler);
    gateway.onReload(async (next) => {
      if (issuerOf(next) !== issuer)
        throw new Error(
          'auth.oauth2.issuer / http.public_url: the issuer cannot change while running; restart',
        );
      const reopened = await open(next);
      return () => {
        oauth = reopened;
        oauthRoutes = reopened.routes();
        gateway.enableOAuth(reopened);
        adminTokens = reopened.adminVerifier();
      };
    });
    // The dashboard's "Sign in with OAuth" exchanges its code at our own /token, over loopback.
    const listenHost =
      address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '[::1]' : shownHost;
    adminRoutes.setOAuthEndpoints({ issuer, listenBase: `http://${listenHost}:${address.port}` });
    logger.info({ issuer }, 'built-in OAuth authorization server on');
  }

  const stopWatching = options.watchConfig
    ? watchConfigFile(config.source, () => void gateway.reload(), logger)
    : () => {};
  const onHup = () => void gateway.reload();
  if (options.watchConfig) process.on('SIGHUP', onHup);

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    gateway,
    endpoint,
    close: () => {
      closing ??= (async () => {
        stopWatching();
        process.off('SIGHUP', onHup);
        adminRoutes.close();
        server.close();
        server.closeAllConnections();
        await endpoint.close();
        await gateway.close();
      })();
      return closing;
    },
  };
}

/**
 * Calls `onChange` (debounced) when the config file changes.
 *
 * The file itself is watched (through a symlink, its target), not its folder: the audit log and the
 * SQLite state usually live beside the config, and a folder watch woke the gateway twice per governed
 * call for their writes (two inotify events, each an event-loop turn, seen with strace). Editors that
 * save by writing a new file and renaming it over the old one replace the watched inode: after any
 * event whose path now names another inode (or nothing), the watch is set again on the path, retrying
 * while the file is briefly absent.
 */
function watchConfigFile(file: string, onChange: () => void, logger: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let stopped = false;
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, 200);
  };
  const rewatch = () => {
    watcher?.close();
    watcher = undefined;
    arm(0);
  };
  const arm = (attempt: number) => {
    retry = undefined;
    if (stopped) return;
    try {
      const watched = statSync(file).ino;
      watcher = watch(file, () => {
        changed();
        // Replaced or removed (a rename over it, a symlink now pointing elsewhere): follow the path.
        if (inodeOf(file) !== watched) rewatch();
      });
      watcher.on('error', rewatch);
      watcher.unref();
      if (attempt > 0) changed(); // it reappeared: what is there now is the config
    } catch (err) {
      // Mid-save the path may not exist for a moment; a file that stays away is reported once.
      if (attempt === 25)
        logger.warn(
          { file, err: (err as Error).message },
          'cannot watch the config file; it is watched again when it reappears, or reload with SIGHUP',
        );
      retry = setTimeout(() => arm(attempt + 1), attempt < 25 ? 200 : 5_000);
      retry.unref();
    }
  };
  arm(0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (retry) clearTimeout(retry);
    watcher?.close();
  };
}

function inodeOf(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}
