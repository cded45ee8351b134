/**
 * The sealed upstream token records on every state store (SQLite, Redis, PostgreSQL, isolated as the
 * store contract suite does): only ciphertext at rest, bound to its place (a record moved to another
 * entry does not open), refused under another key with a message that says so, single-use takes, and
 * the refresh lock that lets one replica of several refresh at a time.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { UpstreamRecords } from '../../src/auth/upstream/records.js';
import { resolveVaultKey, TokenVault } from '../../src/auth/upstream/token-vault.js';
import { PostgresStateStore } from '../../src/stores/postgres-store.js';
import { RedisStateStore } from '../../src/stores/redis-store.js';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import type { StateStore } from '../../src/stores/state-store.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const runId = randomUUID().slice(0, 8);
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const stores: Array<{ name: string; open(): Promise<StateStore> }> = [
  (() => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-vault-')), 'state.db');
    return { name: 'sqlite', open: async () => new SqliteStateStore(file) };
  })(),
  (() => {
    const prefix = `mcpg-vault-${runId}:`;
    cleanups.push(async () => {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
    });
    return { name: 'redis', open: () => RedisStateStore.open({ url: REDIS_URL, prefix }) };
  })(),
  (() => {
    const schema = `mcpg_vault_${runId}`;
    cleanups.push(async () => {
      const c = new pg.Client(PG_URL);
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    });
    return { name: 'postgres', open: () => PostgresStateStore.open({ url: PG_URL, schema }) };
  })(),
];

const key = (material: string) =>
  resolveVaultKey({ store: 'sqlite', path: 'x', encryptionKey: material }, {}) as NonNullable<
    ReturnType<typeof resolveVaultKey>
  >;
const KEY = key('the-first-encryption-key-of-32-characters');
const OTHER = key('a-second-encryption-key-of-32-characters!');
const meta = {
  issuer: 'https://as.example',
  clientId: 'c',
  obtainedAt: 1,
  refreshable: true,
  resource: 'https://r',
};

for (const harness of stores) {
  describe(`upstream token records on ${harness.name}`, () => {
    const opened: StateStore[] = [];
    const open = async () => {
      const s = await harness.open();
      opened.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of opened) await s.close();
    });

    it('keeps only ciphertext, opens it with the key, and binds it to its place', async () => {
      const store = await open();
      const records = new UpstreamRecords(new TokenVault(store, KEY));
      const server = `s-${randomUUID().slice(0, 6)}`;
      await records.saveToken(server, 'service', meta, {
        accessToken: 'AT-secret-value',
        refreshToken: 'RT-secret-value',
      });
      const raw = (await store.kvGet('upstream_oauth', `token:${server}:service`)) as string;
      expect(raw).not.toContain('AT-secret-value');
      expect(raw).not.toContain('RT-secret-value');
      expect(JSON.parse(raw).meta).toEqual(meta);
      expect((await records.token(server, 'service'))?.secret).toEqual({
        accessToken: 'AT-secret-value',
        refreshToken: 'RT-secret-value',
      });
      // Status without the key: the public part only.
      expect(
        await new UpstreamRecords(new TokenVault(store, undefined)).tokenMeta(server, 'service'),
      ).toEqual(meta);
      // The same ciphertext under another user's entry does not open.
      await store.kvPut('upstream_oauth', `token:${server}:user:mallory`, raw);
      await expect(records.token(server, 'user:mallory')).rejects.toThrow(/failed its integrity check/);
      // Another key: named as such.
      await expect(
        new UpstreamRecords(new TokenVault(store, OTHER)).token(server, 'service'),
      ).rejects.toThrow(/encrypted with another encryption key/);
    });

    it('takes a single-use record once, and lets one of two replicas hold the refresh lock', async () => {
      const [a, b] = [await open(), await open()];
      const vaultA = new TokenVault(a, KEY);
      const vaultB = new TokenVault(b, KEY);
      const flow = `userflow:${randomUUID()}`;
      await vaultA.put(flow, { server: 'x' }, { verifier: 'v' }, 60_000);
      const takes = await Promise.all([vaultA.take(flow), vaultB.take(flow)]);
      expect(takes.filter(Boolean)).toHaveLength(1);
      const server = `s-${randomUUID().slice(0, 6)}`;
      const [ra, rb] = [new UpstreamRecords(vaultA), new UpstreamRecords(vaultB)];
      const locks = await Promise.all([
        ra.lock(server, 'service', 30_000),
        rb.lock(server, 'service', 30_000),
      ]);
      expect(locks.sort()).toEqual([false, true]);
      await ra.unlock(server, 'service');
      expect(await rb.lock(server, 'service', 30_000)).toBe(true);
    });
  });
}

describe('the encryption key', () => {
  it('comes from the config, else the environment, and is at least 32 characters', () => {
    const state = { store: 'sqlite' as const, path: 'x' };
    expect(resolveVaultKey(state, {})).toBeUndefined();
    expect(resolveVaultKey(state, { MCP_GUARD_ENCRYPTION_KEY: 'e'.repeat(32) })?.id).toMatch(
      /^[0-9a-f]{12}$/,
    );
    expect(() => resolveVaultKey(state, { MCP_GUARD_ENCRYPTION_KEY: 'short' })).toThrow(
      /at least 32 characters/,
    );
    expect(
      resolveVaultKey(
        { ...state, encryptionKey: 'c'.repeat(32) },
        { MCP_GUARD_ENCRYPTION_KEY: 'e'.repeat(32) },
      )?.id,
    ).toBe(resolveVaultKey(state, { MCP_GUARD_ENCRYPTION_KEY: 'c'.repeat(32) })?.id);
  });
});
