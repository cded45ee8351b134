/**
 * Replicas that act as one, on this machine's Redis and PostgreSQL (each reached through a TCP proxy of
 * the test's own, so the store can "go away" without stopping the real service): three `serve-http`
 * processes with no affinity in front of them.
 * - a 2025-11-25 session opened on A goes on on B, and on C after A was killed with SIGKILL;
 * - rate limits and spend caps hold across the three;
 * - with the store gone, governed calls get -32016 naming the store and /readyz is 503; when it is back,
 *   calls flow again without a restart.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { writeConfig } from '../helpers/gateway.js';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.js';
import { waitFor } from '../helpers/processes.js';
import { SseReader } from '../helpers/sse.js';
import { PG_URL, REDIS_URL } from '../helpers/stores.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const KEY_A = 'replica-agent-a-0123456789abcdefghijklmnopq';
const KEY_B = 'replica-agent-b-0123456789abcdefghijklmnopq';
const KEY_C = 'replica-agent-c-0123456789abcdefghijklmnopq';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };

/** A raw MCP client that can send each request to any replica (no affinity). */
class Agent {
  sessionId: string | undefined;
  private next = 1;
  constructor(private readonly key: string) {}

  async post(url: string, body: Record<string, unknown>): Promise<{ status: number; rpc: Rpc | undefined }> {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(this.sessionId ? { 'mcp-session-id': this.sessionId, 'mcp-protocol-version': '2025-11-25' } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', ...body }),
    });
    if (!this.sessionId) this.sessionId = response.headers.get('mcp-session-id') ?? undefined;
    const text = await response.text();
    const data = text.startsWith('event:') || text.startsWith('data:') ? text.split('data: ').at(-1) : text;
    return { status: response.status, rpc: data ? (JSON.parse(data) as Rpc) : undefined };
  }

  async initialize(url: string): Promise<void> {
    const init = await this.post(url, {
      id: this.next++,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'replica-test', version: '1' },
      },
    });
    expect(init.status).toBe(200);
    expect((await this.post(url, { method: 'notifications/initialized' })).status).toBe(202);
  }

  call(url: string, name: string, args: Record<string, unknown>) {
    return this.post(url, { id: this.next++, method: 'tools/call', params: { name, arguments: args } });
  }
}

const text = (rpc: Rpc | undefined) =>
  ((rpc?.result?.['content'] as Array<{ text?: string }> | undefined) ?? [])[0]?.text;

describe.each(['redis', 'postgres'] as const)('three replicas on one %s', (kind) => {
  let proxy: TcpProxy;
  let replicas: GatewayProcess[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    proxy = await startTcpProxy(kind === 'redis' ? 6379 : 5432);
    const unique = randomUUID().slice(0, 8);
    let state: string;
    if (kind === 'redis') {
      const prefix = `mcpg-replicas-${unique}:`;
      state = `state:\n  store: redis\n  url: redis://127.0.0.1:${proxy.port}\n  prefix: "${prefix}"\n`;
      cleanups.push(async () => {
        const r = new Redis(REDIS_URL);
        const keys = await r.keys(`${prefix}*`);
        if (keys.length) await r.del(...keys);
        await r.quit();
      });
    } else {
      const schema = `mcpg_replicas_${unique}`;
      state = `state:\n  store: postgres\n  url: ${PG_URL.replace(':5432', `:${proxy.port}`)}\n  schema: ${schema}\n`;
      cleanups.push(async () => {
        const c = new pg.Client(PG_URL);
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      });
    }
    const config = writeConfig(`
auth:
  mode: api_key
  keys:
    - { agent: alpha, key: ${KEY_A} }
    - { agent: beta, key: ${KEY_B} }
    - { agent: gamma, key: ${KEY_C} }
rate_limit:
  requests_per_minute: 60
policies:
  spend_cap_usd: 100
${state}servers:
${stdioTestServer('wallet')}`);
    replicas = await Promise.all([0, 1, 2].map(() => startGatewayProcess(config)));
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await proxy?.close();
    for (const c of cleanups) await c();
  });

  it('a session opened on A goes on on B, and on C after A is killed (SIGKILL)', async () => {
    const [a, b, c] = replicas as [GatewayProcess, GatewayProcess, GatewayProcess];
    const agent = new Agent(KEY_A);
    await agent.initialize(a.url);
    expect(text((await agent.call(a.url, 'echo', { message: 'on A' })).rpc)).toBe('on A');
    expect(text((await agent.call(b.url, 'echo', { message: 'on B' })).rpc)).toBe('on B');
    await a.stop('SIGKILL');
    const onC = await agent.call(c.url, 'echo', { message: 'on C, A is gone' });
    expect(onC.status).toBe(200);
    expect(text(onC.rpc)).toBe('on C, A is gone');
    // DELETE on C ends it for every replica: B no longer knows it either.
    const deleted = await fetch(c.url, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${KEY_A}`, 'mcp-session-id': agent.sessionId as string },
    });
    expect(deleted.status).toBe(200);
    await waitFor(
      async () => (await agent.call(b.url, 'echo', { message: 'x' })).status === 404,
      5_000,
      '404 on B',
    );
    // Another agent cannot use the session id (it is bound to alpha).
    const stranger = new Agent(KEY_B);
    const fresh = new Agent(KEY_A);
    await fresh.initialize(b.url);
    stranger.sessionId = fresh.sessionId;
    expect((await stranger.call(c.url, 'echo', { message: 'x' })).status).toBe(404);
  });

  it('server→client traffic reaches the agent through whichever replica holds the stream it rides', async () => {
    const live = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    const [b, c] = live as [GatewayProcess, GatewayProcess];
    const agent = new Agent(KEY_B);
    await agent.post(b.url, {
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: { sampling: {} },
        clientInfo: { name: 'x', version: '1' },
      },
    });
    await agent.post(b.url, { method: 'notifications/initialized' });
    const headers = {
      authorization: `Bearer ${KEY_B}`,
      'mcp-session-id': agent.sessionId as string,
      'mcp-protocol-version': '2025-11-25',
    };
    // The agent listens on B.
    const stream = new SseReader(
      await fetch(b.url, { headers: { ...headers, accept: 'text/event-stream' } }),
    );
    try {
      // A tool added on C's backend: C's copy of the session has no stream, B writes the notice.
      await waitFor(
        async () =>
          text(
            (await agent.call(c.url, 'add_tool', { name: `t${randomUUID().slice(0, 6)}` })).rpc,
          )?.startsWith('added') === true,
        5_000,
        'the tool to be added through C',
      );
      expect(await stream.next(5_000)).toMatchObject({ method: 'notifications/tools/list_changed' });
    } finally {
      await stream.cancel();
    }
    // A sampling request from C's backend rides C's answer; the agent answers through B.
    const call = await fetch(c.url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'cross',
        method: 'tools/call',
        params: { name: 'sample', arguments: { prompt: 'hi' } },
      }),
    });
    const answerStream = new SseReader(call);
    const asked = await answerStream.next(5_000);
    expect(asked).toMatchObject({ method: 'sampling/createMessage' });
    const answered = await agent.post(b.url, {
      id: asked.id,
      result: { role: 'assistant', content: { type: 'text', text: 'answered via B' }, model: 'm' },
    });
    expect(answered.status).toBe(202);
    const result = await answerStream.untilResponse('cross', 5_000);
    expect(result.at(-1)).toMatchObject({
      id: 'cross',
      result: { content: [{ type: 'text', text: 'answered via B' }] },
    });
  });

  it('rate limits and spend caps hold across the replicas', async () => {
    const live = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    expect(live.length).toBe(2);
    // 90 calls of gamma (no call before) spread over the replicas against 60 per minute.
    const started = Date.now();
    const agent = new Agent(KEY_C);
    await agent.initialize((live[0] as GatewayProcess).url);
    const outcomes = await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        agent.call((live[i % live.length] as GatewayProcess).url, 'echo', { message: `m${i}` }),
      ),
    );
    const admitted = outcomes.filter((o) => o.rpc?.result).length;
    const limited = outcomes.filter((o) => o.rpc?.error?.code === -32012).length;
    const refill = Math.ceil((Date.now() - started) / 1000) + 1;
    expect(admitted).toBeGreaterThanOrEqual(60);
    expect(admitted).toBeLessThanOrEqual(60 + refill);
    expect(admitted + limited).toBe(90);

    // $3 payments of alpha against $100: exactly 33 go through, whichever replica takes them.
    const payer = new Agent(KEY_A);
    await payer.initialize((live[1] as GatewayProcess).url);
    const paid = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        payer.call((live[i % live.length] as GatewayProcess).url, 'pay', { amount_usd: 3, to: `p${i}` }),
      ),
    );
    expect(paid.filter((p) => text(p.rpc)?.startsWith('paid')).length).toBe(33);
    expect(paid.filter((p) => p.rpc?.error?.code === -32013).length).toBe(7);
  });

  it('store gone: -32016 naming the store and /readyz 503; store back: calls flow again by themselves', async () => {
    const live = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    const url = (live[0] as GatewayProcess).url;
    const agent = new Agent(KEY_A);
    await agent.initialize(url);
    await proxy.pause();
    try {
      const refused = await agent.call(url, 'echo', { message: 'store down' }).catch((err: Error) => {
        throw new Error(
          `${err.message}; the replica's log:\n${(live[0] as GatewayProcess).stderr().slice(-3000)}`,
        );
      });
      expect(refused.rpc?.error?.code).toBe(-32016);
      expect(refused.rpc?.error?.message).toMatch(new RegExp(`state store \\(${kind}\\)`));
      const ready = await fetch(url.replace(/\/mcp$/, '/readyz'));
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toContain('store');
    } finally {
      await proxy.resume();
    }
    let back: Awaited<ReturnType<Agent['call']>> | undefined;
    await waitFor(
      async () => {
        back = await agent.call(url, 'echo', { message: 'store back' });
        return text(back.rpc) === 'store back';
      },
      20_000,
      'calls to flow again',
    );
    expect((await fetch(url.replace(/\/mcp$/, '/readyz'))).status).toBe(200);
  });
});
