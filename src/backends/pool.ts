/**
 * Who holds which backend connection.
 *
 * `isolation: per_session` (default): every agent session gets its own connection to each server — its
 * own child process for stdio. This is what talking to the server directly looks like, so logging levels,
 * subscriptions, sampling and elicitation all stay with the right agent, and agents cannot see each
 * other's server-side state. The cost is a process per session and server (reaped with the session).
 *
 * `isolation: shared`: one connection per server for all sessions (cheaper for stateless servers).
 * Request ids and progress tokens are namespaced by the connection; list_changed goes to every session,
 * resources/updated to the sessions that subscribed; a server→client request or log message is delivered
 * to the one session with requests in flight on that backend, and refused when that is ambiguous.
 * A shared connection lives while at least one session holds it.
 *
 * Either way a link restarts itself when its backend dies: at once after a healthy run, then with
 * exponential backoff (0.5 s … 30 s) while it keeps failing.
 */

import type { ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { VERSION } from '../core/version.js';
import type { JSONRPCNotification, JSONRPCRequest, Params, RequestId } from '../mcp/messages.js';
import type { BackendAuth } from './backend-auth.js';
import { BackendConnection, type ConnectionHandlers } from './connection.js';
import { createBackendTransport } from './transports.js';

/** What a session tells the pool about itself (used for the backend's initialize). */
export interface SessionProfile {
  readonly protocolVersion: string;
  /** The agent's declared client capabilities. */
  readonly capabilities: Params;
  readonly clientInfo: Params;
}

/** The session side of backend traffic that is not a response. */
export interface BackendListener {
  /** Who the session belongs to (per-user upstream OAuth tokens are chosen by it). */
  readonly principal?: Principal;
  onBackendNotification(server: string, message: JSONRPCNotification, related: RequestId | undefined): void;
  onBackendRequest(
    server: string,
    message: JSONRPCRequest,
    signal: AbortSignal,
    related: RequestId | undefined,
  ): Promise<Params>;
  onBackendStatus(server: string, status: 'up' | 'down'): void;
}

export interface BackendLease {
  readonly server: ServerConfig;
  /** A ready connection; waits for a (re)connect in progress; rejects with -32016 when down. */
  connection(): Promise<BackendConnection>;
  /** The connection if it is ready right now. */
  readonly current: BackendConnection | undefined;
  /** Why upstream OAuth last kept this backend from being used, and what to do about it (for the agent). */
  authIssue?(): string | undefined;
  /** Tracks a resource subscription (a shared backend unsubscribes only when the last session does). */
  subscribe(uri: string): boolean;
  unsubscribe(uri: string): boolean;
  release(): Promise<void>;
}

const HEALTHY_RUN_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;
const SHARED_LINGER_MS = 2_000;

type InitProfile = () => { protocolVersion: string; capabilities: Params; clientInfo: Params };

/** One self-restarting link to a backend. */
class BackendSlot {
  private current: BackendConnection | undefined;
  private opening: Promise<BackendConnection> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private nextAttemptAt = 0;
  private failures = 0;
  private everUp = false;
  private closed = false;

  constructor(
    readonly server: ServerConfig,
    private readonly profile: InitProfile,
    private readonly handlers: (conn: BackendConnection) => ConnectionHandlers,
    private readonly onStatus: (status: 'up' | 'down') => void,
    private readonly logger: Logger,
    /** Every connect success and loss, for the backend_up metric. */
    private readonly report: (up: boolean) => void = () => {},
    /** Upstream OAuth for a remote server with `oauth:` (src/auth/upstream). */
    private readonly auth?: BackendAuth,
  ) {}

  get ready(): BackendConnection | undefined {
    return this.current?.isOpen ? this.current : undefined;
  }

  get(): Promise<BackendConnection> {
    if (this.closed) return Promise.reject(this.unavailable('the session has ended'));
    if (this.current?.isOpen) return Promise.resolve(this.current);
    if (this.opening) return this.opening;
    const wait = this.nextAttemptAt - Date.now();
    if (this.retryTimer && wait > 0) {
      return Promise.reject(this.unavailable(`restarting, next attempt in ${Math.ceil(wait / 1000)} s`));
    }
    return this.open();
  }

  private open(): Promise<BackendConnection> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const attempt = (async () => {
      const conn = new BackendConnection({
        server: this.server.name,
        transport: createBackendTransport(this.server, this.logger, this.auth),
        logger: this.logger,
        roots: this.server.roots,
        agentRoots: this.server.agentRoots,
      });
      const openedAt = Date.now();
      await conn.open(this.profile(), this.server.connectTimeoutMs);
      if (this.closed) {
        await conn.close();
        throw this.unavailable('the session has ended');
      }
      conn.setHandlers({
        ...this.handlers(conn),
        onClose: () => this.onConnectionClosed(conn, openedAt),
      });
      this.current = conn;
      this.report(true);
      const restarted = this.everUp;
      this.everUp = true;
      this.logger.info(
        { server: this.server.name, protocolVersion: conn.info?.protocolVersion },
        restarted ? 'backend restarted' : 'backend connected',
      );
      if (restarted) this.onStatus('up');
      return conn;
    })();
    this.opening = attempt;
    attempt.then(
      () => {
        this.opening = undefined;
      },
      (err: Error) => {
        this.opening = undefined;
        this.report(false);
        this.logger.warn({ server: this.server.name, err: err.message }, 'backend failed to start');
        this.scheduleRetry();
      },
    );
    return attempt;
  }

  private onConnectionClosed(conn: BackendConnection, openedAt: number): void {
    if (this.current === conn) this.current = undefined;
    if (this.closed) return;
    this.report(false);
    if (Date.now() - openedAt >= HEALTHY_RUN_MS) this.failures = 0;
    this.onStatus('down');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.failures === 0 ? 0 : Math.min(500 * 2 ** (this.failures - 1), MAX_BACKOFF_MS);
    this.failures++;
    this.nextAttemptAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && !this.opening && !this.current?.isOpen) this.open().catch(() => {});
    }, delay);
    this.retryTimer.unref();
  }

  private unavailable(detail: string): WireError {
    return new WireError('backend_unavailable', `Backend "${this.server.name}" is unavailable: ${detail}`, {
      server: this.server.name,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const opening = this.opening;
    const current = this.current;
    this.current = undefined;
    await Promise.all([
      current?.close(),
      opening?.then(
        (c) => c.close(),
        () => {},
      ),
    ]);
  }
}

/** The request of `owner` most recently sent on `conn` (where a server→client message belongs). */
function latestRelated(conn: BackendConnection, owner: unknown): RequestId | undefined {
  let best: { startedAt: number; id: RequestId | undefined } | undefined;
  for (const f of conn.inFlight()) {
    if (f.owner === owner && (!best || f.startedAt >= best.startedAt))
      best = { startedAt: f.startedAt, id: f.relatedRequestId };
  }
  return best?.id;
}

/** Capabilities the gateway declares to a per-session backend: the agent's, minus what the gateway answers itself. */
function backendCapabilities(agent: Params, server: ServerConfig): Params {
  const caps: Params = {};
  if (agent['sampling'] !== undefined) caps['sampling'] = agent['sampling'];
  if (agent['elicitation'] !== undefined) caps['elicitation'] = agent['elicitation'];
  if (agent['experimental'] !== undefined) caps['experimental'] = agent['experimental'];
  // roots/list is answered from config, so roots is declared only when config gives the server roots,
  // or the server takes the agent's (agent_roots) and the agent has some.
  if (server.roots.length > 0 || (server.agentRoots && agent['roots'] !== undefined))
    caps['roots'] = { listChanged: false };
  return caps;
}

/** A server connection shared by every session that uses it. */
class SharedBackend {
  readonly slot: BackendSlot;
  readonly listeners = new Set<BackendListener>();
  private readonly subscriptions = new Map<string, Set<BackendListener>>();
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly server: ServerConfig,
    private readonly logger: Logger,
    private readonly onIdle: () => void,
    report: (up: boolean) => void,
    private readonly auth?: BackendAuth,
  ) {
    this.slot = new BackendSlot(
      server,
      () => ({
        protocolVersion: '2025-11-25',
        capabilities: {
          sampling: {},
          elicitation: { form: {}, url: {} },
          ...(server.roots.length > 0 || server.agentRoots ? { roots: { listChanged: false } } : {}),
        },
        clientInfo: { name: 'mcp-guard', version: VERSION },
      }),
      (conn) => this.handlers(conn),
      (status) => {
        for (const l of this.listeners) l.onBackendStatus(server.name, status);
      },
      logger,
      report,
      auth,
    );
  }

  attach(listener: BackendListener): BackendLease {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.listeners.add(listener);
    let released = false;
    const slot = this.slot;
    const auth = this.auth;
    return {
      server: this.server,
      connection: () => slot.get(),
      get current() {
        return slot.ready;
      },
      authIssue: () => auth?.refusal?.(),
      subscribe: (uri) => {
        const set = this.subscriptions.get(uri) ?? new Set<BackendListener>();
        const first = set.size === 0;
        set.add(listener);
        this.subscriptions.set(uri, set);
        return first;
      },
      unsubscribe: (uri) => {
        const set = this.subscriptions.get(uri);
        if (!set?.delete(listener)) return false;
        if (set.size > 0) return false;
        this.subscriptions.delete(uri);
        return true;
      },
      release: async () => {
        if (released) return;
        released = true;
        this.listeners.delete(listener);
        for (const [uri, set] of this.subscriptions) {
          set.delete(listener);
          if (set.size === 0) {
            this.subscriptions.delete(uri);
            void this.slot.ready?.notify('resources/unsubscribe', { uri });
          }
        }
        if (this.listeners.size === 0) {
          this.lingerTimer = setTimeout(() => {
            if (this.listeners.size === 0) this.onIdle();
          }, SHARED_LINGER_MS);
          this.lingerTimer.unref();
        }
      },
    };
  }

  /** The single session with requests in flight on this backend, if there is exactly one. */
  private attributed(
    conn: BackendConnection,
  ): { listener: BackendListener; related: RequestId | undefined } | undefined {
    const owners = new Set(conn.inFlight().map((f) => f.owner));
    if (owners.size !== 1) return undefined;
    const [owner] = owners;
    if (!this.listeners.has(owner as BackendListener)) return undefined;
    return { listener: owner as BackendListener, related: latestRelated(conn, owner) };
  }

  private handlers(conn: BackendConnection): ConnectionHandlers {
    const name = this.server.name;
    return {
      onNotification: (message) => {
        if (message.method.endsWith('/list_changed')) {
          for (const l of this.listeners) l.onBackendNotification(name, message, undefined);
          return;
        }
        if (message.method === 'notifications/resources/updated') {
          const uri = (message.params as Params | undefined)?.['uri'];
          for (const l of this.subscriptions.get(String(uri)) ?? [])
            l.onBackendNotification(name, message, undefined);
          return;
        }
        const target = this.attributed(conn);
        if (target) target.listener.onBackendNotification(name, message, target.related);
        else
          this.logger.debug(
            { server: name, method: message.method },
            'shared backend notification with no single session to deliver to; dropped',
          );
      },
      onRequest: (message, signal) => {
        const target = this.attributed(conn);
        if (!target) {
          return Promise.reject(
            new WireError(
              'internal_error',
              `mcp-guard cannot tell which agent session ${message.method} is for: server "${name}" is shared; set isolation: per_session for it`,
            ),
          );
        }
        return target.listener.onBackendRequest(name, message, signal, target.related);
      },
    };
  }

  close(): Promise<void> {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    return this.slot.close();
  }
}

export class BackendPool {
  private readonly shared = new Map<string, SharedBackend>();

  constructor(
    private readonly logger: Logger,
    /** Told of every backend connect and loss (the backend_up metric). */
    private readonly onBackendStatus: (server: string, up: boolean) => void = () => {},
    /** Upstream OAuth: the credentials of `server` for the session of `agent` (undefined: a shared connection). */
    private readonly authFor: (
      server: ServerConfig,
      agent: string | undefined,
    ) => BackendAuth | undefined = () => undefined,
  ) {}

  /** A lease on `server` for one session. Nothing starts until `connection()` is first called. */
  lease(server: ServerConfig, listener: BackendListener, profile: SessionProfile): BackendLease {
    if (server.isolation === 'shared') return this.sharedBackend(server).attach(listener);
    return this.perSessionLease(server, listener, profile);
  }

  private sharedBackend(server: ServerConfig): SharedBackend {
    let backend = this.shared.get(server.name);
    if (!backend) {
      const created = new SharedBackend(
        server,
        this.logger,
        () => {
          if (this.shared.get(server.name) === created) this.shared.delete(server.name);
          void created.close();
        },
        (up) => this.onBackendStatus(server.name, up),
        this.authFor(server, undefined),
      );
      backend = created;
      this.shared.set(server.name, backend);
    }
    return backend;
  }

  private perSessionLease(
    server: ServerConfig,
    listener: BackendListener,
    profile: SessionProfile,
  ): BackendLease {
    const name = server.name;
    const auth = this.authFor(server, listener.principal?.agent);
    const slot = new BackendSlot(
      server,
      () => ({
        protocolVersion: profile.protocolVersion,
        capabilities: backendCapabilities(profile.capabilities, server),
        clientInfo: profile.clientInfo,
      }),
      (conn) => ({
        onNotification: (message) =>
          listener.onBackendNotification(name, message, latestRelated(conn, listener)),
        onRequest: (message, signal) =>
          listener.onBackendRequest(name, message, signal, latestRelated(conn, listener)),
      }),
      (status) => listener.onBackendStatus(name, status),
      this.logger,
      (up) => this.onBackendStatus(name, up),
      auth,
    );
    return {
      server,
      connection: () => slot.get(),
      get current() {
        return slot.ready;
      },
      authIssue: () => auth?.refusal?.(),
      subscribe: () => true,
      unsubscribe: () => true,
      release: () => slot.close(),
    };
  }

  /** Closes every shared backend (per-session ones close with their sessions). */
  async close(): Promise<void> {
    const all = [...this.shared.values()];
    this.shared.clear();
    await Promise.all(all.map((b) => b.close()));
  }
}
