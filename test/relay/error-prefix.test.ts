/**
 * Backend errors keep one "MCP error N:" prefix, not two. The backend's SDK (McpError) writes its display
 * prefix into the wire message, and the agent's SDK adds its own when it shows the error, so an agent
 * talking to server-everything read "MCP error -32602: MCP error -32602: Invalid arguments…" — directly
 * and through the gateway alike. The gateway relays the message without the backend SDK's prefix.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { EVERYTHING } from '../helpers/paths.js';

describe('relayed backend errors', () => {
  let gw: TestGateway;
  let client: Client;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n  everything:\n    command: ${process.execPath}\n    args: ["${EVERYTHING}", "stdio"]\n`,
    );
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('carry the code and data unchanged and the message without a doubled prefix', async () => {
    const failures = [
      () => client.getPrompt({ name: 'args-prompt', arguments: {} }),
      () => client.readResource({ uri: 'demo://resource/static/document/nope.md' }),
    ];
    for (const failure of failures) {
      const err = await failure().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(McpError);
      const { code, message } = err as McpError;
      expect(code).toBe(-32602);
      // The agent's SDK adds exactly one prefix to what crossed the wire.
      expect(message).toMatch(/^MCP error -32602: (?!MCP error)/);
    }
  });
});
