import type { GuardConfig } from '../../config/types.js';
import { WireError } from '../../core/errors.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import { LocalTokens } from './local-tokens.js';
import type { TokenBucketStore } from './token-buckets.js';

/** The requests that count against limits: calls that reach a tool, prompt or resource. */
const GOVERNED = new Set(['tools/call', 'prompts/get', 'resources/read']);

type Scope = 'agent' | 'tool' | 'global';

/**
 * Rate limits (SPEC §2 `rate_limit`): per agent (`requests_per_minute`, overridable under
 * `agents.NAME.rate_limit`), per tool for each agent (`per_tool`), and global. All applicable buckets are
 * taken in ONE atomic store operation — all or nothing — so replicas on a shared store enforce one limit,
 * and a refused call consumes nothing. Protocol housekeeping (initialize, ping, lists) is not counted.
 */
export function rateLimitStage(
  config: GuardConfig,
  store: TokenBucketStore,
): Stage<RequestContext> | undefined {
  const rl = config.rateLimit;
  const anyAgentLimit = Object.values(config.agents).some(
    (a) => a.requestsPerMinute !== undefined || Object.keys(a.perTool).length > 0,
  );
  if (
    rl.requestsPerMinute === undefined &&
    rl.globalRequestsPerMinute === undefined &&
    Object.keys(rl.perTool).length === 0 &&
    !anyAgentLimit
  ) {
    return undefined;
  }
  const perMinute = (n: number) => ({ capacity: n, refillPerMs: n / 60_000 });
  // Tokens are taken from the store a few at a time when the rate calls for it (local-tokens.ts).
  const tokens = new LocalTokens(store);

  return namedStage('rate_limit', async (ctx, next) => {
    if (!GOVERNED.has(ctx.method)) return next();
    const agent = ctx.principal?.agent ?? 'anonymous';
    const agentConfig = config.agents[agent];
    const buckets: Array<{ key: string; capacity: number; refillPerMs: number }> = [];
    const scopes: Scope[] = [];

    const agentLimit = agentConfig?.requestsPerMinute ?? rl.requestsPerMinute;
    if (agentLimit !== undefined) {
      buckets.push({ key: `agent:${agent}`, ...perMinute(agentLimit) });
      scopes.push('agent');
    }
    const target = ctx.target;
    if (target?.kind === 'tool') {
      const qualified = `${target.server}.${target.name}`;
      const toolLimit =
        agentConfig?.perTool[qualified] ??
        agentConfig?.perTool[target.name] ??
        rl.perTool[qualified] ??
        rl.perTool[target.name];
      if (toolLimit !== undefined) {
        buckets.push({ key: `tool:${agent}:${qualified}`, ...perMinute(toolLimit) });
        scopes.push('tool');
      }
    }
    if (rl.globalRequestsPerMinute !== undefined) {
      buckets.push({ key: 'global', ...perMinute(rl.globalRequestsPerMinute) });
      scopes.push('global');
    }
    if (buckets.length > 0) {
      const outcome = await tokens.take(buckets, Date.now());
      if (!outcome.allowed) {
        const scope = scopes[outcome.index] ?? 'agent';
        const retryAfterS = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
        ctx.decision.decision = 'rate_limited';
        ctx.decision.reason = `${scope} limit`;
        throw new WireError('rate_limited', `Rate limit exceeded (${scope}): retry in ${retryAfterS} s`, {
          retry_after_s: retryAfterS,
          scope,
        });
      }
    }
    await next();
  });
}
