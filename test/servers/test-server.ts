/**
 * A kitchen-sink MCP backend for gateway tests, built with the official SDK.
 *
 *   node dist/test-servers/test-server.js [--stdio | --http | --sse] [--port N] [--name NAME] [--tools a,b]
 *     [--page-size N] [--require-header NAME=VALUE] [--sleeper] [--json] [--event-store]
 *
 * HTTP mode (Streamable HTTP at /mcp) and SSE mode (legacy HTTP+SSE: GET /sse, POST /messages) listen on
 * 127.0.0.1 (port 0 = any) and print `LISTENING <port>` on stdout.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { serveLegacySse, serveStreamableHttp } from './http-sessions.js';

const { values: opts } = parseArgs({
  options: {
    stdio: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    sse: { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
    name: { type: 'string', default: 'test' },
    tools: { type: 'string' },
    'page-size': { type: 'string' },
    /** A line written to stderr at start (tests of how the gateway logs backend stderr). */
    'stderr-line': { type: 'string' },
    /** HTTP/SSE modes: answer 401 to any request without this header (proves configured headers arrive). */
    'require-header': { type: 'string' },
    /** Starts `sleep 300` in this process group with no stdio (tests that the gateway reaps the group). */
    sleeper: { type: 'boolean', default: false },
    /** HTTP mode: answer with JSON bodies instead of event streams. */
    json: { type: 'boolean', default: false },
    /** HTTP mode: keep events for Last-Event-ID resumption (the drop_stream tool needs it). */
    'event-store': { type: 'boolean', default: false },
  },
});
if (opts['stderr-line']) process.stderr.write(`${opts['stderr-line']}\n`);
const sleeperPid = opts.sleeper ? spawn('sleep', ['300'], { stdio: 'ignore' }).pid : undefined;

const name = opts.name;
const only = opts.tools ? new Set(opts.tools.split(',')) : undefined;
const stats = {
  name,
  calls: 0,
  cancelled: 0,
  pid: process.pid,
  paid_usd: 0,
  pay_calls: 0,
  ...(sleeperPid === undefined ? {} : { sleeper_pid: sleeperPid }),
};
const subscriptions = new Set<string>();
const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    });
  });

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Args = Record<string, unknown>;

function buildServer(headersOf: () => Record<string, string>): Server {
  const mcp = new McpServer(
    { name, version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const tool = (
    toolName: string,
    description: string,
    input: z.ZodRawShape,
    handler: (args: Args, extra: Extra) => Promise<CallToolResult>,
  ) => {
    if (only && !only.has(toolName)) return;
    const counted = (args: Args, extra: Extra) => {
      stats.calls++;
      return handler(args, extra);
    };
    mcp.registerTool(
      toolName,
      { description, inputSchema: input },
      counted as Parameters<typeof mcp.registerTool>[2],
    );
  };

  tool('echo', 'Echoes the message', { message: z.string() }, async (a) => text(String(a['message'])));
  tool('add', 'Adds two numbers', { a: z.number(), b: z.number() }, async (a) =>
    text(String(Number(a['a']) + Number(a['b']))),
  );
  tool('slow', 'Waits ms milliseconds (cancellable)', { ms: z.number() }, async (a, extra) => {
    try {
      await sleep(Number(a['ms']), extra.signal);
      return text('done');
    } catch {
      stats.cancelled++;
      throw new McpError(-32800, 'cancelled');
    }
  });
  tool('stats', 'Counters of this process', {}, async () => text(JSON.stringify(stats)));
  tool('crash', 'Exits the process without answering', {}, async () => process.exit(1));
  tool('hang', 'Never answers (cancellable)', {}, async (_a, extra) => {
    await new Promise((_r, reject) =>
      extra.signal.addEventListener('abort', () => {
        stats.cancelled++;
        reject(new McpError(-32800, 'cancelled'));
      }),
    );
    return text('unreachable');
  });
  tool(
    'progress',
    'Reports progress steps (and logs each step with log: true)',
    { steps: z.number(), delay_ms: z.number().optional(), log: z.boolean().optional() },
    async (a, extra) => {
      const token = extra._meta?.progressToken;
      const steps = Number(a['steps']);
      for (let i = 1; i <= steps; i++) {
        if (token !== undefined)
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps },
          });
        if (a['log'] === true)
          await extra.sendNotification({
            method: 'notifications/message',
            params: { level: 'info', logger: name, data: `step ${i}` },
          });
        await sleep(Number(a['delay_ms'] ?? 5));
      }
      return text('done');
    },
  );
  tool('sample', 'Asks the client to sample', { prompt: z.string() }, async (a, extra) => {
    const result = await extra.sendRequest(
      {
        method: 'sampling/createMessage',
        params: {
          messages: [{ role: 'user', content: { type: 'text', text: String(a['prompt']) } }],
          maxTokens: 50,
        },
      },
      CreateMessageResultSchema,
    );
    return text(result.content.type === 'text' ? result.content.text : '');
  });
  tool('elicit', 'Asks the client for input', { message: z.string() }, async (a, extra) => {
    const result = await extra.sendRequest(
      {
        method: 'elicitation/create',
        params: {
          message: String(a['message']),
          requestedSchema: { type: 'object', properties: { answer: { type: 'string' } } },
        },
      },
      ElicitResultSchema,
    );
    return text(JSON.stringify(result));
  });
  tool('log', 'Sends a log message', { level: z.string(), message: z.string() }, async (a, extra) => {
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: a['level'] as 'info', logger: name, data: a['message'] },
    });
    return text('logged');
  });
  tool(
    'drop_stream',
    'Closes its own response stream, then answers (resumable with --event-store)',
    {},
    async (_a, extra) => {
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level: 'info', logger: name, data: 'before the drop' },
      });
      extra.closeSSEStream?.();
      await sleep(100);
      return text(`answered after the drop (${extra.closeSSEStream ? 'resumable' : 'not resumable'})`);
    },
  );
  tool('get_env', 'Reads an environment variable', { name: z.string() }, async (a) =>
    text(process.env[String(a['name'])] ?? '<unset>'),
  );
  tool('get_headers', 'HTTP headers of this call', {}, async () => text(JSON.stringify(headersOf())));
  tool('get_meta', 'The _meta of this call', {}, async (_a, extra) =>
    text(JSON.stringify(extra._meta ?? {})),
  );
  tool('list_roots', 'Asks the client for its roots', {}, async (_a, extra) =>
    text(JSON.stringify(await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema))),
  );
  const pay = async (a: Args) => {
    const value = Number(a['amount_usd'] ?? a['amount'] ?? 0);
    stats.paid_usd += value;
    stats.pay_calls++;
    return text(`paid ${value}`);
  };
  tool('pay', 'Pays an amount', { amount_usd: z.number(), to: z.string().optional() }, pay);
  tool('charge', 'Charges an amount', { amount: z.number() }, pay);
  tool('delete_file', 'Pretends to delete a file', { path: z.string() }, async (a) =>
    text(`deleted ${String(a['path'])}`),
  );
  tool('add_tool', 'Registers a new tool at run time', { name: z.string() }, async (a) => {
    const added = String(a['name']);
    mcp.registerTool(
      added,
      { description: 'added at run time', inputSchema: { message: z.string() } },
      async ({ message }) => text(`${added}: ${message}`),
    );
    return text(`added ${added}`);
  });
  tool('touch', 'Announces an update of a subscribed resource', { uri: z.string() }, async (a) => {
    const uri = String(a['uri']);
    if (subscriptions.has(uri)) await mcp.server.sendResourceUpdated({ uri });
    return text(subscriptions.has(uri) ? 'notified' : 'not subscribed');
  });

  mcp.registerResource('static', `test://${name}/static`, { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: `static ${name}` }],
  }));
  mcp.registerResource(
    'item',
    new ResourceTemplate(`test://${name}/item/{id}`, { list: undefined }),
    { mimeType: 'text/plain' },
    async (uri, { id }) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: `item ${String(id)}` }],
    }),
  );
  mcp.registerPrompt(
    'greet',
    { description: 'Greets someone', argsSchema: { name: z.string() } },
    async ({ name: who }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${who}` } }],
    }),
  );
  mcp.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });
  return mcp.server;
}

/** --page-size mode: a low-level server whose tools/list pages through t1..t7 (each echoes). */
function buildPagedServer(pageSize: number): Server {
  const server = new Server({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
  const all = Array.from({ length: 7 }, (_, i) => ({
    name: `t${i + 1}`,
    description: `paged tool ${i + 1}`,
    inputSchema: { type: 'object' as const },
  }));
  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const cursor = request.params?.cursor;
    const start = cursor === undefined ? 0 : Number(Buffer.from(cursor, 'base64url').toString());
    if (!Number.isInteger(start) || start < 0 || start > all.length)
      throw new McpError(-32602, 'Invalid cursor');
    const end = start + pageSize;
    return {
      tools: all.slice(start, end),
      ...(end < all.length ? { nextCursor: Buffer.from(String(end)).toString('base64url') } : {}),
    };
  });
  server.setRequestHandler(CallToolRequestSchema, async (request) => text(`${request.params.name} called`));
  return server;
}

const pageSize = opts['page-size'] === undefined ? undefined : Number(opts['page-size']);
const make = (headersOf: () => Record<string, string>) =>
  pageSize ? buildPagedServer(pageSize) : buildServer(headersOf);

if (opts.http || opts.sse) {
  let currentHeaders: Record<string, string> = {};
  const [required, requiredValue] = (opts['require-header'] ?? '').split('=', 2);
  const onRequest = (req: IncomingMessage): boolean => {
    currentHeaders = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
    );
    return !required || currentHeaders[required.toLowerCase()] === requiredValue;
  };
  if (opts.sse) serveLegacySse(() => make(() => currentHeaders), Number(opts.port), onRequest);
  else
    serveStreamableHttp(() => make(() => currentHeaders), Number(opts.port), onRequest, {
      json: opts.json,
      eventStore: opts['event-store'] ? new InMemoryEventStore() : undefined,
    });
} else {
  const transport = new StdioServerTransport();
  // The stdio server ends with its client: stdin closed means nobody can talk to us any more.
  process.stdin.on('end', () => process.exit(0));
  await make(() => ({})).connect(transport);
}
