/**
 * Our conformance backend: the tools, resources and prompts that the server scenarios of
 * `@modelcontextprotocol/conformance` describe, written from those descriptions with the SDK's low-level
 * `Server` (it passes input schemas through untouched, so 2020-12 keywords survive).
 *
 *   node dist/test-servers/conformance-server.js [--stdio | --http --port N]
 *
 * HTTP mode listens on 127.0.0.1 (port 0 = any) and prints `LISTENING <port>` on stdout. The suite is run
 * against the gateway in front of this server (test/conformance), never against this server directly.
 */
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  Tool,
} from '@modelcontextprotocol/sdk/types.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { serveStreamableHttp } from './http-sessions.js';

const { values: opts } = parseArgs({
  options: {
    stdio: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
  },
});

/** A 1×1 PNG. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** A valid, silent WAV file: 8 kHz, 8-bit mono, 8 samples. */
function silentWav(): string {
  const samples = Buffer.alloc(8, 0x80);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + samples.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(8000, 24); // sample rate
  header.writeUInt32LE(8000, 28); // byte rate
  header.writeUInt16LE(1, 32); // block align
  header.writeUInt16LE(8, 34); // bits per sample
  header.write('data', 36);
  header.writeUInt32LE(samples.length, 40);
  return Buffer.concat([header, samples]).toString('base64');
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Args = Record<string, unknown>;
const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const noArgs = { type: 'object', properties: {} } as const;
const stringArg = (name: string, description: string) =>
  ({ type: 'object', properties: { [name]: { type: 'string', description } }, required: [name] }) as const;

function buildServer(): Server {
  const server = new Server(
    { name: 'mcp-guard-conformance-backend', version: '1.0.0' },
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
  const subscriptions = new Set<string>();
  let extraTool = false;

  const log = (extra: Extra, data: string) =>
    extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });

  const requireClient = (capability: 'sampling' | 'elicitation') => {
    if (!server.getClientCapabilities()?.[capability])
      throw new McpError(-32600, `the client did not declare the ${capability} capability`);
  };

  const elicit = async (extra: Extra, message: string, requestedSchema: Record<string, unknown>) => {
    requireClient('elicitation');
    return extra.sendRequest(
      { method: 'elicitation/create', params: { message, requestedSchema } as never },
      ElicitResultSchema,
    );
  };

  // The 2026-07-28 scenarios' questions. They are asked whatever the client declared (a legacy server may
  // not check; the gateway must refuse what the agent did not declare), and name their key for the
  // agent's inputRequests with the gateway's `mcp-guard/input_key` hint where a scenario expects one.
  const ask = (extra: Extra, message: string, property: string, key?: string) =>
    extra.sendRequest(
      {
        method: 'elicitation/create',
        params: {
          message,
          requestedSchema: {
            type: 'object',
            properties: { [property]: { type: 'string' } },
            required: [property],
          },
          ...(key ? { _meta: { 'mcp-guard/input_key': key } } : {}),
        } as never,
      },
      ElicitResultSchema,
    );
  const sample = (extra: Extra, prompt: string) =>
    extra.sendRequest(
      {
        method: 'sampling/createMessage',
        params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
      },
      CreateMessageResultSchema,
    );
  const roots = (extra: Extra) => extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
  const sampled = (r: { content: { type: string; text?: string } }) =>
    r.content.type === 'text' ? String(r.content.text) : JSON.stringify(r.content);

  const tools: Array<Tool & { run: (args: Args, extra: Extra) => Promise<CallToolResult> }> = [
    {
      name: 'test_simple_text',
      description: 'Returns simple text',
      inputSchema: noArgs,
      run: async () => text('This is a simple text response for testing.'),
    },
    {
      name: 'test_image_content',
      description: 'Returns an image',
      inputSchema: noArgs,
      run: async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
    },
    {
      name: 'test_audio_content',
      description: 'Returns audio',
      inputSchema: noArgs,
      run: async () => ({ content: [{ type: 'audio', data: silentWav(), mimeType: 'audio/wav' }] }),
    },
    {
      name: 'test_embedded_resource',
      description: 'Returns an embedded resource',
      inputSchema: noArgs,
      run: async () => ({
        content: [
          {
            type: 'resource',
            resource: {
              uri: 'test://embedded-resource',
              mimeType: 'text/plain',
              text: 'This is an embedded resource content.',
            },
          },
        ],
      }),
    },
    {
      name: 'test_multiple_content_types',
      description: 'Returns text, an image and a resource',
      inputSchema: noArgs,
      run: async () => ({
        content: [
          { type: 'text', text: 'Multiple content types test:' },
          { type: 'image', data: PNG, mimeType: 'image/png' },
          {
            type: 'resource',
            resource: {
              uri: 'test://mixed-content-resource',
              mimeType: 'application/json',
              text: JSON.stringify({ test: 'data', value: 123 }),
            },
          },
        ],
      }),
    },
    {
      name: 'test_tool_with_logging',
      description: 'Sends three log messages while it runs',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        await log(extra, 'Tool execution started');
        await sleep(50);
        await log(extra, 'Tool processing data');
        await sleep(50);
        await log(extra, 'Tool execution completed');
        return text('Tool with logging executed successfully');
      },
    },
    {
      name: 'test_error_handling',
      description: 'Always fails',
      inputSchema: noArgs,
      run: async () => ({
        isError: true,
        content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
      }),
    },
    {
      name: 'test_tool_with_progress',
      description: 'Reports progress 0, 50, 100 of 100',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const progressToken = extra._meta?.progressToken;
        for (const progress of [0, 50, 100]) {
          if (progressToken !== undefined)
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken, progress, total: 100 },
            });
          if (progress < 100) await sleep(50);
        }
        return text('Tool with progress executed successfully');
      },
    },
    {
      name: 'test_sampling',
      description: 'Asks the client to sample',
      inputSchema: stringArg('prompt', 'The prompt to send to the LLM'),
      run: async (args, extra) => {
        requireClient('sampling');
        const result = await extra.sendRequest(
          {
            method: 'sampling/createMessage',
            params: {
              messages: [{ role: 'user', content: { type: 'text', text: String(args['prompt']) } }],
              maxTokens: 100,
            },
          },
          CreateMessageResultSchema,
        );
        const answer = result.content.type === 'text' ? result.content.text : JSON.stringify(result.content);
        return text(`LLM response: ${answer}`);
      },
    },
    {
      name: 'test_elicitation',
      description: 'Asks the user for input',
      inputSchema: stringArg('message', 'The message to show the user'),
      run: async (args, extra) => {
        const result = await elicit(extra, String(args['message']), {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        });
        return text(
          `User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`,
        );
      },
    },
    {
      name: 'test_elicitation_sep1034_defaults',
      description: 'Elicitation with defaults for every primitive type',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const result = await elicit(extra, 'Please review your details', {
          type: 'object',
          properties: {
            name: { type: 'string', default: 'John Doe' },
            age: { type: 'integer', default: 30 },
            score: { type: 'number', default: 95.5 },
            status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', default: true },
          },
        });
        return text(
          `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`,
        );
      },
    },
    {
      name: 'test_elicitation_sep1330_enums',
      description: 'Elicitation with the five enum forms',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const result = await elicit(extra, 'Please choose', {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        });
        return text(
          `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`,
        );
      },
    },
    {
      name: 'test_missing_capability',
      description: 'Asks the client to sample, declared or not',
      inputSchema: noArgs,
      run: async (_args, extra) => text(`sampled: ${sampled(await sample(extra, 'hello'))}`),
    },
    {
      name: 'test_streaming_elicitation',
      description: 'Asks the user a question',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const r = await ask(extra, 'What is your name?', 'name');
        return text(`answer: ${JSON.stringify(r.content ?? {})}`);
      },
    },
    {
      name: 'test_logging_tool',
      description: 'Logs once and answers at once',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        await log(extra, 'logging tool ran');
        return text('logged');
      },
    },
    {
      name: 'test_trigger_tool_change',
      description: 'Adds or removes a tool and announces the change',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        extraTool = !extraTool;
        await extra.sendNotification({ method: 'notifications/tools/list_changed' });
        return text(`extra tool ${extraTool ? 'added' : 'removed'}`);
      },
    },
    {
      name: 'test_trigger_prompt_change',
      description: 'Announces a change of the prompt list',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        await extra.sendNotification({ method: 'notifications/prompts/list_changed' });
        return text('prompts changed');
      },
    },
    {
      name: 'test_input_required_result_elicitation',
      description: "Asks the user's name",
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const r = await ask(extra, 'What is your name?', 'name', 'user_name');
        return text(`Hello, ${String(r.content?.['name'] ?? 'nobody')}`);
      },
    },
    {
      name: 'test_input_required_result_sampling',
      description: 'Asks the client to sample',
      inputSchema: noArgs,
      run: async (_args, extra) =>
        text(`LLM says: ${sampled(await sample(extra, 'What is the capital of France?'))}`),
    },
    {
      name: 'test_input_required_result_list_roots',
      description: "Asks for the client's roots",
      inputSchema: noArgs,
      run: async (_args, extra) => text(`roots: ${(await roots(extra)).roots.map((r) => r.uri).join(', ')}`),
    },
    {
      name: 'test_input_required_result_request_state',
      description: 'Asks a question; the answer comes with the request state',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const r = await ask(extra, 'Continue?', 'ok');
        return text(`state-ok: ${JSON.stringify(r.content ?? {})}`);
      },
    },
    {
      name: 'test_input_required_result_multiple_inputs',
      description: 'Asks three questions at once',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const [who, said, where] = await Promise.all([
          ask(extra, 'Your name?', 'name'),
          sample(extra, 'Say hello'),
          roots(extra),
        ]);
        return text(
          `name=${String(who.content?.['name'])} sample=${sampled(said)} roots=${where.roots.length}`,
        );
      },
    },
    {
      name: 'test_input_required_result_multi_round',
      description: 'Asks two questions, one after the other',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const name = await ask(extra, 'Your name?', 'name');
        const color = await ask(extra, 'Your favourite colour?', 'color');
        return text(`${String(name.content?.['name'])} likes ${String(color.content?.['color'])}`);
      },
    },
    {
      name: 'test_input_required_result_tampered_state',
      description: 'Asks a question (the retry carries a tampered state)',
      inputSchema: noArgs,
      run: async (_args, extra) =>
        text(`ok: ${JSON.stringify((await ask(extra, 'OK?', 'ok')).content ?? {})}`),
    },
    {
      name: 'test_input_required_result_capabilities',
      description: 'Asks only what the client declared it can answer',
      inputSchema: noArgs,
      run: async (_args, extra) => {
        const caps = server.getClientCapabilities() ?? {};
        const asked = await Promise.all([
          caps.sampling ? sample(extra, 'hello').then(() => 'sampling') : undefined,
          caps.elicitation ? ask(extra, 'Name?', 'name').then(() => 'elicitation') : undefined,
          caps.roots ? roots(extra).then(() => 'roots') : undefined,
        ]);
        return text(`asked: ${asked.filter(Boolean).join(', ') || 'nothing'}`);
      },
    },
    {
      name: 'json_schema_2020_12_tool',
      description: 'Tool with JSON Schema 2020-12 features',
      // The 2026-07-28 suite also checks the SEP-2106 vocabulary: $anchor, allOf/anyOf, if/then/else.
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: {
          address: {
            $anchor: 'addressDef',
            type: 'object',
            properties: { street: { type: 'string' }, city: { type: 'string' } },
          },
        },
        properties: {
          name: { type: 'string' },
          address: { $ref: '#/$defs/address' },
          contactMethod: { type: 'string', enum: ['phone', 'email'] },
          phone: { type: 'string' },
          email: { type: 'string' },
        },
        allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
        if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
        // biome-ignore lint/suspicious/noThenProperty: a JSON Schema keyword, never awaited
        then: { required: ['phone'] },
        else: { required: ['email'] },
        additionalProperties: false,
      } as Tool['inputSchema'],
      run: async (args) => text(`received ${JSON.stringify(args)}`),
    },
    {
      name: 'test_headers',
      description: 'Echoes an argument that 2026-07-28 clients mirror into the Mcp-Param-Region header',
      inputSchema: {
        type: 'object',
        properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
        required: ['region'],
      } as Tool['inputSchema'],
      run: async (args) => text(`region: ${String(args['region'])}`),
    },
  ];
  const dynamicTool = {
    name: 'test_dynamic_tool',
    description: 'Present after test_trigger_tool_change',
    inputSchema: noArgs,
    run: async () => text('dynamic'),
  };
  const byName = new Map([...tools, dynamicTool].map((t) => [t.name, t]));

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [...tools, ...(extraTool ? [dynamicTool] : [])].map(({ run: _run, ...tool }) => tool),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = byName.get(request.params.name);
    if (!tool) throw new McpError(-32602, `Unknown tool: ${request.params.name}`);
    return tool.run(request.params.arguments ?? {}, extra);
  });

  const staticResources = [
    {
      uri: 'test://static-text',
      name: 'static-text',
      description: 'A static text resource',
      mimeType: 'text/plain',
      content: { text: 'This is the content of the static text resource.' },
    },
    {
      uri: 'test://static-binary',
      name: 'static-binary',
      description: 'A static binary resource (a PNG)',
      mimeType: 'image/png',
      content: { blob: PNG },
    },
    {
      uri: 'test://watched-resource',
      name: 'watched-resource',
      description: 'A resource that can be subscribed to',
      mimeType: 'text/plain',
      content: { text: 'Watched resource content.' },
    },
  ];
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: staticResources.map(({ content: _content, ...resource }) => resource),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: 'test://template/{id}/data',
        name: 'template-data',
        description: 'Data for an id',
        mimeType: 'application/json',
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    const found = staticResources.find((r) => r.uri === uri);
    if (found) return { contents: [{ uri, mimeType: found.mimeType, ...found.content }] };
    const match = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
    if (match) {
      const id = decodeURIComponent(match[1] as string);
      return {
        contents: [
          {
            uri,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  const prompts = [
    { name: 'test_simple_prompt', description: 'A prompt without arguments' },
    {
      name: 'test_prompt_with_arguments',
      description: 'A prompt with two arguments',
      arguments: [
        { name: 'arg1', description: 'First test argument', required: true },
        { name: 'arg2', description: 'Second test argument', required: true },
      ],
    },
    {
      name: 'test_prompt_with_embedded_resource',
      description: 'A prompt embedding a resource',
      arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    },
    { name: 'test_prompt_with_image', description: 'A prompt with an image' },
    { name: 'test_input_required_result_prompt', description: 'A prompt that asks for context first' },
  ];
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts }));
  server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
    const args = request.params.arguments ?? {};
    switch (request.params.name) {
      case 'test_input_required_result_prompt': {
        const r = await ask(extra, 'Some context, please', 'context');
        return {
          messages: [
            {
              role: 'user',
              content: { type: 'text', text: `Context: ${String(r.content?.['context'] ?? '')}` },
            },
          ],
        };
      }
      case 'test_simple_prompt':
        return {
          messages: [
            { role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } },
          ],
        };
      case 'test_prompt_with_arguments':
        return {
          messages: [
            {
              role: 'user',
              content: {
                type: 'text',
                text: `Prompt with arguments: arg1='${args['arg1'] ?? ''}', arg2='${args['arg2'] ?? ''}'`,
              },
            },
          ],
        };
      case 'test_prompt_with_embedded_resource':
        return {
          messages: [
            {
              role: 'user',
              content: {
                type: 'resource',
                resource: {
                  uri: args['resourceUri'] ?? 'test://embedded',
                  mimeType: 'text/plain',
                  text: 'Embedded resource content for testing.',
                },
              },
            },
            { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
          ],
        };
      case 'test_prompt_with_image':
        return {
          messages: [
            { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
            { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
          ],
        };
      default:
        throw new McpError(-32602, `Unknown prompt: ${request.params.name}`);
    }
  });

  // Minimal completion support is enough: the capability is declared and the endpoint answers.
  server.setRequestHandler(CompleteRequestSchema, async () => ({
    completion: { values: [], total: 0, hasMore: false },
  }));
  return server;
}

if (opts.http) {
  serveStreamableHttp(buildServer, Number(opts.port));
} else {
  process.stdin.on('end', () => process.exit(0));
  await buildServer().connect(new StdioServerTransport());
}
