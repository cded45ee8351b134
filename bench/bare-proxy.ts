/**
 * The floor of the HTTP rows: a pass-through with no MCP in it. node:http in, the gateway's own undici
 * client out, the body copied as bytes both ways, no parsing, no policy, no audit. What any Node.js hop
 * between two HTTP peers costs on this machine; the gateway's HTTP rows are read against it.
 *
 * Usage: node bare-proxy.js BACKEND_URL (prints "LISTENING <port>").
 */
import { createServer } from 'node:http';
import { Agent } from 'undici';

const backend = new URL(process.argv[2] as string);
const agent = new Agent({ keepAliveTimeout: 4_000 });
/** Headers an MCP exchange needs carried across, each way. */
const FORWARD = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
const BACK = ['content-type', 'mcp-session-id'];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const headers: Record<string, string> = {};
    for (const name of FORWARD) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    agent
      .request({
        origin: backend.origin,
        path: backend.pathname,
        method: req.method as 'POST',
        headers,
        body: req.method === 'GET' ? null : Buffer.concat(chunks),
      })
      .then(async (answer) => {
        const back: Record<string, string> = {};
        for (const name of BACK) {
          const value = answer.headers[name];
          if (typeof value === 'string') back[name] = value;
        }
        res.writeHead(answer.statusCode, back);
        // Streamed as it comes, the last chunk with the end: one write for a one-chunk answer.
        let held: Buffer | undefined;
        for await (const chunk of answer.body) {
          if (held) res.write(held);
          held = chunk as Buffer;
        }
        res.end(held);
      })
      .catch((err: Error) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(err.message);
      });
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});
