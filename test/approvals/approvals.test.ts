/**
 * Spend caps and the approval queue, end to end through the HTTP front with our test backend, the real
 * SQLite store and the real CLI in another process.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, startGatewayOn, type TestGateway } from '../helpers/gateway.js';
import { runCli, waitFor } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

const pay = (client: Client, amount: number, to = 'bob') =>
  client.callTool({ name: 'pay', arguments: { amount_usd: amount, to } });

interface Post {
  path: string;
  body: Record<string, unknown>;
  text: string;
  headers: IncomingHttpHeaders;
}

/** A local receiver for the Slack and webhook posts. */
async function startReceiver(): Promise<{
  url: string;
  posts: Post[];
  close(): void;
}> {
  const posts: Post[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body: JSON.parse(text), text, headers: req.headers });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () => server.close(),
  };
}

describe('approval queue (seed semantics: require_approval_above: 5.0)', () => {
  let gw: TestGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let client: Client;
  const cli = (...args: string[]) => runCli([...args, '--config', gw.configFile]);

  beforeAll(async () => {
    receiver = await startReceiver();
    gw = await startGateway(`
policies:
  require_approval_above: 5.0
  approval_ttl: 1h
  audit_log: ./audit.jsonl
notify:
  slack_webhook_url: ${receiver.url}/slack
  webhook_url: ${receiver.url}/hook
  webhook_secret: test-webhook-secret-0123456789
servers:
${stdioTestServer('wallet')}`);
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
    receiver?.close();
  });

  it('lets $4.99 through and holds $5.00 and $5.01 with -32004 (approval_id, tool, amount_usd, expires_at)', async () => {
    expect(textOf(await pay(client, 4.99))).toBe('paid 4.99');
    for (const amount of [5, 5.01]) {
      const err = await failure(pay(client, amount));
      expect(err.code).toBe(-32004);
      expect(err.data).toMatchObject({
        reason: 'approval_pending',
        approval_id: expect.stringMatching(/^apr_[0-9a-f]{20}$/),
        tool: 'pay',
        amount_usd: amount,
      });
      const expiresAt = (err.data as { expires_at: number }).expires_at;
      expect(expiresAt).toBeGreaterThan(Date.now() / 1000 + 3_500);
      expect(Number.isInteger(expiresAt)).toBe(true);
    }
  });

  it('returns the same approval_id for the same pending call, a new one for changed arguments', async () => {
    const first = await failure(pay(client, 20, 'carol'));
    const again = await failure(pay(client, 20, 'carol'));
    const changed = await failure(pay(client, 20, 'dave'));
    const id = (first.data as { approval_id: string }).approval_id;
    expect((again.data as { approval_id: string }).approval_id).toBe(id);
    expect((changed.data as { approval_id: string }).approval_id).not.toBe(id);
  });

  it('held → approved from the CLI → exactly one retry runs → the next identical call is held again', async () => {
    const held = await failure(pay(client, 42, 'erin'));
    const id = (held.data as { approval_id: string }).approval_id;
    const list = await cli('approvals', 'list', '--json');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({
        id,
        status: 'pending',
        tool: 'pay',
        amount_usd: 42,
        args: { amount_usd: 42, to: 'erin' },
      }),
    );
    const approved = await cli('approvals', 'approve', id, '--note', 'ok for erin');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`approved ${id}`);

    const paidBefore = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))).pay_calls;
    expect(textOf(await pay(client, 42, 'erin'))).toBe('paid 42');
    const second = await failure(pay(client, 42, 'erin'));
    expect(second.code).toBe(-32004);
    expect((second.data as { approval_id: string }).approval_id).not.toBe(id);
    const paidAfter = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))).pay_calls;
    expect(paidAfter - paidBefore).toBe(1);

    const shown = await cli('approvals', 'show', id.slice(0, 10), '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, status: 'consumed', note: 'ok for erin' });
    // Deciding twice is refused with a clear message.
    const twice = await cli('approvals', 'deny', id);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('it is already consumed');
  });

  it('denied → -32014 with the reason', async () => {
    const held = await failure(pay(client, 99, 'mallory'));
    const id = (held.data as { approval_id: string }).approval_id;
    expect((await cli('approvals', 'deny', id, '--reason', 'not a known payee')).code).toBe(0);
    const denied = await failure(pay(client, 99, 'mallory'));
    expect(denied.code).toBe(-32014);
    expect(denied.data).toMatchObject({ reason: 'not a known payee', approval_id: id });
  });

  it('accepts the approval named in params._meta["mcp-guard/approval_id"], only for the same call', async () => {
    const held = await failure(pay(client, 7, 'trent'));
    const id = (held.data as { approval_id: string }).approval_id;
    await cli('approvals', 'approve', id);
    const otherCall = await failure(
      client.callTool({
        name: 'pay',
        arguments: { amount_usd: 7, to: 'someone-else' },
        _meta: { 'mcp-guard/approval_id': id },
      }),
    );
    expect(otherCall.code).toBe(-32004);
    expect((otherCall.data as { approval_id: string }).approval_id).not.toBe(id);
    const named = await client.callTool({
      name: 'pay',
      arguments: { amount_usd: 7, to: 'trent' },
      _meta: { 'mcp-guard/approval_id': id },
    });
    expect(textOf(named)).toBe('paid 7');
  });

  it('posts Slack and webhook notifications for creation and decision, with the approve command', async () => {
    await waitFor(() => receiver.posts.filter((p) => p.path === '/slack').length >= 2, 10_000, 'slack posts');
    const slack = receiver.posts.filter((p) => p.path === '/slack');
    expect(
      slack.some((p) => /Approve with: mcp-guard approvals approve apr_/.test(String(p.body['text']))),
    ).toBe(true);
    expect(slack.every((p) => Array.isArray(p.body['blocks']))).toBe(true);
    const hooks = receiver.posts.filter((p) => p.path === '/hook');
    expect(hooks.map((p) => p.body['event'])).toEqual(
      expect.arrayContaining(['approval_created', 'approval_decided']),
    );
    const created = hooks.find((p) => p.body['event'] === 'approval_created') as Post;
    const id = (created.body['approval'] as { id: string }).id;
    const base = gw.url.replace(/\/mcp$/, '');
    expect(created.body).toMatchObject({
      // args is an object, as `approvals show --json` prints it
      approval: {
        tool: 'pay',
        server: 'wallet',
        status: 'pending',
        args: { amount_usd: expect.any(Number) },
      },
      url: `${base}/ui/approvals/${id}`,
      approve_command: expect.stringMatching(/^mcp-guard approvals approve apr_/),
    });
    // Signed: HMAC-SHA256 over "<timestamp>.<body>" with notify.webhook_secret.
    for (const hook of hooks) {
      const ts = String(hook.headers['x-mcp-guard-timestamp']);
      expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(120);
      const expected = createHmac('sha256', 'test-webhook-secret-0123456789')
        .update(`${ts}.${hook.text}`)
        .digest('hex');
      expect(hook.headers['x-mcp-guard-signature']).toBe(`sha256=${expected}`);
      expect(hook.headers['x-mcp-guard-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    }
    // Slack leads to the page too (a button), and never carries the signature (it has no secret).
    const slackCreated = slack.find((p) => String(p.body['text']).includes('needed')) as Post;
    expect(JSON.stringify(slackCreated.body['blocks'])).toContain(`${base}/ui/approvals/apr_`);
    expect(slackCreated.headers['x-mcp-guard-signature']).toBeUndefined();
  });

  it('refuses NaN, -1, "10" and 1e309 as amounts with -32602 (never counted as zero)', async () => {
    expect((await failure(pay(client, -1))).code).toBe(-32602);
    expect((await failure(client.callTool({ name: 'pay', arguments: { amount_usd: '10' } }))).code).toBe(
      -32602,
    );
    // JSON has no NaN or infinity; a client serialises NaN as null, and 1e309 parses to Infinity.
    expect((await failure(pay(client, Number.NaN))).code).toBe(-32602);
    const session = (client.transport as unknown as { sessionId: string }).sessionId;
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-11-25',
      },
      body: '{"jsonrpc":"2.0","id":"raw-1","method":"tools/call","params":{"name":"pay","arguments":{"amount_usd":1e309}}}',
    });
    const body = await res.text();
    expect(body).toContain('"code":-32602');
    expect(body).toContain('must be a finite number');
  });

  it('refuses two different default amounts (a free amount_usd beside an expensive amount)', async () => {
    const both = (amount: number, amountUsd: number) =>
      client.callTool({ name: 'charge', arguments: { amount, amount_usd: amountUsd } });
    const refused = await failure(both(1000, 0));
    expect(refused.code).toBe(-32602);
    expect(refused.message).toContain('disagree');
    // The same amount twice is one amount: held like any other call at or above the threshold.
    expect((await failure(both(10, 10))).code).toBe(-32004);
    expect(textOf(await both(1, 1))).toBe('paid 1');
  });

  it('refuses an amount too large to count exactly', async () => {
    const refused = await failure(pay(client, 1e12));
    expect(refused.code).toBe(-32602);
    expect(refused.message).toContain('largest amount');
  });
});

describe('approval expiry and restarts', () => {
  it('expired → -32015 once, then a new approval', async () => {
    const gw = await startGateway(
      `policies:\n  require_approval_above: 1\n  approval_ttl: 1s\nservers:\n${stdioTestServer('wallet')}`,
    );
    const client = await connectHttp(gw.url);
    const held = await failure(pay(client, 3, 'x'));
    const id = (held.data as { approval_id: string }).approval_id;
    await new Promise((r) => setTimeout(r, 1_200));
    const expired = await failure(pay(client, 3, 'x'));
    expect(expired.code).toBe(-32015);
    expect(expired.data).toMatchObject({ approval_id: id });
    const renewed = await failure(pay(client, 3, 'x'));
    expect(renewed.code).toBe(-32004);
    expect((renewed.data as { approval_id: string }).approval_id).not.toBe(id);
    await client.close();
    await gw.close();
  });

  it('a restart between hold and approve: the approval lives in the SQLite file', async () => {
    let gw = await startGateway(
      `policies:\n  require_approval_above: 1\n  approval_ttl: 1h\nservers:\n${stdioTestServer('wallet')}`,
    );
    let client = await connectHttp(gw.url);
    const held = await failure(pay(client, 3, 'x'));
    const id = (held.data as { approval_id: string }).approval_id;
    await client.close();
    await gw.close();
    expect((await runCli(['approvals', 'approve', id, '--config', gw.configFile])).code).toBe(0);
    gw = await startGatewayOn(gw.configFile);
    client = await connectHttp(gw.url);
    expect(textOf(await pay(client, 3, 'x'))).toBe('paid 3');
    expect((await failure(pay(client, 3, 'x'))).code).toBe(-32004); // consumed: the next one is held again
    await client.close();
    await gw.close();
  });
});

describe('spend caps', () => {
  it('50 concurrent $3 calls against a $100 cap: exactly 33 succeed, 17 get -32013, $99 spent — over two gateway processes on one SQLite file', async () => {
    const yaml = `policies:\n  spend_cap_usd: 100\nservers:\n${stdioTestServer('wallet', '    isolation: shared\n')}`;
    const a = await startGateway(yaml);
    // The second gateway is another OS process on the same state file.
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/paths.js');
    const other = spawn(process.execPath, [CLI, 'serve-http', '--config', a.configFile, '--port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'info' },
    });
    const otherUrl = await new Promise<string>((resolve, reject) => {
      let err = '';
      other.stderr.on('data', (c: Buffer) => {
        err += c.toString();
        const m = /listening on (\S+)/.exec(err);
        if (m) resolve(m[1] as string);
      });
      other.once('exit', (code) => reject(new Error(`second gateway exited ${code}: ${err}`)));
    });
    try {
      const clients = await Promise.all([
        ...Array.from({ length: 5 }, () => connectHttp(a.url)),
        ...Array.from({ length: 5 }, () => connectHttp(otherUrl)),
      ]);
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          pay(clients[i % clients.length] as Client, 3, `p${i}`).then(
            () => 'ok',
            (err: unknown) => (err instanceof McpError ? err.code : String(err)),
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(33);
      expect(outcomes.filter((o) => o === -32013)).toHaveLength(17);
      const capped = await failure(pay(clients[0] as Client, 3, 'one more'));
      expect(capped.data).toMatchObject({
        reason: 'spend_cap_exceeded',
        spent_usd: 99,
        cap_usd: 100,
        amount_usd: 3,
        window_resets_at: expect.any(Number),
      });
      const store = new SqliteStateStore(path.join(a.dir, 'mcp-guard.db'));
      const { windowStart } = await import('../../src/stages/spend/spend-stage.js');
      expect(await store.getSpend('agent:anonymous', windowStart(Date.now(), 86_400_000))).toBe(99_000_000);
      await store.close();
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      other.kill('SIGTERM');
      await a.close();
    }
  });

  it('a held call reserves nothing, and an approved retry refused by the cap keeps its approval', async () => {
    const gw = await startGateway(
      `policies:\n  spend_cap_usd: 10\n  require_approval_above: 5\nservers:\n${stdioTestServer('wallet')}`,
    );
    const client = await connectHttp(gw.url);
    const held = await failure(pay(client, 6, 'big'));
    expect(held.code).toBe(-32004);
    const id = (held.data as { approval_id: string }).approval_id;
    // $9.98 fits under the $10 cap only if the held $6 was given back.
    expect(textOf(await pay(client, 4.99, 'a'))).toBe('paid 4.99');
    expect(textOf(await pay(client, 4.99, 'b'))).toBe('paid 4.99');
    expect((await runCli(['approvals', 'approve', id, '--config', gw.configFile])).code).toBe(0);
    const capped = await failure(pay(client, 6, 'big'));
    expect(capped.code).toBe(-32013);
    const shown = await runCli(['approvals', 'show', id, '--json', '--config', gw.configFile]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, status: 'approved' });
    await client.close();
    await gw.close();
  });

  it('reads amounts through a cost rule with a scale (cents → dollars) and a fixed price', async () => {
    const gw = await startGateway(`
policies:
  spend_cap_usd: 1
  tools:
    charge: { cost: { argument: amount, scale: 0.01 } }
    echo: { cost: { usd: 0.4 } }
servers:
${stdioTestServer('wallet')}`);
    const client = await connectHttp(gw.url);
    expect(textOf(await client.callTool({ name: 'charge', arguments: { amount: 50 } }))).toBe('paid 50');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'a' } }))).toBe('a');
    const over = await failure(client.callTool({ name: 'echo', arguments: { message: 'b' } }));
    expect(over.code).toBe(-32013);
    expect(over.data).toMatchObject({ spent_usd: 0.9, cap_usd: 1, amount_usd: 0.4 });
    expect((await failure(client.callTool({ name: 'charge', arguments: {} }))).code).toBe(-32602);
    await client.close();
    await gw.close();
  });
});
