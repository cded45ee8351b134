import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';

/** The last stage: executes the request on its backend(s) and leaves the outcome in the context. */
export function forwardStage(): Stage<RequestContext> {
  return namedStage('forward', async (ctx) => {
    await ctx.relay.forward(ctx);
  });
}
