/**
 * The three state stores on this machine's real services, each isolated (a SQLite file in a temp folder, a
 * Redis key prefix, a PostgreSQL schema) and removed afterwards. `open()` again gives another connection
 * to the same data: what two replicas on one store see.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresStateStore } from '../../src/stores/postgres-store.js';
import { RedisStateStore } from '../../src/stores/redis-store.js';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import type { StateStore } from '../../src/stores/state-store.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface Harness {
  name: 'sqlite' | 'redis' | 'postgres';
  /** A store; calling it again gives another connection to the SAME data. */
  open(): Promise<StateStore>;
  /** The `state:` block of a gateway config on the same data. */
  readonly yaml: string;
}

/** One harness per store kind, and a cleanup for afterAll. */
export function storeHarnesses(): { harnesses: Harness[]; cleanup: () => Promise<void> } {
  const runId = randomUUID().slice(0, 8);
  const cleanups: Array<() => Promise<void>> = [];
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-store-')), 'state.db');
  const prefix = `mcpg-test-${runId}-${randomUUID().slice(0, 6)}:`;
  cleanups.push(async () => {
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
  });
  const schema = `mcpg_test_${runId}_${randomUUID().slice(0, 6)}`;
  cleanups.push(async () => {
    const c = new pg.Client(PG_URL);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });
  return {
    harnesses: [
      {
        name: 'sqlite',
        open: async () => new SqliteStateStore(file),
        yaml: `state:\n  store: sqlite\n  path: ${file}\n`,
      },
      {
        name: 'redis',
        open: () => RedisStateStore.open({ url: REDIS_URL, prefix }),
        yaml: `state:\n  store: redis\n  url: ${REDIS_URL}\n  prefix: "${prefix}"\n`,
      },
      {
        name: 'postgres',
        // Small pools: every test file's stores share the server's connection slots (100 by default).
        open: () => PostgresStateStore.open({ url: PG_URL, schema, poolSize: 3 }),
        yaml: `state:\n  store: postgres\n  url: ${PG_URL}\n  schema: ${schema}\n`,
      },
    ],
    cleanup: async () => {
      for (const c of cleanups) await c();
    },
  };
}
