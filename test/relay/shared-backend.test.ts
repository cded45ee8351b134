/**
 * `isolation: shared`: two agent sessions on one backend connection. A server→client request or log
 * message goes to the session whose call caused it, never to the other; list_changed reaches both; and
 * when two sessions have calls in flight the gateway cannot tell whose a sampling request is, so it
 * refuses it with an error naming the setting (src/backends/pool.ts, SharedBackend.attributed).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

interface Agent {
  readonly client: Client;
  readonly sampled: string[];
  readonly elicited: string[];
  readonly logs: unknown[];
  listChanged: number;
}

async function agent(url: string, name: string): Promise<Agent> {
  const client = await connectHttp(url, {
    name,
    capabilities: { sampling: {}, elicitation: { form: {} } },
  });
  const a: Agent = { client, sampled: [], elicited: [], logs: [], listChanged: 0 };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const content = request.params.messages[0]?.content;
    a.sampled.push(content && 'text' in content ? String(content.text) : '');
    return { role: 'assistant', content: { type: 'text', text: `sampled by ${name}` }, model: name };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    a.elicited.push(request.params.message);
    return { action: 'accept', content: { answer: `answered by ${name}` } };
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    a.logs.push(n.params.data);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    a.listChanged++;
  });
  return a;
}

const stats = async (client: Client) =>
  JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as {
    pid: number;
    calls: number;
    cancelled: number;
  };

describe('two sessions on one shared backend', () => {
  let gw: TestGateway;
  let a: Agent;
  let b: Agent;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('s', '    isolation: shared\n')}`);
    a = await agent(gw.url, 'agent-a');
    b = await agent(gw.url, 'agent-b');
  });
  afterAll(async () => {
    await a?.client.close();
    await b?.client.close();
    await gw?.close();
  });

  it('share one backend process', async () => {
    expect((await stats(a.client)).pid).toBe((await stats(b.client)).pid);
  });

  it('deliver sampling, elicitation and logs to the session whose call caused them', async () => {
    expect(textOf(await a.client.callTool({ name: 'sample', arguments: { prompt: 'for a' } }))).toBe(
      'sampled by agent-a',
    );
    const elicited = JSON.parse(
      textOf(await b.client.callTool({ name: 'elicit', arguments: { message: 'for b' } })),
    );
    expect(elicited).toEqual({ action: 'accept', content: { answer: 'answered by agent-b' } });
    await b.client.callTool({ name: 'log', arguments: { level: 'info', message: 'log for b' } });
    await waitFor(() => b.logs.length > 0, 2_000, 'the log message');
    expect(a.sampled).toEqual(['for a']);
    expect(b.sampled).toEqual([]);
    expect(b.elicited).toEqual(['for b']);
    expect(a.elicited).toEqual([]);
    expect(b.logs).toEqual(['log for b']);
    expect(a.logs).toEqual([]);
  });

  it('fan list_changed out to both sessions', async () => {
    const before = { a: a.listChanged, b: b.listChanged };
    await a.client.callTool({ name: 'add_tool', arguments: { name: 'added_by_a' } });
    await waitFor(
      () => a.listChanged > before.a && b.listChanged > before.b,
      2_000,
      'tools/list_changed in both sessions',
    );
    expect((await b.client.listTools()).tools.map((t) => t.name)).toContain('added_by_a');
  });

  it('refuse a sampling request that could belong to either session, naming the setting', async () => {
    const sampledBefore = a.sampled.length + b.sampled.length;
    // b has a call in flight on the backend (`hang` never answers until cancelled)...
    const first = (await stats(a.client)).calls;
    const controller = new AbortController();
    const hanging = b.client
      .callTool({ name: 'hang', arguments: {} }, undefined, { signal: controller.signal, timeout: 10_000 })
      .catch((e: unknown) => e);
    let polls = 0;
    await waitFor(
      async () => {
        polls++;
        // Every stats call counts itself; anything more is the hang call having reached the backend.
        return (await stats(a.client)).calls - first - polls >= 1;
      },
      2_000,
      'the hang call to reach the backend',
    );
    // ...so when a's call makes the backend ask for sampling, two sessions could be its target.
    const refused = await a.client.callTool({ name: 'sample', arguments: { prompt: 'whose?' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toContain('server "s" is shared; set isolation: per_session');
    expect(a.sampled.length + b.sampled.length).toBe(sampledBefore);

    const cancelledBefore = (await stats(a.client)).cancelled;
    controller.abort('done waiting');
    await hanging;
    await waitFor(
      async () => (await stats(a.client)).cancelled > cancelledBefore,
      2_000,
      'the backend to see the cancellation',
    );
    // With b idle again, a's sampling goes through.
    expect(textOf(await a.client.callTool({ name: 'sample', arguments: { prompt: 'mine' } }))).toBe(
      'sampled by agent-a',
    );
  });
});
