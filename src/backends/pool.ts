/**
 * Who holds which backend connection. A session takes a `BackendLease` per server; the router only
 * calls the lease, whatever the server's isolation:
 *
 * - `pooled` (default under serve-http): up to `pool_size` children per server, reused by every
 *   session; a request whose session the child may need to reach leases one exclusively while in
 *   flight, others share one (pooled-backend.ts).
 * - `per_session` (default under serve): every session gets its own connection — for stdio its own
 *   child — started at initialize and closed with the session. For stateful servers.
 * - `shared`: one connection per server for all sessions (shared-backend.ts).
 *
 * Pooled and shared backends keep what is per session in the gateway (multi-session-backend.ts).
 * Every link restarts itself when its backend dies: at once after a healthy run, then with exponential
 * backoff (0.5 s … 30 s) while it keeps failing.
 */
import { isDeepStrictEqual } from 'node:util';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { Isolation, ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { VERSION } from '../core/version.js';
import { BackendLists } from '../mcp/list-index.js';
import type { ListKind } from '../mcp/lists.js';
import type { JSONRPCNotification, JSONRPCRequest, Params, RequestId } from '../mcp/messages.js';
import type { BackendAuth } from './backend-auth.js';
import { BackendConnection, type InitializeInfo } from './connection.js';
import type { LogLevel } from './log-levels.js';
import { type ClientProfile, latestRelated, type MultiSessionBackend } from './multi-session-backend.js';
import { PooledBackend, type PoolTiming } from './pooled-backend.js';
import { SharedBackend } from './shared-backend.js';
import { BackendSlot } from './slot.js';
import { type BackendTransport, createBackendTransport } from './transports.js';

/** What a session tells the pool about itself (used for a per-session backend's initialize). */
export interface SessionProfile {
  readonly protocolVersion: string;
  /** The agent's declared client capabilities. */
  readonly capabilities: Params;
  readonly clientInfo: Params;
}

/** The session side of backend traffic that is not a response. */
export interface BackendListener {
  /** Who the session belongs to (per-user upstream credentials are chosen by it). */
  readonly principal?: Principal;
  /**
   * One listener for many clients (the 2026-07-28 relay, one per capability profile): what a backend
   * sends is attributed to it only through the one request it belongs to, never to the listener.
   */
  readonly manyClients?: boolean;
  /**
   * Whether the agent request `related` wants the log messages its backend sends (a 2026-07-28 call
   * with a logLevel): then it has a pooled child to itself. A session's log level the pool knows itself.
   */
  wantsLogs?(related: RequestId | undefined): boolean;
  onBackendNotification(server: string, message: JSONRPCNotification, related: RequestId | undefined): void;
  onBackendRequest(
    server: string,
    message: JSONRPCRequest,
    signal: AbortSignal,
    related: RequestId | undefined,
  ): Promise<Params>;
  onBackendStatus(server: string, status: 'up' | 'down'): void;
}

export interface LeaseRequestOptions {
  /** Idle timeout (progress resets it); default the server's `timeout`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The agent's own request id: server→client messages it causes ride that request's stream. */
  readonly relatedRequestId?: RequestId;
  readonly onProgress?: (params: Params) => void;
  /** Called once the request is handed to a backend (after any wait for a pooled child). */
  readonly onSent?: () => void;
}

/** One session's (or one sessionless request's) hold on one server. */
export interface BackendLease {
  readonly server: ServerConfig;
  readonly isolation: Isolation;
  /** What the server said at its last initialize (undefined before the first). */
  readonly info: InitializeInfo | undefined;
  /** False while the server is known to be down (it crashed, or failed to start). */
  readonly up: boolean;
  /** Why upstream OAuth last kept this backend from being used, and what to do about it (for the agent). */
  authIssue?(): string | undefined;
  /** Starts the server if needed and resolves with its initialize info; rejects with -32016. */
  connect(): Promise<InitializeInfo>;
  /** Every item of one list (all pages), cached until the server says it changed (BackendLists). */
  list(kind: ListKind): Promise<readonly Params[]>;
  /** One request; a pooled server leases a child for exactly as long as it is in flight. */
  request(method: string, params: Params | undefined, options: LeaseRequestOptions): Promise<Params>;
  /** resources/subscribe (`params.uri` as the backend knows it); a backend is asked once per URI. */
  subscribe(params: Params, options: LeaseRequestOptions): Promise<Params>;
  unsubscribe(params: Params, options: LeaseRequestOptions): Promise<Params>;
  /** logging/setLevel for this session only. */
  setLogLevel(level: LogLevel, options: LeaseRequestOptions): Promise<void>;
  release(): Promise<void>;
}

/** What `/readyz` and `/metrics` show of one server. */
export interface BackendStats {
  readonly server: string;
  readonly isolation: Isolation;
  /** Sessions holding the server. */
  readonly sessions: number;
  /** Children running or starting (a remote server: upstream sessions). */
  readonly children: number;
  /** Pooled: children leased to a request right now. */
  readonly busy: number;
  /** Pooled: requests waiting for a free child. */
  readonly queued: number;
  /** Pooled: the most children the server gets. */
  readonly poolSize?: number;
}

export interface BackendPoolOptions {
  /** Isolation of stdio servers that set none: `pooled` under serve-http, `per_session` under serve. */
  readonly defaultIsolation?: Isolation;
  /**
   * Upstream credentials of a remote server for the session of `agent` (undefined: a connection that
   * sessions share, pooled or shared), merged into every request to it.
   */
  readonly authFor?: (server: ServerConfig, agent: string | undefined) => BackendAuth | undefined;
  /** Pool timings (tests shorten them). */
  readonly poolTiming?: PoolTiming;
  /** Tracing is on: requests to remote servers carry their `_meta` trace context as HTTP headers too. */
  readonly traceHeaders?: boolean;
}

/** The readiness probe holds a backend for a moment; nothing it could be sent is for an agent. */
const PROBE: BackendListener = {
  onBackendNotification: () => {},
  onBackendRequest: () =>
    Promise.reject(new WireError('internal_error', 'mcp-guard is only checking that the server starts')),
  onBackendStatus: () => {},
};

/**
 * What a pooled child declares for sessions that declared `agent`: sampling, elicitation and roots as
 * the agent has them (reduced to what changes a backend's behaviour, so agents of one kind share
 * children), roots as config gives them.
 */
export function clientProfile(agent: Params, server: ServerConfig): ClientProfile {
  const obj = (v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Params) : undefined;
  const caps: Params = {};
  const sampling = obj(agent['sampling']);
  if (sampling)
    caps['sampling'] = {
      ...(obj(sampling['context']) ? { context: {} } : {}),
      ...(obj(sampling['tools']) ? { tools: {} } : {}),
    };
  const elicitation = obj(agent['elicitation']);
  if (elicitation) {
    const url = obj(elicitation['url']) !== undefined;
    // An empty elicitation capability is form mode (2025-06-18).
    const form = obj(elicitation['form']) !== undefined || !url;
    caps['elicitation'] = { ...(form ? { form: {} } : {}), ...(url ? { url: {} } : {}) };
  }
  if (server.roots.length > 0 || (server.agentRoots && agent['roots'] !== undefined))
    caps['roots'] = { listChanged: false };
  return { key: JSON.stringify(caps), capabilities: caps };
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

export class BackendPool {
  /** The backend new sessions of each server get (a config reload with changes starts a new one). */
  private readonly current = new Map<string, MultiSessionBackend>();
  /** Every pooled or shared backend alive, including ones a reload replaced that still have sessions. */
  private readonly multi = new Set<MultiSessionBackend>();
  /** Per-session links alive, by server. */
  private readonly perSession = new Map<string, Set<BackendSlot>>();
  private readonly defaultIsolation: Isolation;
  /** Per-session readiness probes under way. */
  private readonly probing = new Set<BackendConnection>();

  constructor(
    private readonly logger: Logger,
    /** Told of every backend connect and loss (the backend_up metric). */
    private readonly onBackendStatus: (server: string, up: boolean) => void = () => {},
    private readonly options: BackendPoolOptions = {},
  ) {
    this.defaultIsolation = options.defaultIsolation ?? 'per_session';
  }

  /**
   * The isolation `server` runs with under this pool. The front's default applies to stdio servers; a
   * remote server without a setting keeps one upstream session per agent session (no process to save,
   * and the upstream may keep per-session state).
   */
  isolationOf(server: ServerConfig): Isolation {
    return server.isolation ?? (server.kind === 'stdio' ? this.defaultIsolation : 'per_session');
  }

  /** A lease on `server` for one session. Nothing starts until it is used. */
  lease(server: ServerConfig, listener: BackendListener, profile: SessionProfile): BackendLease {
    const isolation = this.isolationOf(server);
    if (isolation === 'per_session') return this.perSessionLease(server, listener, profile);
    if (isolation === 'pooled')
      return this.multiBackend(server, isolation).attach(
        listener,
        clientProfile(profile.capabilities, server),
      );
    return this.multiBackend(server, isolation).attach(listener);
  }

  private transport(server: ServerConfig, auth: BackendAuth | undefined): () => BackendTransport {
    const remote = { traceHeaders: this.options.traceHeaders === true };
    return () => createBackendTransport(server, this.logger, auth, remote);
  }

  private multiBackend(server: ServerConfig, isolation: 'pooled' | 'shared'): MultiSessionBackend {
    const existing = this.current.get(server.name);
    if (existing && existing.isolation === isolation && isDeepStrictEqual(existing.server, server))
      return existing;
    const report = (up: boolean) => this.onBackendStatus(server.name, up);
    // A connection that sessions share uses the server's own credentials, not one user's.
    const auth = this.options.authFor?.(server, undefined);
    const onIdle = () => {
      if (!this.multi.delete(created)) return;
      if (this.current.get(server.name) === created) this.current.delete(server.name);
      void created.close();
    };
    const created: MultiSessionBackend =
      isolation === 'pooled'
        ? new PooledBackend(
            server,
            this.logger,
            onIdle,
            this.transport(server, auth),
            report,
            this.options.poolTiming,
          )
        : new SharedBackend(server, this.logger, onIdle, this.transport(server, auth), report);
    created.auth = auth;
    this.current.set(server.name, created);
    this.multi.add(created);
    return created;
  }

  private perSessionLease(
    server: ServerConfig,
    listener: BackendListener,
    profile: SessionProfile,
  ): BackendLease {
    const name = server.name;
    const auth = this.options.authFor?.(server, listener.principal?.agent);
    const lists = new BackendLists(name, server.timeoutMs, this.logger);
    const slot: BackendSlot = new BackendSlot({
      server,
      logger: this.logger,
      transport: this.transport(server, auth),
      profile: () => ({
        protocolVersion: profile.protocolVersion,
        capabilities: backendCapabilities(profile.capabilities, server),
        clientInfo: profile.clientInfo,
      }),
      handlers: (conn) => ({
        onNotification: (message) => {
          lists.changed(message.method);
          listener.onBackendNotification(name, message, latestRelated(conn, listener));
        },
        onRequest: (message, signal) =>
          listener.onBackendRequest(name, message, signal, latestRelated(conn, listener)),
      }),
      onStatus: (status) => listener.onBackendStatus(name, status),
      report: (up) => this.onBackendStatus(name, up),
    });
    const slots = this.perSession.get(name) ?? new Set<BackendSlot>();
    slots.add(slot);
    this.perSession.set(name, slots);
    const request = async (method: string, params: Params | undefined, options: LeaseRequestOptions) => {
      const conn = await slot.get();
      options.onSent?.();
      return conn.request(method, params, {
        timeoutMs: options.timeoutMs ?? server.timeoutMs,
        signal: options.signal,
        onProgress: options.onProgress,
        owner: listener,
        relatedRequestId: options.relatedRequestId,
      });
    };
    return {
      server,
      isolation: 'per_session',
      get info() {
        return slot.ready?.info ?? slot.lastInfo;
      },
      get up() {
        return slot.ready !== undefined;
      },
      authIssue: () => auth?.refusal?.(),
      connect: async () => (await slot.get()).info as InitializeInfo,
      list: async (kind) => lists.get(await slot.get(), kind),
      request,
      // The session's own backend: it keeps its subscriptions and level itself.
      subscribe: (params, options) => request('resources/subscribe', params, options),
      unsubscribe: (params, options) => request('resources/unsubscribe', params, options),
      setLogLevel: async (level, options) => {
        if (slot.ready?.info?.capabilities['logging'] === undefined) return;
        await request('logging/setLevel', { level }, options);
      },
      release: async () => {
        slots.delete(slot);
        if (slots.size === 0 && this.perSession.get(name) === slots) this.perSession.delete(name);
        await slot.close();
      },
    };
  }

  /**
   * Starts `server` once to see that it can start (readiness). A pooled or shared server keeps what the
   * probe started as if a session had come and gone; a per-session one is closed again.
   */
  async probe(server: ServerConfig): Promise<void> {
    const isolation = this.isolationOf(server);
    if (isolation !== 'per_session') {
      const lease = this.multiBackend(server, isolation).attach(PROBE);
      try {
        await lease.connect();
      } finally {
        await lease.release();
      }
      return;
    }
    const conn = new BackendConnection({
      server: server.name,
      transport: this.transport(server, this.options.authFor?.(server, undefined))(),
      logger: this.logger,
      roots: server.roots,
      agentRoots: server.agentRoots,
    });
    // Tracked, so that a gateway stopping mid-probe (its port was taken) does not wait for the child.
    this.probing.add(conn);
    try {
      await conn.open(
        {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'mcp-guard-readiness-probe', version: VERSION },
        },
        server.connectTimeoutMs,
      );
    } finally {
      this.probing.delete(conn);
      await conn.close().catch(() => {});
    }
  }

  /** Sessions, children and queues per server (for /readyz and /metrics). */
  stats(): BackendStats[] {
    const out = new Map<string, BackendStats>();
    const add = (s: BackendStats) => {
      const prev = out.get(s.server);
      out.set(
        s.server,
        prev
          ? {
              ...prev,
              sessions: prev.sessions + s.sessions,
              children: prev.children + s.children,
              busy: prev.busy + s.busy,
              queued: prev.queued + s.queued,
            }
          : s,
      );
    };
    for (const [server, slots] of this.perSession) {
      let children = 0;
      for (const slot of slots) if (slot.live) children++;
      add({ server, isolation: 'per_session', sessions: slots.size, children, busy: 0, queued: 0 });
    }
    for (const backend of this.multi) {
      const load =
        backend instanceof PooledBackend
          ? backend.load
          : { children: (backend as SharedBackend).children, busy: 0, queued: 0 };
      add({
        server: backend.server.name,
        isolation: backend.isolation,
        sessions: backend.sessions,
        ...load,
        ...(backend.isolation === 'pooled' ? { poolSize: backend.server.pool.size } : {}),
      });
    }
    return [...out.values()];
  }

  /** Closes every pooled and shared backend (per-session ones close with their sessions). */
  async close(): Promise<void> {
    const all = [...this.multi];
    this.multi.clear();
    this.current.clear();
    const probes = [...this.probing];
    this.probing.clear();
    await Promise.all([...all.map((b) => b.close()), ...probes.map((c) => c.close().catch(() => {}))]);
  }
}
