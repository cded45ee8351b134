/**
 * `routes`, `default` and `prefix: true` end to end: the names an agent sees in tools/list and the
 * server each call lands on (every test server tells its name: `stats` returns it, `log` sends it as
 * the logger, `get_env WHO` reads it from the server's configured env).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TEST_SERVER } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

/** YAML for a stdio test server that knows its name (also as env WHO) and offers only `tools`. */
const server = (name: string, tools: string[], extra = '') =>
  `  ${name}:\n    command: ${process.execPath}\n    args: ${JSON.stringify([TEST_SERVER, '--stdio', '--name', name, '--tools', tools.join(',')])}\n    env:\n      WHO: ${name}\n${extra}`;

const nameOf = async (client: Client, tool: string) =>
  (JSON.parse(textOf(await client.callTool({ name: tool, arguments: {} }))) as { name: string }).name;

describe('routes with a default server', () => {
  let gw: TestGateway;
  let client: Client;
  beforeAll(async () => {
    gw = await startGateway(`
routes:
  stats: c
  log: b
  default: a
servers:
${server('a', ['echo', 'get_env', 'log', 'stats'])}${server('b', ['log', 'stats'])}${server('c', ['stats', 'add'])}`);
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('exposes routed names from their server and every other name from the default only', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    // No prefixes: routes decide which server owns a name, so nothing collides. c's `add` is neither
    // routed nor on the default server, so it is not exposed at all.
    expect(names).toEqual(['echo', 'get_env', 'log', 'stats']);
  });

  it('lands each call on the server its route names', async () => {
    // stats is offered by all three: the route wins over the default.
    expect(await nameOf(client, 'stats')).toBe('c');
    const loggers: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      loggers.push(String(n.params.logger));
    });
    await client.callTool({ name: 'log', arguments: { level: 'info', message: 'who logs?' } });
    await waitFor(() => loggers.length > 0, 2_000, 'the log message');
    expect(loggers).toEqual(['b']);
    // Not routed: the default server answers.
    expect(textOf(await client.callTool({ name: 'get_env', arguments: { name: 'WHO' } }))).toBe('a');
    await expect(client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).rejects.toMatchObject({
      code: -32602,
    });
  });
});

describe('prefix: true without routes', () => {
  let gw: TestGateway;
  let client: Client;
  beforeAll(async () => {
    gw = await startGateway(`
servers:
${server('a', ['echo', 'stats'], '    prefix: true\n')}${server('b', ['add', 'stats'])}`);
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it("prefixes all of a prefixed server's names, and only shared names of the others", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['a__echo', 'a__stats', 'add', 'b__stats']);
    expect((await client.listPrompts()).prompts.map((p) => p.name).sort()).toEqual(['a__greet', 'b__greet']);
  });

  it('lands prefixed and plain names on the right server', async () => {
    expect(await nameOf(client, 'a__stats')).toBe('a');
    expect(await nameOf(client, 'b__stats')).toBe('b');
    expect(textOf(await client.callTool({ name: 'a__echo', arguments: { message: 'via a' } }))).toBe('via a');
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
    await expect(client.callTool({ name: 'echo', arguments: { message: 'x' } })).rejects.toMatchObject({
      code: -32602,
    });
    // Resources keep their URIs and are read from the server that lists them.
    const read = async (uri: string) =>
      ((await client.readResource({ uri })).contents[0] as { text?: string }).text;
    expect(await read('test://a/static')).toBe('static a');
    expect(await read('test://b/static')).toBe('static b');
    const prompt = await client.getPrompt({ name: 'b__greet', arguments: { name: 'Bo' } });
    expect(prompt.messages[0]?.content).toEqual({ type: 'text', text: 'Hello, Bo' });
  });
});
