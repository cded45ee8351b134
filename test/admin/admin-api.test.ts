/**
 * The admin API end to end: a real gateway (SQLite state, audit log, our test backend), real agents
 * over MCP, the real CLI in other processes. Who may use /admin (admin keys only, never an agent's key),
 * approvals listed and decided over HTTP (audited, once), the SSE stream seeing approvals created and
 * decided anywhere, recent calls / spend / backends, and the remote CLI (`--url`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';
import { AdminEventReader, adminFetch } from './helpers.js';

const AGENT_KEY = 'agent-key-for-admin-tests-0001';
const ADMIN_KEY = 'admin-key-for-admin-tests-0001';

describe('admin API', () => {
  let gw: TestGateway;
  let base: string;
  let client: Client;

  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: buyer, key: ${AGENT_KEY} }]
admin:
  keys: [{ agent: ops, key: ${ADMIN_KEY} }]
rate_limit:
  auth_failures_per_minute: 1000
policies:
  spend_cap_usd: 100
  require_approval_above: 5
  audit_log: ./audit.jsonl
agents:
  buyer: { spend_cap_usd: 50 }
servers:
${stdioTestServer('wallet')}`);
    base = gw.url.replace(/\/mcp$/, '');
    client = await connectHttp(gw.url, { headers: { authorization: `Bearer ${AGENT_KEY}` } });
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  const hold = async (amount: number, to: string): Promise<string> => {
    const err = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: amount, to } }));
    expect(err.code).toBe(-32004);
    return (err.data as { approval_id: string }).approval_id;
  };
  const get = (p: string, key = ADMIN_KEY) => adminFetch(base, p, { key });
  const post = (p: string, body?: unknown, key = ADMIN_KEY) =>
    adminFetch(base, p, { key, method: 'POST', body });

  const ROUTES = [
    ['GET', '/admin/approvals'],
    ['GET', '/admin/approvals/apr_x'],
    ['POST', '/admin/approvals/apr_x/approve'],
    ['POST', '/admin/approvals/apr_x/deny'],
    ['GET', '/admin/events'],
    ['GET', '/admin/calls'],
    ['GET', '/admin/spend'],
    ['GET', '/admin/backends'],
    ['GET', '/admin/session'],
  ] as const;

  it('every route: 401 without a credential, 401 with an agent key or a wrong key; the admin key works', async () => {
    for (const [method, p] of ROUTES) {
      for (const key of [undefined, AGENT_KEY, 'not-a-key-at-all']) {
        const res = await adminFetch(base, p, { method, ...(key ? { key } : {}) });
        expect(res.status, `${method} ${p} with ${key ?? 'nothing'}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="mcp-guard admin"/);
        expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
      }
    }
    const ok = await get('/admin/approvals');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(await ok.json()).toEqual({ approvals: expect.any(Array) });
    // A key in the query string is refused outright (URLs end up in logs).
    const query = await adminFetch(base, `/admin/approvals?api_key=${ADMIN_KEY}`);
    expect(query.status).toBe(400);
    expect(await query.json()).toMatchObject({ error: { code: 'bad_request' } });
  });

  it('lists and shows held calls with redacted arguments, then approves one: audited, and the retry runs once', async () => {
    const id = await hold(25, 'alice');
    const list = (await (await get('/admin/approvals?status=pending')).json()) as {
      approvals: Array<Record<string, unknown>>;
    };
    const row = list.approvals.find((a) => a['id'] === id);
    expect(row).toMatchObject({
      id,
      status: 'pending',
      agent: 'buyer',
      server: 'wallet',
      tool: 'pay',
      amount_usd: 25,
      args: { amount_usd: 25, to: 'alice' },
      decided_by: null,
      note: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const shown = await get(`/admin/approvals/${id}`);
    expect(((await shown.json()) as { approval: unknown }).approval).toEqual(row);

    const approved = await post(`/admin/approvals/${id}/approve`, { note: 'known payee' });
    expect(approved.status).toBe(200);
    expect(((await approved.json()) as { approval: unknown }).approval).toMatchObject({
      id,
      status: 'approved',
      decided_by: 'ops via admin api',
      note: 'known payee',
    });
    // Deciding again: 409 with a stable code, and nothing changes.
    const again = await post(`/admin/approvals/${id}/deny`, { reason: 'too late' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'approval_not_pending' } });

    expect(textOf(await client.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'alice' } }))).toBe(
      'paid 25',
    );
    expect(
      (await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'alice' } }))).code,
    ).toBe(-32004);
    const audit = readFileSync(path.join(gw.dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['approval_id'] === id);
    expect(audit.map((l) => [l['event'], l['decision']])).toEqual([
      ['approval_created', 'held'],
      ['call', 'held'],
      ['approval_decided', 'approved'],
      ['call', 'approved'],
      ['result', 'approved'],
    ]);
    expect(audit[2]).toMatchObject({ reason: 'known payee', detail: { decided_by: 'ops via admin api' } });
  });

  it('denies with a reason the agent hears (-32014)', async () => {
    const id = await hold(20, 'mallory');
    const denied = await post(`/admin/approvals/${id}/deny`, { reason: 'unknown payee' });
    expect(denied.status).toBe(200);
    const err = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 20, to: 'mallory' } }));
    expect(err.code).toBe(-32014);
    expect(err.data).toMatchObject({ approval_id: id, reason: 'unknown payee' });
  });

  it('answers bad requests with JSON errors and stable codes', async () => {
    const cases: Array<[Promise<Response>, number, string]> = [
      [get('/admin/approvals?status=weird'), 400, 'invalid_parameter'],
      [get('/admin/approvals?limit=0'), 400, 'invalid_parameter'],
      [get('/admin/approvals/apr_00000000000000000000'), 404, 'approval_not_found'],
      [post('/admin/approvals/apr_00000000000000000000/approve'), 404, 'approval_not_found'],
      [adminFetch(base, '/admin/approvals', { key: ADMIN_KEY, method: 'DELETE' }), 405, 'method_not_allowed'],
      [get('/admin/nothing-here'), 404, 'not_found'],
      [get('/admin/calls?decision=maybe'), 400, 'invalid_parameter'],
      [post('/admin/approvals/apr_x/approve', { note: 42 }), 400, 'invalid_parameter'],
      [
        fetch(`${base}/admin/approvals/apr_x/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/plain' },
          body: 'note=hi',
        }),
        415,
        'unsupported_media_type',
      ],
      [
        fetch(`${base}/admin/approvals/apr_x/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: '{"note":',
        }),
        400,
        'bad_request',
      ],
    ];
    for (const [res, status, code] of cases) {
      const r = await res;
      expect(r.status, code).toBe(status);
      expect(r.headers.get('content-type')).toContain('application/json');
      expect(await r.json()).toMatchObject({ error: { code, message: expect.any(String) } });
    }
  });

  it('streams approval_created and approval_decided, including decisions made from the CLI', async () => {
    const res = await get('/admin/events');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = new AdminEventReader(res);
    try {
      await events.next((e) => e.event === 'ready');
      const started = Date.now();
      const id = await hold(12, 'eve');
      const created = await events.next((e) => e.event === 'approval_created' && e.data['id'] === id, 2_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(created.data).toMatchObject({ status: 'pending', amount_usd: 12, args: { to: 'eve' } });
      const cli = await runCli([
        'approvals',
        'deny',
        id,
        '--reason',
        'from a shell',
        '--config',
        gw.configFile,
      ]);
      expect(cli.code).toBe(0);
      const decided = await events.next((e) => e.event === 'approval_decided' && e.data['id'] === id, 3_000);
      expect(decided.data).toMatchObject({ status: 'denied', note: 'from a shell' });
      // Each event once.
      expect(events.seen.filter((e) => e.data['id'] === id).map((e) => e.event)).toEqual([
        'approval_created',
        'approval_decided',
      ]);
    } finally {
      await events.close();
    }
  });

  it('reports recent calls (filtered), spend against caps, and backend health', async () => {
    expect(textOf(await client.callTool({ name: 'pay', arguments: { amount_usd: 2, to: 'bob' } }))).toBe(
      'paid 2',
    );
    const calls = (await (await get('/admin/calls?agent=buyer&tool=wallet.pay&limit=5')).json()) as {
      calls: Array<Record<string, unknown>>;
    };
    expect(calls.calls.length).toBeGreaterThan(0);
    expect(calls.calls.length).toBeLessThanOrEqual(5);
    expect(calls.calls[0]).toMatchObject({
      agent: 'buyer',
      server: 'wallet',
      tool: 'pay',
      decision: 'allowed',
      outcome: 'ok',
      amount_usd: 2,
      args: { amount_usd: 2, to: 'bob' },
    });
    const held = (await (await get('/admin/calls?decision=held')).json()) as {
      calls: Array<Record<string, unknown>>;
    };
    expect(held.calls.length).toBeGreaterThan(0);
    expect(held.calls.every((c) => c['decision'] === 'held')).toBe(true);

    const spend = (await (await get('/admin/spend')).json()) as {
      agents: Array<Record<string, unknown>>;
      global: Record<string, unknown>;
      window: Record<string, unknown>;
    };
    // $25 (approved) + $2 so far for buyer, against its own $50 cap.
    expect(spend.agents.find((a) => a['agent'] === 'buyer')).toEqual({
      agent: 'buyer',
      spent_usd: 27,
      cap_usd: 50,
      remaining_usd: 23,
    });
    expect(spend.window['ms']).toBe(86_400_000);

    const backends = (await (await get('/admin/backends')).json()) as {
      backends: Array<Record<string, unknown>>;
      children: number;
      sessions: number;
    };
    expect(backends.backends).toEqual([
      // A stdio server without an isolation setting is pooled under serve-http: its figures come from the pool.
      expect.objectContaining({
        name: 'wallet',
        kind: 'stdio',
        isolation: 'pooled',
        status: 'up',
        children: expect.any(Number),
        pool: { size: 4, busy: 0, queued: 0 },
      }),
    ]);
    expect(backends.backends[0]?.['children']).toBeGreaterThanOrEqual(1);
    expect(backends.sessions).toBeGreaterThanOrEqual(1);
    expect(backends.children).toBeGreaterThanOrEqual(1);
  });

  it('remote CLI: list --json matches the local form; show, approve and deny work over --url', async () => {
    const id = await hold(8, 'remote');
    const env = { MCP_GUARD_ADMIN_KEY: ADMIN_KEY };
    const remote = await runCli(['approvals', 'list', '--url', base, '--json'], env);
    expect(remote.stderr).toBe('');
    expect(remote.code).toBe(0);
    const local = await runCli(['approvals', 'list', '--json', '--config', gw.configFile]);
    expect(JSON.parse(remote.stdout)).toEqual(JSON.parse(local.stdout));
    expect(JSON.parse(remote.stdout)).toContainEqual(
      expect.objectContaining({ id, args: { amount_usd: 8, to: 'remote' } }),
    );

    const table = await runCli(['approvals', 'list', '--url', `${base}/mcp`], env);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+pending\\s+buyer\\s+wallet\\.pay\\s+\\$8\\.00`));
    const shown = await runCli(['approvals', 'show', id.slice(0, 12), '--url', base], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('"to": "remote"');

    const denied = await runCli(['approvals', 'deny', id, '--reason', 'not today', '--url', base], env);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain(`denied ${id}: buyer → wallet.pay ($8.00)`);
    const after = await runCli(['approvals', 'show', id, '--json', '--config', gw.configFile]);
    expect(JSON.parse(after.stdout)).toMatchObject({
      status: 'denied',
      note: 'not today',
      decided_by: 'ops via admin api',
    });
    const twice = await runCli(['approvals', 'approve', id, '--url', base], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('it is already denied');

    const approveId = await hold(9, 'remote-2');
    const ok = await runCli(
      ['approvals', 'approve', approveId, '--note', 'fine', '--url', base, '--json'],
      env,
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: approveId, status: 'approved', note: 'fine' });
  });

  it('remote CLI: the key comes only from $MCP_GUARD_ADMIN_KEY, an agent key is refused, http only to loopback', async () => {
    const none = await runCli(['approvals', 'list', '--url', base], { MCP_GUARD_ADMIN_KEY: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('MCP_GUARD_ADMIN_KEY');
    const agent = await runCli(['approvals', 'list', '--url', base], { MCP_GUARD_ADMIN_KEY: AGENT_KEY });
    expect(agent.code).toBe(1);
    expect(agent.stderr).toContain('refused the admin key (401');
    expect(agent.stderr).not.toContain(AGENT_KEY);
    const clear = await runCli(['approvals', 'list', '--url', 'http://gateway.example'], {
      MCP_GUARD_ADMIN_KEY: ADMIN_KEY,
    });
    expect(clear.code).toBe(2);
    expect(clear.stderr).toContain('https://');
    const both = await runCli(['approvals', 'list', '--url', base, '--config', gw.configFile], {
      MCP_GUARD_ADMIN_KEY: ADMIN_KEY,
    });
    expect(both.code).toBe(2);
  });
});
