/**
 * Slows down credential guessing: after `perMinute` failed authentications from one client address,
 * further attempts from it are refused (429) without even being checked, until the window moves on.
 * The check is in process memory (bounded), so it costs nothing on the hot path; with a state store the
 * failures are also counted there, so several replicas enforce one limit together. IPv6 clients are
 * counted per /64: one host usually holds a whole /64, and rotating through it must not reset the count.
 */
import { isIPv6 } from 'node:net';
import type { Logger } from '../core/logger.js';
import type { StateStore } from '../stores/state-store.js';

const MAX_TRACKED = 10_000;

/** The address a failure is counted against: IPv4 as it is, IPv6 by its /64 prefix. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** What a limiter needs to count with the other replicas on one store (docs/replicas.md). */
export interface SharedFailureCount {
  readonly store: Pick<StateStore, 'consumeTokens' | 'publish' | 'subscribe'>;
  /** Which limit this is (`mcp`, `oauth`, `admin`): separate counts, one channel. */
  readonly scope: string;
  readonly logger?: Logger;
}

const BLOCK_CHANNEL = 'auth-blocked';

export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();
  /** Clients another replica (or the shared count) blocked, until when (ms). */
  private readonly blocked = new Map<string, number>();
  private stopListening: Promise<() => Promise<void>> | undefined;

  /**
   * `shared`: failures also count in the state store, so replicas on one store enforce one limit per
   * client, and a client blocked by one replica is blocked by all of them at once (the store's bus).
   * The per-request check stays in memory either way.
   */
  constructor(
    private perMinute: number,
    private readonly shared?: SharedFailureCount,
  ) {
    if (shared) {
      this.stopListening = shared.store.subscribe(BLOCK_CHANNEL, (text) => this.onBlocked(text));
      this.stopListening.catch((err: Error) =>
        shared.logger?.warn({ err: err.message }, 'cannot hear failure blocks of other replicas'),
      );
    }
  }

  /** A reloaded config's limit; the failures counted so far stay (a reload must not reset them). */
  setLimit(perMinute: number): void {
    this.perMinute = perMinute;
  }

  /** Seconds until `client` may try again, or 0 when it may try now. */
  blockedFor(client: string, now = Date.now()): number {
    // Nothing failed anywhere: the common case costs two size checks on the per-request path.
    if (this.failures.size === 0 && this.blocked.size === 0) return 0;
    const key = clientKey(client);
    const until = this.blocked.get(key);
    if (until !== undefined) {
      if (until > now) return Math.max(1, Math.ceil((until - now) / 1000));
      this.blocked.delete(key);
    }
    const times = this.recent(key, now);
    if (times.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil(((times[0] ?? now) + 60_000 - now) / 1000));
  }

  /**
   * Records one failed attempt. With a shared count it also takes one from the store's bucket for the
   * client; the failure that finds it empty blocks the client on every replica.
   */
  fail(client: string, now = Date.now()): void {
    const key = clientKey(client);
    const times = this.recent(key, now);
    times.push(now);
    this.failures.delete(key);
    this.failures.set(key, times);
    if (this.failures.size > MAX_TRACKED) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    if (this.shared) void this.countShared(key, now);
  }

  private async countShared(key: string, now: number): Promise<void> {
    const shared = this.shared as SharedFailureCount;
    try {
      // Capacity one less than the limit: the limit-th failure finds the bucket empty, as locally.
      const outcome = await shared.store.consumeTokens(
        [
          {
            key: `authfail:${shared.scope}:${key}`,
            capacity: Math.max(1, this.perMinute - 1),
            refillPerMs: this.perMinute / 60_000,
          },
        ],
        now,
      );
      if (outcome.allowed) return;
      const until = now + Math.max(1_000, outcome.retryAfterMs);
      this.block(key, until);
      await shared.store.publish(BLOCK_CHANNEL, JSON.stringify({ scope: shared.scope, client: key, until }));
    } catch (err) {
      // The local count still holds; the store being away must not open the door wider.
      shared.logger?.warn(
        { err: (err as Error).message },
        'could not count a failed authentication in the store',
      );
    }
  }

  private onBlocked(text: string): void {
    try {
      const m = JSON.parse(text) as { scope?: unknown; client?: unknown; until?: unknown };
      if (m.scope === this.shared?.scope && typeof m.client === 'string' && typeof m.until === 'number')
        this.block(m.client, m.until);
    } catch {
      // not ours
    }
  }

  private block(key: string, until: number): void {
    if ((this.blocked.get(key) ?? 0) >= until) return;
    this.blocked.set(key, until);
    if (this.blocked.size > MAX_TRACKED) {
      const oldest = this.blocked.keys().next().value;
      if (oldest !== undefined) this.blocked.delete(oldest);
    }
  }

  /** Stops hearing other replicas' blocks (gateway shutdown). */
  async close(): Promise<void> {
    const stop = await this.stopListening?.catch(() => undefined);
    await stop?.();
  }

  private recent(client: string, now: number): number[] {
    const times = (this.failures.get(client) ?? []).filter((t) => now - t < 60_000);
    if (times.length === 0) this.failures.delete(client);
    return times;
  }
}
