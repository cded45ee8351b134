/**
 * Rate-limit tokens taken from the state store a few at a time, so a busy gateway does not pay a store
 * round trip (a SQLite write, a Redis or PostgreSQL call) for every request.
 *
 * The limit stays exact: every token a call uses was taken from the shared bucket first, so the replicas
 * on one store together never admit more than the limit. What a process holds is only ever as much as it
 * used in the last second or so far in this one (at most 1/64 of the bucket), and lapses after a
 * second; so at low rates it takes exactly one token per call, as before, and at the limit's edge a
 * process that holds none asks for exactly one. The cost of batching: tokens one process holds are not available to another for up to
 * a second (never more than 1/64 of the limit per process and bucket).
 */
import type { TokenBucketStore } from './token-buckets.js';

export interface BucketSpec {
  readonly key: string;
  readonly capacity: number;
  readonly refillPerMs: number;
}

type Outcome = { allowed: true } | { allowed: false; index: number; retryAfterMs: number };

interface Held {
  tokens: number;
  /** Held tokens lapse then (unused ones are lost; the bucket refills them in time). */
  until: number;
  /** Calls in the current second, and in the one before (what the next take is sized by). */
  used: number;
  usedBefore: number;
  second: number;
  /** A store take under way for this bucket. */
  pending?: Promise<void>;
}

const HOLD_MS = 1_000;
/** Most tokens taken at once, as a share of the bucket. */
const MAX_SHARE = 64;
const MAX_KEYS = 10_000;

export class LocalTokens {
  private readonly held = new Map<string, Held>();

  constructor(private readonly store: TokenBucketStore) {}

  /** Takes one token from each bucket, all or nothing, like `store.consumeTokens` with take 1. */
  async take(buckets: readonly BucketSpec[], now: number): Promise<Outcome> {
    const entries = buckets.map((b) => this.entry(b.key, now));
    for (const e of entries) e.used++;
    for (;;) {
      // Every bucket has a token here: no store call.
      if (entries.every((e) => e.tokens >= 1 && e.until > now)) {
        for (const e of entries) e.tokens--;
        return { allowed: true };
      }
      // Calls arriving together wait for one take instead of each taking a batch.
      const pending = entries.find((e) => e.pending)?.pending;
      if (!pending) break;
      await pending;
    }
    let done!: () => void;
    const pending = new Promise<void>((resolve) => {
      done = resolve;
    });
    for (const e of entries) e.pending = pending;
    try {
      return await this.fromStore(buckets, entries, now);
    } finally {
      for (const e of entries) if (e.pending === pending) e.pending = undefined;
      done();
    }
  }

  private async fromStore(buckets: readonly BucketSpec[], entries: Held[], now: number): Promise<Outcome> {
    const lacking = buckets
      .map((b, i) => ({ b, i, e: entries[i] as Held }))
      .filter(({ e }) => !(e.tokens >= 1 && e.until > now));
    const batch = lacking.map(({ b, e }) => ({
      ...b,
      // What the last second used, or (ramping up) what this one has used so far: batches double as
      // traffic grows, so a burst needs a few store calls, not one per request.
      take: Math.max(1, Math.min(Math.floor(b.capacity / MAX_SHARE), Math.max(e.usedBefore, e.used))),
    }));
    let outcome = await this.store.consumeTokens(batch, now);
    let took = batch.map((b) => b.take);
    if (!outcome.allowed && batch.some((b) => b.take > 1)) {
      // Near the limit: exactly what this call needs, as without batching.
      const single = lacking.map(({ b }) => ({ ...b, take: 1 }));
      outcome = await this.store.consumeTokens(single, now);
      took = single.map(() => 1);
    }
    if (!outcome.allowed) {
      const index = lacking[outcome.index]?.i ?? 0;
      return { allowed: false, index, retryAfterMs: outcome.retryAfterMs };
    }
    lacking.forEach(({ e }, k) => {
      e.tokens = (e.until > now ? e.tokens : 0) + (took[k] ?? 1);
      e.until = now + HOLD_MS;
    });
    for (const e of entries) e.tokens--;
    return { allowed: true };
  }

  private entry(key: string, now: number): Held {
    let e = this.held.get(key);
    if (!e) {
      if (this.held.size >= MAX_KEYS) {
        const oldest = this.held.keys().next().value;
        if (oldest !== undefined) this.held.delete(oldest);
      }
      e = { tokens: 0, until: 0, used: 0, usedBefore: 0, second: Math.floor(now / HOLD_MS) };
      this.held.set(key, e);
    }
    const second = Math.floor(now / HOLD_MS);
    if (second !== e.second) {
      e.usedBefore = second === e.second + 1 ? e.used : 0;
      e.used = 0;
      e.second = second;
    }
    return e;
  }
}
