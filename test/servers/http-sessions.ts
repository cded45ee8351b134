/**
 * HTTP hosting for our test servers, on 127.0.0.1; each prints `LISTENING <port>` on stdout once it
 * listens (port 0 = any). One SDK transport and one `Server` per session, never shared.
 * - Streamable HTTP (2025-11-25) at /mcp, stateful; optionally with JSON responses or an event store;
 * - legacy HTTP+SSE (2024-11-05): GET /sse opens the event stream (its first event names the POST
 *   endpoint), POST /messages?sessionId=… carries the client's messages.
 * `onRequest` sees every request first; returning false answers it 401 (a missing required header).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import {
  type EventStore,
  StreamableHTTPServerTransport,
} from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export type RequestHook = (req: IncomingMessage) => boolean | undefined;

function listen(
  port: number,
  onRequest: RequestHook,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): void {
  const http = createServer(async (req, res) => {
    if (onRequest(req) === false) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('missing the required header');
      return;
    }
    await handle(req, res);
  });
  http.listen(port, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${(http.address() as AddressInfo).port}\n`);
  });
}

export interface StreamableOptions {
  /** Answer requests with a JSON body instead of an event stream. */
  readonly json?: boolean;
  /** Keep events for resumption (Last-Event-ID), so a tool may close its own stream mid-call. */
  readonly eventStore?: EventStore;
}

export function serveStreamableHttp(
  make: () => Server,
  port: number,
  onRequest: RequestHook = () => true,
  options: StreamableOptions = {},
): void {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  listen(port, onRequest, async (req, res) => {
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string') {
        res.writeHead(404).end();
        return;
      }
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: options.json === true,
        ...(options.eventStore ? { eventStore: options.eventStore, retryInterval: 50 } : {}),
        onsessioninitialized: (sid) => {
          sessions.set(sid, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId) sessions.delete(created.sessionId);
      };
      await make().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res);
  });
}

export function serveLegacySse(make: () => Server, port: number, onRequest: RequestHook = () => true): void {
  const sessions = new Map<string, SSEServerTransport>();
  listen(port, onRequest, async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET' && url.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      sessions.set(transport.sessionId, transport);
      // Server.connect chains this handler with its own.
      transport.onclose = () => sessions.delete(transport.sessionId);
      await make().connect(transport);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown session');
        return;
      }
      await transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end();
  });
}
