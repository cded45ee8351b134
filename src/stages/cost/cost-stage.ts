import type { GuardConfig } from '../../config/types.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import { amountOf, costRuleFor } from './amount.js';

/**
 * Works out the amount of a tools/call (for approvals, spend caps and the audit record); refuses an
 * invalid amount with -32602 before anything else happens. Left out when nothing uses amounts.
 */
export function costStage(config: GuardConfig): Stage<RequestContext> | undefined {
  const p = config.policies;
  const used =
    p.spendCapUsd !== undefined ||
    p.globalSpendCapUsd !== undefined ||
    p.requireApprovalAbove !== undefined ||
    Object.keys(p.tools).length > 0 ||
    Object.values(config.agents).some(
      (a) => a.spendCapUsd !== undefined || a.requireApprovalAbove !== undefined,
    );
  if (!used) return undefined;
  return namedStage('cost', async (ctx, next) => {
    const target = ctx.target;
    if (ctx.method === 'tools/call' && target?.kind === 'tool') {
      const amount = amountOf(costRuleFor(config, target.server, target.name), ctx.params['arguments']);
      if (amount !== undefined) ctx.decision.amountUsd = amount;
    }
    await next();
  });
}
