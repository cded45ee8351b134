/**
 * Full passthrough with our own test backend: progress, logging, cancellation both ways, timeouts,
 * list_changed, subscriptions, roots answered from config, pagination, naming, env isolation.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TEST_SERVER } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

async function statsOf(
  client: Client,
  tool = 'stats',
): Promise<{ calls: number; cancelled: number; pid: number }> {
  return JSON.parse(textOf(await client.callTool({ name: tool, arguments: {} })));
}

describe('passthrough with one backend', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    process.env['MCPG_SECRET_IN_GATEWAY_ENV'] = 'must-not-leak';
    gw = await startGateway(`
servers:
${stdioTestServer('t', '    timeout: 1s\n    env:\n      GIVEN: "from config"\n    roots: [/srv/allowed]\n')}`);
  });
  afterAll(async () => {
    delete process.env['MCPG_SECRET_IN_GATEWAY_ENV'];
    await gw?.close();
  });

  it('maps progress back to the agent token, and relays logs on the request stream', async () => {
    const client = await connectHttp(gw.url);
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params);
    });
    await client.setLoggingLevel('debug');
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 4, delay_ms: 10 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(textOf(result)).toBe('done');
    expect(progress).toEqual([1, 2, 3, 4]);
    await client.callTool({ name: 'log', arguments: { level: 'warning', message: 'careful' } });
    await waitFor(() => logs.length > 0, 2_000, 'log message');
    expect(logs).toContainEqual({ level: 'warning', logger: 't', data: 'careful' });
    await client.close();
  });

  it('forwards the agent cancelling a call to the backend', async () => {
    const client = await connectHttp(gw.url);
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 800 } }, undefined, {
      signal: controller.signal,
      timeout: 5_000,
    });
    await new Promise((r) => setTimeout(r, 100));
    controller.abort('changed my mind');
    await expect(call).rejects.toThrow();
    await waitFor(async () => (await statsOf(client)).cancelled >= 1, 2_000, 'backend cancellation');
    await client.close();
  });

  it('times a silent backend out with -32001 and tells the backend with notifications/cancelled', async () => {
    const client = await connectHttp(gw.url);
    const before = (await statsOf(client)).cancelled;
    const started = Date.now();
    const error = await client
      .callTool({ name: 'slow', arguments: { ms: 5_000 } }, undefined, { timeout: 10_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32001);
    expect((error as McpError).data).toMatchObject({ server: 't', timeout_ms: 1_000 });
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(
      async () => (await statsOf(client)).cancelled > before,
      2_000,
      'cancellation after timeout',
    );
    await client.close();
  });

  it('relays list_changed after re-listing, and resources/updated to the subscriber', async () => {
    const client = await connectHttp(gw.url);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await client.callTool({ name: 'add_tool', arguments: { name: 'fresh_tool' } });
    await waitFor(() => changed > 0, 2_000, 'tools/list_changed');
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('fresh_tool');
    expect(textOf(await client.callTool({ name: 'fresh_tool', arguments: { message: 'hi' } }))).toBe(
      'fresh_tool: hi',
    );

    await client.subscribeResource({ uri: 'test://t/static' });
    expect(textOf(await client.callTool({ name: 'touch', arguments: { uri: 'test://t/static' } }))).toBe(
      'notified',
    );
    await waitFor(() => updates.length > 0, 2_000, 'resources/updated');
    expect(updates).toEqual(['test://t/static']);
    await client.close();
  });

  it("answers the backend's roots/list from config, never with the agent's roots", async () => {
    const client = new Client(
      { name: 'rooty', version: '1' },
      { capabilities: { roots: { listChanged: true } } },
    );
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///', name: 'everything' }],
    }));
    const { StreamableHTTPClientTransport } = await import(
      '@modelcontextprotocol/sdk/client/streamableHttp.js'
    );
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
    const roots = JSON.parse(textOf(await client.callTool({ name: 'list_roots', arguments: {} })));
    expect(roots).toEqual({ roots: [{ uri: 'file:///srv/allowed' }] });
    await client.close();
  });

  it('refuses sampling for an agent that did not declare it, and relays it for one that did', async () => {
    const plain = await connectHttp(gw.url);
    const refused = await plain.callTool({ name: 'sample', arguments: { prompt: 'hi' } });
    expect(refused.isError).toBe(true);
    await plain.close();
    const sampler = await connectHttp(gw.url, { capabilities: { sampling: {} } });
    sampler.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: 'assistant',
      content: { type: 'text', text: 'ok from agent' },
      model: 'm',
    }));
    expect(textOf(await sampler.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe(
      'ok from agent',
    );
    await sampler.close();
  });

  it('gives a stdio backend only the allowlisted environment plus its configured env', async () => {
    const client = await connectHttp(gw.url);
    expect(textOf(await client.callTool({ name: 'get_env', arguments: { name: 'GIVEN' } }))).toBe(
      'from config',
    );
    expect(
      textOf(await client.callTool({ name: 'get_env', arguments: { name: 'MCPG_SECRET_IN_GATEWAY_ENV' } })),
    ).toBe('<unset>');
    expect(textOf(await client.callTool({ name: 'get_env', arguments: { name: 'PATH' } }))).not.toBe(
      '<unset>',
    );
    await client.close();
  });

  it('returns JSON-RPC errors for unknown tools, methods and bad cursors', async () => {
    const client = await connectHttp(gw.url);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toMatchObject({
      code: -32602,
    });
    await expect(
      client.request({ method: 'no/such/method', params: {} }, (await import('zod')).z.any()),
    ).rejects.toMatchObject({ code: -32601 });
    await expect(client.listTools({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: -32602 });
    await client.close();
  });
});

describe('aggregation of several backends', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
servers:
${stdioTestServer('a', '    isolation: shared\n')}${stdioTestServer('b', '    isolation: shared\n')}  paged:
    command: ${process.execPath}
    args: ["${TEST_SERVER}", "--stdio", "--name", "paged", "--page-size", "2"]
`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('merges all pages, prefixes shared names for both servers and routes calls to the right one', async () => {
    const client = await connectHttp(gw.url);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.filter((n) => /^t\d$/.test(n))).toEqual(['t1', 't2', 't3', 't4', 't5', 't6', 't7']);
    expect(names).toContain('a__echo');
    expect(names).toContain('b__echo');
    expect(names).not.toContain('echo');
    expect(textOf(await client.callTool({ name: 'a__echo', arguments: { message: 'to a' } }))).toBe('to a');
    expect(textOf(await client.callTool({ name: 't7', arguments: {} }))).toBe('t7 called');
    const a = await statsOf(client, 'a__stats');
    const b = await statsOf(client, 'b__stats');
    expect(a.pid).not.toBe(b.pid);
    expect(textOf(await client.callTool({ name: 'b__get_env', arguments: { name: 'HOME' } }))).not.toBe('');
    await client.close();
  });

  it('never mixes up request ids when many clients share one backend', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => connectHttp(gw.url)));
    // Every client uses the same JSON-RPC ids (the SDK counts from 0); each must get its own answers.
    const results = await Promise.all(
      clients.flatMap((client, c) =>
        Array.from({ length: 10 }, (_, i) =>
          client
            .callTool({ name: 'a__echo', arguments: { message: `client ${c} call ${i}` } })
            .then((r) => [c, i, textOf(r)] as const),
        ),
      ),
    );
    for (const [c, i, text] of results) expect(text).toBe(`client ${c} call ${i}`);
    // All of them went through one shared child.
    const pids = new Set(
      await Promise.all(clients.map(async (client) => (await statsOf(client, 'a__stats')).pid)),
    );
    expect(pids.size).toBe(1);
    await Promise.all(clients.map((c) => c.close()));
  });
});
