/**
 * Both protocol eras on one URL, with real clients in front and the real server-everything behind:
 * an SDK v2 client pinned to 2026-07-28 (stateless, server/discover, input_required round trips for the
 * backend's sampling request) and an SDK v1 client on 2025-11-25, in the same run; plus the door's
 * header rules for the modern era.
 */
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { EVERYTHING } from '../helpers/paths.js';

const CONFIG = `
servers:
  everything:
    command: ${process.execPath}
    args: ["${EVERYTHING}", "stdio"]
`;

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};

function modernPost(url: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('2026-07-28 and 2025-11-25 clients on one endpoint', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(CONFIG);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('an SDK v2 client pinned to 2026-07-28 negotiates it, lists and calls tools of server-everything', async () => {
    const client = new ClientV2(
      { name: 'v2-modern', version: '1.0.0' },
      { capabilities: {}, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(new TransportV2(new URL(gw.url)));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      expect(client.getServerVersion()).toMatchObject({ name: 'mcp-guard' });
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'get-sum']));
      const echoed = await client.callTool({ name: 'echo', arguments: { message: 'stateless hello' } });
      expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: stateless hello' }]);
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
      expect(JSON.stringify(sum.content)).toContain('42');
    } finally {
      await client.close();
    }
  });

  it("answers a legacy backend's sampling request through an input_required round trip", async () => {
    const client = new ClientV2(
      { name: 'v2-sampling', version: '1.0.0' },
      { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    const asked: unknown[] = [];
    client.setRequestHandler('sampling/createMessage', async (request) => {
      asked.push(request.params);
      return {
        role: 'assistant',
        content: { type: 'text', text: 'sampled by a stateless agent' },
        model: 'test-model',
        stopReason: 'endTurn',
      };
    });
    await client.connect(new TransportV2(new URL(gw.url)));
    try {
      const result = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'hi', maxTokens: 20 },
      });
      expect(asked).toHaveLength(1);
      expect(JSON.stringify(result.content)).toContain('sampled by a stateless agent');
    } finally {
      await client.close();
    }
  });

  it('a v1 client in the same run gets 2025-11-25, and a v2 client in auto mode gets 2026-07-28', async () => {
    const v1 = new ClientV1({ name: 'v1-legacy', version: '1.0.0' });
    const v1Transport = new TransportV1(new URL(gw.url));
    await v1.connect(v1Transport);
    try {
      // The version the v1 client settled on at initialize (it sends it as MCP-Protocol-Version since).
      expect(v1Transport.protocolVersion).toBe('2025-11-25');
      expect(v1Transport.sessionId).toBeDefined();
      const echoed = await v1.callTool({ name: 'echo', arguments: { message: 'legacy hello' } });
      expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: legacy hello' }]);
    } finally {
      await v1.close();
    }
    const auto = new ClientV2(
      { name: 'v2-auto', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await auto.connect(new TransportV2(new URL(gw.url)));
    try {
      expect(auto.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    } finally {
      await auto.close();
    }
  });

  it('refuses a header that disagrees with the body: 400 with -32020, the request id echoed', async () => {
    const call = {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'x' }, _meta: META },
    };
    const mismatches: Array<Record<string, string>> = [
      { 'mcp-method': 'tools/list', 'mcp-name': 'echo' },
      { 'mcp-method': 'tools/call', 'mcp-name': 'get-sum' },
      { 'mcp-method': 'tools/call' },
    ];
    for (const headers of mismatches) {
      const response = await modernPost(gw.url, call, headers);
      expect(response.status, JSON.stringify(headers)).toBe(400);
      expect(await response.json()).toMatchObject({ id: 7, error: { code: -32020 } });
    }
    const ok = await modernPost(gw.url, call, {
      'mcp-method': 'tools/call',
      'mcp-name': '=?base64?ZWNobw==?=',
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: 7, result: { resultType: 'complete' } });
  });

  it('names the supported versions when a request claims one it does not speak', async () => {
    const response = await modernPost(
      gw.url,
      {
        jsonrpc: '2.0',
        id: 'v',
        method: 'server/discover',
        params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
      },
      { 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'server/discover' },
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: number; message: string; data: unknown } };
    expect(body.error.code).toBe(-32022);
    expect(body.error.data).toEqual({ supported: ['2026-07-28'], requested: '2099-01-01' });
    expect(body.error.message).toContain('2025-11-25');
  });
});
