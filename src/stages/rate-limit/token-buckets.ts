/** The part of the state store the rate-limit stage needs: one atomic, all-or-nothing take. */
export interface TokenBucketStore {
  consumeTokens(
    buckets: ReadonlyArray<{ key: string; capacity: number; refillPerMs: number; take?: number }>,
    nowMs: number,
  ): Promise<{ allowed: true } | { allowed: false; index: number; retryAfterMs: number }>;
}
