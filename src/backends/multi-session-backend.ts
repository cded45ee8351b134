/**
 * What a backend serving many agent sessions (`isolation: shared` or `pooled`) keeps per session, so
 * that sharing stays invisible to each agent:
 * - the logging level: the backend runs at the most verbose level any session asked for, and each
 *   session gets only the log messages at or above its own level;
 * - resource subscriptions: subscribed once per backend connection while any session wants them, and
 *   `resources/updated` fanned out to the sessions that subscribed (bursts coalesced);
 * - `list_changed` to every session;
 * - tasks: a task belongs to the session that created it (and, for a pool, to the child that runs it);
 *   another session cannot read, cancel or list it;
 * - server→client requests and log messages go to the one session they can be attributed to (the
 *   subclass says how), else they are refused or dropped — never guessed.
 */
import type { ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { BackendLists } from '../mcp/list-index.js';
import type { ListKind } from '../mcp/lists.js';
import {
  type JSONRPCNotification,
  type JSONRPCRequest,
  metaOf,
  type Params,
  paramsOf,
  type RequestId,
} from '../mcp/messages.js';
import type { BackendAuth } from './backend-auth.js';
import type { BackendConnection, ConnectionHandlers, InitializeInfo } from './connection.js';
import { type LogLevel, mostVerbose, passesLevel } from './log-levels.js';
import type { BackendLease, BackendListener, LeaseRequestOptions } from './pool.js';

/** Where a server→client message belongs: a session, and the agent request that caused it if known. */
export interface Attribution {
  readonly listener: BackendListener;
  readonly related: RequestId | undefined;
  /**
   * Found as the only session with calls on a shared connection (not a lease): right for what those
   * calls cause, not for a task's messages, which may come after the call that started it ended.
   */
  readonly inferred?: true;
}

interface Holder {
  leases: number;
  level: LogLevel | undefined;
  profile: ClientProfile | undefined;
}

/**
 * The client capabilities a backend connection is initialized with, for sessions that declared the same
 * ones (`key` identifies them). A backend may only use what the agent declared, and a legacy backend
 * learns that at initialize: a pool keeps children per profile.
 */
export interface ClientProfile {
  readonly key: string;
  readonly capabilities: Params;
}

interface TaskOwner {
  readonly listener: BackendListener;
  /** The connection (child) that runs the task. */
  readonly conn: BackendConnection;
}

const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';
const MAX_TASKS = 10_000;
/** resources/updated for one URI more often than this is coalesced (each pooled child may announce it). */
const UPDATE_COALESCE_MS = 50;

/** The request of `owner` most recently sent on `conn` (where a server→client message belongs). */
export function latestRelated(conn: BackendConnection, owner: unknown): RequestId | undefined {
  let best: { startedAt: number; id: RequestId | undefined } | undefined;
  for (const f of conn.inFlight()) {
    if (f.owner === owner && (!best || f.startedAt >= best.startedAt))
      best = { startedAt: f.startedAt, id: f.relatedRequestId };
  }
  return best?.id;
}

/**
 * The one session with requests in flight on `conn`, and its latest request, if there is exactly one
 * (a connection that sessions share: with two, nothing on the wire says whose a message is). A listener
 * that stands for many clients (the 2026-07-28 relay) counts per request: it needs the one call.
 */
export function soleOwner(conn: BackendConnection): Attribution | undefined {
  let owner: BackendListener | undefined;
  let latest: { startedAt: number; id: RequestId | undefined } | undefined;
  let calls = 0;
  for (const f of conn.inFlight()) {
    if (f.owner === undefined) continue;
    if (owner !== undefined && f.owner !== owner) return undefined;
    owner = f.owner as BackendListener;
    calls++;
    if (!latest || f.startedAt >= latest.startedAt)
      latest = { startedAt: f.startedAt, id: f.relatedRequestId };
  }
  if (owner === undefined || (owner.manyClients === true && calls > 1)) return undefined;
  return { listener: owner, related: latest?.id, inferred: true };
}

/** The client side the gateway declares to a backend shared by sessions: it relays sampling and elicitation. */
export function sharedProfile(server: ServerConfig): {
  protocolVersion: string;
  capabilities: Params;
  clientInfo: Params;
} {
  return {
    protocolVersion: '2025-11-25',
    capabilities: {
      sampling: {},
      elicitation: { form: {}, url: {} },
      // roots/list is answered from config, or (agent_roots) by the session the child is serving.
      ...(server.roots.length > 0 || server.agentRoots ? { roots: { listChanged: false } } : {}),
    },
    clientInfo: { name: 'mcp-guard', version: VERSION },
  };
}

export abstract class MultiSessionBackend {
  abstract readonly isolation: 'shared' | 'pooled';
  protected readonly holders = new Map<BackendListener, Holder>();
  private readonly subscriptions = new Map<string, Set<BackendListener>>();
  private readonly updates = new Map<string, { timer: NodeJS.Timeout; again: boolean }>();
  private readonly tasks = new Map<string, TaskOwner>();
  /** Upstream credentials of the server's shared connections (upstream OAuth), if any. */
  auth: BackendAuth | undefined;
  /** Every connection's lists: one child announcing a change makes every child's copy stale. */
  private readonly lists: BackendLists;
  /** The level the backend's connections are set to (undefined: never set). */
  private backendLevel: LogLevel | undefined;
  protected closed = false;

  constructor(
    readonly server: ServerConfig,
    protected readonly logger: Logger,
    /** Called when no session holds this backend any more and it has nothing running. */
    protected readonly onIdle: () => void,
  ) {
    this.lists = new BackendLists(server.name, server.timeoutMs, logger);
  }

  /** True while the server can take requests (or can be started for them). */
  abstract get up(): boolean;
  /** What the backend said at its last initialize (to sessions of `profile`). */
  abstract infoFor(profile: ClientProfile | undefined): InitializeInfo | undefined;
  /** Connections open right now (for subscriptions and log levels). */
  protected abstract liveConnections(): BackendConnection[];
  /**
   * An open connection for sessions of `profile`, starting one if needed: for requests nobody needs to
   * be attributed for (lists, initialize info, subscriptions).
   */
  protected abstract anyConnection(profile: ClientProfile | undefined): Promise<BackendConnection>;
  /** Sends one agent request so that what the backend sends back while it runs reaches `listener`. */
  protected abstract send(
    listener: BackendListener,
    method: string,
    params: Params,
    options: LeaseRequestOptions,
    via: BackendConnection | undefined,
    profile: ClientProfile | undefined,
  ): Promise<{ result: Params; conn: BackendConnection }>;
  /** Sends one agent request on `conn`, tagged with `listener` so that what the backend asks meanwhile reaches it. */
  protected requestOn(
    conn: BackendConnection,
    listener: BackendListener,
    method: string,
    params: Params,
    options: LeaseRequestOptions,
  ): Promise<Params> {
    return conn.request(method, params, {
      timeoutMs: options.timeoutMs ?? this.server.timeoutMs,
      signal: options.signal,
      onProgress: options.onProgress,
      owner: listener,
      relatedRequestId: options.relatedRequestId,
    });
  }
  /** Whether nothing holds or runs anything (the pool may close). */
  protected abstract get idle(): boolean;
  abstract close(): Promise<void>;

  get sessions(): number {
    return this.holders.size;
  }

  /** The profiles of the sessions holding this backend right now. */
  protected heldProfiles(): Set<string> {
    const keys = new Set<string>();
    for (const h of this.holders.values()) if (h.profile) keys.add(h.profile.key);
    return keys;
  }

  /** A lease for one session (or one sessionless request); cheap: nothing starts until used. */
  attach(listener: BackendListener, profile?: ClientProfile): BackendLease {
    const holder = this.holders.get(listener) ?? { leases: 0, level: undefined, profile };
    holder.leases++;
    this.holders.set(listener, holder);
    this.attached();
    let released = false;
    const backend = this;
    return {
      server: this.server,
      isolation: this.isolation,
      get info() {
        return backend.infoFor(profile);
      },
      get up() {
        return backend.up;
      },
      authIssue: () => this.auth?.refusal?.(),
      connect: async () => (await this.anyConnection(profile)).info as InitializeInfo,
      list: async (kind: ListKind) => this.lists.get(await this.anyConnection(profile), kind),
      request: (method, params, options) => this.request(listener, method, params ?? {}, options, profile),
      subscribe: (params, options) => this.subscribe(listener, params, options, profile),
      unsubscribe: (params, options) => this.unsubscribe(listener, params, options),
      setLogLevel: (level) => this.setLogLevel(listener, level),
      release: async () => {
        if (released) return;
        released = true;
        await this.detach(listener);
      },
    };
  }

  /** A session took a lease (subclasses stop lingering timers). */
  protected attached(): void {}

  private async detach(listener: BackendListener): Promise<void> {
    const holder = this.holders.get(listener);
    if (!holder || --holder.leases > 0) return;
    this.holders.delete(listener);
    for (const [id, task] of this.tasks) if (task.listener === listener) this.tasks.delete(id);
    const unsubscribe: string[] = [];
    for (const [uri, set] of this.subscriptions) {
      if (set.delete(listener) && set.size === 0) {
        this.subscriptions.delete(uri);
        unsubscribe.push(uri);
      }
    }
    await Promise.all([
      ...unsubscribe.map((uri) => this.everywhere('resources/unsubscribe', { uri }).catch(() => {})),
      this.applyLevel(),
    ]);
    if (this.idle) this.becameIdle();
  }

  /** No session holds the backend any more (a subclass may linger first). */
  protected becameIdle(): void {
    this.onIdle();
  }

  // ------------------------------------------------------------------ requests

  private async request(
    listener: BackendListener,
    method: string,
    params: Params,
    options: LeaseRequestOptions,
    profile: ClientProfile | undefined,
  ): Promise<Params> {
    if (method === 'tasks/list') return this.listTasks(listener, params, options);
    let via: BackendConnection | undefined;
    if (method.startsWith('tasks/') && typeof params['taskId'] === 'string') {
      const task = this.tasks.get(params['taskId']);
      // Another session's task is as unknown as one that never existed.
      if (!task || task.listener !== listener || task.conn.isClosed)
        throw new WireError('invalid_params', 'Unknown task');
      via = task.conn;
    }
    const { result, conn } = await this.send(listener, method, params, options, via, profile);
    const task = result['task'];
    const taskId = task && typeof task === 'object' ? (task as Params)['taskId'] : undefined;
    if (typeof taskId === 'string') {
      this.tasks.set(taskId, { listener, conn });
      if (this.tasks.size > MAX_TASKS) {
        const oldest = this.tasks.keys().next().value;
        if (oldest !== undefined) this.tasks.delete(oldest);
      }
    }
    return result;
  }

  /** tasks/list: asked of the connections running this session's tasks, answered with only its tasks. */
  private async listTasks(
    listener: BackendListener,
    params: Params,
    options: LeaseRequestOptions,
  ): Promise<Params> {
    const mine = new Set<string>();
    const conns = new Set<BackendConnection>();
    for (const [id, task] of this.tasks) {
      if (task.listener !== listener || task.conn.isClosed) continue;
      mine.add(id);
      conns.add(task.conn);
    }
    const { cursor: _ignored, ...rest } = params;
    const results = await Promise.all(
      [...conns].map((conn) =>
        conn.request('tasks/list', rest, {
          timeoutMs: options.timeoutMs ?? this.server.timeoutMs,
          signal: options.signal,
        }),
      ),
    );
    options.onSent?.();
    const tasks = results.flatMap((r) =>
      Array.isArray(r['tasks'])
        ? (r['tasks'] as Params[]).filter((t) => typeof t?.['taskId'] === 'string' && mine.has(t['taskId']))
        : [],
    );
    return { tasks };
  }

  // ------------------------------------------------------------------ subscriptions

  private async subscribe(
    listener: BackendListener,
    params: Params,
    options: LeaseRequestOptions,
    profile: ClientProfile | undefined,
  ): Promise<Params> {
    const uri = String(params['uri']);
    const set = this.subscriptions.get(uri);
    if (set) {
      set.add(listener);
      return {};
    }
    this.subscriptions.set(uri, new Set([listener]));
    try {
      return await this.everywhere('resources/subscribe', params, options, profile);
    } catch (err) {
      const after = this.subscriptions.get(uri);
      after?.delete(listener);
      if (after?.size === 0) this.subscriptions.delete(uri);
      throw err;
    }
  }

  private async unsubscribe(
    listener: BackendListener,
    params: Params,
    options: LeaseRequestOptions,
  ): Promise<Params> {
    const uri = String(params['uri']);
    const set = this.subscriptions.get(uri);
    if (!set?.delete(listener) || set.size > 0) return {};
    this.subscriptions.delete(uri);
    return this.everywhere('resources/unsubscribe', params, options);
  }

  /**
   * Sends a request to every open connection (starting one when none is open); resolves with the first
   * connection's result. For state every child must share: subscriptions.
   */
  private async everywhere(
    method: string,
    params: Params,
    options?: LeaseRequestOptions,
    profile?: ClientProfile,
  ): Promise<Params> {
    let conns = this.liveConnections();
    if (conns.length === 0) conns = [await this.anyConnection(profile)];
    options?.onSent?.();
    const timeoutMs = options?.timeoutMs ?? this.server.timeoutMs;
    const results = await Promise.all(
      conns.map((conn) => conn.request(method, params, { timeoutMs, signal: options?.signal })),
    );
    return results[0] ?? {};
  }

  /** Brings a connection that just opened up to date: subscriptions and logging level. */
  protected onConnectionOpened(conn: BackendConnection): void {
    const send = (method: string, params: Params) =>
      conn.request(method, params, { timeoutMs: this.server.timeoutMs }).catch((err: Error) => {
        this.logger.warn({ server: this.server.name, method, err: err.message }, 'backend refused');
      });
    for (const uri of this.subscriptions.keys()) void send('resources/subscribe', { uri });
    if (this.backendLevel !== undefined && conn.info?.capabilities['logging'] !== undefined)
      void send('logging/setLevel', { level: this.backendLevel });
  }

  // ------------------------------------------------------------------ logging

  private async setLogLevel(listener: BackendListener, level: LogLevel): Promise<void> {
    const holder = this.holders.get(listener);
    if (holder) holder.level = level;
    await this.applyLevel();
  }

  /** Sets the backend to the most verbose level any session wants (when that changed). */
  private async applyLevel(): Promise<void> {
    const level = mostVerbose([...this.holders.values()].map((h) => h.level));
    if (level === undefined || level === this.backendLevel) return;
    this.backendLevel = level;
    await Promise.all(
      this.liveConnections()
        .filter((c) => c.info?.capabilities['logging'] !== undefined)
        .map((c) =>
          c
            .request('logging/setLevel', { level }, { timeoutMs: this.server.timeoutMs })
            .catch((err: Error) => {
              this.logger.warn(
                { server: this.server.name, err: err.message },
                'backend refused logging/setLevel',
              );
            }),
        ),
    );
  }

  // ------------------------------------------------------------------ backend → sessions

  /** Handlers for one connection; `attribute` names the session its traffic belongs to right now. */
  protected handlers(attribute: () => Attribution | undefined): Omit<ConnectionHandlers, 'onClose'> {
    const name = this.server.name;
    return {
      onNotification: (message) => {
        if (message.method.endsWith('/list_changed')) {
          // One child announcing a change means the list may differ: every child's copy is refetched.
          this.lists.changed(message.method);
          for (const l of this.holders.keys()) l.onBackendNotification(name, message, undefined);
          return;
        }
        if (message.method === 'notifications/resources/updated') {
          this.resourceUpdated(message);
          return;
        }
        const target = this.taskOwner(message) ?? this.attributeUnlessTask(message, attribute);
        if (!target || !this.holders.has(target.listener)) {
          this.logger.debug(
            { server: name, method: message.method },
            'backend notification with no session to deliver to; dropped',
          );
          return;
        }
        if (
          message.method === 'notifications/message' &&
          !passesLevel(paramsOf(message)['level'], this.holders.get(target.listener)?.level)
        )
          return;
        target.listener.onBackendNotification(name, message, target.related);
      },
      onRequest: (message, signal) => {
        const target = this.taskOwner(message) ?? this.attributeUnlessTask(message, attribute);
        if (!target || !this.holders.has(target.listener))
          return Promise.reject(new WireError('internal_error', this.unattributed(message.method)));
        return target.listener.onBackendRequest(name, message, signal, target.related);
      },
    };
  }

  /** Why a server→client request cannot be delivered (the subclass knows its isolation's rule). */
  protected abstract unattributed(method: string): string;

  /**
   * Who a message with no known task owner is for. A message about a task (its status, or naming it
   * in `_meta`) whose owner is not known yet goes only to a lease's session, never to one inferred
   * from the calls on a shared connection: the call that started the task may have ended already.
   */
  private attributeUnlessTask(
    message: JSONRPCNotification | JSONRPCRequest,
    attribute: () => Attribution | undefined,
  ): Attribution | undefined {
    const target = attribute();
    if (!target?.inferred) return target;
    if (message.method.startsWith('notifications/tasks/')) return undefined;
    return metaOf(paramsOf(message))?.[RELATED_TASK_META] === undefined ? target : undefined;
  }

  /** The session whose task a message is about (`_meta` related-task), if this gateway knows it. */
  private taskOwner(message: JSONRPCNotification | JSONRPCRequest): Attribution | undefined {
    if (this.tasks.size === 0) return undefined;
    const params = paramsOf(message);
    const related = metaOf(params)?.[RELATED_TASK_META];
    const id =
      related && typeof related === 'object'
        ? (related as Params)['taskId']
        : message.method === 'notifications/tasks/status'
          ? params['taskId']
          : undefined;
    const task = typeof id === 'string' ? this.tasks.get(id) : undefined;
    return task ? { listener: task.listener, related: undefined } : undefined;
  }

  /** Fans resources/updated out to the subscribers: the first at once, a burst after it as one more. */
  private resourceUpdated(message: JSONRPCNotification): void {
    const uri = String(paramsOf(message)['uri']);
    const pending = this.updates.get(uri);
    if (pending) {
      pending.again = true;
      return;
    }
    const deliver = () => {
      for (const l of this.subscriptions.get(uri) ?? [])
        l.onBackendNotification(this.server.name, message, undefined);
    };
    deliver();
    const entry = {
      again: false,
      timer: setTimeout(() => {
        this.updates.delete(uri);
        if (entry.again) deliver();
      }, UPDATE_COALESCE_MS),
    };
    entry.timer.unref();
    this.updates.set(uri, entry);
  }

  protected clearTimers(): void {
    for (const u of this.updates.values()) clearTimeout(u.timer);
    this.updates.clear();
  }
}
