import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../stores/sqlite-store.js';
import { LocalTokens } from './local-tokens.js';

const stores: SqliteStateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** A real SQLite store that counts the takes it is asked for. */
function countingStore(file = path.join(mkdtempSync(path.join(tmpdir(), 'lt-')), 's.db')) {
  const store = new SqliteStateStore(file);
  stores.push(store);
  const calls: number[] = [];
  return {
    file,
    calls,
    consumeTokens: (b: Parameters<SqliteStateStore['consumeTokens']>[0], now: number) => {
      calls.push(b[0]?.take ?? 1);
      return store.consumeTokens(b, now);
    },
  };
}

const perMinute = (key: string, n: number) => ({ key, capacity: n, refillPerMs: n / 60_000 });

describe('LocalTokens', () => {
  it('takes one token per call from the store at a low rate', async () => {
    const store = countingStore();
    const tokens = new LocalTokens(store);
    const t = 1_000_000;
    for (let i = 0; i < 5; i++)
      expect(await tokens.take([perMinute('a', 6_400)], t + i * 2_000)).toEqual({ allowed: true });
    expect(store.calls).toEqual([1, 1, 1, 1, 1]);
  });

  it('batches grow with the rate (doubling within a second): a thousand calls, a few dozen store calls', async () => {
    const store = countingStore();
    const tokens = new LocalTokens(store);
    const t = 2_000_000;
    // One busy second, then the next: the second one is served from batches the size of the first.
    for (let i = 0; i < 500; i++) await tokens.take([perMinute('b', 64_000)], t + i);
    for (let i = 0; i < 500; i++) await tokens.take([perMinute('b', 64_000)], t + 1_000 + i);
    expect(store.calls.length).toBeLessThan(40);
    expect(Math.max(...store.calls)).toBe(500);
  });

  it('never admits more than the limit across two processes on one store', async () => {
    const a = countingStore();
    const b = countingStore(a.file);
    const [ta, tb] = [new LocalTokens(a), new LocalTokens(b)];
    const t = 3_000_000;
    // Warm both up so that they batch (each saw calls in the second before).
    let admitted = 0;
    const spec = [perMinute('shared', 6_400)];
    for (let s = 0; s < 3; s++) {
      const now = t + s * 1_000;
      const results = await Promise.all(
        Array.from({ length: 3_000 }, (_, i) => (i % 2 ? ta : tb).take(spec, now)),
      );
      admitted += results.filter((r) => r.allowed).length;
    }
    // 6,400 per minute: a full bucket plus what refills in 2 s (about 213).
    expect(admitted).toBeGreaterThan(6_000);
    expect(admitted).toBeLessThanOrEqual(6_400 + 214);
  });
});
