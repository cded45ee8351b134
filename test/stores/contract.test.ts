/**
 * One contract, three stores: SQLite, Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, db test).
 * Every store must behave the same, including under concurrent callers on separate connections.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import type { NewApproval, PinObservation, StateStore } from '../../src/stores/state-store.js';
import { waitFor } from '../helpers/processes.js';
import { storeHarnesses } from '../helpers/stores.js';

const { harnesses, cleanup } = storeHarnesses();

afterAll(cleanup);

const approval = (over: Partial<NewApproval> = {}): NewApproval => ({
  id: randomUUID(),
  agent: 'alice',
  server: 'wallet',
  tool: 'pay',
  argsHash: 'a'.repeat(64),
  args: '{"amount_usd":10}',
  amountUsd: 10,
  createdAt: 1_000,
  expiresAt: 1_000 + 3_600_000,
  ...over,
});

const sha = (c: string) => c.repeat(64);
const seen = (over: Partial<PinObservation> & { name: string }): PinObservation => ({
  server: 'rug',
  kind: 'tool',
  sha256: sha('1'),
  definition: '{"description":"v1"}',
  markers: [],
  ...over,
});

for (const harness of harnesses) {
  describe(`${harness.name} state store`, () => {
    const opened: StateStore[] = [];
    const open = async () => {
      const s = await harness.open();
      opened.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of opened) await s.close();
    });
    // The pin tests share two connections: PostgreSQL's connection slots are shared with every suite.
    let pair: StateStore[] | undefined;
    const shared = async () => {
      pair ??= await Promise.all([open(), open()]);
      return pair;
    };

    it('is reachable (a stopped service is a failure, never a skip)', async () => {
      const store = await open();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('token buckets: a take of several tokens is all or nothing, like one', async () => {
      const store = await open();
      const key = `lease:${randomUUID()}`;
      const take = (n: number, t: number) =>
        store.consumeTokens([{ key, capacity: 10, refillPerMs: 10 / 60_000, take: n }], t);
      const t0 = 10_000_000;
      expect(await take(4, t0)).toEqual({ allowed: true });
      expect(await take(4, t0)).toEqual({ allowed: true });
      // Two left: four is refused (nothing taken), and says when four will be there.
      const refused = await take(4, t0);
      expect(refused).toMatchObject({ allowed: false, index: 0 });
      expect((refused as { retryAfterMs: number }).retryAfterMs).toBe(12_000);
      expect(await take(2, t0)).toEqual({ allowed: true });
      expect((await take(1, t0)).allowed).toBe(false);
      await expect(take(11, t0)).rejects.toThrow(/take must be/);
    });

    it('token buckets: 30 per minute lets 30 through, refuses the 31st, and refills with time', async () => {
      const store = await open();
      const bucket = [{ key: `agent:${randomUUID()}`, capacity: 30, refillPerMs: 30 / 60_000 }];
      const t0 = 10_000_000;
      for (let i = 0; i < 30; i++)
        expect(await store.consumeTokens(bucket, t0 + i)).toEqual({ allowed: true });
      const refused = await store.consumeTokens(bucket, t0 + 30);
      expect(refused.allowed).toBe(false);
      if (!refused.allowed) {
        expect(refused.index).toBe(0);
        expect(refused.retryAfterMs).toBeGreaterThan(1_900);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(2_000);
      }
      expect((await store.consumeTokens(bucket, t0 + 2_100)).allowed).toBe(true);
    });

    it('token buckets: a take stamped earlier than the last (it waited for the lock) refills nothing twice', async () => {
      // Replicas read the clock before they wait for the bucket. A late take must not move the
      // bucket's time back, or the next take is refilled again for the span already counted.
      const store = await open();
      const bucket = [{ key: `agent:${randomUUID()}`, capacity: 2, refillPerMs: 1 / 1_000 }];
      expect((await store.consumeTokens(bucket, 1_000_000)).allowed).toBe(true);
      expect((await store.consumeTokens(bucket, 999_500)).allowed).toBe(true);
      // 600 ms after the last counted instant: 0.6 of a token, not 1.1.
      const third = await store.consumeTokens(bucket, 1_000_600);
      expect(third).toMatchObject({ allowed: false, index: 0 });
      if (!third.allowed) expect(third.retryAfterMs).toBe(400);
    });

    it('token buckets are all or nothing across several buckets', async () => {
      const store = await open();
      const a = { key: `a:${randomUUID()}`, capacity: 5, refillPerMs: 5 / 60_000 };
      const b = { key: `b:${randomUUID()}`, capacity: 1, refillPerMs: 1 / 60_000 };
      expect((await store.consumeTokens([a, b], 1_000)).allowed).toBe(true);
      const second = await store.consumeTokens([a, b], 1_001);
      expect(second).toMatchObject({ allowed: false, index: 1 });
      // a was not charged by the refused attempt: 4 more fit.
      for (let i = 0; i < 4; i++) expect((await store.consumeTokens([a], 1_002 + i)).allowed).toBe(true);
      expect((await store.consumeTokens([a], 1_010)).allowed).toBe(false);
    });

    it('spend: 50 concurrent $3 reservations against $100 → exactly 33 succeed, $99 spent', async () => {
      const stores = await Promise.all([open(), open(), open()]);
      const key = `agent:${randomUUID()}`;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (stores[i % stores.length] as StateStore).reserveSpend({
            amountMicros: 3_000_000,
            windowStartMs: 0,
            windowMs: 86_400_000,
            buckets: [{ key, capMicros: 100_000_000 }],
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(33);
      expect(results.filter((r) => !r.ok)).toHaveLength(17);
      expect(await stores[0]?.getSpend(key, 0)).toBe(99_000_000);
      const refused = results.find((r) => !r.ok);
      expect(refused).toMatchObject({ ok: false, index: 0, capMicros: 100_000_000 });
    });

    it('spend: every bucket must fit, a release gives the amount back, windows are separate', async () => {
      const store = await open();
      const agent = `agent:${randomUUID()}`;
      const global = `global:${randomUUID()}`;
      const buckets = [
        { key: agent, capMicros: 10_000_000 },
        { key: global, capMicros: 5_000_000 },
      ];
      expect(
        await store.reserveSpend({ amountMicros: 4_000_000, windowStartMs: 0, windowMs: 1_000_000, buckets }),
      ).toEqual({
        ok: true,
        spentMicros: [4_000_000, 4_000_000],
      });
      expect(
        await store.reserveSpend({ amountMicros: 2_000_000, windowStartMs: 0, windowMs: 1_000_000, buckets }),
      ).toEqual({
        ok: false,
        index: 1,
        spentMicros: 4_000_000,
        capMicros: 5_000_000,
      });
      expect(await store.getSpend(agent, 0)).toBe(4_000_000);
      await store.releaseSpend({ amountMicros: 4_000_000, windowStartMs: 0, keys: [agent, global] });
      expect(await store.getSpend(global, 0)).toBe(0);
      expect(
        (
          await store.reserveSpend({
            amountMicros: 1,
            windowStartMs: 1_000_000,
            windowMs: 1_000_000,
            buckets: [{ key: agent, capMicros: null }],
          })
        ).ok,
      ).toBe(true);
      expect(await store.getSpend(agent, 1_000_000)).toBe(1);
    });

    it('approvals: 50 concurrent createOrGetPending with one key create exactly one', async () => {
      const stores = await Promise.all([open(), open()]);
      const argsHash = randomUUID().replace(/-/g, '');
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (stores[i % 2] as StateStore).createOrGetPending(approval({ argsHash }), 2_000),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.approval.id)).size).toBe(1);
      expect(results[0]?.approval).toMatchObject({
        status: 'pending',
        agent: 'alice',
        tool: 'pay',
        argsHash,
        amountUsd: 10,
      });
    });

    it('approvals: decide once (racing deciders → one winner), consume once, then gone', async () => {
      const stores = await Promise.all([open(), open()]);
      const store = stores[0] as StateStore;
      const a = approval({ argsHash: randomUUID() });
      await store.createOrGetPending(a, 2_000);
      const decisions = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (stores[i % 2] as StateStore).decideApproval(a.id, {
            decision: i % 2 ? 'denied' : 'approved',
            by: `op${i}`,
            nowMs: 3_000,
            approvedTtlMs: 60_000,
          }),
        ),
      );
      expect(decisions.filter((d) => d.ok)).toHaveLength(1);
      expect(decisions.filter((d) => !d.ok).every((d) => !d.ok && d.reason === 'not_pending')).toBe(true);
      const winner = decisions.find((d) => d.ok);
      const decided = await store.getApproval(a.id, 3_001);
      expect(decided?.decidedAt).toBe(3_000);
      if (decided?.status === 'approved') {
        expect(decided.expiresAt).toBe(63_000);
        const consumed = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (stores[i % 2] as StateStore).consumeApproval({ ...a, nowMs: 4_000 }),
          ),
        );
        expect(consumed.filter(Boolean)).toHaveLength(1);
        expect((await store.getApproval(a.id, 4_001))?.status).toBe('consumed');
        expect(await store.consumeApproval({ ...a, nowMs: 4_002 })).toBeUndefined();
        expect(await store.findLatestApproval(a, 4_003)).toBeUndefined();
      } else {
        expect(winner?.ok && winner.approval.status).toBe('denied');
        expect(await store.consumeApproval({ ...a, nowMs: 4_000 })).toBeUndefined();
        expect((await store.findLatestApproval(a, 4_000))?.status).toBe('denied');
      }
    });

    it('approvals: expiry, a new pending after expiry, consume checks key and id', async () => {
      const store = await open();
      const a = approval({ argsHash: randomUUID(), createdAt: 0, expiresAt: 10_000 });
      await store.createOrGetPending(a, 0);
      expect((await store.getApproval(a.id, 9_999))?.status).toBe('pending');
      expect((await store.getApproval(a.id, 10_000))?.status).toBe('expired');
      expect(
        await store.decideApproval(a.id, { decision: 'approved', by: 'op', nowMs: 10_001, approvedTtlMs: 1 }),
      ).toMatchObject({ ok: false, reason: 'expired' });
      const again = await store.createOrGetPending(
        approval({ argsHash: a.argsHash, createdAt: 20_000, expiresAt: 30_000 }),
        20_000,
      );
      expect(again.created).toBe(true);
      expect(again.approval.id).not.toBe(a.id);
      await store.decideApproval(again.approval.id, {
        decision: 'approved',
        by: 'op',
        nowMs: 21_000,
        approvedTtlMs: 5_000,
      });
      expect(await store.consumeApproval({ ...a, argsHash: 'other', nowMs: 21_500 })).toBeUndefined();
      expect(await store.consumeApproval({ ...a, id: a.id, nowMs: 21_500 })).toBeUndefined();
      expect(await store.consumeApproval({ ...a, nowMs: 26_001 })).toBeUndefined(); // approved, but its window passed
      expect((await store.getApproval(again.approval.id, 26_001))?.status).toBe('expired');
      expect(
        await store.decideApproval('no-such-id', {
          decision: 'denied',
          by: 'op',
          nowMs: 1,
          approvedTtlMs: 1,
        }),
      ).toEqual({ ok: false, reason: 'not_found' });
    });

    it('approvals: list by status newest first and count pending', async () => {
      const store = await open();
      const agent = `lister-${randomUUID()}`;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const a = approval({ agent, argsHash: randomUUID(), createdAt: 1_000 + i, expiresAt: 100_000 });
        ids.push(a.id);
        await store.createOrGetPending(a, 1_000 + i);
      }
      await store.decideApproval(ids[0] as string, {
        decision: 'denied',
        by: 'op',
        note: 'no',
        nowMs: 5_000,
        approvedTtlMs: 1,
      });
      const pending = (await store.listApprovals({ status: 'pending', limit: 1_000 }, 6_000)).filter(
        (a) => a.agent === agent,
      );
      expect(pending.map((a) => a.id)).toEqual([ids[2], ids[1]]);
      const denied = (await store.listApprovals({ status: 'denied', limit: 1_000 }, 6_000)).filter(
        (a) => a.agent === agent,
      );
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({ decidedBy: 'op', note: 'no' });
      expect(await store.countPending(6_000)).toBeGreaterThanOrEqual(2);
      const all = (await store.listApprovals({ status: 'all', limit: 1_000 }, 6_000)).filter(
        (a) => a.agent === agent,
      );
      expect(all).toHaveLength(3);
    });

    it('approvals: expiry is recorded once (one of racing callers wins), and decisions are listed in order', async () => {
      const stores = await Promise.all([open(), open()]);
      const store = stores[0] as StateStore;
      const a = approval({ argsHash: randomUUID(), createdAt: 0, expiresAt: 1_000 });
      await store.createOrGetPending(a, 0);
      expect(await store.expireApproval(a.id, 999)).toBe(false); // not yet expired
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (stores[i % 2] as StateStore).expireApproval(a.id, 1_000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getApproval(a.id, 1_001))?.status).toBe('expired');

      const since = Date.now() - 1;
      const b = approval({ argsHash: randomUUID(), createdAt: since, expiresAt: since + 60_000 });
      const c = approval({ argsHash: randomUUID(), createdAt: since, expiresAt: since + 60_000 });
      await store.createOrGetPending(b, since);
      await store.createOrGetPending(c, since);
      await store.decideApproval(c.id, { decision: 'denied', by: 'op', nowMs: since + 10, approvedTtlMs: 1 });
      await store.decideApproval(b.id, {
        decision: 'approved',
        by: 'op',
        nowMs: since + 20,
        approvedTtlMs: 1_000,
      });
      const decided = (await store.decisionsSince(since, 1_000)).filter(
        (x) => x.id === b.id || x.id === c.id,
      );
      expect(decided.map((x) => [x.id, x.status === 'expired' ? 'approved' : x.status])).toEqual([
        [c.id, 'denied'],
        [b.id, 'approved'],
      ]);
      expect((await store.decisionsSince(since + 10, 1_000)).map((x) => x.id)).not.toContain(c.id);
    });

    it('approvals: createdSince lists what another connection created, oldest first, after the mark only', async () => {
      const [writer, reader] = (await Promise.all([open(), open()])) as [StateStore, StateStore];
      // Far in the future, so approvals of other tests on the same store do not interleave.
      const base = 9_000_000_000_000 + Math.floor(Math.random() * 1_000_000) * 100;
      const older = approval({ argsHash: randomUUID(), createdAt: base, expiresAt: base + 60_000 });
      const newer = approval({ argsHash: randomUUID(), createdAt: base + 5, expiresAt: base + 60_000 });
      // Inserted newest first: the order comes from createdAt, not from insertion.
      await writer.createOrGetPending(newer, base + 5);
      await writer.createOrGetPending(older, base);
      await writer.decideApproval(older.id, {
        decision: 'denied',
        by: 'op',
        nowMs: base + 6,
        approvedTtlMs: 1,
      });
      const mine = (list: Awaited<ReturnType<StateStore['createdSince']>>) =>
        list.filter((x) => x.id === older.id || x.id === newer.id);
      const all = mine(await reader.createdSince(base - 1, 1_000, base + 7));
      expect(all.map((x) => [x.id, x.status])).toEqual([
        [older.id, 'denied'],
        [newer.id, 'pending'],
      ]);
      expect(all[1]).toMatchObject({ agent: 'alice', server: 'wallet', tool: 'pay', amountUsd: 10 });
      // Strictly after the mark; and the limit keeps the oldest.
      expect(mine(await reader.createdSince(base, 1_000, base + 7)).map((x) => x.id)).toEqual([newer.id]);
      expect((await reader.createdSince(base - 1, 1, base + 7)).map((x) => x.id)).toEqual([older.id]);
      expect(mine(await reader.createdSince(base + 5, 1_000, base + 7))).toEqual([]);
    });

    it('pins: first sight pins, a change waits as pending and is announced once among racing observers', async () => {
      const stores = await shared();
      const store = stores[0] as StateStore;
      const name = `lookup-${randomUUID()}`;
      const [first] = await store.observePins([seen({ name })], 1_000);
      expect(first).toMatchObject({
        event: 'pinned',
        record: {
          approvedSha256: sha('1'),
          approvedBy: 'first-sight',
          pendingSha256: null,
          firstSeenAt: 1_000,
        },
      });
      // Seen again: nothing to say.
      expect((await store.observePins([seen({ name })], 2_000))[0]?.event).toBeNull();
      // Ten replicas see the new definition at once: one of them announces it.
      const changed = seen({ name, sha256: sha('2'), definition: '{"description":"v2"}' });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (stores[i % 2] as StateStore).observePins([changed], 3_000 + i)),
      );
      expect(results.flat().filter((r) => r.event === 'changed')).toHaveLength(1);
      const pin = await store.getPin({ server: 'rug', kind: 'tool', name });
      expect(pin).toMatchObject({
        approvedSha256: sha('1'),
        approvedDefinition: '{"description":"v1"}',
        pendingSha256: sha('2'),
        pendingDefinition: '{"description":"v2"}',
      });
      // The server goes back to the approved definition: the pending one is dropped, quietly.
      const back = await store.observePins([seen({ name })], 4_000);
      expect(back[0]).toMatchObject({ event: null, record: { pendingSha256: null } });
    });

    it('pins: racing first sights pin once; a definition with markers is flagged, never approved', async () => {
      const stores = await shared();
      const name = `new-${randomUUID()}`;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (stores[i % 2] as StateStore).observePins([seen({ name })], 1_000),
        ),
      );
      expect(results.flat().filter((r) => r.event === 'pinned')).toHaveLength(1);
      const poisoned = `poisoned-${randomUUID()}`;
      const flagged = await (stores[0] as StateStore).observePins(
        [seen({ name: poisoned, sha256: sha('3'), markers: ['pseudo_tag <IMPORTANT> in description'] })],
        1_000,
      );
      expect(flagged[0]).toMatchObject({
        event: 'flagged',
        record: {
          approvedSha256: null,
          pendingSha256: sha('3'),
          pendingMarkers: ['pseudo_tag <IMPORTANT> in description'],
        },
      });
      expect(
        (await (stores[1] as StateStore).observePins([seen({ name: poisoned, sha256: sha('3') })], 2_000))[0]
          ?.event,
      ).toBeNull();
    });

    it('pins: approve and reject the pending definition, only the one the operator looked at', async () => {
      const store = (await shared())[0] as StateStore;
      const name = `decide-${randomUUID()}`;
      const key = { server: 'rug', kind: 'tool' as const, name };
      expect(await store.decidePin(key, { decision: 'approved', by: 'op', nowMs: 1 })).toMatchObject({
        ok: false,
        reason: 'not_found',
      });
      await store.observePins([seen({ name })], 1_000);
      expect(await store.decidePin(key, { decision: 'approved', by: 'op', nowMs: 2 })).toMatchObject({
        ok: false,
        reason: 'nothing_pending',
      });
      await store.observePins([seen({ name, sha256: sha('2'), definition: 'v2' })], 3_000);
      expect(
        await store.decidePin(key, { decision: 'approved', sha256: sha('9'), by: 'op', nowMs: 4_000 }),
      ).toMatchObject({ ok: false, reason: 'stale' });
      // Rejected: it stays pending-and-refused, and seeing it again is not news.
      const rejected = await store.decidePin(key, {
        decision: 'rejected',
        sha256: sha('2'),
        by: 'op',
        nowMs: 5_000,
      });
      expect(rejected).toMatchObject({
        ok: true,
        record: { rejectedSha256: sha('2'), approvedSha256: sha('1') },
      });
      expect(
        (await store.observePins([seen({ name, sha256: sha('2'), definition: 'v2' })], 6_000))[0]?.event,
      ).toBeNull();
      // A third version is news again; approving it makes it the pin.
      expect(
        (await store.observePins([seen({ name, sha256: sha('4'), definition: 'v4' })], 7_000))[0]?.event,
      ).toBe('changed');
      const approved = await store.decidePin(key, { decision: 'approved', by: 'alice', nowMs: 8_000 });
      expect(approved).toMatchObject({
        ok: true,
        record: {
          approvedSha256: sha('4'),
          approvedDefinition: 'v4',
          approvedBy: 'alice',
          approvedAt: 8_000,
          pendingSha256: null,
        },
      });
      expect((await store.observePins([seen({ name, sha256: sha('4') })], 9_000))[0]?.event).toBeNull();
    });

    it('pins: a batch with repeated keys applies in order; list sorts and filters by server', async () => {
      const store = (await shared())[0] as StateStore;
      const server = `s${randomUUID().slice(0, 8)}`;
      const out = await store.observePins(
        [
          seen({ server, name: 'b' }),
          seen({ server, name: 'a', kind: 'prompt' }),
          seen({ server, name: 'b', sha256: sha('2') }),
          seen({ server, name: 'test://{id}', kind: 'resource_template' }),
        ],
        1_000,
      );
      expect(out.map((o) => o.event)).toEqual(['pinned', 'pinned', 'changed', 'pinned']);
      const listed = await store.listPins({ server });
      expect(listed.map((p) => `${p.kind}:${p.name}`)).toEqual([
        'prompt:a',
        'resource_template:test://{id}',
        'tool:b',
      ]);
      expect(listed[2]).toMatchObject({ approvedSha256: sha('1'), pendingSha256: sha('2') });
      expect((await store.listPins()).filter((p) => p.server === server)).toHaveLength(3);
      await expect(store.observePins([seen({ server, name: 'x', sha256: 'nope' })], 1)).rejects.toThrow(
        /sha256/,
      );
    });

    it('bus: a message published through one connection reaches the subscribers of its channel on another', async () => {
      const [a, b] = (await shared()) as [StateStore, StateStore];
      const channel = `test-${randomUUID().slice(0, 8)}`;
      const heard: string[] = [];
      const other: string[] = [];
      const stop = await b.subscribe(channel, (m) => heard.push(m));
      const stopOther = await b.subscribe(`${channel}-other`, (m) => other.push(m));
      const alsoA: string[] = [];
      const stopA = await a.subscribe(channel, (m) => alsoA.push(m));
      await a.publish(channel, 'hello');
      await a.publish(channel, JSON.stringify({ session: 's1', message: { method: 'x' } }));
      await waitFor(
        () => heard.length === 2 && alsoA.length === 2,
        5_000,
        'both subscribers to hear both messages',
      );
      expect(heard).toEqual(['hello', '{"session":"s1","message":{"method":"x"}}']);
      expect(other).toEqual([]);
      await stop();
      await a.publish(channel, 'after');
      await waitFor(() => alsoA.length === 3, 5_000, 'the remaining subscriber');
      expect(heard).toHaveLength(2);
      await stopOther();
      await stopA();
      await expect(a.publish('bad channel!', 'x')).rejects.toThrow(/must match/);
      await expect(a.publish(channel, 'x'.repeat(7_001))).rejects.toThrow(/larger than/);
    });

    it('kv: put, ifAbsent, TTL, and one winner for racing takes', async () => {
      const stores = await Promise.all([open(), open()]);
      const store = stores[0] as StateStore;
      const ns = `ns-${randomUUID()}`;
      expect(await store.kvPut(ns, 'a', 'one')).toBe(true);
      expect(await store.kvPut(ns, 'a', 'two', { ifAbsent: true })).toBe(false);
      expect(await store.kvGet(ns, 'a')).toBe('one');
      expect(await store.kvPut(ns, 'short', 'x', { ttlMs: 30 })).toBe(true);
      await new Promise((r) => setTimeout(r, 80));
      expect(await store.kvGet(ns, 'short')).toBeUndefined();
      expect(await store.kvPut(ns, 'short', 'y', { ifAbsent: true, ttlMs: 10_000 })).toBe(true);
      await store.kvPut(ns, 'code', 'secret-code', { ttlMs: 60_000 });
      const takes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (stores[i % 2] as StateStore).kvTake(ns, 'code')),
      );
      expect(takes.filter((t) => t === 'secret-code')).toHaveLength(1);
      expect(await store.kvGet(ns, 'code')).toBeUndefined();
      await store.kvDelete(ns, 'a');
      expect(await store.kvGet(ns, 'a')).toBeUndefined();
    });
  });
}

describe('sqlite state store across restarts', () => {
  it('keeps approvals and spend when reopened', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-restart-')), 'state.db');
    const first = new SqliteStateStore(file);
    const a = approval();
    await first.createOrGetPending(a, 2_000);
    await first.reserveSpend({
      amountMicros: 7,
      windowStartMs: 0,
      windowMs: 1_000,
      buckets: [{ key: 'k', capMicros: null }],
    });
    await first.close();
    const second = new SqliteStateStore(file);
    expect((await second.getApproval(a.id, 2_001))?.status).toBe('pending');
    expect(await second.getSpend('k', 0)).toBe(7);
    await second.close();
  });
});

describe('sqlite state store shared by several processes', () => {
  it('50 concurrent $3 reservations from 5 processes against $100 → exactly 33 succeed, $99 spent', async () => {
    const { execFile } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const worker = new URL('./reserve-worker.mjs', import.meta.url).pathname;
    const built = new URL('../../dist/stores/sqlite-store.js', import.meta.url).pathname;
    expect(existsSync(built), 'run `npm run build` first (npm test does)').toBe(true);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-multi-')), 'state.db');
    new SqliteStateStore(file).close();
    const run = () =>
      new Promise<boolean[]>((resolve, reject) =>
        execFile(process.execPath, [worker, file, 'agent:x', '10', '3000000', '100000000'], (err, stdout) =>
          err ? reject(err) : resolve(JSON.parse(stdout)),
        ),
      );
    const outcomes = (await Promise.all(Array.from({ length: 5 }, run))).flat();
    expect(outcomes).toHaveLength(50);
    expect(outcomes.filter(Boolean)).toHaveLength(33);
    const store = new SqliteStateStore(file);
    expect(await store.getSpend('agent:x', 0)).toBe(99_000_000);
    await store.close();
  });
});
