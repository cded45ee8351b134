/**
 * The floors of the HTTP rows: pass-throughs with no MCP in them, i.e. what a hop between two HTTP peers
 * costs on this machine before anything of ours runs. The gateway's HTTP rows are read against them.
 *
 * Usage: node bare-proxy.js [--bytes | --socat] BACKEND_URL (prints "LISTENING <port>").
 * - default: node:http in, the gateway's own undici client out, the body copied as bytes both ways, no
 *   parsing, no policy, no audit (what a Node.js HTTP hop costs);
 * - `--bytes`: a Node.js TCP pipe, a connection to the backend per client connection, no HTTP at all
 *   (the least any Node.js process in the path can cost);
 * - `--socat`: the same pipe in C, socat(1), a process per connection (the least any process in the
 *   path can cost); exits with an error when socat is not installed.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Server } from 'node:net';
import { Agent } from 'undici';

const mode = process.argv[2]?.startsWith('--') ? process.argv[2] : '--http';
if (!['--http', '--bytes', '--socat'].includes(mode)) {
  process.stderr.write(`bare-proxy: unknown mode ${mode} (use --bytes, --socat or none)\n`);
  process.exit(2);
}
const backend = new URL(process.argv[process.argv.length - 1] as string);
const backendPort = Number(backend.port);

const announce = (server: Server) =>
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
  });

if (mode === '--bytes') {
  announce(
    createTcpServer((client) => {
      const upstream = connect(backendPort, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    }),
  );
} else if (mode === '--socat') {
  // A free port, found by listening on 0 and letting go of it; socat then binds it.
  const probe = createTcpServer().listen(0, '127.0.0.1', () => {
    const port = (probe.address() as AddressInfo).port;
    probe.close(() => {
      const socat = spawn(
        'socat',
        [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,nodelay`, `TCP:127.0.0.1:${backendPort},nodelay`],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      socat.on('error', (err) => {
        process.stderr.write(
          `bare-proxy --socat: cannot start socat (${err.message}); install it or skip the row\n`,
        );
        process.exit(1);
      });
      socat.on('exit', (code) => process.exit(code ?? 1));
      process.on('SIGTERM', () => socat.kill());
      // Announced once socat accepts connections.
      const poll = () => {
        const socket = connect(port, '127.0.0.1');
        socket.on('connect', () => {
          socket.destroy();
          process.stdout.write(`LISTENING ${port}\n`);
        });
        socket.on('error', () => setTimeout(poll, 20));
      };
      poll();
    });
  });
} else {
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
  announce(server);
}
