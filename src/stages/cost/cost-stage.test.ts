/** The cost stage and amount extraction in process: fixed prices, argument paths, refused amounts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configOf, contextOf, forwardNext, thrown, toolTarget } from '../../../test/helpers/stage-context.js';
import { WireError } from '../../core/errors.js';
import { amountOf } from './amount.js';
import { costStage } from './cost-stage.js';

const pay = (args: unknown) =>
  contextOf({ agent: 'a', target: toolTarget('pay'), params: { name: 'pay', arguments: args } });

describe('cost stage', () => {
  it('is left out when nothing uses amounts', () => {
    expect(costStage(configOf({}))).toBeUndefined();
  });

  it('reads amount_usd, then amount; a fixed price or an argument path with a scale when configured', async () => {
    const stage = costStage(
      configOf({
        policies: {
          spend_cap_usd: 100,
          tools: {
            'fs.fee': { cost: { usd: 0.02 } },
            charge: { cost: { argument: 'order.cents', scale: 0.01 } },
          },
        },
      }),
    )!;
    const cases: Array<[string, unknown, number | undefined]> = [
      ['pay', { amount_usd: 4.99 }, 4.99],
      ['pay', { amount: 5 }, 5],
      ['pay', { to: 'bob' }, undefined],
      ['fee', { anything: 1 }, 0.02],
      ['charge', { order: { cents: 1250 } }, 12.5],
    ];
    for (const [tool, args, amount] of cases) {
      const ctx = contextOf({
        agent: 'a',
        target: toolTarget(tool),
        params: { name: tool, arguments: args },
      });
      await stage(ctx, forwardNext(ctx));
      expect(ctx.decision.amountUsd, tool).toBe(amount);
    }
  });

  it('refuses a non-numeric, negative, non-finite, disagreeing or missing-when-required amount with -32602', async () => {
    const stage = costStage(
      configOf({ policies: { spend_cap_usd: 100, tools: { charge: { cost: { argument: 'cents' } } } } }),
    )!;
    for (const args of [
      { amount_usd: '5' },
      { amount_usd: -1 },
      { amount: null },
      { amount: 5, amount_usd: 0 },
      { amount_usd: 2e9 },
    ]) {
      const ctx = pay(args);
      expect(await thrown(() => stage(ctx, forwardNext(ctx))), JSON.stringify(args)).toMatchObject({
        code: -32602,
      });
      expect(ctx.forwarded).toBe(0);
    }
    const missing = contextOf({
      agent: 'a',
      target: toolTarget('charge'),
      params: { name: 'charge', arguments: {} },
    });
    expect(await thrown(() => stage(missing, forwardNext(missing)))).toMatchObject({ code: -32602 });
  });
});

describe('amountOf (property)', () => {
  it('returns a finite, non-negative, bounded number or refuses with -32602 — never anything else', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.oneof(
          fc.constant(undefined),
          fc.constant({ kind: 'argument' as const, path: ['a', 'b'], scale: 0.01 }),
        ),
        (args, rule) => {
          try {
            const amount = amountOf(rule, args);
            if (amount !== undefined) {
              expect(Number.isFinite(amount)).toBe(true);
              expect(amount).toBeGreaterThanOrEqual(0);
              expect(amount).toBeLessThanOrEqual(1e9);
            }
          } catch (err) {
            expect(err).toBeInstanceOf(WireError);
            expect((err as WireError).code).toBe(-32602);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('reads own properties only: __proto__ and constructor keys cannot smuggle an amount', () => {
    const args = JSON.parse(
      '{"__proto__": {"amount_usd": 100}, "constructor": {"prototype": {"amount": 7}}}',
    );
    expect(amountOf(undefined, args)).toBeUndefined();
    expect(({} as Record<string, unknown>)['amount_usd']).toBeUndefined();
  });
});
