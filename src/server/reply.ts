/**
 * How one HTTP response carries MCP messages to the agent (Streamable HTTP, 2025-11-25 and 2026-07-28).
 *
 * A POSTed request gets exactly one response, and its mode is chosen per request: `application/json` when
 * the answer is ready before anything else must be sent for that request (the common case: one write,
 * headers and body together); `text/event-stream` from the moment a notification or a server→client
 * request for it appears (progress, logs, sampling, elicitation), and its answer then ends the stream.
 * The GET stream is an `EventStream` that stays open for messages unrelated to any request.
 *
 * Written on node:http directly (no web Request/Response conversion): on the per-call path of a gateway
 * that conversion cost as much as everything else the gateway did (see docs/architecture.md).
 */
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, JSONRPCResponse } from '../mcp/messages.js';

/** Where the answer to one request and the messages related to it go. */
export interface Reply {
  /** A notification or server→client request that belongs to the request. */
  send(message: JSONRPCMessage): void;
  /** The request's answer; ends the reply. */
  end(response: JSONRPCResponse): void;
  /** Ends the reply without an answer (the request was cancelled, or the session ended). */
  abandon(): void;
  /** False once the agent can no longer receive on it (answered, or the connection is gone). */
  readonly open: boolean;
}

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/** One SSE event carrying one JSON-RPC message. */
export function sseEvent(message: JSONRPCMessage, id?: string): string {
  return id === undefined
    ? `event: message\ndata: ${JSON.stringify(message)}\n\n`
    : `event: message\nid: ${id}\ndata: ${JSON.stringify(message)}\n\n`;
}

/** The response to one POSTed request: JSON until something must be streamed, then SSE. */
export class HttpReply implements Reply {
  private streaming = false;
  private done = false;
  private gone = false;

  constructor(
    private readonly res: ServerResponse,
    /** Headers every response of this request carries (Mcp-Session-Id). */
    private readonly headers: Readonly<Record<string, string>>,
    /**
     * Called once if the agent goes away before the answer. In 2025-11-25 that is not a cancellation (the
     * request runs on; what it still sends falls back to the GET stream); in 2026-07-28 it is.
     */
    private readonly onGone?: () => void,
  ) {
    res.once('close', () => {
      if (this.done) return;
      this.gone = true;
      this.onGone?.();
    });
  }

  get open(): boolean {
    return !this.done && !this.gone;
  }

  /** True once the reply switched to an event stream. */
  get isStreaming(): boolean {
    return this.streaming;
  }

  send(message: JSONRPCMessage): void {
    if (!this.open) return;
    this.startStream();
    this.res.write(sseEvent(message));
  }

  end(response: JSONRPCResponse): void {
    this.endWithStatus(200, response);
  }

  /**
   * The answer with an HTTP status of its own (2026-07-28 answers some errors with 400), which only a
   * reply that has not started streaming can still carry; a streaming one ends with the event.
   */
  endWithStatus(status: number, response: JSONRPCResponse): void {
    if (!this.open) return;
    this.done = true;
    if (this.streaming) {
      this.res.end(sseEvent(response));
    } else {
      const body = JSON.stringify(response);
      // Object.assign, not a spread: on Node 20 a spread that adds keys takes V8's slow path (~1.3 µs
      // against ~40 ns), on every response.
      this.res.writeHead(
        status,
        Object.assign({}, this.headers, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        }),
      );
      this.res.end(body);
    }
  }

  abandon(): void {
    if (!this.open) return;
    this.done = true;
    // A cancelled request gets no answer (MCP cancellation); the HTTP exchange still has to end.
    if (!this.streaming) this.res.writeHead(202, this.headers);
    this.res.end();
  }

  private startStream(): void {
    if (this.streaming) return;
    this.streaming = true;
    // Headers go out with the first event: one write, not two.
    this.res.writeHead(200, Object.assign({}, this.headers, SSE_HEADERS));
  }
}

/** A long-lived SSE stream (the session's GET stream): messages unrelated to any request. */
export class EventStream {
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    headers: Readonly<Record<string, string>>,
    onClose: () => void,
  ) {
    res.writeHead(200, { ...headers, ...SSE_HEADERS });
    // Flushed at once: the agent waits for the headers before it counts the stream as open.
    res.flushHeaders();
    res.once('close', () => {
      this.closed = true;
      onClose();
    });
  }

  get open(): boolean {
    return !this.closed;
  }

  send(message: JSONRPCMessage, id?: string): void {
    if (!this.closed) this.res.write(sseEvent(message, id));
  }

  /** A comment line, so idle proxies keep the connection. */
  keepAlive(): void {
    if (!this.closed) this.res.write(': keepalive\n\n');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }
}
