/**
 * The spend stage in process, on a real SQLite store: caps per agent and global, atomic reservations,
 * and the rule for giving a reservation back (only when the call can never have reached a backend).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  configOf,
  contextOf,
  forwardNext,
  tempStore,
  thrown,
  toolTarget,
} from '../../../test/helpers/stage-context.js';
import { markNeverSent, WireError } from '../../core/errors.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { SqliteStateStore } from '../../stores/sqlite-store.js';
import { spendStage, windowStart } from './spend-stage.js';

const DAY = 86_400_000;
let store: SqliteStateStore;
afterEach(async () => {
  await store?.close();
});

function call(amount: number, agent = 'alice') {
  const ctx = contextOf({ agent, target: toolTarget('pay'), params: { name: 'pay', arguments: {} } });
  ctx.decision.amountUsd = amount;
  return ctx;
}

const spent = (key = 'agent:alice') => store.getSpend(key, windowStart(Date.now(), DAY));

describe('spend stage', () => {
  it('is left out when no cap is configured', () => {
    store = tempStore();
    expect(spendStage(configOf({}), store)).toBeUndefined();
  });

  it('reserves before forwarding and refuses the call that would pass the cap with -32013', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const first = call(6);
    await stage(first, forwardNext(first));
    expect(first.forwarded).toBe(1);
    expect(await spent()).toBe(6_000_000);

    const second = call(4.01);
    const err = await thrown(() => stage(second, forwardNext(second)));
    expect(err).toBeInstanceOf(WireError);
    expect(err).toMatchObject({
      code: -32013,
      data: { reason: 'spend_cap_exceeded', spent_usd: 6, cap_usd: 10, amount_usd: 4.01 },
    });
    expect(second.forwarded).toBe(0);
    expect(second.decision.decision).toBe('spend_capped');
    // Exactly up to the cap is fine.
    const third = call(4);
    await stage(third, forwardNext(third));
    expect(await spent()).toBe(10_000_000);
  });

  it('never lets concurrent calls overshoot the cap together', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const calls = Array.from({ length: 20 }, () => call(1));
    const outcomes = await Promise.all(calls.map((c) => thrown(() => stage(c, forwardNext(c)))));
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(10);
    expect(await spent()).toBe(10_000_000);
  });

  it('applies the per-agent cap over the global default, and the global cap to everyone together', async () => {
    store = tempStore();
    const config = configOf({
      policies: { spend_cap_usd: 5, global_spend_cap_usd: 8 },
      agents: { bob: { spend_cap_usd: 100 } },
    });
    const stage = spendStage(config, store)!;
    const bob = call(7, 'bob');
    await stage(bob, forwardNext(bob));
    const alice = call(2, 'alice');
    expect(await thrown(() => stage(alice, forwardNext(alice)))).toMatchObject({ code: -32013 });
    expect(alice.decision.reason).toBe('global spend cap');
    expect(await spent('global')).toBe(7_000_000);
  });

  it('gives the reservation back when a later stage refuses the call', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const held = call(9);
    const err = await thrown(() =>
      stage(held, async () => {
        throw new WireError('approval_pending', 'held');
      }),
    );
    expect(err).toMatchObject({ code: -32004 });
    expect(await spent()).toBe(0);
  });

  it('keeps it once the request was sent, even if the backend then fails', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const ctx = call(3);
    await thrown(() =>
      stage(ctx, async () => {
        ctx.sent = true;
        throw new WireError('backend_unavailable', 'crashed mid-call', { server: 'fs' });
      }),
    );
    expect(await spent()).toBe(3_000_000);
  });

  it('gives it back when the request failed before a byte left, though forwarding had begun (B3)', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const ctx: RequestContext = call(3);
    // What the backend connection reports for a closed connection, a cancelled caller or a message it
    // could not serialise: the router had already set `sent`.
    const err = await thrown(() =>
      stage(ctx, async () => {
        ctx.sent = true;
        throw markNeverSent(
          new WireError('backend_unavailable', 'Backend "fs" is unavailable', { server: 'fs' }),
        );
      }),
    );
    expect(err).toMatchObject({ code: -32016 });
    expect(await spent()).toBe(0);
  });

  it('does nothing for calls without an amount or other methods', async () => {
    store = tempStore();
    const stage = spendStage(configOf({ policies: { spend_cap_usd: 10 } }), store)!;
    const free = call(0);
    await stage(free, forwardNext(free));
    const list = contextOf({ method: 'tools/list', agent: 'alice' });
    await stage(list, forwardNext(list));
    expect(free.forwarded + list.forwarded).toBe(2);
    expect(await spent()).toBe(0);
  });
});
