/**
 * `isolation: pooled`: a few children per stdio server serve every session. A request of a session the
 * backend may need to reach (sampling, elicitation, a log level) leases one child while in flight, so
 * sampling, elicitation and logs reach the session whose call caused them; other sessions' requests
 * share a child up to pool_calls_per_child, and its log messages reach a session only while that
 * session alone has calls on it;
 * log levels, subscriptions and list_changed are kept per session by the gateway; requests beyond the
 * pool queue, and past the queue's bound or timeout get -32016 naming pool_size; a dead child is
 * replaced; idle children exit; a lease is cheap enough for one request.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  type McpError,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BackendListener } from '../../src/backends/pool.js';
import { BackendPool } from '../../src/backends/pool.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { descendantsOf, isAlive, waitFor } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';
import { RawSession } from '../helpers/sse.js';

const stats = async (client: Client, tool = 'stats') =>
  JSON.parse(textOf(await client.callTool({ name: tool, arguments: {} }))) as {
    pid: number;
    calls: number;
    cancelled: number;
  };

/** Every process below this one, sampled until stopped: how many children ever ran. */
function watchChildren(): { stop(): Set<number> } {
  const seen = new Set<number>();
  const sample = () => {
    for (const pid of descendantsOf(process.pid)) seen.add(pid);
  };
  const timer = setInterval(sample, 25);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return seen;
    },
  };
}

async function metric(gw: TestGateway, name: string, server?: string): Promise<number | undefined> {
  const text = await (await fetch(gw.url.replace(/\/mcp$/, '/metrics'))).text();
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const m = family?.metrics.find((x) => server === undefined || x.labels?.['server'] === server);
  return m?.value === undefined ? undefined : Number(m.value);
}

describe.each([
  { setting: 'isolation: pooled, pool_size: 4', extra: '    isolation: pooled\n    pool_size: 4\n' },
  { setting: 'no isolation setting (the serve-http default)', extra: '' },
])('100 sessions, 20 at a time, on two stdio servers with $setting', ({ extra }) => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
http:
  max_sessions: 120
servers:
${stdioTestServer('a', extra)}${stdioTestServer('b', extra)}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers every call from at most 4 children per server', { timeout: 120_000 }, async () => {
    const before = new Set(descendantsOf(process.pid));
    const watcher = watchChildren();
    const sessions: RawSession[] = [];
    try {
      for (let batch = 0; batch < 5; batch++) {
        await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const n = batch * 20 + i;
            const session = new RawSession(gw.url);
            sessions.push(session);
            const init = await session.initialize();
            expect(init['serverInfo']).toMatchObject({ name: 'mcp-guard' });
            // Both servers offer echo: exposed as a__echo and b__echo.
            const answers = await Promise.all(
              (['a', 'b'] as const).map(async (server) => {
                const id = `${server}-${n}`;
                const stream = await session.request(id, 'tools/call', {
                  name: `${server}__echo`,
                  arguments: { message: `session ${n} to ${server}` },
                });
                return (await stream.untilResponse(id)).at(-1);
              }),
            );
            expect(answers).toEqual(
              (['a', 'b'] as const).map((server) => ({
                jsonrpc: '2.0',
                id: `${server}-${n}`,
                result: { content: [{ type: 'text', text: `session ${n} to ${server}` }] },
              })),
            );
          }),
        );
      }
    } finally {
      const seen = watcher.stop();
      const children = [...seen].filter((pid) => !before.has(pid));
      // One-shot clients never DELETE; they hold no process of their own.
      expect(children.length).toBeGreaterThanOrEqual(2);
      expect(children.length).toBeLessThanOrEqual(8);
    }
    expect(sessions).toHaveLength(100);
    const load = gw.gateway.pool.stats();
    for (const server of ['a', 'b']) {
      const s = load.find((x) => x.server === server);
      expect(s).toMatchObject({ isolation: 'pooled', sessions: 100, poolSize: 4, queued: 0 });
      expect(s?.children).toBeGreaterThanOrEqual(1);
      expect(s?.children).toBeLessThanOrEqual(4);
      expect(await metric(gw, 'mcp_guard_backend_children', server)).toBe(s?.children);
      expect(await metric(gw, 'mcp_guard_pool_queue_depth', server)).toBe(0);
      expect(await metric(gw, 'mcp_guard_backend_sessions', server)).toBe(100);
    }
    expect(await metric(gw, 'mcp_guard_sessions')).toBe(100);
    const ready = (await (await fetch(gw.url.replace(/\/mcp$/, '/readyz'))).json()) as Record<
      string,
      unknown
    >;
    expect(ready['backend_load']).toEqual(load);
    await Promise.all(sessions.map((s) => s.close()));
  });
});

interface Agent {
  readonly client: Client;
  readonly sampled: string[];
  readonly elicited: string[];
  readonly logs: Array<{ level: string; data: unknown }>;
  readonly updates: string[];
  listChanged: number;
}

async function agent(url: string, name: string): Promise<Agent> {
  const client = await connectHttp(url, { name, capabilities: { sampling: {}, elicitation: { form: {} } } });
  const a: Agent = { client, sampled: [], elicited: [], logs: [], updates: [], listChanged: 0 };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const content = request.params.messages[0]?.content;
    const prompt = content && 'text' in content ? String(content.text) : '';
    a.sampled.push(prompt);
    // Answer slowly, so requests of both agents overlap on the pool's children.
    await new Promise((r) => setTimeout(r, 20));
    return { role: 'assistant', content: { type: 'text', text: `${name} answers ${prompt}` }, model: name };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    a.elicited.push(request.params.message);
    return { action: 'accept', content: { answer: `${name} about ${request.params.message}` } };
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    a.logs.push({ level: n.params.level, data: n.params.data });
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    a.updates.push(n.params.uri);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    a.listChanged++;
  });
  return a;
}

describe('sessions sharing a pool of two children', () => {
  let gw: TestGateway;
  let a: Agent;
  let b: Agent;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n${stdioTestServer('p', '    isolation: pooled\n    pool_size: 2\n    timeout: 5s\n')}`,
    );
    a = await agent(gw.url, 'agent-a');
    b = await agent(gw.url, 'agent-b');
    // A call that waits longer than a child takes to start grows the pool: both children run from here.
    // (How long that is was measured on this machine: under load a start can take seconds, so the two
    // calls are held until the second child is there, then cancelled.)
    const children = () => gw.gateway.pool.stats().find((s) => s.server === 'p')?.children ?? 0;
    const stop = new AbortController();
    const held = [1, 2].map(() =>
      a.client
        .callTool({ name: 'slow', arguments: { ms: 30_000 } }, undefined, { signal: stop.signal })
        .catch(() => undefined),
    );
    await waitFor(() => children() === 2, 30_000, 'a second child');
    stop.abort();
    await Promise.all(held);
    expect(children()).toBe(2);
  });
  afterAll(async () => {
    await a?.client.close();
    await b?.client.close();
    await gw?.close();
  });

  it('route every sampling and elicitation request to the session whose call caused it', async () => {
    const calls = (who: Agent, label: string) =>
      Array.from({ length: 6 }, (_, i) =>
        i % 2 === 0
          ? who.client
              .callTool({ name: 'sample', arguments: { prompt: `${label}-${i}` } })
              .then((r) => expect(textOf(r)).toBe(`agent-${label} answers ${label}-${i}`))
          : who.client.callTool({ name: 'elicit', arguments: { message: `${label}-${i}` } }).then((r) =>
              expect(JSON.parse(textOf(r))).toEqual({
                action: 'accept',
                content: { answer: `agent-${label} about ${label}-${i}` },
              }),
            ),
      );
    // Twelve calls in flight on two children: each child is leased to one call at a time.
    await Promise.all([...calls(a, 'a'), ...calls(b, 'b')]);
    expect(a.sampled.sort()).toEqual(['a-0', 'a-2', 'a-4']);
    expect(b.sampled.sort()).toEqual(['b-0', 'b-2', 'b-4']);
    expect(a.elicited.sort()).toEqual(['a-1', 'a-3', 'a-5']);
    expect(b.elicited.sort()).toEqual(['b-1', 'b-3', 'b-5']);
    // Children whose calls wait for their agent do not count against pool_size (2), up to 2 more.
    const load = gw.gateway.pool.stats().find((s) => s.server === 'p');
    expect(load?.children).toBeGreaterThanOrEqual(2);
    expect(load?.children).toBeLessThanOrEqual(4);
  });

  it('filter log messages by each session’s own level', async () => {
    await a.client.setLoggingLevel('error');
    await b.client.setLoggingLevel('debug');
    await a.client.callTool({ name: 'log', arguments: { level: 'info', message: 'a info' } });
    await a.client.callTool({ name: 'log', arguments: { level: 'error', message: 'a error' } });
    await b.client.callTool({ name: 'log', arguments: { level: 'debug', message: 'b debug' } });
    await waitFor(() => a.logs.length > 0 && b.logs.length > 0, 2_000, 'the log messages');
    // Each message rides the stream of the call that caused it, before its result.
    expect(a.logs).toEqual([{ level: 'error', data: 'a error' }]);
    expect(b.logs).toEqual([{ level: 'debug', data: 'b debug' }]);
    await expect(a.client.setLoggingLevel('verbose' as 'debug')).rejects.toMatchObject({ code: -32602 });
  });

  /** `touch` on each of the two children: the oldest is held by a slow call while the other is touched. */
  async function touchEachChild(who: Agent): Promise<Array<{ text: string; pid: number }>> {
    const touch = async () => {
      const text = textOf(
        await who.client.callTool({ name: 'touch', arguments: { uri: 'test://p/static' } }),
      );
      return { text, pid: (await stats(who.client)).pid };
    };
    const busy = () => gw.gateway.pool.stats().find((s) => s.server === 'p')?.busy ?? 0;
    // The oldest free child takes the next request; hold it so the touch goes to the other one. (Held long
    // enough for a loaded machine: a 400 ms hold ended before the touch arrived when a test beside this one
    // spawned a hundred children.)
    const holding = who.client.callTool({ name: 'slow', arguments: { ms: 1_500 } });
    await waitFor(() => busy() === 1, 2_000, 'the slow call to hold a child');
    // While it is held, the touch and the stats after it both run on the other child.
    const other = await touch();
    await holding;
    const oldest = await touch();
    return [other, oldest];
  }

  it('subscribe every child once and fan resources/updated out to the subscriber only', async () => {
    await a.client.subscribeResource({ uri: 'test://p/static' });
    const touched = await touchEachChild(b);
    // Both children know the subscription.
    expect(new Set(touched.map((t) => t.pid)).size).toBe(2);
    expect(touched.map((t) => t.text)).toEqual(['notified', 'notified']);
    await waitFor(() => a.updates.length > 0, 2_000, 'resources/updated');
    expect(a.updates.every((u) => u === 'test://p/static')).toBe(true);
    expect(b.updates).toEqual([]);
    await a.client.unsubscribeResource({ uri: 'test://p/static' });
    const after = await touchEachChild(b);
    expect(after.map((t) => t.text)).toEqual(['not subscribed', 'not subscribed']);
  });

  it('tell every session about list_changed', async () => {
    const before = { a: a.listChanged, b: b.listChanged };
    await a.client.callTool({ name: 'add_tool', arguments: { name: 'added_in_pool' } });
    await waitFor(
      () => a.listChanged > before.a && b.listChanged > before.b,
      2_000,
      'tools/list_changed in both sessions',
    );
  });

  it('replace a child that dies, failing only the call it was serving', async () => {
    // Sequential calls go to the oldest child: the one stats names is the one that crashes.
    const crashed = (await stats(a.client)).pid;
    const error = await failure(a.client.callTool({ name: 'crash', arguments: {} }));
    expect(error.code).toBe(-32016);
    expect(error.data).toMatchObject({ reason: 'backend_unavailable', server: 'p' });
    await waitFor(() => !isAlive(crashed), 2_000, 'the crashed child to be gone');
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe(
      'still here',
    );
    // Two calls at once need two children: another child serves the second one while the first is held
    // (an idle one left from earlier, or a replacement the pool starts when the wait outlasts a start).
    const held = a.client.callTool({ name: 'slow', arguments: { ms: 3_000 } });
    const busy = () => gw.gateway.pool.stats().find((s) => s.server === 'p')?.busy ?? 0;
    await waitFor(() => busy() === 1, 2_000, 'the slow call to hold a child');
    const pids = [(await stats(b.client)).pid, (await stats(a.client)).pid];
    await held;
    expect(pids).not.toContain(crashed);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    expect(gw.gateway.pool.stats().find((s) => s.server === 'p')?.children).toBeGreaterThanOrEqual(2);
  });
});

describe('sessions with different client capabilities', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('c', '    isolation: pooled\n    pool_size: 1\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('get children initialized with their own capabilities, all within pool_size', async () => {
    const sampler = await agent(gw.url, 'sampler');
    const plain = await connectHttp(gw.url, { name: 'plain' });
    const max = { children: 0 };
    const watch = setInterval(() => {
      max.children = Math.max(max.children, gw.gateway.pool.stats()[0]?.children ?? 0);
    }, 10);
    try {
      const samplerPid = (await stats(sampler.client)).pid;
      expect(textOf(await sampler.client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe(
        'sampler answers p',
      );
      // The plain agent's child never heard of sampling: the backend itself refuses to ask for it.
      const plainPid = (await stats(plain)).pid;
      expect(plainPid).not.toBe(samplerPid);
      const refused = await plain.callTool({ name: 'sample', arguments: { prompt: 'q' } });
      expect(refused.isError).toBe(true);
      expect(sampler.sampled).toEqual(['p']);
      // Back to the sampler: its profile's child starts again in the one slot there is.
      expect(textOf(await sampler.client.callTool({ name: 'sample', arguments: { prompt: 'r' } }))).toBe(
        'sampler answers r',
      );
    } finally {
      clearInterval(watch);
      await sampler.client.close();
      await plain.close();
    }
    expect(max.children).toBe(1);
  });
});

describe('a call waiting for its agent', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('w', '    isolation: pooled\n    pool_size: 1\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('does not hold other calls up: its child stops counting against pool_size (up to pool_size more)', async () => {
    const slowAnswer = await connectHttp(gw.url, {
      name: 'ponders',
      capabilities: { elicitation: { form: {} } },
    });
    let answer: () => void = () => {};
    const asked = new Promise<void>((resolve) => {
      slowAnswer.setRequestHandler(ElicitRequestSchema, async () => {
        resolve();
        await new Promise<void>((r) => {
          answer = r;
        });
        return { action: 'accept', content: { answer: 'at last' } };
      });
    });
    const other = await connectHttp(gw.url, { name: 'other', capabilities: { elicitation: { form: {} } } });
    const pondering = slowAnswer.callTool({ name: 'elicit', arguments: { message: 'take your time' } });
    await asked;
    // The one child is waiting for a person; another call still gets a child, at once.
    const started = Date.now();
    expect(textOf(await other.callTool({ name: 'echo', arguments: { message: 'meanwhile' } }))).toBe(
      'meanwhile',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    const load = gw.gateway.pool.stats()[0];
    expect(load).toMatchObject({ children: 2, busy: 1, queued: 0, poolSize: 1 });
    answer();
    expect(JSON.parse(textOf(await pondering))).toEqual({ action: 'accept', content: { answer: 'at last' } });
    await Promise.all([slowAnswer.close(), other.close()]);
  });
});

describe('sessions the backend never needs to reach', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n${stdioTestServer('s', '    isolation: pooled\n    pool_size: 1\n    pool_calls_per_child: 3\n')}`,
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('share a child up to pool_calls_per_child; its logs reach a session only while it alone has calls there', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connectHttp(gw.url)));
    const [a, b] = clients as [Client, Client];
    const logs = { a: [] as unknown[], b: [] as unknown[] };
    a.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.a.push(n.params.data));
    b.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.b.push(n.params.data));
    const load = () => gw.gateway.pool.stats()[0];

    // Four slow calls of four sessions: three run on the one child at once, the fourth waits for room.
    const slow = clients.map((c) => c.callTool({ name: 'slow', arguments: { ms: 600 } }));
    await waitFor(() => load()?.queued === 1, 3_000, 'the fourth call to wait');
    expect(load()).toMatchObject({ children: 1, busy: 1, queued: 1, poolSize: 1 });
    expect((await Promise.all(slow)).map(textOf)).toEqual(['done', 'done', 'done', 'done']);

    // Alone on the child, b gets what its call logs.
    await b.callTool({ name: 'log', arguments: { level: 'info', message: 'b alone' } });
    // With a's call on the child too, nothing says whose the log is: it is dropped, never guessed.
    const holding = a.callTool({ name: 'slow', arguments: { ms: 500 } });
    await waitFor(() => load()?.busy === 1, 2_000, "a's call to hold the child");
    await b.callTool({ name: 'log', arguments: { level: 'info', message: 'b beside a' } });
    await holding;
    // A session that set a level has a child to itself for each call (here: once a's call is done).
    await b.setLoggingLevel('info');
    const again = a.callTool({ name: 'slow', arguments: { ms: 500 } });
    await waitFor(() => load()?.busy === 1, 2_000, "a's call to hold the child");
    await b.callTool({ name: 'log', arguments: { level: 'info', message: 'b with a level' } });
    await again;
    await waitFor(() => logs.b.length >= 2, 2_000, "b's log messages");
    expect(logs.b).toEqual(['b alone', 'b with a level']);
    expect(logs.a).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('2026-07-28 calls on a pooled server', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('m', '    isolation: pooled\n    pool_size: 2\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** One stateless call; the SSE or JSON answer as the list of messages it carried. */
  async function modernCall(id: string, name: string, args: Record<string, unknown>, logLevel?: string) {
    const meta: Record<string, unknown> = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      ...(logLevel ? { 'io.modelcontextprotocol/logLevel': logLevel } : {}),
    };
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': name,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name, arguments: args, _meta: meta },
      }),
    });
    const text = await res.text();
    return (res.headers.get('content-type') ?? '').startsWith('text/event-stream')
      ? text
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>)
      : [JSON.parse(text) as Record<string, unknown>];
  }

  it('each get the log messages of their own call only (one relay stands for every such client)', async () => {
    const [logging, other] = await Promise.all([
      modernCall('x', 'progress', { steps: 4, delay_ms: 60, log: true }, 'info'),
      // Starts while the first one logs, on the same server, also asking for log messages.
      new Promise((r) => setTimeout(r, 30)).then(() => modernCall('y', 'slow', { ms: 200 }, 'info')),
    ]);
    const logs = (messages: Array<Record<string, unknown>>) =>
      messages
        .filter((m) => m['method'] === 'notifications/message')
        .map((m) => (m['params'] as { data: unknown }).data);
    expect(logs(logging)).toEqual(['step 1', 'step 2', 'step 3', 'step 4']);
    expect(logs(other)).toEqual([]);
    expect(other.at(-1)).toMatchObject({ id: 'y', result: { content: [{ type: 'text', text: 'done' }] } });
  });
});

describe('a pool that is full', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n${stdioTestServer('q', '    isolation: pooled\n    pool_size: 1\n    pool_calls_per_child: 1\n    pool_queue: 1\n    pool_queue_timeout: 300ms\n')}`,
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('queues a request, refuses one past pool_queue at once and one that waited too long, naming pool_size', async () => {
    const [holder, waiter, extra] = await Promise.all([1, 2, 3].map(() => connectHttp(gw.url)));
    const held = (holder as Client).callTool({ name: 'slow', arguments: { ms: 1_500 } });
    await waitFor(() => (gw.gateway.pool.stats()[0]?.busy ?? 0) === 1, 2_000, 'the child to be leased');
    const waited = failure((waiter as Client).callTool({ name: 'echo', arguments: { message: 'x' } }));
    await waitFor(() => (gw.gateway.pool.stats()[0]?.queued ?? 0) === 1, 2_000, 'a request to wait');
    expect(await metric(gw, 'mcp_guard_pool_queue_depth', 'q')).toBe(1);
    const started = Date.now();
    const full = await failure((extra as Client).callTool({ name: 'echo', arguments: { message: 'y' } }));
    // Refused for the full queue, not after waiting out pool_queue_timeout (300 ms): the message says
    // which; the time bound only has to hold on a loaded 2-core machine.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(full.code).toBe(-32016);
    expect(full.message).toContain('requests are waiting');
    expect(full.message).toContain('pool_queue: 1');
    expect(full.data).toMatchObject({ reason: 'backend_unavailable', server: 'q', pool_size: 1 });
    const timedOut = await waited;
    expect(timedOut.code).toBe(-32016);
    expect(timedOut.message).toMatch(/no child became free within 300 ms \(pool_size: 1\)/);
    expect(timedOut.data).toMatchObject({ server: 'q', pool_size: 1 });
    expect(textOf(await held)).toBe('done');
    // Once the child is free, calls go through again.
    expect(textOf(await (waiter as Client).callTool({ name: 'echo', arguments: { message: 'z' } }))).toBe(
      'z',
    );
    await Promise.all([holder, waiter, extra].map((c) => (c as Client).close()));
  });
});

describe('the pool itself', () => {
  const listener: BackendListener = {
    onBackendNotification: () => {},
    onBackendRequest: () => Promise.reject(new Error('no agent here')),
    onBackendStatus: () => {},
  };
  const profile = {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 't', version: '1' },
  };
  let pool: BackendPool | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('stops idle children (keeping one while held), reuses a child across one-request leases, and ends with its last lease', async () => {
    const config = await loadConfig(
      writeConfig(
        `servers:\n${stdioTestServer('z', '    isolation: pooled\n    pool_size: 3\n    pool_calls_per_child: 1\n')}`,
      ),
      process.env,
    );
    const server = config.servers[0];
    if (!server) throw new Error('no server');
    // growAfterMs 0: a waiting request starts the next child as soon as the last one is up.
    pool = new BackendPool(silentLogger, () => {}, { poolTiming: { idleChildMs: 300, growAfterMs: 0 } });
    const held = pool.lease(server, listener, profile);
    const call = (lease = held, name = 'slow', args: Record<string, unknown> = { ms: 3_000 }) =>
      lease.request('tools/call', { name, arguments: args }, {});
    // Three long calls at once: the pool grows to three children, one at a time.
    const calls = Promise.all([call(), call(), call()]);
    await waitFor(() => pool?.stats()[0]?.busy === 3, 8_000, 'three children serving the three calls');
    expect(pool.stats()).toEqual([
      { server: 'z', isolation: 'pooled', sessions: 1, children: 3, busy: 3, queued: 0, poolSize: 3 },
    ]);
    await calls;
    const pidOf = async (lease = held) => JSON.parse(textOf(await call(lease, 'stats', {}))).pid as number;
    const kept = await pidOf();
    await waitFor(() => pool?.stats()[0]?.children === 1, 3_000, 'two idle children to stop');
    expect(isAlive(kept)).toBe(true);
    // A lease for a single request (the stateless era) spawns nothing: it gets the running child.
    for (let i = 0; i < 3; i++) {
      const once = pool.lease(server, listener, profile);
      expect(await pidOf(once)).toBe(kept);
      await once.release();
    }
    expect(pool.stats()[0]?.children).toBe(1);
    await held.release();
    await waitFor(() => pool?.stats().length === 0, 3_000, 'the pool to close after its last lease');
    await waitFor(() => !isAlive(kept), 3_000, 'the last child to exit');
  });

  it('fails a request at once when the server cannot start, and says when it retries', async () => {
    const config = await loadConfig(
      writeConfig('servers:\n  ghost:\n    command: /nonexistent/mcp-server\n    isolation: pooled\n'),
      process.env,
    );
    const server = config.servers[0];
    if (!server) throw new Error('no server');
    pool = new BackendPool(silentLogger);
    const lease = pool.lease(server, listener, profile);
    const first = await lease.request('tools/call', { name: 'x' }, {}).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: -32016, data: { server: 'ghost' } });
    expect(lease.up).toBe(false);
    // The first retry is immediate (as after a healthy run); then the backoff holds requests off.
    const second = await lease.request('tools/call', { name: 'x' }, {}).catch((e: unknown) => e);
    expect((second as McpError).message).toContain('cannot start "/nonexistent/mcp-server"');
    const started = Date.now();
    const third = await lease.request('tools/call', { name: 'x' }, {}).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(500);
    expect((third as McpError).message).toMatch(/restarting, next attempt in 1 s/);
    await lease.release();
  });
});
