/**
 * Failed authentications count in the state store: replicas on one store enforce one limit per client,
 * and a client blocked by one replica is blocked by the others at once (the store's bus). On SQLite the
 * bus reaches the gateways of one process only, and the count is shared through the file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFailureLimiter } from '../../src/auth/failure-limiter.js';
import type { StateStore } from '../../src/stores/state-store.js';
import { waitFor } from '../helpers/processes.js';
import { storeHarnesses } from '../helpers/stores.js';

const { harnesses, cleanup } = storeHarnesses();
afterAll(cleanup);

describe.each(harnesses)('failure limits shared on $name', (harness) => {
  const stores: StateStore[] = [];
  const limiters: AuthFailureLimiter[] = [];
  afterAll(async () => {
    for (const l of limiters) await l.close();
    for (const s of stores) await s.close();
  });

  it('three replicas with a limit of 5: the fifth failure anywhere blocks the client on all three', async () => {
    const replicas = await Promise.all(
      [0, 1, 2].map(async () => {
        const store = await harness.open();
        stores.push(store);
        const limiter = new AuthFailureLimiter(5, { store, scope: `mcp-${harness.name}` });
        limiters.push(limiter);
        return limiter;
      }),
    );
    // Let the subscriptions settle (LISTEN / SUBSCRIBE are asynchronous).
    await new Promise((r) => setTimeout(r, 200));
    const client = '198.51.100.23';
    const t = Date.now();
    // Two failures on each of the first two replicas: no replica saw five on its own.
    for (const [i, r] of [replicas[0], replicas[0], replicas[1], replicas[1]].entries())
      r?.fail(client, t + i);
    await new Promise((r) => setTimeout(r, 300));
    for (const r of replicas) expect(r.blockedFor(client, t + 10)).toBe(0);
    // The fifth, on the third replica, empties the shared count: all three refuse the client now.
    replicas[2]?.fail(client, t + 20);
    await waitFor(
      () => replicas.every((r) => r.blockedFor(client, t + 30) > 0),
      5_000,
      'every replica to block',
    );
    // Another client is not affected.
    expect(replicas[0]?.blockedFor('198.51.100.24', t + 30)).toBe(0);
  });
});
