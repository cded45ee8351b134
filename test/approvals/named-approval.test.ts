/**
 * Bug B4 (issue 14): a retry naming an approval id that does not exist (or that belongs to another call)
 * created a new pending approval, which then shadowed the already-approved one for the identical call:
 * the approved call could never run. An unknown id must not hide an approval.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

describe('a retry naming the wrong approval id (B4)', () => {
  let gw: TestGateway;
  let client: Client;
  const cli = (...args: string[]) => runCli([...args, '--config', gw.configFile]);
  const payCount = async () =>
    JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))).pay_calls as number;

  beforeAll(async () => {
    gw = await startGateway(`policies:\n  require_approval_above: 5\nservers:\n${stdioTestServer('wallet')}`);
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  for (const [label, named] of [
    ['an unknown id', 'apr_00000000000000000000'],
    ['an id of another call', 'other'],
  ] as const) {
    it(`${label}: the approved identical call still runs exactly once, and no new approval is queued`, async () => {
      const to = `payee-${label.length}`;
      const call = (meta?: string) =>
        client.callTool({
          name: 'pay',
          arguments: { amount_usd: 12, to },
          ...(meta ? { _meta: { 'mcp-guard/approval_id': meta } } : {}),
        });
      const held = await failure(call());
      const id = (held.data as { approval_id: string }).approval_id;
      expect((await cli('approvals', 'approve', id)).code).toBe(0);

      let wrong: string = named;
      if (named === 'other') {
        // A real approval, but for another call (other arguments).
        const other = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 12, to: 'x' } }));
        wrong = (other.data as { approval_id: string }).approval_id;
      }
      const before = await payCount();
      // The named id approves nothing here, but the identical call's own approval is used.
      expect(textOf(await call(wrong))).toBe('paid 12');
      expect((await payCount()) - before).toBe(1);
      const shown = JSON.parse((await cli('approvals', 'show', id, '--json')).stdout);
      expect(shown).toMatchObject({ id, status: 'consumed' });
      // Consumed: the next identical call is held again, under a new id.
      const again = await failure(call());
      expect(again.code).toBe(-32004);
      expect((again.data as { approval_id: string }).approval_id).not.toBe(id);
    });
  }

  it('an unknown id on a call that was never approved holds it like any other (one pending entry)', async () => {
    const call = (meta?: string) =>
      client.callTool({
        name: 'pay',
        arguments: { amount_usd: 30, to: 'zed' },
        ...(meta ? { _meta: { 'mcp-guard/approval_id': meta } } : {}),
      });
    const first = await failure(call('apr_ffffffffffffffffffff'));
    const second = await failure(call());
    expect(first.code).toBe(-32004);
    expect((second.data as { approval_id: string }).approval_id).toBe(
      (first.data as { approval_id: string }).approval_id,
    );
  });
});
