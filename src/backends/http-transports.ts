/**
 * Lean client transports to remote backends: Streamable HTTP (2025-03-26 … 2025-11-25) and legacy
 * HTTP+SSE (2024-11-05). Written on undici's dispatcher rather than the SDK's fetch-based transports,
 * which cost most of a remote call: keep-alive connections shared by every session of the process, JSON
 * and SSE bodies read straight from the socket's chunks (one JSON.parse per message, no web-stream
 * conversion, no schema validation), and one abort signal per transport.
 *
 * The backend counts as lost — the transport closes, so BackendConnection fails what is pending with
 * -32016 and the pool reconnects with a new session — when:
 * - the stream carrying a request's response ends or breaks before that response, and cannot be
 *   resumed (no event id to resume from, or resuming with Last-Event-ID failed);
 * - a message cannot be delivered at all (connection refused, reset, DNS);
 * - the backend answers 404 to our session id (it restarted or expired the session);
 * - legacy SSE only: the event stream ends (the session lives and dies with that stream).
 * A standalone GET stream that breaks is not a loss (proxies cut idle streams): it is reopened, and an
 * idle restart is noticed by the next call's 404.
 *
 * `auth` (upstream OAuth) adds headers to every request; on 401/403 it is asked whether fresh
 * credentials exist, and the request is then sent once more; a refusal that remains fails the request
 * with UPSTREAM_OAUTH (its `refusal()` says what to do), without counting the backend as lost.
 *
 * With `traceHeaders` (tracing on), a message carrying W3C trace context in `params._meta` is POSTed with
 * the same `traceparent`/`tracestate` as HTTP headers, so HTTP-level tracing of the backend joins the trace.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Agent } from 'undici';
import { GatewayError } from '../core/errors.js';
import type { JSONRPCMessage, RequestId } from '../mcp/messages.js';
import type { BackendAuth } from './backend-auth.js';
import {
  type BodySink,
  discard,
  dispatchRequest,
  type Reply,
  type ReplyBody,
  RequestGroup,
  readText,
} from './backend-reply.js';
import { SseParser } from './sse-parser.js';
import { backendMessageProblem, parseBackendMessage } from './wire.js';

type Headers = Readonly<Record<string, string>>;

export interface RemoteTransportOptions {
  /** Mirror a message's `_meta.traceparent`/`tracestate` as HTTP headers (tracing is on). */
  readonly traceHeaders?: boolean;
}

/** `headers` plus the W3C trace context `message` carries in `params._meta`, if any. */
function withTraceHeaders(headers: Headers, message: JSONRPCMessage): Headers {
  const meta = (message as { params?: { _meta?: Record<string, unknown> } }).params?._meta;
  const traceparent = meta?.['traceparent'];
  if (typeof traceparent !== 'string') return headers;
  const tracestate = meta?.['tracestate'];
  return typeof tracestate === 'string'
    ? { ...headers, traceparent, tracestate }
    : { ...headers, traceparent };
}

/** Largest JSON body or SSE event accepted from a backend. */
const MAX_MESSAGE_CHARS = 16 * 1024 * 1024;
/** Times a request's stream is resumed (Last-Event-ID) in a row without receiving anything. */
const MAX_RESUMES = 2;
const GET_STREAM_MAX_DELAY_MS = 30_000;

let sharedAgent: Agent | undefined;

/**
 * Keep-alive connections to every remote backend of this process. No body or headers timeout: the
 * per-request timeout of BackendConnection decides when a call is too slow, and a tool call may
 * legitimately stream nothing for minutes. undici is loaded with the first remote backend's first
 * request: a gateway of stdio servers never loads it (about 5 MB of heap).
 */
async function loadAgent(): Promise<Agent> {
  const { Agent } = await import('undici');
  sharedAgent ??= new Agent({ headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000 });
  return sharedAgent;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail = typeof cause?.code === 'string' ? cause.code : typeof code === 'string' ? code : '';
    return detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
  }
  return String(error);
}

/** The backend refused our upstream credentials: a reason to fail the request, not a lost backend. */
function refusedCredentials(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'UPSTREAM_OAUTH';
}

abstract class RemoteTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  protected closed = false;
  /** Set once the backend is lost (nothing to say goodbye to). */
  protected lostReason: string | undefined;
  /** Every request and stream of this transport: aborted at close. */
  protected readonly requests = new RequestGroup();
  protected readonly origin: string;
  protected readonly path: string;
  protected protocolVersion: string | undefined;
  protected readonly traceHeaders: boolean;

  constructor(
    protected readonly url: URL,
    protected readonly fixedHeaders: Headers,
    protected readonly auth: BackendAuth | undefined,
    options: RemoteTransportOptions = {},
  ) {
    this.traceHeaders = options.traceHeaders === true;
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    this.headersChanged();
  }

  protected headersChanged(): void {}

  /** One HTTP request, with upstream credentials and one retry after a refused credential. */
  protected async call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    headers: Headers,
    body?: string,
    signal?: AbortSignal,
  ): Promise<Reply> {
    const auth = this.auth;
    const send = async () =>
      dispatchRequest(
        sharedAgent ?? (await loadAgent()),
        {
          origin: this.origin,
          path,
          method,
          headers: auth ? { ...headers, ...(await auth.headers()) } : headers,
          body,
        },
        signal ?? this.requests,
      );
    let res = await send();
    for (let tries = 0; auth && (res.statusCode === 401 || res.statusCode === 403); tries++) {
      // Read off before the wait (a token refresh may take a while): the refusal's body is not needed.
      discard(res);
      const retry = await auth.onUnauthorized(res.statusCode, res.header('www-authenticate'));
      if (retry && tries === 0) {
        res = await send();
        continue;
      }
      throw new GatewayError(
        'UPSTREAM_OAUTH',
        auth.refusal?.() ?? `the backend refused the gateway's credentials (HTTP ${res.statusCode})`,
      );
    }
    return res;
  }

  /** Parses one message from the backend and hands it on; a malformed one is reported and skipped. */
  protected deliver(text: string): void {
    let message: JSONRPCMessage;
    try {
      message = parseBackendMessage(text);
    } catch (err) {
      this.malformed((err as Error).message);
      return;
    }
    this.received(message);
  }

  protected malformed(problem: string): void {
    this.onerror?.(
      new GatewayError(
        'BACKEND_PROTOCOL',
        `backend sent a message that is not JSON-RPC: ${problem.slice(0, 200)}`,
      ),
    );
  }

  protected received(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  /** The backend is gone (or has forgotten us): report why and close, which fails what is pending. */
  protected lost(reason: string): void {
    if (this.closed) return;
    this.lostReason = reason;
    this.onerror?.(new Error(`backend connection lost: ${reason}`));
    void this.close();
  }

  protected closedError(): GatewayError {
    return new GatewayError(
      'BACKEND_CLOSED',
      `backend connection is closed${this.lostReason ? `: ${this.lostReason}` : ''}`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.requests.stop(this.closedError());
    await this.goodbye();
    this.onclose?.();
  }

  /** Ends the session on the backend, if it has one and is still there. */
  protected async goodbye(): Promise<void> {}

  abstract start(): Promise<void>;
  abstract send(message: JSONRPCMessage): Promise<void>;
}

/** Streamable HTTP (MCP 2025-03-26 and later): one POST per message, responses as JSON or SSE. */
export class StreamableHttpBackendTransport extends RemoteTransport {
  private session: string | undefined;
  private postHeaders: Headers;
  /** Requests sent whose response has not arrived (and that we did not cancel). */
  private readonly awaiting = new Set<RequestId>();
  private getStream: {
    open: boolean;
    failures: number;
    lastEventId: string | undefined;
    timer?: NodeJS.Timeout;
  } = { open: false, failures: 0, lastEventId: undefined };

  constructor(url: URL, headers: Headers, auth?: BackendAuth, options?: RemoteTransportOptions) {
    super(url, headers, auth, options);
    this.postHeaders = this.buildHeaders('post');
  }

  private buildHeaders(kind: 'post' | 'get', extra?: Headers): Headers {
    return {
      ...this.fixedHeaders,
      ...(kind === 'post'
        ? { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
        : { accept: 'text/event-stream' }),
      ...(this.session === undefined ? {} : { 'mcp-session-id': this.session }),
      ...(this.protocolVersion === undefined ? {} : { 'mcp-protocol-version': this.protocolVersion }),
      ...extra,
    };
  }

  protected override headersChanged(): void {
    this.postHeaders = this.buildHeaders('post');
  }

  async start(): Promise<void> {
    // HTTP needs no connection up front: the initialize POST opens the session.
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw this.closedError();
    const isRequest = 'method' in message && 'id' in message;
    const id = isRequest ? (message.id as RequestId) : undefined;
    if (id !== undefined) this.awaiting.add(id);
    else if ('method' in message && message.method === 'notifications/cancelled') {
      const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      if (requestId !== undefined) this.awaiting.delete(requestId);
    }
    // Serialised before the request: a message that cannot be (too deep) fails here, backend untouched.
    let body: string;
    try {
      body = JSON.stringify(message);
    } catch (err) {
      if (id !== undefined) this.awaiting.delete(id);
      throw err;
    }
    let res: Reply;
    try {
      const headers = this.traceHeaders ? withTraceHeaders(this.postHeaders, message) : this.postHeaders;
      res = await this.call('POST', this.path, headers, body);
    } catch (err) {
      if (id !== undefined) this.awaiting.delete(id);
      if (this.closed) throw this.closedError();
      if (!refusedCredentials(err)) this.lost(`the backend cannot be reached (${errorText(err)})`);
      throw err;
    }
    const status = res.statusCode;
    if (isRequest && (message as { method: string }).method === 'initialize') {
      const session = res.header('mcp-session-id');
      if (session !== undefined) {
        this.session = session;
        this.headersChanged();
      }
    }
    if (status === 202) {
      discard(res);
      if ('method' in message && message.method === 'notifications/initialized') this.openGetStream();
      return;
    }
    if (status < 200 || status >= 300) return this.refused(res, id);
    const type = res.header('content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      this.readStream(res.body, id, 0, undefined);
      return;
    }
    if (type.startsWith('application/json')) {
      const text = await readText(res.body, MAX_MESSAGE_CHARS).catch((err: unknown) => {
        if (id !== undefined) this.awaiting.delete(id);
        throw err;
      });
      this.deliverJson(text);
      return;
    }
    discard(res);
    if (id !== undefined) {
      this.awaiting.delete(id);
      throw new Error(`the backend answered with content type "${type}" (expected JSON or an event stream)`);
    }
  }

  /** A non-2xx answer: a JSON-RPC error body for the request is relayed; anything else fails the send. */
  private async refused(res: Reply, id: RequestId | undefined): Promise<void> {
    const status = res.statusCode;
    if (id !== undefined) this.awaiting.delete(id);
    const text = await readText(res.body, MAX_MESSAGE_CHARS).catch(() => '');
    if (status === 404 && this.session !== undefined) {
      this.lost('the backend no longer knows our session (404)');
      throw this.closedError();
    }
    if (id !== undefined) {
      try {
        const answer = parseBackendMessage(text);
        if ('id' in answer && answer.id === id && 'error' in answer) {
          this.received(answer);
          return;
        }
      } catch {
        // not a JSON-RPC answer: the status is the error
      }
    }
    // The body may say why; it goes to the log, the status to the caller.
    if (text) this.onerror?.(new Error(`backend answered HTTP ${status}: ${text.slice(0, 200)}`));
    throw new Error(`the backend answered HTTP ${status}`);
  }

  private deliverJson(text: string): void {
    if (text.length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.malformed((err as Error).message);
      return;
    }
    // A JSON body carries one message (or, before 2025-06-18, possibly a batch).
    for (const item of Array.isArray(value) ? value : [value]) {
      const problem = backendMessageProblem(item);
      if (problem) this.malformed(problem);
      else this.received(item as JSONRPCMessage);
    }
  }

  protected override received(message: JSONRPCMessage): void {
    if (!('method' in message) && 'id' in message && message.id !== undefined)
      this.awaiting.delete(message.id);
    super.received(message);
  }

  /**
   * Reads one event stream: a request's response stream (`id`), or the standalone GET stream. A
   * request's stream that ends before its answer is resumed from its last event id, else the backend
   * is lost.
   */
  private readStream(
    body: ReplyBody,
    id: RequestId | undefined,
    resumes: number,
    lastEventId: string | undefined,
    onDone?: (error: unknown, parser: SseParser, received: boolean) => void,
  ): void {
    let received = false;
    const parser = new SseParser((event) => {
      received = true;
      // An event without data primes resumption (it only carries an id): nothing to deliver.
      if (event.event === 'message' && event.data.length > 0) this.deliver(event.data);
    }, MAX_MESSAGE_CHARS);
    parser.lastEventId = lastEventId;
    // Called once: a body tells its sink how it ended exactly once.
    const done = (error?: Error) => {
      parser.end();
      if (onDone) return onDone(error, parser, received);
      if (this.closed || id === undefined || !this.awaiting.has(id)) return;
      const from = parser.lastEventId;
      const attempt = received ? 1 : resumes + 1;
      if (from !== undefined && attempt <= MAX_RESUMES) {
        this.resume(id, from, attempt, parser.retryMs ?? 1_000);
        return;
      }
      this.lost(
        error === undefined
          ? `the backend ended the stream of request ${String(id)} without answering it`
          : `the stream of request ${String(id)} broke before its answer (${errorText(error)})`,
      );
    };
    feedSse(body, parser, done);
  }

  /** Resumes a request's broken stream with Last-Event-ID (the backend replays what we missed). */
  private resume(id: RequestId, lastEventId: string, attempt: number, delayMs: number): void {
    const timer = setTimeout(async () => {
      if (this.closed || !this.awaiting.has(id)) return;
      try {
        const res = await this.call(
          'GET',
          this.path,
          this.buildHeaders('get', { 'last-event-id': lastEventId }),
        );
        const type = res.header('content-type') ?? '';
        if (res.statusCode === 200 && type.startsWith('text/event-stream')) {
          this.readStream(res.body, id, attempt, lastEventId);
          return;
        }
        discard(res);
        this.lost(
          res.statusCode === 404 && this.session !== undefined
            ? 'the backend no longer knows our session (404)'
            : `could not resume the stream of request ${String(id)} (HTTP ${res.statusCode})`,
        );
      } catch (err) {
        this.lost(`could not resume the stream of request ${String(id)} (${errorText(err)})`);
      }
    }, delayMs);
    timer.unref();
  }

  /** Opens (or reopens) the standalone GET stream that carries messages not tied to a request. */
  private openGetStream(delayMs = 0): void {
    const state = this.getStream;
    if (this.closed || state.open || state.timer) return;
    const go = async () => {
      state.timer = undefined;
      if (this.closed || state.open) return;
      state.open = true;
      let res: Reply;
      try {
        const extra = state.lastEventId === undefined ? undefined : { 'last-event-id': state.lastEventId };
        res = await this.call('GET', this.path, this.buildHeaders('get', extra));
      } catch (err) {
        state.open = false;
        if (!this.closed) this.reopenGetStream(state.failures++, err);
        return;
      }
      const type = res.header('content-type') ?? '';
      if (res.statusCode === 405) {
        // The backend offers no standalone stream: everything it sends rides request streams.
        discard(res);
        return;
      }
      if (res.statusCode === 404 && this.session !== undefined) {
        discard(res);
        state.open = false;
        this.lost('the backend no longer knows our session (404)');
        return;
      }
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        discard(res);
        state.open = false;
        this.reopenGetStream(state.failures++, new Error(`HTTP ${res.statusCode}`));
        return;
      }
      this.readStream(res.body, undefined, 0, state.lastEventId, (error, parser, received) => {
        state.open = false;
        state.lastEventId = parser.lastEventId;
        if (received) state.failures = 0;
        if (this.closed) return;
        // A clean end is a proxy or the server closing an idle stream: reopen after its retry delay.
        if (error === undefined) this.openGetStream(parser.retryMs ?? 1_000);
        else this.reopenGetStream(state.failures++, error);
      });
    };
    if (delayMs <= 0) void go();
    else {
      state.timer = setTimeout(() => void go(), delayMs);
      state.timer.unref();
    }
  }

  private reopenGetStream(failures: number, error: unknown): void {
    this.onerror?.(new Error(`backend event stream failed, reopening: ${errorText(error)}`));
    this.openGetStream(Math.min(1_000 * 1.5 ** failures, GET_STREAM_MAX_DELAY_MS));
  }

  protected override async goodbye(): Promise<void> {
    if (this.getStream.timer) clearTimeout(this.getStream.timer);
    if (this.session === undefined || this.lostReason !== undefined) return;
    // Tell the backend the session is over (best effort; a server without DELETE answers 405).
    try {
      const res = await this.call(
        'DELETE',
        this.path,
        this.buildHeaders('get'),
        undefined,
        AbortSignal.timeout(2_000),
      );
      discard(res);
    } catch {
      // The backend is gone or slow: nothing else to do.
    }
  }
}

/** Legacy HTTP+SSE (MCP 2024-11-05): one event stream per session, messages POSTed to its endpoint. */
export class SseBackendTransport extends RemoteTransport {
  private endpoint: string | undefined;
  private postHeaders: Headers;

  constructor(url: URL, headers: Headers, auth?: BackendAuth, options?: RemoteTransportOptions) {
    super(url, headers, auth, options);
    this.postHeaders = this.buildHeaders();
  }

  private buildHeaders(): Headers {
    return {
      ...this.fixedHeaders,
      'content-type': 'application/json',
      ...(this.protocolVersion === undefined ? {} : { 'mcp-protocol-version': this.protocolVersion }),
    };
  }

  protected override headersChanged(): void {
    this.postHeaders = this.buildHeaders();
  }

  /** Opens the event stream and waits for its `endpoint` event (where messages are POSTed). */
  async start(): Promise<void> {
    const res = await this.call('GET', this.path, { ...this.fixedHeaders, accept: 'text/event-stream' });
    const type = res.header('content-type') ?? '';
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      discard(res);
      throw new Error(
        `the backend's event stream answered HTTP ${res.statusCode} (${type || 'no content type'})`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const parser = new SseParser((event) => {
        if (event.event === 'endpoint') {
          let endpoint: URL;
          try {
            endpoint = new URL(event.data, this.url);
          } catch {
            return fail(new Error(`the backend sent an invalid endpoint: ${event.data.slice(0, 200)}`));
          }
          if (endpoint.origin !== this.origin)
            return fail(new Error(`the backend's endpoint ${endpoint.origin} is not on ${this.origin}`));
          this.endpoint = `${endpoint.pathname}${endpoint.search}`;
          started = true;
          resolve();
        } else if (event.event === 'message' && event.data.length > 0) this.deliver(event.data);
      }, MAX_MESSAGE_CHARS);
      const fail = (error: Error) => {
        reject(error); // first: destroying ends the stream, whose own reason must not win
        res.body.destroy(error);
      };
      const done = (error?: Error) => {
        if (!started) {
          reject(
            new Error(
              `the event stream ended before the endpoint event${error ? ` (${errorText(error)})` : ''}`,
            ),
          );
          return;
        }
        this.lost(
          error === undefined ? 'the event stream ended' : `the event stream broke (${errorText(error)})`,
        );
      };
      feedSse(res.body, parser, done);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed || this.endpoint === undefined) throw this.closedError();
    // Serialised before the request: a message that cannot be (too deep) fails here, backend untouched.
    const body = JSON.stringify(message);
    let res: Reply;
    try {
      const headers = this.traceHeaders ? withTraceHeaders(this.postHeaders, message) : this.postHeaders;
      res = await this.call('POST', this.endpoint, headers, body);
    } catch (err) {
      if (this.closed) throw this.closedError();
      if (!refusedCredentials(err)) this.lost(`the backend cannot be reached (${errorText(err)})`);
      throw err;
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      discard(res);
      return;
    }
    const text = await readText(res.body, MAX_MESSAGE_CHARS).catch(() => '');
    if (res.statusCode === 404) {
      this.lost('the backend no longer knows our session (404)');
      throw this.closedError();
    }
    throw new Error(`the backend answered HTTP ${res.statusCode}${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
}

/**
 * Feeds a response body to an SSE parser and tells `done` how it ended; a message over the parser's
 * limit destroys the body.
 */
function feedSse(body: ReplyBody, parser: SseParser, done: (error?: Error) => void): void {
  const decoder = new StringDecoder('utf8'); // a character may span chunks
  const sink: BodySink = {
    data(chunk) {
      try {
        parser.push(decoder.write(chunk));
      } catch (err) {
        body.destroy(err as Error);
      }
    },
    end: done,
  };
  body.consume(sink);
}
