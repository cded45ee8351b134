/**
 * Policy is the same in both eras: a 2026-07-28 request (stateless, raw fetch) meets the same
 * authentication, allow/deny, rate limits, approvals and audit as a 2025-11-25 session does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';

const KEY = 'modern-policy-key-0123456789abcdefghijkl';

type Body = {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; data?: Record<string, unknown> };
};

describe('policy for 2026-07-28 requests', () => {
  let gw: TestGateway;
  let nextId = 1;
  const post = async (method: string, params: Record<string, unknown>, key: string | null = KEY) => {
    const name = params['name'];
    const response = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: nextId++,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Body };
  };
  const call = (name: string, args: Record<string, unknown>) => post('tools/call', { name, arguments: args });

  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: modern-agent, key: ${KEY} }]
rate_limit:
  per_tool: { echo: 3 }
policies:
  deny: [delete_file]
  require_approval_above: 5.0
  audit_log: ./audit.jsonl
servers:
${stdioTestServer('wallet')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('authenticates every request: none or a wrong key is 401 with WWW-Authenticate', async () => {
    for (const key of [null, 'wrong-key-0123456789abcdefghijklmnop']) {
      const refused = await post('server/discover', {}, key);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer .*resource_metadata=/);
    }
    expect((await post('server/discover', {})).status).toBe(200);
  });

  it('hides a denied tool from tools/list and refuses to call it (-32011)', async () => {
    const listed = await post('tools/list', {});
    const names = ((listed.body.result?.['tools'] ?? []) as Array<{ name: string }>).map((t) => t.name);
    expect(names).toContain('pay');
    expect(names).not.toContain('delete_file');
    const denied = await call('delete_file', { path: '/tmp/x' });
    expect(denied.body.error).toMatchObject({ code: -32011, data: { reason: 'forbidden' } });
  });

  it('applies rate limits per agent and tool (-32012)', async () => {
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) codes.push((await call('echo', { message: `m${i}` })).body.error?.code);
    expect(codes).toEqual([undefined, undefined, undefined, -32012]);
  });

  it('holds a call above the threshold (-32004); once approved, the same call runs exactly once', async () => {
    const held = await call('pay', { amount_usd: 25, to: 'carol' });
    expect(held.body.error?.code).toBe(-32004);
    const approvalId = String(held.body.error?.data?.['approval_id']);
    // The same call while pending: the same approval, not a new one.
    expect((await call('pay', { amount_usd: 25, to: 'carol' })).body.error?.data?.['approval_id']).toBe(
      approvalId,
    );
    const approved = await runCli(['approvals', 'approve', approvalId, '--config', gw.configFile]);
    expect(approved.code, approved.stderr).toBe(0);
    const paid = await call('pay', { amount_usd: 25, to: 'carol' });
    expect(paid.body.result).toMatchObject({
      resultType: 'complete',
      content: [{ type: 'text', text: 'paid 25' }],
    });
    expect((await call('pay', { amount_usd: 25, to: 'carol' })).body.error?.code).toBe(-32004);
  });

  it('records every governed call in the audit log, attributed to the agent', async () => {
    const lines = readFileSync(path.join(gw.dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const calls = lines.filter((l) => l['event'] === 'call' || l['event'] === 'result');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((l) => l['agent'] === 'modern-agent' && l['session'] === 'stateless')).toBe(true);
    expect(calls.some((l) => l['tool'] === 'delete_file' && l['decision'] === 'denied')).toBe(true);
    expect(calls.some((l) => l['tool'] === 'pay' && l['decision'] === 'approved')).toBe(true);
    const verified = await runCli(['audit', 'verify', '--file', path.join(gw.dir, 'audit.jsonl')]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
