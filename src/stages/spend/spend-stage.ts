/**
 * Spend caps (SPEC §2): each agent's spend per window (`spend_cap_usd`, overridable per agent) and all
 * agents' spend together (`global_spend_cap_usd`). The amount is reserved in ONE atomic store operation
 * right before the call is forwarded — every bucket or none — so N concurrent calls can never overshoot a
 * cap together, and replicas on a shared store share the caps. Money is counted in integer micro-dollars.
 *
 * A reservation is given back only when the call provably never reached the backend: a later stage refused
 * it (held for approval, audit write failed), the backend was unavailable before the request was sent, or
 * the request failed before a byte of it left (closed connection, cancelled first, unserialisable — marked
 * by markNeverSent). Once a call was sent, its amount stays spent even if the backend fails or times out:
 * it may have been paid, and a cap must not be bypassable by failing calls.
 */
import type { GuardConfig } from '../../config/types.js';
import { WireError, wasNeverSent } from '../../core/errors.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import { fromMicros, type SpendBucket, type StateStore, toMicros } from '../../stores/state-store.js';

/** Start of the fixed window containing `nowMs` (windows are aligned to the epoch: 1d = UTC days). */
export function windowStart(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

export function spendStage(config: GuardConfig, store: StateStore): Stage<RequestContext> | undefined {
  const p = config.policies;
  const anyCap =
    p.spendCapUsd !== undefined ||
    p.globalSpendCapUsd !== undefined ||
    Object.values(config.agents).some((a) => a.spendCapUsd !== undefined);
  if (!anyCap) return undefined;
  const windowMs = p.spendWindowMs;

  return namedStage('spend', async (ctx, next) => {
    const amount = ctx.decision.amountUsd;
    if (ctx.method !== 'tools/call' || amount === undefined || amount === 0) return next();
    const agent = ctx.principal?.agent ?? 'anonymous';
    const agentCap = config.agents[agent]?.spendCapUsd ?? p.spendCapUsd;
    const buckets: SpendBucket[] = [
      { key: `agent:${agent}`, capMicros: agentCap === undefined ? null : toMicros(agentCap) },
    ];
    if (p.globalSpendCapUsd !== undefined)
      buckets.push({ key: 'global', capMicros: toMicros(p.globalSpendCapUsd) });
    const start = windowStart(Date.now(), windowMs);
    const amountMicros = toMicros(amount);
    const outcome = await store.reserveSpend({ amountMicros, windowStartMs: start, windowMs, buckets });
    if (!outcome.ok) {
      ctx.decision.decision = 'spend_capped';
      ctx.decision.reason = outcome.index === 0 ? 'agent spend cap' : 'global spend cap';
      const resetsAt = Math.floor((start + windowMs) / 1000);
      throw new WireError(
        'spend_cap_exceeded',
        `Spend cap exceeded: $${fromMicros(outcome.spentMicros).toFixed(2)} of $${fromMicros(outcome.capMicros).toFixed(2)} spent in this window; this call ($${amount.toFixed(2)}) would go over`,
        {
          spent_usd: fromMicros(outcome.spentMicros),
          cap_usd: fromMicros(outcome.capMicros),
          amount_usd: amount,
          window_resets_at: resetsAt,
        },
      );
    }
    try {
      await next();
    } catch (err) {
      // Only a call that never reached its backend gives its reservation back.
      if ((!ctx.sent || wasNeverSent(err)) && ctx.result === undefined) {
        await store.releaseSpend({ amountMicros, windowStartMs: start, keys: buckets.map((b) => b.key) });
      }
      throw err;
    }
  });
}
