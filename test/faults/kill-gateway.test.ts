/**
 * `kill -9` of a gateway under load: no answered call is missing from the audit log, no spend is lost,
 * no approval is lost, and a restart on the same files works (the torn audit tail, if any, is repaired
 * and the chain verifies).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { windowStart } from '../../src/stages/spend/spend-stage.js';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, writeConfig } from '../helpers/gateway.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { runCli } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

interface Outcome {
  readonly tag: string;
  readonly amount: number;
  readonly result?: string;
  readonly approvalId?: string;
}

describe('kill -9 of the gateway under load', () => {
  it('loses no answered call, no spend and no approval, and restarts on the same files', {
    timeout: 60_000,
  }, async () => {
    const config = writeConfig(`
policies:
  spend_cap_usd: 100000
  require_approval_above: 50
  audit_log: ./audit.jsonl
  audit:
    fsync: never
servers:
${stdioTestServer('wallet', '    isolation: shared\n')}`);
    const dir = path.dirname(config);
    const gw = await startGatewayProcess(config);
    const clients: Client[] = await Promise.all(Array.from({ length: 4 }, () => connectHttp(gw.url)));
    const outcomes: Outcome[] = [];
    let stop = false;
    let n = 0;
    const worker = async (client: Client, w: number) => {
      while (!stop) {
        const i = n++;
        const tag = `w${w}-${i}`;
        const amount = i % 10 === 9 ? 60 : (i % 3) + 1; // every tenth call is held for approval
        try {
          const result = await client.callTool(
            { name: 'pay', arguments: { amount_usd: amount, to: tag } },
            undefined,
            {
              // A call cut off by the kill is given up quickly (it was not answered).
              timeout: 3_000,
            },
          );
          outcomes.push({ tag, amount, result: textOf(result) });
        } catch (err) {
          if (err instanceof McpError && err.code === -32004)
            outcomes.push({ tag, amount, approvalId: (err.data as { approval_id: string }).approval_id });
          // anything else (the connection dropping at the kill) is not an answer
        }
      }
    };
    const running = clients.map((c, w) => worker(c, w));
    await new Promise((r) => setTimeout(r, 1_500));
    gw.child.kill('SIGKILL');
    stop = true;
    await Promise.allSettled(running);
    await gw.stop();
    for (const c of clients) await c.close().catch(() => {});

    const paid = outcomes.filter((o) => o.result !== undefined);
    const held = outcomes.filter((o) => o.approvalId !== undefined);
    expect(paid.length).toBeGreaterThan(20);
    expect(held.length).toBeGreaterThan(0);

    // 1. Every answered call is in the audit log: its decision and its result, written before the answer.
    const lines = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').split('\n');
    const complete = lines
      .filter((l) => l.endsWith('}'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const resultTags = new Set(
      complete.filter((r) => r['event'] === 'result').map((r) => (r['args'] as { to: string }).to),
    );
    for (const o of paid) expect(resultTags.has(o.tag), o.tag).toBe(true);
    const heldTags = new Set(
      complete
        .filter((r) => r['decision'] === 'held' && r['event'] === 'call')
        .map((r) => (r['args'] as { to: string }).to),
    );
    for (const o of held) expect(heldTags.has(o.tag), o.tag).toBe(true);

    // 2. No spend lost: the store counts at least every answered payment (it may count calls cut off
    //    after they were sent: those may have been paid).
    const store = new SqliteStateStore(path.join(dir, 'mcp-guard.db'));
    try {
      const spent = await store.getSpend('agent:anonymous', windowStart(Date.now(), 86_400_000));
      const answered = paid.reduce((sum, o) => sum + o.amount, 0);
      expect(spent).toBeGreaterThanOrEqual(answered * 1_000_000);
      // 3. No approval lost: every -32004 the agents heard is pending in the store.
      for (const o of held) expect((await store.getApproval(o.approvalId as string))?.status).toBe('pending');
    } finally {
      await store.close();
    }

    // 4. The restart works on the same files: an approval made meanwhile lets its call through once.
    const restarted = await startGatewayProcess(config);
    try {
      const client = await connectHttp(restarted.url);
      const first = held[0] as Outcome;
      expect(
        (await runCli(['approvals', 'approve', first.approvalId as string, '--config', config])).code,
      ).toBe(0);
      const retried = await client.callTool({
        name: 'pay',
        arguments: { amount_usd: first.amount, to: first.tag },
      });
      expect(textOf(retried)).toBe(`paid ${first.amount}`);
      await client.close();
    } finally {
      await restarted.stop();
    }
    const verify = await runCli(['audit', 'verify', '--config', config]);
    expect(verify.stderr.replace(/^.*warning.*$/gm, '').trim()).toBe('');
    expect(verify.code).toBe(0);
  });
});
