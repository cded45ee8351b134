/**
 * Slows down credential guessing: after `perMinute` failed authentications from one client address,
 * further attempts from it are refused (429) without even being checked, until the window moves on.
 * Kept in process memory (bounded) so the check costs nothing on the hot path; with several replicas each
 * applies the limit on its own.
 */
const MAX_TRACKED = 10_000;

export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly perMinute: number) {}

  /** Seconds until `client` may try again, or 0 when it may try now. */
  blockedFor(client: string, now = Date.now()): number {
    const times = this.recent(client, now);
    if (times.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil(((times[0] ?? now) + 60_000 - now) / 1000));
  }

  /** Records one failed attempt. */
  fail(client: string, now = Date.now()): void {
    const times = this.recent(client, now);
    times.push(now);
    this.failures.delete(client);
    this.failures.set(client, times);
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
