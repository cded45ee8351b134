import { describe, expect, it } from 'vitest';
import { ABANDONED_AFTER_MS, shouldReap } from './session-reaping.js';

const TTL = 30 * 60_000;
const base = { holdsChildren: true, hasGetStream: false, inflight: 0, idleMs: 0, idleTtlMs: TTL };

describe('shouldReap', () => {
  it('ends a session holding per-session children, without a GET stream, after a minute idle', () => {
    expect(shouldReap({ ...base, idleMs: ABANDONED_AFTER_MS - 1 })).toBe(false);
    expect(shouldReap({ ...base, idleMs: ABANDONED_AFTER_MS })).toBe(true);
  });

  it('keeps a listening session, or one without children, until the idle TTL', () => {
    for (const s of [
      { ...base, hasGetStream: true },
      { ...base, holdsChildren: false },
    ]) {
      expect(shouldReap({ ...s, idleMs: ABANDONED_AFTER_MS * 5 })).toBe(false);
      expect(shouldReap({ ...s, idleMs: TTL })).toBe(true);
    }
  });

  it('never ends a session with requests in flight, and honours a TTL shorter than a minute', () => {
    expect(shouldReap({ ...base, inflight: 1, idleMs: TTL * 2 })).toBe(false);
    expect(
      shouldReap({ ...base, holdsChildren: false, hasGetStream: true, idleTtlMs: 3_000, idleMs: 3_000 }),
    ).toBe(true);
    expect(shouldReap({ ...base, idleTtlMs: 3_000, idleMs: 2_999 })).toBe(false);
  });
});
