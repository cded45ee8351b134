import { type Authenticator, AuthFailure } from '../../auth/authenticator.js';
import { WireError } from '../../core/errors.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';

/**
 * Makes sure every request has a verified caller. Over HTTP the front has already authenticated the
 * request (a failure never reaches the pipeline: it is a 401). Over stdio the key comes from the `serve`
 * process' MCP_GUARD_API_KEY and is checked on every request (a JWT there can expire mid-session); a
 * missing or wrong key fails every request with -32010. Left out entirely when auth.mode is none.
 */
export function authenticateStage(
  auth: Authenticator,
  env: NodeJS.ProcessEnv,
): Stage<RequestContext> | undefined {
  if (!auth.enabled) return undefined;
  return namedStage('authenticate', async (ctx, next) => {
    if (ctx.session.transport === 'stdio') {
      const result = await auth.stdioPrincipal(env);
      if (result instanceof AuthFailure) {
        throw new WireError(
          'unauthenticated',
          `Unauthenticated: ${result.message}; set MCP_GUARD_API_KEY in the agent's config for this server`,
        );
      }
      ctx.principal = result;
    } else if (!ctx.principal) {
      throw new WireError('unauthenticated', 'Unauthenticated');
    }
    await next();
  });
}
