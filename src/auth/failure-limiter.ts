/**
 * Slows down credential guessing: after `perMinute` failed authentications from one client address,
 * further attempts from it are refused (429) without even being checked, until the window moves on.
 * Kept in process memory (bounded) so the check costs nothing on the hot path; with several replicas each
 * applies the limit on its own. IPv6 clients are counted per /64: one host usually holds a whole /64,
 * and rotating through it must not reset the count.
 */
import { isIPv6 } from 'node:net';

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

export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private perMinute: number) {}

  /** A reloaded config's limit; the failures counted so far stay (a reload must not reset them). */
  setLimit(perMinute: number): void {
    this.perMinute = perMinute;
  }

  /** Seconds until `client` may try again, or 0 when it may try now. */
  blockedFor(client: string, now = Date.now()): number {
    // Nothing failed anywhere: the common case costs one size check on the per-request path.
    if (this.failures.size === 0) return 0;
    const times = this.recent(clientKey(client), now);
    if (times.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil(((times[0] ?? now) + 60_000 - now) / 1000));
  }

  /** Records one failed attempt. */
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
  }

  private recent(client: string, now: number): number[] {
    const times = (this.failures.get(client) ?? []).filter((t) => now - t < 60_000);
    if (times.length === 0) this.failures.delete(client);
    return times;
  }
}
