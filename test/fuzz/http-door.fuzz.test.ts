/**
 * Property test of the HTTP front door (`serve-http`, in this process so prototype pollution would show
 * here): hostile bodies POSTed to /mcp inside a session and without one. Whatever they are: no 5xx, no
 * crash, no pollution of Object.prototype, and a real client still works afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { textOf } from '../helpers/results.js';
import { hostileLine } from './arbitraries.js';

describe('HTTP door under hostile input (property)', () => {
  let gw: TestGateway;
  let session: string;
  const headers = (withSession: boolean) => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(withSession ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } : {}),
  });

  beforeAll(async () => {
    gw = await startGateway(`policies:\n  deny: [delete_file]\nservers:\n${stdioTestServer('t')}`);
    const init = await fetch(gw.url, {
      method: 'POST',
      headers: headers(false),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'fuzz', version: '1' },
        },
      }),
    });
    session = init.headers.get('mcp-session-id') ?? '';
    await init.text();
    expect(session).not.toBe('');
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('never answers 5xx, never crashes, never pollutes Object.prototype', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(hostileLine, fc.boolean(), async (body, withSession) => {
        const res = await fetch(gw.url, { method: 'POST', headers: headers(withSession), body });
        const text = await res.text();
        expect(res.status, `${res.status} for ${body.slice(0, 120)}: ${text.slice(0, 200)}`).toBeLessThan(
          500,
        );
        expect(text).not.toMatch(/\n\s+at .*\.(js|ts):\d+/);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      }),
      { numRuns: 250, seed: Number(process.env['FUZZ_SEED'] ?? 20261205) },
    );
    const client = await connectHttp(gw.url);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe(
      'still here',
    );
    await client.close();
  });
});
