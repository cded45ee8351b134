/**
 * Client transports to remote backends (Streamable HTTP and legacy HTTP+SSE) that notice when the
 * backend is lost.
 *
 * The SDK's transports report a broken stream through `onerror` only and stay "open": a request whose
 * response stream died with the backend process waits for its timeout, and once the backend is back
 * every call is refused with 404 (it no longer knows our session) for the life of the gateway. A stdio
 * child that dies closes its transport at once; these wrappers give a remote backend the same
 * behaviour, so BackendConnection fails what is pending with -32016 and the pool reconnects with a new
 * session (initialize again), with the same backoff as a stdio restart. The backend is lost when:
 * - the stream carrying a request's response ends or breaks before that response, and the stream
 *   cannot be resumed (the server sent no event id to resume from);
 * - a message cannot be delivered at all (connection refused or reset);
 * - the backend answers 404 to our session id (it restarted or expired the session);
 * - legacy SSE only: the event stream ends (the session lives and dies with that stream).
 */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isNotification,
  isRequest,
  isResponse,
  type JSONRPCMessage,
  paramsOf,
  type RequestId,
} from '../mcp/messages.js';
import { type BackendAuth, fetchWithBackendAuth } from './backend-auth.js';
import { fetchWithRequestScopedSignal, onBodyDone } from './scoped-signal-fetch.js';

type Headers = Readonly<Record<string, string>>;

/** Base for both: forwards the inner transport's events and turns "backend lost" into a close. */
abstract class RemoteBackendTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  protected closed = false;
  protected abstract readonly inner: Transport;

  protected wire(): void {
    this.inner.onmessage = (message) => this.received(message);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => {
      this.closed = true;
      this.onclose?.();
    };
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
  }

  protected received(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  /** The backend is gone (or has forgotten us): report why and close, which fails what is pending. */
  protected lost(reason: string): void {
    if (this.closed) return;
    this.onerror?.(new Error(`backend connection lost: ${reason}`));
    void this.close();
  }

  /** A send failed; was it because the backend cannot be reached at all? */
  protected static unreachable(err: unknown): boolean {
    // undici's network failure (refused, reset, DNS) is a TypeError "fetch failed" with the cause inside.
    return err instanceof TypeError && err.message === 'fetch failed';
  }

  abstract send(message: JSONRPCMessage): Promise<void>;
}

/** Matches the start of a request body as BackendConnection serialises it: `{"jsonrpc":"2.0","id":7,"method":`. */
const REQUEST_BODY = /^\{"jsonrpc":"2\.0","id":(\d+),"method":/;

export class StreamableHttpBackendTransport extends RemoteBackendTransport {
  protected readonly inner: StreamableHTTPClientTransport;
  /** Requests sent whose response has not arrived (and that we did not cancel). */
  private readonly awaiting = new Set<RequestId>();
  /** Requests whose stream carried an event id: the SDK resumes those itself. */
  private readonly resumable = new Set<RequestId>();

  /** `auth`: upstream OAuth (its headers on every request, a 401/403 retried once when it says so). */
  constructor(
    url: URL,
    headers: Headers,
    private readonly auth?: BackendAuth,
  ) {
    super();
    this.inner = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { ...headers } },
      fetch: (input, init) => this.fetch(input, init),
    });
    this.wire();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const id = isRequest(message) ? message.id : undefined;
    if (id !== undefined) this.awaiting.add(id);
    else if (isNotification(message) && message.method === 'notifications/cancelled')
      this.forget(paramsOf(message)['requestId'] as RequestId);
    try {
      await this.inner.send(
        message,
        id === undefined ? undefined : { onresumptiontoken: () => this.resumable.add(id) },
      );
    } catch (err) {
      if (id !== undefined) this.forget(id);
      if (RemoteBackendTransport.unreachable(err)) this.lost('the backend cannot be reached');
      else if (err instanceof StreamableHTTPError && err.code === 404 && this.inner.sessionId !== undefined)
        this.lost('the backend no longer knows our session (404)');
      throw err;
    }
  }

  protected override received(message: JSONRPCMessage): void {
    if (isResponse(message) && message.id !== undefined) this.forget(message.id);
    super.received(message);
  }

  private forget(id: RequestId): void {
    this.awaiting.delete(id);
    this.resumable.delete(id);
  }

  private fetch(input: string | URL, init?: RequestInit): Promise<Response> {
    const match = typeof init?.body === 'string' ? REQUEST_BODY.exec(init.body.slice(0, 64)) : null;
    if (this.auth) {
      const auth = this.auth;
      return fetchWithBackendAuth(auth, (i, o) => this.watchedFetch(i, o, match), input, init);
    }
    return this.watchedFetch(input, init, match);
  }

  private watchedFetch(
    input: string | URL,
    init: RequestInit | undefined,
    match: RegExpExecArray | null,
  ): Promise<Response> {
    return fetchWithRequestScopedSignal(input, init, (response) => {
      const type = response.headers.get('content-type') ?? '';
      if (!match || !response.ok || !type.startsWith('text/event-stream')) return undefined;
      const id = Number(match[1]);
      return (error) => {
        // The SDK parses the last events of the stream after its body ended: look once that has run.
        setImmediate(() => {
          if (!this.awaiting.has(id) || this.resumable.has(id)) return;
          this.lost(
            error === undefined
              ? `the backend ended the stream of request ${id} without answering it`
              : `the stream of request ${id} broke before its answer (${errorText(error)})`,
          );
        });
      };
    });
  }
}

export class SseBackendTransport extends RemoteBackendTransport {
  protected readonly inner: SSEClientTransport;
  private started = false;

  constructor(url: URL, headers: Headers, auth?: BackendAuth) {
    super();
    const send = (input: string | URL, init?: RequestInit) =>
      auth ? fetchWithBackendAuth(auth, fetch, input, init) : fetch(input, init);
    this.inner = new SSEClientTransport(url, {
      requestInit: { headers: { ...headers } },
      fetch: send,
      eventSourceInit: {
        // The SDK puts the configured headers on the event stream request itself.
        fetch: async (input, init) =>
          onBodyDone(await send(input, init), (error) => {
            if (!this.started) return;
            this.lost(
              error === undefined ? 'the event stream ended' : `the event stream broke (${errorText(error)})`,
            );
          }),
      },
    });
    this.wire();
  }

  override async start(): Promise<void> {
    await this.inner.start();
    this.started = true;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    try {
      await this.inner.send(message);
    } catch (err) {
      if (RemoteBackendTransport.unreachable(err)) this.lost('the backend cannot be reached');
      throw err;
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
