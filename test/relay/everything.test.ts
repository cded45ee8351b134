/**
 * Real clients through the gateway in front of the real server-everything: tools, progress, sampling
 * and elicitation round trips, over the HTTP front and the stdio front.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { CLI, EVERYTHING } from '../helpers/paths.js';

const CONFIG = `
servers:
  everything:
    command: ${process.execPath}
    args: ["${EVERYTHING}", "stdio"]
`;

/** Gives a client sampling and elicitation handlers that record what they were asked. */
function withHandlers(client: Client, elicitation = true) {
  const seen = { sampling: [] as unknown[], elicitation: [] as unknown[] };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    seen.sampling.push(request.params);
    return {
      role: 'assistant',
      content: { type: 'text', text: 'sampled by the agent' },
      model: 'test-model',
      stopReason: 'endTurn',
    };
  });
  if (elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      seen.elicitation.push(request.params);
      return { action: 'accept', content: { name: 'Ada', check: true, email: 'ada@example.com' } };
    });
  }
  return seen;
}

async function exerciseRoundTrips(client: Client, seen: ReturnType<typeof withHandlers>) {
  const tools = await client.listTools();
  const names = tools.tools.map((t) => t.name);
  expect(names).toEqual(
    expect.arrayContaining([
      'echo',
      'get-sum',
      'trigger-long-running-operation',
      'trigger-sampling-request',
      'trigger-elicitation-request',
    ]),
  );

  const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello through the gateway' } });
  expect(echo.content).toEqual([{ type: 'text', text: 'Echo: hello through the gateway' }]);

  const progress: Array<{ progress: number; total?: number }> = [];
  const long = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
    undefined,
    {
      onprogress: (p) => progress.push({ progress: p.progress, total: p.total }),
    },
  );
  expect(long.isError).toBeFalsy();
  // server-everything writes its last progress and the result back to back; the SDK client may drop
  // that last one (typescript-sdk#2580: the response retires the handler first). The earlier ones must
  // arrive, in order, with the agent's own token.
  const steps = progress.map((p) => p.progress);
  expect(steps.slice(0, 2)).toEqual([1, 2]);
  expect(steps.length).toBeLessThanOrEqual(3);
  expect(progress.every((p) => p.total === 3)).toBe(true);

  const sampled = await client.callTool({
    name: 'trigger-sampling-request',
    arguments: { prompt: 'say hi', maxTokens: 20 },
  });
  expect(JSON.stringify(sampled.content)).toContain('sampled by the agent');
  expect(seen.sampling).toHaveLength(1);
  expect(JSON.stringify(seen.sampling[0])).toContain('say hi');

  const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
  expect(JSON.stringify(elicited.content)).toContain('Ada');
  expect(seen.elicitation).toHaveLength(1);
}

describe('server-everything through the HTTP front', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(CONFIG);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('relays tools, progress, sampling and elicitation to the right client', async () => {
    const client = await connectHttp(gw.url, { capabilities: { sampling: {}, elicitation: { form: {} } } });
    const seen = withHandlers(client);
    await exerciseRoundTrips(client, seen);
    await client.close();
  });

  it('keeps two concurrent agents apart (each gets its own sampling requests)', async () => {
    const a = await connectHttp(gw.url, { capabilities: { sampling: {} }, name: 'agent-a' });
    const b = await connectHttp(gw.url, { capabilities: { sampling: {} }, name: 'agent-b' });
    const seenA = withHandlers(a, false);
    const seenB = withHandlers(b, false);
    await Promise.all([
      a.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'for a' } }),
      b.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'for b' } }),
    ]);
    expect(JSON.stringify(seenA.sampling)).toContain('for a');
    expect(JSON.stringify(seenA.sampling)).not.toContain('for b');
    expect(JSON.stringify(seenB.sampling)).toContain('for b');
    expect(JSON.stringify(seenB.sampling)).not.toContain('for a');
    await Promise.all([a.close(), b.close()]);
  });

  // Pooled children (the default) are kept per client-capability profile, so this holds for them too.
  it('hides sampling tools from an agent that did not declare sampling (capabilities pass through)', async () => {
    const client = await connectHttp(gw.url, { capabilities: {} });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('trigger-sampling-request');
    await client.close();
  });
});

describe('server-everything through the stdio front (mcp-guard serve)', () => {
  it('relays tools, progress, sampling and elicitation', async () => {
    const configFile = writeConfig(CONFIG);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--config', configFile],
      stderr: 'pipe',
    });
    const client = new Client(
      { name: 'stdio-agent', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: { form: {} } } },
    );
    const seen = withHandlers(client);
    await client.connect(transport);
    await exerciseRoundTrips(client, seen);
    await client.close();
  });
});
