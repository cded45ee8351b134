/**
 * The lean remote client (src/backends/http-transports.ts) against our test server: JSON-response
 * backends, a response stream the backend closes mid-call and the client resumes with Last-Event-ID,
 * upstream credentials (`auth`: headers on every request, one retry after a 401 when fresh credentials
 * exist), and a remote backend in a pool.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendAuth } from '../../src/backends/backend-auth.js';
import { BackendConnection } from '../../src/backends/connection.js';
import { SseBackendTransport, StreamableHttpBackendTransport } from '../../src/backends/http-transports.js';
import { wasNeverSent } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { type HttpBackend, startHttpTestServer, startSseTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

const INIT = {
  protocolVersion: '2025-11-25',
  capabilities: {},
  clientInfo: { name: 'remote-client-test', version: '1' },
};

describe('a message too deep to serialise', () => {
  let backend: HttpBackend;
  beforeAll(async () => {
    backend = await startHttpTestServer(['--name', 'deep']);
  });
  afterAll(async () => {
    await backend?.stop();
  });

  it('fails its request as never sent, and the remote connection stays up', async () => {
    const conn = new BackendConnection({
      server: 'deep',
      transport: new StreamableHttpBackendTransport(new URL(backend.url), {}),
      logger: silentLogger,
      roots: [],
    });
    try {
      await conn.open(INIT, 5_000);
      let deep: Record<string, unknown> = { end: true };
      for (let i = 0; i < 100_000; i++) deep = { a: deep };
      const err = await conn
        .request('tools/call', { name: 'echo', arguments: { message: 'x', deep } }, { timeoutMs: 5_000 })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: -32016 });
      expect(wasNeverSent(err)).toBe(true);
      expect(conn.isOpen).toBe(true);
      const echo = await conn.request(
        'tools/call',
        { name: 'echo', arguments: { message: 'still up' } },
        { timeoutMs: 5_000 },
      );
      expect(textOf(echo)).toBe('still up');
    } finally {
      await conn.close();
    }
  });
});

describe('a backend that answers with JSON bodies', () => {
  let backend: HttpBackend;
  let gw: TestGateway;
  let client: Client;
  beforeAll(async () => {
    backend = await startHttpTestServer(['--json', '--name', 'json']);
    gw = await startGateway(`servers:\n  json:\n    url: ${backend.url}\n`);
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
    await backend?.stop();
  });

  it('lists, calls, and relays the backend’s own errors unchanged', async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'as json' } }))).toBe(
      'as json',
    );
    const refused = await client.callTool({ name: 'add', arguments: { a: 'not a number', b: 1 } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/invalid/i);
  });
});

describe('a response stream the backend closes mid-call', () => {
  let backend: HttpBackend;
  let gw: TestGateway;
  let client: Client;
  const logs: unknown[] = [];
  beforeAll(async () => {
    backend = await startHttpTestServer(['--event-store', '--name', 'resumable']);
    gw = await startGateway(`servers:\n  resumable:\n    url: ${backend.url}\n    timeout: 5s\n`);
    client = await connectHttp(gw.url);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
    await backend?.stop();
  });

  it('is resumed with Last-Event-ID: the answer arrives and the backend session is kept', async () => {
    const before = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));
    const result = await client.callTool({ name: 'drop_stream', arguments: {} });
    expect(textOf(result)).toBe('answered after the drop (resumable)');
    await waitFor(() => logs.includes('before the drop'), 2_000, 'the log sent before the drop');
    // Same backend session: its counter went on (a new session would start a new server at 0 calls).
    const after = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));
    expect(after.calls).toBe(before.calls + 2);
  });
});

/** Upstream credentials that start stale and become `good` once the backend refuses them. */
function rotatingAuth(good: string, refresh = true) {
  const seen = { unauthorized: [] as Array<{ status: number; challenge: string | undefined }>, asked: 0 };
  let token = 'stale';
  const auth: BackendAuth = {
    refusal: () => (refresh ? 'the refreshed token was refused too: log in again' : undefined),
    headers: async () => {
      seen.asked++;
      return { 'x-upstream-token': token };
    },
    onUnauthorized: async (status, challenge) => {
      seen.unauthorized.push({ status, challenge });
      if (!refresh) return false;
      token = good;
      return true;
    },
  };
  return { auth, seen };
}

describe.each([
  { transport: 'streamable-http', start: startHttpTestServer, make: StreamableHttpBackendTransport },
  { transport: 'sse', start: startSseTestServer, make: SseBackendTransport },
] as const)('upstream credentials over $transport', ({ start, make }) => {
  let backend: HttpBackend;
  beforeAll(async () => {
    backend = await start(['--name', 'guarded', '--require-header', 'x-upstream-token=fresh-token']);
  });
  afterAll(async () => {
    await backend?.stop();
  });

  it('are merged into every request, refreshed once after a 401, and never mixed with static headers', async () => {
    const { auth, seen } = rotatingAuth('fresh-token');
    const conn = new BackendConnection({
      server: 'guarded',
      transport: new make(new URL(backend.url), { 'x-static': 'configured' }, auth),
      logger: silentLogger,
      roots: [],
    });
    try {
      await conn.open(INIT, 5_000);
      expect(seen.unauthorized).toEqual([{ status: 401, challenge: undefined }]);
      const headers = JSON.parse(
        textOf(
          await conn.request('tools/call', { name: 'get_headers', arguments: {} }, { timeoutMs: 5_000 }),
        ),
      ) as Record<string, string>;
      expect(headers['x-upstream-token']).toBe('fresh-token');
      expect(headers['x-static']).toBe('configured');
      // Asked for every request; refreshed only once.
      expect(seen.asked).toBeGreaterThanOrEqual(4);
      expect(seen.unauthorized).toHaveLength(1);
    } finally {
      await conn.close();
    }
  });

  it('fail with what to do when the refreshed credentials are refused too', async () => {
    const { auth, seen } = rotatingAuth('also-wrong');
    const conn = new BackendConnection({
      server: 'guarded',
      transport: new make(new URL(backend.url), {}, auth),
      logger: silentLogger,
      roots: [],
    });
    const error = await conn.open(INIT, 5_000).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: -32016, data: { server: 'guarded' } });
    expect((error as Error).message).toBe(
      'Backend "guarded" is unavailable: the refreshed token was refused too: log in again',
    );
    // Asked after each refusal; the request was sent twice, never a third time.
    expect(seen.unauthorized).toHaveLength(2);
  });

  it('fail the connection with -32016 when no fresh credentials exist', async () => {
    const { auth, seen } = rotatingAuth('fresh-token', false);
    const conn = new BackendConnection({
      server: 'guarded',
      transport: new make(new URL(backend.url), {}, auth),
      logger: silentLogger,
      roots: [],
    });
    const error = await conn.open(INIT, 5_000).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: -32016, data: { server: 'guarded' } });
    expect((error as Error).message).toContain("the backend refused the gateway's credentials (HTTP 401)");
    expect(seen.unauthorized).toEqual([{ status: 401, challenge: undefined }]);
  });
});

describe('a remote backend in a pool', () => {
  let backend: HttpBackend;
  let gw: TestGateway;
  beforeAll(async () => {
    backend = await startHttpTestServer(['--name', 'pooled-remote']);
    gw = await startGateway(
      `servers:\n  r:\n    url: ${backend.url}\n    isolation: pooled\n    pool_size: 2\n`,
    );
  });
  afterAll(async () => {
    await gw?.close();
    await backend?.stop();
  });

  it('serves many sessions over at most pool_size upstream sessions', async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => connectHttp(gw.url)));
    const answers = await Promise.all(
      clients.flatMap((c, i) =>
        [0, 1, 2].map(async (j) =>
          textOf(await c.callTool({ name: 'echo', arguments: { message: `${i}.${j}` } })),
        ),
      ),
    );
    expect(answers.sort()).toEqual(clients.flatMap((_, i) => [0, 1, 2].map((j) => `${i}.${j}`)).sort());
    const load = gw.gateway.pool.stats().find((s) => s.server === 'r');
    expect(load).toMatchObject({ isolation: 'pooled', sessions: 6, poolSize: 2 });
    expect(load?.children).toBeLessThanOrEqual(2);
    expect(load?.children).toBeGreaterThanOrEqual(1);
    const missing = await failure(clients[0]!.callTool({ name: 'no_such_tool', arguments: {} }));
    expect(missing.code).toBe(-32602);
    await Promise.all(clients.map((c) => c.close()));
  });
});
