/**
 * The seed config of SPEC §2 enforces exactly what it says (its server swapped for our test backend,
 * which offers a delete_file tool): without the key → refused; with it → works; the 31st call in a
 * minute → -32012; filesystem.delete_file denied and not listed.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { CLI } from '../helpers/paths.js';
import { codeOf } from '../helpers/results.js';
import { seedWithServers } from '../helpers/seed.js';

const KEY = 'mcpg_test_key_0123456789abcdefghijklmnop';

const SEED = seedWithServers(stdioTestServer('filesystem'));

describe('seed config over HTTP', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(SEED, { AGENT_API_KEY: KEY });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('refuses a request without the key: 401 with WWW-Authenticate and resource metadata', async () => {
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(
      /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32010);
    const metadata = await fetch(challenge.match(/resource_metadata="([^"]+)"/)?.[1] as string);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({
      resource: expect.stringMatching(/\/mcp$/),
      bearer_methods_supported: ['header'],
    });
  });

  it('refuses a wrong key with error="invalid_token"', async () => {
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong-key', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('works with the key, hides and refuses filesystem.delete_file, and refuses the 31st call in a minute', async () => {
    const client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('delete_file');
    expect(await codeOf(client.callTool({ name: 'delete_file', arguments: { path: '/x' } }))).toBe(-32011);
    // delete_file was refused before the rate-limit stage: it cost no quota. 30 calls pass…
    for (let i = 0; i < 30; i++) {
      const result = await client.callTool({ name: 'echo', arguments: { message: `call ${i}` } });
      expect(result.content).toEqual([{ type: 'text', text: `call ${i}` }]);
    }
    // …and the 31st is refused with retry_after_s and scope.
    try {
      await client.callTool({ name: 'echo', arguments: { message: 'one too many' } });
      expect.unreachable('the 31st call must be refused');
    } catch (err) {
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32012);
      expect((err as McpError).data).toMatchObject({
        reason: 'rate_limited',
        scope: 'agent',
        retry_after_s: expect.any(Number),
      });
    }
    await client.close();
  });
});

describe('seed config over stdio (MCP_GUARD_API_KEY)', () => {
  const configFile = writeConfig(SEED);
  const connect = async (env: Record<string, string>) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--config', configFile],
      env: { PATH: process.env['PATH'] ?? '', AGENT_API_KEY: KEY, ...env },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-agent', version: '1' });
    return { client, transport };
  };

  it('fails every request, initialize included, with -32010 when the key is missing or wrong', async () => {
    for (const env of [{}, { MCP_GUARD_API_KEY: 'not-the-key' }] as Array<Record<string, string>>) {
      const { client, transport } = await connect(env);
      const error = await client.connect(transport).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(-32010);
      expect((error as McpError).message).toContain('MCP_GUARD_API_KEY');
      await transport.close();
    }
  });

  it('works with the key in MCP_GUARD_API_KEY', async () => {
    const { client, transport } = await connect({ MCP_GUARD_API_KEY: KEY });
    await client.connect(transport);
    expect((await client.callTool({ name: 'echo', arguments: { message: 'stdio ok' } })).content).toEqual([
      { type: 'text', text: 'stdio ok' },
    ]);
    expect(await codeOf(client.callTool({ name: 'delete_file', arguments: { path: '/x' } }))).toBe(-32011);
    // The agent's key (and the config's variable holding it) never reach the backend's environment.
    for (const name of ['MCP_GUARD_API_KEY', 'AGENT_API_KEY'])
      expect((await client.callTool({ name: 'get_env', arguments: { name } })).content).toEqual([
        { type: 'text', text: '<unset>' },
      ]);
    await client.close();
  });
});
