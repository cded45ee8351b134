/**
 * Token-bucket arithmetic shared by the SQLite and PostgreSQL stores (Redis runs the same rules in
 * Lua). Pure: given each bucket's stored state and the time, decide all-or-nothing and return the
 * new states.
 */
import type { TokenBucketSpec } from './state-store.js';

export interface BucketState {
  readonly tokens: number;
  readonly updatedMs: number;
}

export type TakeOutcome =
  | { allowed: true; next: Array<{ tokens: number; updatedMs: number; expiresMs: number }> }
  | { allowed: false; index: number; retryAfterMs: number };

export function takeTokens(
  specs: readonly TokenBucketSpec[],
  states: ReadonlyArray<BucketState | undefined>,
  nowMs: number,
): TakeOutcome {
  const levels = specs.map((spec, i) => {
    const state = states[i];
    if (!state) return spec.capacity;
    // A clock that went backwards (another replica's) refills nothing rather than draining.
    const elapsed = Math.max(0, nowMs - state.updatedMs);
    return Math.min(spec.capacity, state.tokens + elapsed * spec.refillPerMs);
  });
  for (let i = 0; i < specs.length; i++) {
    const level = levels[i] ?? 0;
    const spec = specs[i] as TokenBucketSpec;
    const take = spec.take ?? 1;
    if (level < take)
      return { allowed: false, index: i, retryAfterMs: Math.ceil((take - level) / spec.refillPerMs) };
  }
  return {
    allowed: true,
    next: specs.map((spec, i) => {
      const tokens = (levels[i] ?? 0) - (spec.take ?? 1);
      // The bucket's time never goes back: a take stamped before the last one (it read the clock,
      // then waited for the row) refilled nothing, and moving the time back would let the next
      // take be refilled again for the span already counted.
      const updatedMs = Math.max(nowMs, states[i]?.updatedMs ?? nowMs);
      // Kept until it would be full again; after that a missing bucket means "full".
      return {
        tokens,
        updatedMs,
        expiresMs: updatedMs + Math.ceil((spec.capacity - tokens) / spec.refillPerMs) + 1000,
      };
    }),
  };
}
