/**
 * One agent session: everything the agent sends arrives here, and everything a backend sends on the
 * agent's behalf leaves from here, on the right stream.
 * - requests run through the pipeline (route → policy → forward) and get exactly one response;
 * - `notifications/cancelled` aborts the matching request (and its backend call);
 * - responses answer server→client requests (sampling, elicitation) that a backend sent through us;
 * - backend notifications are relayed; progress is mapped back to the agent's own token.
 */
import type { BackendListener, BackendPool } from '../backends/pool.js';
import type { GuardConfig } from '../config/types.js';
import { BackendRpcError, type JsonRpcErrorObject, WireError, wireErrorObject } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { RequestCancellation } from '../pipeline/cancellation.js';
import {
  type AgentChannel,
  newRequestContext,
  type RequestContext,
  type SessionInfo,
} from '../pipeline/context.js';
import type { TraceHeaders, Tracing } from '../telemetry/tracing.js';
import { resultOf, SessionLifecycle, type SettledSession } from './lifecycle.js';
import { LIST_CHANGED, type ListKind } from './lists.js';
import {
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResponse,
  notification,
  type Params,
  paramsOf,
  type RequestId,
  resultResponse,
} from './messages.js';
import { namespaceTasks, SessionRouter } from './router.js';

/**
 * What a session served by several replicas needs from its front (src/server/continuity.ts): ids of its
 * requests to the agent that no other replica uses, answers for another replica's requests passed on,
 * and the state other replicas must know recorded.
 */
export interface SessionContinuity {
  /** This replica's tag (prefixes the ids of server→client requests). */
  readonly replica: string;
  forwardResponse(message: JSONRPCResponse): void;
  stateChanged(
    method: 'logging/setLevel' | 'resources/subscribe' | 'resources/unsubscribe',
    params: Params,
  ): void;
}

/** How a session reaches its agent outside the reply to a request (HTTP: the GET stream; stdio: stdout). */
export interface ClientChannel {
  /** Sends a message unrelated to any open request; false when it could not be delivered. */
  send(message: JSONRPCMessage): boolean;
}

/**
 * Where the answer to one request and the messages related to it go (HTTP: that request's own
 * response). Without one (stdio), everything goes through the channel.
 */
export interface Reply {
  send(message: JSONRPCMessage): void;
  end(response: JSONRPCResponse): void;
  /** Ends the reply without an answer (cancelled, or the session ended). */
  abandon(): void;
  readonly open: boolean;
}

interface Running {
  readonly controller: RequestCancellation;
  readonly reply: Reply | undefined;
}

/** What the session needs from the gateway; read per request so a config reload applies at once. */
export interface SessionRuntime {
  readonly config: GuardConfig;
  readonly pool: BackendPool;
  readonly logger: Logger;
  /** Runs the current pipeline for one request. */
  run(ctx: RequestContext): Promise<void>;
  /** Set while tracing is on: the fronts then pass the trace headers of HTTP requests on. */
  readonly tracing?: Tracing;
}

const LIST_CHANGED_DEBOUNCE_MS = 50;

interface Outgoing {
  readonly server: string;
  readonly resolve: (result: Params) => void;
  readonly reject: (error: Error) => void;
}

export class ClientSession implements BackendListener, SessionInfo {
  readonly id: string;
  readonly transport: 'stdio' | 'http';
  principal: Principal | undefined;
  /** Time of the last message from the agent (for the idle TTL). */
  lastActivity = Date.now();

  private readonly channel: ClientChannel;
  /** Read per request, so a config reload applies to requests of existing sessions too. */
  private readonly runtime: () => SessionRuntime;
  private readonly logger: Logger;
  private readonly router: SessionRouter;
  private readonly lifecycle: SessionLifecycle;
  private readonly inflight = new Map<RequestId, Running>();
  private readonly outgoing = new Map<RequestId, Outgoing>();
  private nextOutgoingId = 1;
  private readonly continuity: SessionContinuity | undefined;
  private readonly pendingListChanged = new Map<ListKind, NodeJS.Timeout>();
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];

  constructor(options: {
    id: string;
    transport: 'stdio' | 'http';
    channel: ClientChannel;
    runtime: () => SessionRuntime;
    principal?: Principal;
    /** Set where a session may also be served by other replicas (serve-http on a shared store). */
    continuity?: SessionContinuity;
  }) {
    this.id = options.id;
    this.transport = options.transport;
    this.channel = options.channel;
    this.runtime = options.runtime;
    this.principal = options.principal;
    this.continuity = options.continuity;
    const runtime = options.runtime();
    this.logger = runtime.logger.child({ session: options.id });
    // Servers are fixed for the life of a session; policy and pipeline follow reloads.
    this.router = new SessionRouter(runtime.config, runtime.pool, this, this.logger);
    this.lifecycle = new SessionLifecycle(this.router, this.logger);
  }

  get isInitialized(): boolean {
    return this.lifecycle.isInitialized;
  }

  /** Whether the session holds processes of its own (per_session stdio children): reaped sooner when idle. */
  get holdsChildren(): boolean {
    return this.router.holdsChildren;
  }

  /** Requests of this session still running (an idle session has none). */
  get inflightCount(): number {
    return this.inflight.size + this.outgoing.size;
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /**
   * Entry point for every message the agent sends. `principal` is the caller of this HTTP request;
   * `reply` is where a request's answer goes (its own HTTP response), else the channel.
   */
  handleMessage(
    message: JSONRPCMessage,
    principal?: Principal,
    reply?: Reply,
    traceHeaders?: TraceHeaders,
  ): void {
    if (this.closed) {
      reply?.abandon();
      return;
    }
    this.lastActivity = Date.now();
    if (isRequest(message))
      void this.handleRequest(message, principal ?? this.principal, reply, traceHeaders);
    else if (isNotification(message)) this.handleNotification(message);
    else if (isResponse(message)) this.handleResponse(message);
  }

  // ------------------------------------------------------------ agent → gateway

  private async handleRequest(
    request: JSONRPCRequest,
    principal: Principal | undefined,
    reply: Reply | undefined,
    traceHeaders: TraceHeaders | undefined,
  ): Promise<void> {
    if (this.inflight.has(request.id)) {
      // Answered on the duplicate's own reply: the first request keeps its stream and gets its answer.
      this.answer(
        errorResponse(
          request.id,
          new WireError('invalid_request', `Request id ${JSON.stringify(request.id)} is already in use`),
        ),
        reply,
      );
      return;
    }
    const controller = new RequestCancellation();
    this.inflight.set(request.id, { controller, reply });
    const ctx = newRequestContext({
      session: this,
      request,
      method: request.method,
      params: paramsOf(request),
      signal: controller.signal,
      principal,
      relay: this,
      client: this.agentChannel(request.id),
      traceHeaders,
    });
    let response: JSONRPCResponse;
    try {
      await this.runtime().run(ctx);
      response = resultResponse(request.id, resultOf(ctx));
    } catch (err) {
      response = errorResponse(request.id, this.toErrorObject(err, request.method));
    } finally {
      this.inflight.delete(request.id);
    }
    // A cancelled request gets no response (MCP cancellation); a closed session has no one to answer.
    if (controller.signal.aborted || this.closed) {
      reply?.abandon();
      return;
    }
    this.answer(response, reply);
  }

  /** The agent as a stage sees it during one request: messages go on that request's stream. */
  private agentChannel(related: RequestId): AgentChannel {
    const session = this;
    return {
      get capabilities() {
        return session.lifecycle.clientCapabilities;
      },
      notify: (method, params) => void this.send(notification(method, params), related),
      request: (method, params, signal) =>
        this.onBackendRequest('mcp-guard', { jsonrpc: '2.0', id: 0, method, params }, signal, related),
    };
  }

  private toErrorObject(err: unknown, method: string): JsonRpcErrorObject {
    const relayed = wireErrorObject(err);
    if (relayed) return relayed;
    this.logger.error({ err, method }, 'internal error while handling a request');
    return new WireError('internal_error', 'Internal gateway error').toJsonRpc();
  }

  private handleNotification(message: JSONRPCNotification): void {
    const params = paramsOf(message);
    switch (message.method) {
      case 'notifications/initialized':
        return;
      case 'notifications/cancelled': {
        const id = params['requestId'] as RequestId | undefined;
        if (id !== undefined)
          this.inflight.get(id)?.controller.abort(new WireError('internal_error', 'cancelled by the client'));
        return;
      }
      case 'notifications/roots/list_changed':
        // Backends get roots from config, never from the agent.
        return;
      default:
        this.logger.debug({ method: message.method }, 'notification from the agent not relayed');
    }
  }

  /**
   * The agent's answer to a server→client request. One this process did not send is another replica's
   * (the agent may post it to any): handed to continuity, which passes it on.
   */
  handleResponse(message: JSONRPCResponse, fromElsewhere = false): void {
    const id = message.id as RequestId;
    const pending = this.outgoing.get(id);
    if (!pending) {
      if (!fromElsewhere && this.continuity) this.continuity.forwardResponse(message);
      else this.logger.debug({ id: message.id }, 'response from the agent to an unknown request; dropped');
      return;
    }
    this.outgoing.delete(id);
    if ('error' in message) pending.reject(new BackendRpcError(message.error as JsonRpcErrorObject));
    else pending.resolve((message.result ?? {}) as Params);
  }

  // ------------------------------------------------------------ relay (called by the forward stage)

  /**
   * Continues a session that another replica opened (its id carries what initialize settled): no
   * handshake again, the same version and capabilities, the backends of this replica.
   */
  restore(state: SettledSession): void {
    this.lifecycle.restore(state);
  }

  /**
   * Runs a request the session made before on another replica (its log level, a subscription) through
   * the pipeline again, so this replica's backends know it too. Failures are logged, not fatal.
   */
  async replay(method: string, params: Params): Promise<void> {
    const request = {
      jsonrpc: '2.0',
      id: `replay-${this.nextOutgoingId++}`,
      method,
      params,
    } as JSONRPCRequest;
    try {
      await this.runtime().run(
        newRequestContext({
          session: this,
          request,
          method,
          params,
          signal: new AbortController().signal,
          principal: this.principal,
          relay: this,
        }),
      );
    } catch (err) {
      this.logger.warn({ method, err: (err as Error).message }, 'could not carry session state over');
    }
  }

  /** Routing for the route stage. */
  resolve(ctx: RequestContext) {
    this.lifecycle.require(ctx.method);
    return this.router.resolve(ctx);
  }

  /** Execution for the forward stage. */
  async forward(ctx: RequestContext): Promise<void> {
    if (this.lifecycle.answers(ctx.method)) {
      ctx.result = await this.lifecycle.answer(ctx.method, ctx.params);
      return;
    }
    this.lifecycle.require(ctx.method);
    await this.router.forward(ctx, {
      onProgress: (p, related) => this.send(notification('notifications/progress', p), related),
    });
    // What another replica must know to go on with this session.
    if (
      this.continuity &&
      (ctx.method === 'logging/setLevel' ||
        ctx.method === 'resources/subscribe' ||
        ctx.method === 'resources/unsubscribe')
    )
      this.continuity.stateChanged(ctx.method, ctx.params);
  }

  // ------------------------------------------------------------ backend → agent

  onBackendNotification(server: string, message: JSONRPCNotification, related: RequestId | undefined): void {
    const kinds = LIST_CHANGED[message.method];
    if (kinds) {
      for (const kind of kinds) this.announceListChanged(kind);
      return;
    }
    if (message.method === 'notifications/tasks/status') {
      this.send(notification(message.method, namespaceTasks(paramsOf(message), server)));
      return;
    }
    if (message.method === 'notifications/cancelled') {
      // The backend cancelled a request it sent to the agent through us; the agent knows it by our id.
      return;
    }
    // Logging, resources/updated, elicitation/complete and anything else: relayed as they are, on the
    // stream of the agent's request that caused them when there is one.
    this.send(message, related);
  }

  async onBackendRequest(
    server: string,
    message: JSONRPCRequest,
    signal: AbortSignal,
    related: RequestId | undefined,
  ): Promise<Params> {
    const capability =
      message.method === 'sampling/createMessage'
        ? 'sampling'
        : message.method === 'elicitation/create'
          ? 'elicitation'
          : message.method === 'roots/list'
            ? 'roots'
            : undefined;
    if (capability && this.lifecycle.clientCapabilities[capability] === undefined) {
      throw new WireError('method_not_found', `The agent does not support ${message.method}`);
    }
    if (this.closed) throw new WireError('internal_error', 'The agent session has ended');
    // Unique across the replicas that may serve this session: the agent's answer names it.
    const n = this.nextOutgoingId++;
    const id: RequestId = this.continuity ? `${this.continuity.replica}-${n}` : n;
    const result = new Promise<Params>((resolve, reject) =>
      this.outgoing.set(id, { server, resolve, reject }),
    );
    const onAbort = () => {
      if (!this.outgoing.delete(id)) return;
      this.send(
        notification('notifications/cancelled', {
          requestId: id,
          reason: String(signal.reason ?? 'cancelled by the server'),
        }),
        related,
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const forwarded = {
        jsonrpc: '2.0',
        id,
        method: message.method,
        ...(message.params === undefined ? {} : { params: message.params }),
      };
      if (!this.send(forwarded as JSONRPCRequest, related))
        throw new WireError(
          'internal_error',
          `The agent has no open stream to receive ${message.method} (open the session's GET stream)`,
        );
      return await result;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.outgoing.delete(id);
    }
  }

  onBackendStatus(server: string, status: 'up' | 'down'): void {
    this.logger.info({ server, status }, 'backend status changed');
    // After a restart the backend's lists may differ: tell the agent to list again.
    if (status === 'up')
      for (const kind of ['tools', 'prompts', 'resources'] as const) this.announceListChanged(kind);
  }

  private announceListChanged(kind: ListKind): void {
    if (kind === 'resourceTemplates') kind = 'resources';
    if (this.pendingListChanged.has(kind) || this.closed) return;
    // Backends often announce several changes in a burst (server-everything: 5 at startup): one is enough.
    const timer = setTimeout(() => {
      this.pendingListChanged.delete(kind);
      this.send(notification(`notifications/${kind}/list_changed`));
    }, LIST_CHANGED_DEBOUNCE_MS);
    timer.unref();
    this.pendingListChanged.set(kind, timer);
  }

  /**
   * Sends on the reply of the request `related` while it is open, else on the channel (the GET stream):
   * a progress or log message outlives an agent that stopped reading one response. False when neither
   * could take it.
   */
  private send(message: JSONRPCMessage, related?: RequestId): boolean {
    if (this.closed) return false;
    const reply = related === undefined ? undefined : this.inflight.get(related)?.reply;
    if (reply?.open) {
      reply.send(message);
      return true;
    }
    const sent = this.channel.send(message);
    if (!sent)
      this.logger.debug(
        { method: (message as { method?: string }).method },
        'no stream to the agent; message dropped',
      );
    return sent;
  }

  private answer(response: JSONRPCResponse, reply: Reply | undefined): void {
    if (reply) reply.end(response);
    else this.channel.send(response);
  }

  // ------------------------------------------------------------ lifecycle

  /** Ends the session: cancels its requests and releases its backends (per-session children exit). */
  async close(reason = 'session closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { controller, reply } of this.inflight.values()) {
      controller.abort(new WireError('internal_error', reason));
      reply?.abandon();
    }
    this.inflight.clear();
    for (const pending of this.outgoing.values())
      pending.reject(new WireError('internal_error', 'The agent session has ended'));
    this.outgoing.clear();
    for (const timer of this.pendingListChanged.values()) clearTimeout(timer);
    this.pendingListChanged.clear();
    await this.router.close();
    for (const listener of this.closeListeners) listener();
  }
}
