/**
 * Remote backends through the gateway, over Streamable HTTP and over legacy HTTP+SSE: list and call,
 * configured headers (and never the agent's credential), progress, a timeout that cancels on the
 * backend, and a backend process killed mid-call (-32016 at once, then the gateway reconnects when the
 * backend is back on the same port).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBackend, startHttpTestServer, startSseTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { textOf } from '../helpers/results.js';

const AGENT_KEY = 'agent-key-that-must-stay-at-the-gateway';
const BACKEND_KEY = 'backend-key-from-config';
const TIMEOUT_MS = 1_500;

interface Stats {
  name: string;
  pid: number;
  cancelled: number;
}

const statsOf = async (client: Client): Promise<Stats> =>
  JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));

describe.each([
  { transport: 'streamable-http', start: startHttpTestServer },
  { transport: 'sse', start: startSseTestServer },
] as const)('a remote backend over $transport', ({ transport, start }) => {
  // The backend refuses every request without the configured header (event stream, POSTs, all).
  const backendArgs = ['--name', 'remote', '--require-header', `x-backend-key=${BACKEND_KEY}`];
  let backend: HttpBackend;
  let gw: TestGateway;
  let client: Client;

  beforeAll(async () => {
    backend = await start(backendArgs);
    gw = await startGateway(`
auth:
  mode: api_key
  keys:
    - ${AGENT_KEY}
servers:
  remote:
    url: ${backend.url}
    transport: ${transport}
    timeout: ${TIMEOUT_MS}ms
    headers:
      X-Backend-Key: ${BACKEND_KEY}
`);
    client = await connectHttp(gw.url, { headers: { authorization: `Bearer ${AGENT_KEY}` } });
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
    await backend?.stop();
  });

  it('lists and calls tools, sending the configured headers and never the agent credential', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get_headers', 'slow', 'progress']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello remote' } }))).toBe(
      'hello remote',
    );
    expect((await statsOf(client)).name).toBe('remote');
    const headers = JSON.parse(
      textOf(await client.callTool({ name: 'get_headers', arguments: {} })),
    ) as Record<string, string>;
    expect(headers['x-backend-key']).toBe(BACKEND_KEY);
    expect(headers['authorization']).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(AGENT_KEY);
  });

  it("maps the backend's progress to the agent's own progress token", async () => {
    const progress: Array<{ progress: number; total?: number }> = [];
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 3, delay_ms: 5 } },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, total: p.total }) },
    );
    expect(textOf(result)).toBe('done');
    expect(progress).toEqual([
      { progress: 1, total: 3 },
      { progress: 2, total: 3 },
      { progress: 3, total: 3 },
    ]);
  });

  it('times out a call that outlives the server timeout, and cancels it on the backend', async () => {
    const before = (await statsOf(client)).cancelled;
    const started = Date.now();
    const error = await client
      .callTool({ name: 'slow', arguments: { ms: 8_000 } }, undefined, { timeout: 10_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32001);
    expect((error as McpError).data).toMatchObject({ server: 'remote', timeout_ms: TIMEOUT_MS });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1_500);
    // The backend counts a cancellation only when notifications/cancelled aborted the running call.
    const deadline = Date.now() + 3_000;
    let after = before;
    while (after === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      after = (await statsOf(client)).cancelled;
    }
    expect(after).toBe(before + 1);
  });

  it('fails a call in flight with -32016 when the backend is killed, and recovers once it is back', async () => {
    const before = await statsOf(client);
    const port = new URL(backend.url).port;
    const started = Date.now();
    const call = client
      .callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { timeout: 10_000 })
      .catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    backend.process.kill('SIGKILL');
    const error = await call;
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32016);
    expect((error as McpError).data).toMatchObject({ reason: 'backend_unavailable', server: 'remote' });
    // Well within the server timeout: the gateway noticed the loss, it did not wait for the answer.
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);

    // While it is down, calls fail clearly and at once.
    const down = await client
      .callTool({ name: 'echo', arguments: { message: 'x' } })
      .catch((e: unknown) => e);
    expect((down as McpError).code).toBe(-32016);

    // A remote is not ours to restart; once it is back (same port), the gateway opens a new session.
    backend = await start([...backendArgs, '--port', port]);
    const deadline = Date.now() + 5_000;
    let after: Stats | undefined;
    while (!after && Date.now() < deadline) {
      after = await statsOf(client).catch(async (e: unknown) => {
        expect((e as McpError).code).toBe(-32016);
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(after?.pid).toBe(backend.process.pid);
    expect(after?.pid).not.toBe(before.pid);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'back' } }))).toBe('back');
  });

  it('opens a new backend session when the backend restarted while the agent was idle', async () => {
    // A session of its own: its link to the backend has no restart history (no backoff yet).
    const idle = await connectHttp(gw.url, { headers: { authorization: `Bearer ${AGENT_KEY}` } });
    const before = await statsOf(idle);
    const port = new URL(backend.url).port;
    backend.process.kill('SIGKILL');
    await new Promise((resolve) => backend.process.once('exit', resolve));
    backend = await start([...backendArgs, '--port', port]);
    // The new process does not know the old backend session (404): at most the call that finds out
    // fails, with -32016; the gateway then initializes a new session.
    const deadline = Date.now() + 15_000; // generous: a loaded CI box restarts slowly
    let after: Stats | undefined;
    while (!after && Date.now() < deadline) {
      after = await statsOf(idle).catch(async (e: unknown) => {
        expect((e as McpError).code).toBe(-32016);
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(after?.pid).toBe(backend.process.pid);
    expect(after?.pid).not.toBe(before.pid);
    await idle.close();
  });
});
