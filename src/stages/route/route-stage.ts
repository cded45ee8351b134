import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';

/**
 * Resolves which backend and which original tool, prompt or resource a request addresses, so that
 * every policy stage after it decides on the canonical `server.tool`, never on the exposed alias.
 */
export function routeStage(): Stage<RequestContext> {
  return namedStage('route', async (ctx, next) => {
    ctx.target = await ctx.relay.resolve(ctx);
    await next();
  });
}
