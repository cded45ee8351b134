/**
 * Sessions and children: crashes, restarts, idle reaping, limits, DELETE, and bad input on both fronts.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { CLI } from '../helpers/paths.js';
import { descendantsOf, waitFor, zombiesOf } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

type RpcError = { error: { code: number; message: string } };
const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('a backend that dies', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n${stdioTestServer('t', '    timeout: 5s\n')}  ghost:\n    command: /nonexistent/mcp-server\n    connect_timeout: 2s\n`,
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('fails the call in flight at once with -32016, then the next call succeeds on a restarted backend', async () => {
    const client = await connectHttp(gw.url);
    const before = JSON.parse(
      textOf(
        await client
          .callTool({ name: 't__stats', arguments: {} })
          .catch(() => client.callTool({ name: 'stats', arguments: {} })),
      ),
    );
    const started = Date.now();
    const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    process.kill(before.pid, 'SIGKILL');
    const error = await call;
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32016);
    expect((error as McpError).data).toMatchObject({ reason: 'backend_unavailable', server: 't' });
    expect(Date.now() - started).toBeLessThan(2_000);
    const after = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));
    expect(after.pid).not.toBe(before.pid);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'back' } }))).toBe('back');
    await waitFor(() => zombiesOf(process.pid).length === 0, 5_000, 'no zombie children');
    await client.close();
  });

  it('reports a backend that cannot start as -32016 naming it, without holding the others back', async () => {
    const client = await connectHttp(gw.url);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still works' } }))).toBe(
      'still works',
    );
    const error = await client.callTool({ name: 'ghost_tool', arguments: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32016);
    expect((error as McpError).data).toMatchObject({ server: 'ghost' });
    await client.close();
  });
});

describe('an abandoned session holding per_session children', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // The idle TTL is long (the default): the session is reaped by the abandoned-session rule.
    gw = await startGateway(`servers:\n${stdioTestServer('t', '    isolation: per_session\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is ended for good: its id answers 404 "initialize a new session", not "on another replica"', async () => {
    const res = await post(gw.url, INIT);
    const id = res.headers.get('mcp-session-id') as string;
    await res.text();
    expect(gw.endpoint.sessionCount).toBe(1);
    // A minute without a message or a GET stream, as the sweeper sees it.
    await gw.endpoint.sweep(Date.now() + 61_000);
    expect(gw.endpoint.sessionCount).toBe(0);
    const after = await post(
      gw.url,
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(after.status).toBe(404);
    expect(((await after.json()) as { error: { message: string } }).error.message).toBe(
      'Session not found: initialize a new session',
    );
  });
});

describe('HTTP sessions', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
http:
  session_idle_ttl: 3s
  max_sessions: 120
servers:
${stdioTestServer('t', '    isolation: per_session\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('100 sessions opened and abandoned without DELETE leave no child process after the idle TTL', async () => {
    const baseline = descendantsOf(process.pid).length;
    // Every backend child seen while the sessions open (sessions start expiring before all 100 are open).
    const seen = new Set<number>();
    const watcher = setInterval(() => {
      for (const pid of descendantsOf(process.pid)) seen.add(pid);
    }, 50);
    const opened = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await post(gw.url, INIT);
        const id = res.headers.get('mcp-session-id');
        await res.text();
        expect(res.status).toBe(200);
        return id;
      }),
    );
    clearInterval(watcher);
    expect(new Set(opened).size).toBe(100);
    // Each session started its own backend child at initialize (isolation: per_session).
    expect(seen.size).toBeGreaterThanOrEqual(baseline + 100);
    await waitFor(() => gw.endpoint.sessionCount === 0, 15_000, 'idle sessions to be reaped');
    await waitFor(() => descendantsOf(process.pid).length <= baseline, 15_000, 'backend children to exit');
    // Exited children are reaped (a zombie can exist only for the moment before Node handles SIGCHLD).
    await waitFor(() => zombiesOf(process.pid).length === 0, 5_000, 'no zombie children');
    // An expired session id is unknown now.
    const res = await post(
      gw.url,
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { 'mcp-session-id': opened[0] as string, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(404);
    // Ended for good (its children are gone), not "held on another replica".
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      'Session not found: initialize a new session',
    );
  }, 60_000);

  it('ends a session and its child on DELETE', async () => {
    const client = await connectHttp(gw.url);
    const pid = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))).pid as number;
    expect(descendantsOf(process.pid)).toContain(pid);
    const transport = client.transport as unknown as { terminateSession(): Promise<void> };
    await transport.terminateSession();
    await waitFor(() => !descendantsOf(process.pid).includes(pid), 5_000, 'the session child to exit');
    await client.close();
  });
});

describe('HTTP front refuses bad input clearly', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`http:\n  max_sessions: 2\nservers:\n${stdioTestServer('t')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const rawPost = (headers: Record<string, string>, body: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(gw.url);
      const req = request(
        { host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('403 for a foreign Origin or Host, 413 for a 5 MB body, 400 for a batch, bad JSON or a null id', async () => {
    expect((await post(gw.url, INIT, { origin: 'https://evil.example' })).status).toBe(403);
    expect(
      (await rawPost({ host: 'evil.example.com', 'content-type': 'application/json' }, JSON.stringify(INIT)))
        .status,
    ).toBe(403);
    const big = await post(
      gw.url,
      `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"${'a'.repeat(5 * 1024 * 1024)}"}}`,
    );
    expect(big.status).toBe(413);
    const batch = await post(gw.url, [INIT]);
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as RpcError).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining('batch'),
    });
    const badJson = await post(gw.url, '{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as RpcError).error.code).toBe(-32700);
    const nullId = await post(gw.url, { ...INIT, id: null });
    expect(nullId.status).toBe(400);
    expect(((await nullId.json()) as RpcError).error.message).toContain('id must be a string or an integer');
  });

  it('400 without a session id, 404 for an unknown one, 400 for an unsupported protocol version, 503 past max_sessions', async () => {
    expect((await post(gw.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status).toBe(400);
    expect(
      (await post(gw.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': 'nope' }))
        .status,
    ).toBe(404);
    const first = await post(gw.url, INIT);
    const session = first.headers.get('mcp-session-id') as string;
    await first.text();
    const wrongVersion = await post(
      gw.url,
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' },
    );
    expect(wrongVersion.status).toBe(400);
    await (await post(gw.url, INIT)).text();
    const third = await post(gw.url, INIT);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('5');
  });
});

describe('stdio front refuses bad input clearly', () => {
  it('answers malformed lines with JSON-RPC errors and keeps working', async () => {
    const configFile = writeConfig(`servers:\n${stdioTestServer('t')}`);
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        lines.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
    });
    const send = (line: string) => child.stdin.write(`${line}\n`);
    send('this is not json');
    send('[{"jsonrpc":"2.0","id":1,"method":"ping"}]');
    send('{"jsonrpc":"2.0","id":null,"method":"ping"}');
    send('{"jsonrpc":"1.0","id":7,"method":"ping"}');
    send(JSON.stringify(INIT));
    // A client sends nothing but ping before the initialize result (MCP lifecycle).
    await waitFor(() => lines.some((l) => l['id'] === 1), 10_000, 'the initialize result');
    send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    send(
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"alive"}}}',
    );
    await waitFor(() => lines.some((l) => l['id'] === 2), 10_000, 'the echo answer');
    expect(lines[0]).toMatchObject({ error: { code: -32700 } });
    expect(lines[1]).toMatchObject({ error: { code: -32600, message: expect.stringContaining('batch') } });
    expect(lines[2]).toMatchObject({ error: { code: -32600 } });
    expect(lines[3]).toMatchObject({ id: 7, error: { code: -32600 } });
    expect(lines.find((l) => l['id'] === 2)).toMatchObject({
      result: { content: [{ type: 'text', text: 'alive' }] },
    });
    child.stdin.end();
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });

  it('exits when the agent closes stdin, taking its backend children with it', async () => {
    const configFile = writeConfig(`servers:\n${stdioTestServer('t')}`);
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--config', configFile],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'closer', version: '1' });
    await client.connect(transport);
    const gatewayPid = transport.pid as number;
    const backendPid = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })))
      .pid as number;
    expect(descendantsOf(gatewayPid)).toContain(backendPid);
    await client.close();
    await waitFor(
      () => {
        try {
          process.kill(backendPid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5_000,
      'the backend child to exit',
    );
  });
});
