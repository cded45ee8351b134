/**
 * `policies.approval_mode: wait`: the held call stays open. An SDK client's call completes with the tool's
 * result soon after `mcp-guard approvals approve` (another process, same store), the tool runs once; the
 * agent hears progress while it waits and, declaring URL-mode elicitation, is sent the approval's page.
 * A denial answers -32014; running out of `approval_wait` answers -32004 and the retry path still works.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { runCli, waitFor } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

interface Listed {
  id: string;
  status: string;
  args: Record<string, unknown>;
}

async function pendingFor(gw: TestGateway, to: string): Promise<Listed> {
  let found: Listed | undefined;
  await waitFor(
    async () => {
      const list = await runCli(['approvals', 'list', '--json', '--config', gw.configFile]);
      found = (JSON.parse(list.stdout) as Listed[]).find((a) => a.args['to'] === to);
      return found !== undefined;
    },
    15_000,
    `the pending approval for ${to}`,
  );
  return found as Listed;
}

describe('approval_mode: wait', () => {
  let gw: TestGateway;
  let client: Client;
  const elicitations: Array<Record<string, unknown>> = [];
  const completed: string[] = [];

  beforeAll(async () => {
    gw = await startGateway(`
policies:
  require_approval_above: 5
  approval_mode: wait
  approval_wait: 30s
  audit_log: ./audit.jsonl
servers:
${stdioTestServer('wallet')}`);
    client = new Client(
      { name: 'waiting-agent', version: '1.0.0' },
      { capabilities: { elicitation: { form: {}, url: {} } } },
    );
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicitations.push(request.params as Record<string, unknown>);
      return { action: 'accept' };
    });
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      completed.push(n.params.elicitationId);
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  const payCalls = async () =>
    JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))).pay_calls as number;

  it('holds the call open; `approvals approve` completes it with the result within 3 s; the tool ran once', async () => {
    const before = await payCalls();
    const progress: Progress[] = [];
    const call = client.callTool(
      { name: 'pay', arguments: { amount_usd: 25, to: 'bob' } },
      CallToolResultSchema,
      {
        onprogress: (p) => progress.push(p),
        resetTimeoutOnProgress: true,
        timeout: 60_000,
      },
    );
    let settled = false;
    void call.then(
      () => (settled = true),
      () => (settled = true),
    );
    const held = await pendingFor(gw, 'bob');
    expect(held.status).toBe('pending');
    // Still open, with progress and the approval's page sent to the agent.
    await waitFor(() => progress.length >= 1 && elicitations.length >= 1, 5_000, 'progress and elicitation');
    expect(settled).toBe(false);
    expect(progress[0]?.message).toContain(held.id);
    expect(elicitations[0]).toMatchObject({
      mode: 'url',
      url: `${gw.url.replace(/\/mcp$/, '')}/ui/approvals/${held.id}`,
      elicitationId: expect.stringContaining(held.id),
    });

    const approved = await runCli(['approvals', 'approve', held.id, '--config', gw.configFile]);
    expect(approved.code).toBe(0);
    const decidedAt = Date.now();
    const result = await call;
    expect(Date.now() - decidedAt).toBeLessThan(3_000);
    expect(textOf(result)).toBe('paid 25');
    expect((await payCalls()) - before).toBe(1);
    // The approval was used up by this call; the page's elicitation is complete.
    const shown = await runCli(['approvals', 'show', held.id, '--json', '--config', gw.configFile]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: held.id, status: 'consumed' });
    await waitFor(() => completed.includes(elicitations[0]?.['elicitationId'] as string), 5_000, 'complete');
  });

  it('a denial answers the waiting call with -32014 and the reason; nothing runs', async () => {
    const before = await payCalls();
    const call = failure(client.callTool({ name: 'pay', arguments: { amount_usd: 40, to: 'mallory' } }));
    const held = await pendingFor(gw, 'mallory');
    expect(
      (await runCli(['approvals', 'deny', held.id, '--reason', 'unknown payee', '--config', gw.configFile]))
        .code,
    ).toBe(0);
    const err = await call;
    expect(err.code).toBe(-32014);
    expect(err.data).toMatchObject({ approval_id: held.id, reason: 'unknown payee' });
    expect((await payCalls()) - before).toBe(0);
  });

  it('a client without a progress token or URL elicitation simply waits', async () => {
    const plain = await connectHttp(gw.url, { name: 'plain-agent' });
    const seen = elicitations.length;
    const call = plain.callTool({ name: 'pay', arguments: { amount_usd: 6, to: 'plain' } });
    const held = await pendingFor(gw, 'plain');
    expect((await runCli(['approvals', 'approve', held.id, '--config', gw.configFile])).code).toBe(0);
    expect(textOf(await call)).toBe('paid 6');
    expect(elicitations.length).toBe(seen);
    await plain.close();
  });
});

describe('approval_mode: wait, out of time', () => {
  it('answers -32004 with the id after approval_wait; once approved, the retry runs at once', async () => {
    const gw = await startGateway(`
policies:
  require_approval_above: 5
  approval_mode: wait
  approval_wait: 1s
servers:
${stdioTestServer('wallet')}`);
    const client = await connectHttp(gw.url);
    try {
      const started = Date.now();
      const held = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 9, to: 'late' } }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(held.code).toBe(-32004);
      const id = (held.data as { approval_id: string }).approval_id;
      expect(id).toMatch(/^apr_/);
      expect((await runCli(['approvals', 'approve', id, '--config', gw.configFile])).code).toBe(0);
      const retried = Date.now();
      expect(textOf(await client.callTool({ name: 'pay', arguments: { amount_usd: 9, to: 'late' } }))).toBe(
        'paid 9',
      );
      expect(Date.now() - retried).toBeLessThan(900); // it did not wait: the approval was there
    } finally {
      await client.close();
      await gw.close();
    }
  });
});

describe('approval_mode: wait, the approval expires first', () => {
  it('answers -32015 when approval_ttl runs out before approval_wait', async () => {
    const gw = await startGateway(`
policies:
  require_approval_above: 5
  approval_mode: wait
  approval_wait: 30s
  approval_ttl: 1s
servers:
${stdioTestServer('wallet')}`);
    const client = await connectHttp(gw.url);
    try {
      const started = Date.now();
      const err = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 9, to: 'slow' } }));
      expect(err.code).toBe(-32015);
      expect(Date.now() - started).toBeLessThan(5_000);
      // Reported once: the next identical call asks anew (and waits for that one).
      const id = (err.data as { approval_id: string }).approval_id;
      const again = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 9, to: 'slow' } }));
      expect(again.code).toBe(-32015);
      expect((again.data as { approval_id: string }).approval_id).not.toBe(id);
    } finally {
      await client.close();
      await gw.close();
    }
  });
});

describe('approval_mode: wait, a 2026-07-28 client', () => {
  it("is shown the approval's page as an input_required URL elicitation, and gets the result once approved", async () => {
    const { Client: ClientV2, StreamableHTTPClientTransport: TransportV2 } = await import(
      '@modelcontextprotocol/client'
    );
    const gw = await startGateway(`
policies:
  require_approval_above: 5
  approval_mode: wait
  approval_wait: 30s
servers:
${stdioTestServer('wallet')}`);
    const client = new ClientV2(
      { name: 'modern-waiting-agent', version: '1.0.0' },
      { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    const shown: Array<Record<string, unknown>> = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      shown.push(request.params as Record<string, unknown>);
      return { action: 'accept' };
    });
    await client.connect(new TransportV2(new URL(gw.url)));
    try {
      const call = client.callTool({ name: 'pay', arguments: { amount_usd: 30, to: 'modern' } });
      const held = await pendingFor(gw, 'modern');
      await waitFor(() => shown.length >= 1, 5_000, 'the URL elicitation');
      expect(shown[0]).toMatchObject({
        mode: 'url',
        url: expect.stringContaining(`/ui/approvals/${held.id}`),
      });
      expect((await runCli(['approvals', 'approve', held.id, '--config', gw.configFile])).code).toBe(0);
      const result = await call;
      expect(JSON.stringify(result.content)).toContain('paid 30');
    } finally {
      await client.close();
      await gw.close();
    }
  });
});
