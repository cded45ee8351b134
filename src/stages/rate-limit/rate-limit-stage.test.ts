/** The rate-limit stage in process, on a real SQLite store: scopes, all-or-nothing, what is counted. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  configOf,
  contextOf,
  forwardNext,
  tempStore,
  thrown,
  toolTarget,
} from '../../../test/helpers/stage-context.js';
import type { SqliteStateStore } from '../../stores/sqlite-store.js';
import { rateLimitStage } from './rate-limit-stage.js';

let store: SqliteStateStore;
afterEach(async () => {
  await store?.close();
});

const call = (agent: string, tool = 'echo') => contextOf({ agent, target: toolTarget(tool) });

describe('rate-limit stage', () => {
  it('is left out when no limit is configured', () => {
    store = tempStore();
    expect(rateLimitStage(configOf({}), store)).toBeUndefined();
  });

  it('lets N calls a minute through per agent, refuses the next with -32012 and retry_after_s', async () => {
    store = tempStore();
    const stage = rateLimitStage(configOf({ rate_limit: { requests_per_minute: 3 } }), store)!;
    for (let i = 0; i < 3; i++) {
      const ok = call('alice');
      await stage(ok, forwardNext(ok));
      expect(ok.forwarded).toBe(1);
    }
    const refused = call('alice');
    const err = await thrown(() => stage(refused, forwardNext(refused)));
    expect(err).toMatchObject({ code: -32012, data: { reason: 'rate_limited', scope: 'agent' } });
    expect((err as { data: { retry_after_s: number } }).data.retry_after_s).toBeGreaterThanOrEqual(1);
    expect(refused.forwarded).toBe(0);
    // Another agent has its own bucket.
    const bob = call('bob');
    await stage(bob, forwardNext(bob));
    expect(bob.forwarded).toBe(1);
  });

  it('a refusal by one scope consumes nothing from the others (all or nothing)', async () => {
    store = tempStore();
    const stage = rateLimitStage(
      configOf({ rate_limit: { requests_per_minute: 2, per_tool: { 'fs.pay': 1 } } }),
      store,
    )!;
    const pay = call('alice', 'pay');
    await stage(pay, forwardNext(pay));
    const payAgain = call('alice', 'pay');
    expect(await thrown(() => stage(payAgain, forwardNext(payAgain)))).toMatchObject({
      data: { scope: 'tool' },
    });
    // The refused pay took no agent token: one echo still fits in the agent's 2.
    const echo = call('alice');
    await stage(echo, forwardNext(echo));
    expect(echo.forwarded).toBe(1);
    const over = call('alice');
    expect(await thrown(() => stage(over, forwardNext(over)))).toMatchObject({ data: { scope: 'agent' } });
  });

  it('the global limit counts everyone; housekeeping (lists, ping) is never counted', async () => {
    store = tempStore();
    const stage = rateLimitStage(configOf({ rate_limit: { global_requests_per_minute: 1 } }), store)!;
    for (let i = 0; i < 5; i++) {
      const list = contextOf({ method: 'tools/list', agent: 'alice' });
      await stage(list, forwardNext(list));
    }
    const first = call('alice');
    await stage(first, forwardNext(first));
    const second = call('bob');
    expect(await thrown(() => stage(second, forwardNext(second)))).toMatchObject({
      data: { scope: 'global' },
    });
  });
});
