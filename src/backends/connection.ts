/**
 * One initialized MCP client session with one backend server, over any SDK Transport.
 *
 * Hand-written request tracking rather than the SDK's Client/Protocol because the gateway must relay
 * messages as they are: the SDK's Protocol re-parses results with zod (dropping unknown fields), rewrites
 * error messages ("MCP error -32602: …") and owns progress tokens in a way that cannot be mapped back to
 * many client sessions. What this class adds on top of a Transport:
 * - gateway-owned request ids (unique per connection, so many client sessions can share one backend);
 * - progress tokens rewritten to the backend id and mapped back to the caller's own token;
 * - a timeout per request that also sends `notifications/cancelled` (reset by progress, bounded in total);
 * - cancellation from the caller (AbortSignal) forwarded as `notifications/cancelled`;
 * - every pending request failed at once with -32016 when the transport closes (crash, exit);
 * - `ping` and `roots/list` from the backend answered here; other server→client requests handed up.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  BackendRpcError,
  GatewayError,
  type JsonRpcErrorObject,
  markNeverSent,
  WireError,
  wireErrorObject,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  metaOf,
  notification,
  type Params,
  paramsOf,
  type RequestId,
  resultResponse,
  withProgressToken,
} from '../mcp/messages.js';

export interface InitializeInfo {
  readonly protocolVersion: string;
  readonly capabilities: Params;
  readonly serverInfo: Params;
  readonly instructions?: string;
}

export interface RequestOptions {
  /** Idle timeout; progress notifications reset it, up to `maxTotalMs`. */
  readonly timeoutMs: number;
  readonly maxTotalMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (params: Params) => void;
  /** Who is waiting (a client session); lets server→client requests be attributed. */
  readonly owner?: unknown;
  /** The caller's own request id, for routing server→client messages onto its stream. */
  readonly relatedRequestId?: RequestId;
}

export interface InFlight {
  readonly owner: unknown;
  readonly relatedRequestId: RequestId | undefined;
  readonly startedAt: number;
}

export interface ConnectionHandlers {
  /** A notification other than progress (logging, list_changed, resources/updated, cancelled…). */
  onNotification?(message: JSONRPCNotification): void;
  /** A server→client request other than ping and roots/list; resolve with the result or throw. */
  onRequest?(message: JSONRPCRequest, signal: AbortSignal): Promise<Params>;
  /** The transport closed (backend exited, crashed or was closed). */
  onClose?(): void;
}

/**
 * A request in flight. Its timer and abort listener are made by the module functions below, whose
 * closures hold only the connection, the id and this entry: a closure made inside `request()` would
 * share that call's whole scope (message, params, options), and the timer list and the caller's signal
 * kept all of it alive through scavenges until a full GC — over 1 KB promoted per call (RSS).
 */
interface Pending {
  readonly method: string;
  readonly owner: unknown;
  readonly relatedRequestId: RequestId | undefined;
  readonly startedAt: number;
  /** Idle timeout (reset by progress) and the bound on the whole request. */
  readonly timeoutMs: number;
  readonly maxTotalMs: number;
  readonly onProgress: ((params: Params) => void) | undefined;
  readonly resolve: (result: Params) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Options {
  readonly server: string;
  readonly transport: Transport & { setProtocolVersion?: (v: string) => void };
  readonly logger: Logger;
  /** file:// roots answered to the backend's roots/list (from config; never the agent's). */
  readonly roots: readonly string[];
  /** Hand the backend's roots/list to the agent instead (servers.NAME.agent_roots). */
  readonly agentRoots?: boolean;
  readonly handlers?: ConnectionHandlers;
}

export class BackendConnection {
  readonly server: string;
  private readonly transport: Options['transport'];
  private readonly logger: Logger;
  private readonly roots: readonly string[];
  private readonly agentRoots: boolean;
  private handlers: ConnectionHandlers;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Server→client requests being handled, by the backend's id, so its cancellation can abort them. */
  private readonly incoming = new Map<RequestId, AbortController>();
  private closed = false;
  private closeWaiters: Array<() => void> = [];
  info: InitializeInfo | undefined;

  constructor(options: Options) {
    this.server = options.server;
    this.transport = options.transport;
    this.logger = options.logger;
    this.roots = options.roots;
    this.agentRoots = options.agentRoots ?? false;
    this.handlers = options.handlers ?? {};
  }

  get isOpen(): boolean {
    return !this.closed && this.info !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  /** Starts the transport and runs the initialize handshake. Rejects (and closes) on failure or timeout. */
  async open(
    init: { protocolVersion: string; capabilities: Params; clientInfo: Params },
    timeoutMs: number,
  ): Promise<InitializeInfo> {
    this.transport.onmessage = (message) => this.onMessage(message);
    this.transport.onerror = (error) =>
      this.logger.warn({ server: this.server, err: error.message }, 'backend transport error');
    this.transport.onclose = () => this.onTransportClose();
    try {
      await withTimeout(
        this.transport.start(),
        timeoutMs,
        this.unavailable(`did not start within ${timeoutMs} ms`),
      );
      const result = await this.request('initialize', init, { timeoutMs });
      const protocolVersion =
        typeof result['protocolVersion'] === 'string' ? result['protocolVersion'] : init.protocolVersion;
      this.transport.setProtocolVersion?.(protocolVersion);
      this.info = {
        protocolVersion,
        capabilities: asParams(result['capabilities']),
        serverInfo: asParams(result['serverInfo']),
        instructions: typeof result['instructions'] === 'string' ? result['instructions'] : undefined,
      };
      await this.transport.send(notification('notifications/initialized'));
      return this.info;
    } catch (err) {
      await this.close();
      if (err instanceof WireError && err.reason === 'backend_unavailable') throw err;
      throw this.unavailable(err instanceof Error ? err.message : String(err));
    }
  }

  /** Sends a request with a gateway-owned id; resolves with the backend's result object. */
  request(method: string, params: Params | undefined, options: RequestOptions): Promise<Params> {
    // Refusals before anything is sent are marked so, and the spend stage gives the reservation back.
    if (this.closed) return Promise.reject(markNeverSent(this.unavailable()));
    if (options.signal?.aborted)
      return Promise.reject(markNeverSent(options.signal.reason ?? new Error('aborted')));
    const id = this.nextId++;
    let outParams = params;
    if (params && options.onProgress && metaOf(params)?.['progressToken'] !== undefined) {
      // The caller's token is only unique per caller; the backend sees our id instead.
      outParams = withProgressToken(params, id);
    } else if (params && metaOf(params)?.['progressToken'] !== undefined) {
      outParams = withProgressToken(params, undefined);
    }
    const message = (
      outParams === undefined
        ? { jsonrpc: '2.0', id, method }
        : { jsonrpc: '2.0', id, method, params: outParams }
    ) as JSONRPCRequest;

    return new Promise<Params>((resolve, reject) => {
      const entry: Pending = {
        method,
        owner: options.owner,
        relatedRequestId: options.relatedRequestId,
        startedAt: Date.now(),
        timeoutMs: options.timeoutMs,
        maxTotalMs: options.maxTotalMs ?? options.timeoutMs * 10,
        onProgress: options.onProgress,
        resolve,
        reject,
        timer: undefined,
        signal: options.signal,
        onAbort: undefined,
      };
      armTimeout(this, id, entry);
      listenForAbort(this, id, entry);
      this.pending.set(id, entry);
      this.transport.send(message).catch((err: Error) => {
        if (this.settle(id)) {
          this.logger.warn({ server: this.server, err: err.message }, 'could not send to backend');
          // Upstream OAuth refusals say what to do (log in, a wider scope); other send errors stay internal.
          const unavailable = this.unavailable(
            err instanceof GatewayError && err.code === 'UPSTREAM_OAUTH' ? err.message : undefined,
          );
          // A serialisation failure (RangeError) or a child that is not running fails before any byte is
          // written; a network error may come after the backend got the request, so it is not marked.
          const before =
            err instanceof RangeError || (err instanceof GatewayError && err.code === 'BACKEND_CLOSED');
          reject(before ? markNeverSent(unavailable) : unavailable);
        }
      });
    });
  }

  /** Sends a notification to the backend (e.g. a cancellation the gateway owns). */
  async notify(method: string, params?: Params): Promise<void> {
    if (this.closed) return;
    await this.transport.send(notification(method, params)).catch((err: Error) => {
      this.logger.debug({ server: this.server, err: err.message }, 'could not send notification to backend');
    });
  }

  /** Requests in flight, oldest first (for attributing server→client traffic on a shared connection). */
  inFlight(): InFlight[] {
    return [...this.pending.values()].map((p) => ({
      owner: p.owner,
      relatedRequestId: p.relatedRequestId,
      startedAt: p.startedAt,
    }));
  }

  /** Closes the transport (for stdio: the child's process group). Pending requests fail with -32016. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll();
    await this.transport
      .close()
      .catch((err: Error) =>
        this.logger.debug({ server: this.server, err: err.message }, 'error while closing backend'),
      );
    this.notifyClosed();
  }

  /** Resolves when the connection has closed, for whatever reason. */
  whenClosed(): Promise<void> {
    if (this.closed && this.closeWaiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.closed) resolve();
      else this.closeWaiters.push(resolve);
    });
  }

  private onTransportClose(): void {
    const wasClosed = this.closed;
    this.closed = true;
    this.failAll();
    for (const controller of this.incoming.values()) controller.abort();
    this.incoming.clear();
    if (!wasClosed) this.logger.warn({ server: this.server }, 'backend connection closed');
    this.notifyClosed();
  }

  private notifyClosed(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
    const onClose = this.handlers.onClose;
    this.handlers.onClose = undefined;
    onClose?.();
  }

  private failAll(): void {
    const error = this.unavailable();
    for (const id of [...this.pending.keys()]) {
      const entry = this.pending.get(id);
      if (entry && this.settle(id)) entry.reject(error);
    }
  }

  private unavailable(detail?: string): WireError {
    const message = `Backend "${this.server}" is unavailable${detail ? `: ${detail}` : ''}`;
    return new WireError('backend_unavailable', message, { server: this.server });
  }

  /** Removes a pending entry and its timer; true if it was still pending. */
  private settle(id: number): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    entry.onAbort = undefined;
    return true;
  }

  /** The request's idle timeout ran out: cancelled at the backend, failed with -32001. */
  timedOut(id: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.cancelPending(id, 'timeout');
    entry.reject(
      new WireError(
        'request_timeout',
        `Request timed out: "${this.server}" did not answer ${entry.method} within ${entry.timeoutMs} ms`,
        { server: this.server, timeout_ms: entry.timeoutMs },
      ),
    );
  }

  /** The caller gave up (its signal aborted): cancelled at the backend, failed with the signal's reason. */
  aborted(id: number, signal: AbortSignal): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.cancelPending(id, String(signal.reason ?? 'cancelled'));
    entry.reject(
      signal.reason instanceof Error ? signal.reason : new WireError('internal_error', 'Request cancelled'),
    );
  }

  private cancelPending(id: number, reason: string): void {
    if (!this.settle(id)) return;
    void this.notify('notifications/cancelled', { requestId: id, reason });
  }

  private onMessage(message: JSONRPCMessage): void {
    if (isResponse(message)) {
      const id = typeof message.id === 'number' ? message.id : Number(message.id);
      const entry = this.pending.get(id);
      if (!entry || !this.settle(id)) {
        this.logger.debug(
          { server: this.server, id: message.id },
          'dropped a response to an unknown or finished request',
        );
        return;
      }
      if ('error' in message) entry.reject(new BackendRpcError(message.error as JsonRpcErrorObject));
      else entry.resolve(asParams(message.result));
      return;
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/progress') {
        const params = paramsOf(message);
        const id = Number(params['progressToken']);
        const entry = this.pending.get(id);
        if (entry?.onProgress) {
          armTimeout(this, id, entry); // progress resets the idle timeout
          entry.onProgress(params);
        } else this.logger.debug({ server: this.server }, 'dropped progress for an unknown token');
        return;
      }
      if (message.method === 'notifications/cancelled') {
        const requestId = paramsOf(message)['requestId'] as RequestId | undefined;
        const controller = requestId === undefined ? undefined : this.incoming.get(requestId);
        if (controller) {
          controller.abort(paramsOf(message)['reason']);
          return;
        }
      }
      this.handlers.onNotification?.(message);
      return;
    }
    if (isRequest(message)) void this.onServerRequest(message);
  }

  private async onServerRequest(message: JSONRPCRequest): Promise<void> {
    const reply = (response: JSONRPCMessage) =>
      this.transport
        .send(response)
        .catch((err: Error) =>
          this.logger.debug({ server: this.server, err: err.message }, 'could not answer backend request'),
        );
    if (message.method === 'ping') return reply(resultResponse(message.id, {}));
    if (message.method === 'roots/list' && !this.agentRoots) {
      // Answered from config: an agent's roots must never widen a backend's sandbox.
      return reply(resultResponse(message.id, { roots: this.roots.map((uri) => ({ uri })) }));
    }
    const handler = this.handlers.onRequest;
    if (!handler) {
      return reply(
        errorResponse(message.id, new WireError('method_not_found', `Method not found: ${message.method}`)),
      );
    }
    const controller = new AbortController();
    this.incoming.set(message.id, controller);
    try {
      const result = await handler(message, controller.signal);
      if (!controller.signal.aborted) await reply(resultResponse(message.id, result));
    } catch (err) {
      if (controller.signal.aborted) return;
      await reply(
        errorResponse(
          message.id,
          wireErrorObject(err) ?? new WireError('internal_error', 'Internal gateway error'),
        ),
      );
    } finally {
      this.incoming.delete(message.id);
    }
  }
}

/** (Re)arms a request's idle timeout, never past its total bound from the start. */
function armTimeout(conn: BackendConnection, id: number, entry: Pending): void {
  if (entry.timer) clearTimeout(entry.timer);
  const remaining = Math.min(entry.timeoutMs, entry.maxTotalMs - (Date.now() - entry.startedAt));
  entry.timer = setTimeout(timeOut, Math.max(0, remaining), conn, id);
}

function timeOut(conn: BackendConnection, id: number): void {
  conn.timedOut(id);
}

function listenForAbort(conn: BackendConnection, id: number, entry: Pending): void {
  const signal = entry.signal;
  if (!signal) return;
  entry.onAbort = () => conn.aborted(id, signal);
  signal.addEventListener('abort', entry.onAbort, { once: true });
}

function asParams(value: unknown): Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : {};
}

async function withTimeout<T>(promise: Promise<T>, ms: number, error: Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
