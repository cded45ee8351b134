/**
 * The approval stage in process, on a real SQLite store: the round trip of SPEC §3 — held at or above the
 * threshold, the same call gets the same approval, one run per approval, changed arguments need a new
 * one, denied and expired outcomes.
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
import type { RequestContext } from '../../pipeline/context.js';
import type { SqliteStateStore } from '../../stores/sqlite-store.js';
import type { Approval } from '../../stores/state-store.js';
import { approvalStage } from './approval-stage.js';

let store: SqliteStateStore;
afterEach(async () => {
  await store?.close();
});

function setup(file: Record<string, unknown> = { policies: { require_approval_above: 5 } }) {
  store = tempStore();
  const created: Approval[] = [];
  const clock = { now: 1_000_000 };
  const stage = approvalStage({
    config: configOf(file),
    store,
    events: { created: async (a) => void created.push(a) },
    redact: (v) => v,
    now: () => clock.now,
  })!;
  return { stage, created, clock };
}

function call(
  amount: number,
  args: Record<string, unknown> = { to: 'bob' },
  agent = 'alice',
): RequestContext & { forwarded: number } {
  const ctx = contextOf({
    agent,
    target: toolTarget('pay'),
    params: { name: 'pay', arguments: { amount_usd: amount, ...args } },
  });
  ctx.decision.amountUsd = amount;
  return ctx;
}

const approvalIdOf = (err: unknown) => (err as { data: { approval_id: string } }).data.approval_id;

describe('approval stage', () => {
  it('is left out without any threshold', () => {
    store = tempStore();
    expect(
      approvalStage({ config: configOf({}), store, events: { created: async () => {} }, redact: (v) => v }),
    ).toBeUndefined();
  });

  it('holds at or above the threshold only: $4.99 runs, $5.00 and $5.01 wait (-32004)', async () => {
    const { stage, created } = setup();
    const below = call(4.99);
    await stage(below, forwardNext(below));
    expect(below.forwarded).toBe(1);
    for (const amount of [5, 5.01]) {
      const held = call(amount);
      const err = await thrown(() => stage(held, forwardNext(held)));
      expect(err).toMatchObject({
        code: -32004,
        data: { reason: 'approval_pending', tool: 'pay', amount_usd: amount },
      });
      expect(held.forwarded).toBe(0);
      expect(held.decision.decision).toBe('held');
    }
    expect(created).toHaveLength(2);
  });

  it('the same call gets the same approval; once approved, exactly one retry runs', async () => {
    const { stage, created, clock } = setup();
    const first = call(10);
    const id = approvalIdOf(await thrown(() => stage(first, forwardNext(first))));
    const again = call(10);
    expect(approvalIdOf(await thrown(() => stage(again, forwardNext(again))))).toBe(id);
    expect(created).toHaveLength(1);
    await store.decideApproval(id, {
      decision: 'approved',
      by: 'op',
      nowMs: clock.now,
      approvedTtlMs: 60_000,
    });
    const retry = call(10);
    await stage(retry, forwardNext(retry));
    expect(retry.forwarded).toBe(1);
    expect(retry.decision).toMatchObject({ decision: 'approved', approvalId: id });
    // Consumed: the next identical call asks anew.
    const fourth = call(10);
    const next = approvalIdOf(await thrown(() => stage(fourth, forwardNext(fourth))));
    expect(next).not.toBe(id);
  });

  it('changed arguments (or another agent) need their own approval', async () => {
    const { stage, clock } = setup();
    const first = call(10);
    const id = approvalIdOf(await thrown(() => stage(first, forwardNext(first))));
    await store.decideApproval(id, {
      decision: 'approved',
      by: 'op',
      nowMs: clock.now,
      approvedTtlMs: 60_000,
    });
    const otherArgs = call(10, { to: 'mallory' });
    expect(approvalIdOf(await thrown(() => stage(otherArgs, forwardNext(otherArgs))))).not.toBe(id);
    const otherAgent = call(10, { to: 'bob' }, 'eve');
    expect(approvalIdOf(await thrown(() => stage(otherAgent, forwardNext(otherAgent))))).not.toBe(id);
    expect(otherArgs.forwarded + otherAgent.forwarded).toBe(0);
  });

  it('a denied call answers -32014 with the reason; an expired approval -32015 once', async () => {
    const { stage, clock } = setup();
    const held = call(10);
    const id = approvalIdOf(await thrown(() => stage(held, forwardNext(held))));
    await store.decideApproval(id, {
      decision: 'denied',
      by: 'op',
      note: 'not in the budget',
      nowMs: clock.now,
      approvedTtlMs: 1,
    });
    const denied = call(10);
    expect(await thrown(() => stage(denied, forwardNext(denied)))).toMatchObject({
      code: -32014,
      data: { approval_id: id, reason: 'not in the budget' },
    });

    const other = call(20);
    const pendingId = approvalIdOf(await thrown(() => stage(other, forwardNext(other))));
    clock.now += 3_600_000 + 1; // past approval_ttl (1h by default)
    const late = call(20);
    expect(await thrown(() => stage(late, forwardNext(late)))).toMatchObject({
      code: -32015,
      data: { approval_id: pendingId },
    });
    const later = call(20);
    expect(await thrown(() => stage(later, forwardNext(later)))).toMatchObject({ code: -32004 });
  });

  it('a per-agent or per-tool threshold applies, the strictest winning', async () => {
    const { stage } = setup({
      policies: { require_approval_above: 100, tools: { pay: { require_approval_above: 50 } } },
      agents: { intern: { require_approval_above: 1 } },
    });
    const intern = call(2, {}, 'intern');
    expect(await thrown(() => stage(intern, forwardNext(intern)))).toMatchObject({ code: -32004 });
    const senior = call(60, {}, 'senior');
    expect(await thrown(() => stage(senior, forwardNext(senior)))).toMatchObject({ code: -32004 });
    const small = call(40, {}, 'senior');
    await stage(small, forwardNext(small));
    expect(small.forwarded).toBe(1);
  });
});
