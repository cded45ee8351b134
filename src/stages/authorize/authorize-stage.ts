import { WireError } from '../../core/errors.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { NamePolicy } from './name-policy.js';

/**
 * Refuses calls to tools, prompts and resources the agent may not use (-32011 forbidden), and removes
 * them from the agent's lists: what an agent may not call, it does not see. The same policy object
 * decides both, so a list and a call can never disagree.
 */
export function authorizeStage(policy: NamePolicy): Stage<RequestContext> | undefined {
  if (policy.empty) return undefined;
  return namedStage('authorize', async (ctx, next) => {
    const agent = ctx.principal?.agent ?? 'anonymous';
    const target = ctx.target;
    if (target) {
      const name = target.kind === 'resource' ? target.uri : target.name;
      const decision = policy.decide(agent, target.server, name, target.kind);
      if (!decision.allowed) {
        ctx.decision.decision = 'denied';
        ctx.decision.reason = decision.rule;
        throw new WireError(
          'forbidden',
          `Forbidden: ${target.kind} "${target.exposed}" is not allowed for agent "${agent}"`,
          {
            [target.kind]: target.exposed,
            ...(target.kind === 'tool' ? {} : { tool: target.exposed }),
          },
        );
      }
    }
    await next();
    if (ctx.listing) {
      // URI templates are patterns, not URIs: they are matched as written.
      const kind = ctx.listing.kind === 'resources' ? 'resource' : 'tool';
      ctx.listing.items = ctx.listing.items.filter(
        (item) => policy.decide(agent, item.server, item.name, kind).allowed,
      );
    }
  });
}
