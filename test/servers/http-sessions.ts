/**
 * Streamable HTTP hosting for our test servers: one SDK transport and one `Server` per session (stateful),
 * on 127.0.0.1; prints `LISTENING <port>` on stdout once it listens (port 0 = any).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export function serveStreamableHttp(
  make: () => Server,
  port: number,
  onRequest: (req: IncomingMessage) => void = () => {},
): void {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    onRequest(req);
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string') {
        res.writeHead(404).end();
        return;
      }
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
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
  http.listen(port, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${(http.address() as AddressInfo).port}\n`);
  });
}
