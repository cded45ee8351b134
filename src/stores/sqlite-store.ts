/**
 * The default state store: one SQLite file in WAL mode, shared by the gateway and the CLI.
 * Every check-and-update runs in a `BEGIN IMMEDIATE` transaction, which takes the database's write lock
 * before the first read, so transactions from several processes on one file serialise instead of two of
 * them reading the same counter and both writing (a plain `BEGIN` would only lock at the first write).
 *
 * better-sqlite3 is synchronous: an operation takes tens of microseconds, but waiting for another
 * process's write lock blocks this process's event loop, so `busy_timeout` is kept modest (2 s): a
 * lock held longer than that is a fault to report, not something to wait out.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  checkObservation,
  checkPinKey,
  decidePin,
  decodePin,
  encodePin,
  observePin,
  sortPins,
} from './pin-math.js';
import {
  type Approval,
  type ApprovalKey,
  type ApprovalStatus,
  type ConsumeResult,
  type DecideResult,
  effectiveStatus,
  type NewApproval,
  type PinDecideResult,
  type PinKey,
  type PinObservation,
  type PinObserved,
  type PinRecord,
  type ReserveResult,
  type SpendBucket,
  type StateStore,
  type TokenBucketSpec,
} from './state-store.js';
import { ChannelHandlers, checkChannel, checkMessage } from './store-bus.js';
import { checkNamespace, checkSpend, checkTokenBuckets, kvExpiry, listLimit } from './store-input.js';
import { takeTokens } from './token-math.js';

/**
 * Schema migrations, applied in order inside one BEGIN IMMEDIATE transaction on open; the count is the
 * schema version recorded in `schema_version`. Version 1 is written with IF NOT EXISTS and a clean-up of
 * stale pending rows so that files made by pre-release builds (which kept the version in a `meta` table
 * and no one-pending-per-key index) are taken over as they are.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS buckets_by_expiry ON buckets (expires_ms);
  CREATE TABLE IF NOT EXISTS spend (key TEXT NOT NULL, window_start INTEGER NOT NULL, micros INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (key, window_start));
  CREATE INDEX IF NOT EXISTS spend_by_expiry ON spend (expires_ms);
  CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, agent TEXT NOT NULL, server TEXT NOT NULL, tool TEXT NOT NULL, args_hash TEXT NOT NULL,
    args TEXT NOT NULL, amount_usd REAL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, status TEXT NOT NULL,
    decided_ms INTEGER, decided_by TEXT, note TEXT, consumed_ms INTEGER);
  UPDATE approvals SET status = 'expired' WHERE status = 'pending' AND id NOT IN (
    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY agent, server, tool, args_hash ORDER BY created_ms DESC, id DESC) AS n
                    FROM approvals WHERE status = 'pending') WHERE n = 1);
  CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_pending ON approvals (agent, server, tool, args_hash) WHERE status = 'pending';
  CREATE INDEX IF NOT EXISTS approvals_by_key ON approvals (agent, server, tool, args_hash, created_ms);
  CREATE INDEX IF NOT EXISTS approvals_by_created ON approvals (created_ms);
  CREATE INDEX IF NOT EXISTS approvals_by_decided ON approvals (decided_ms);
  CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_ms INTEGER, PRIMARY KEY (ns, key));
  CREATE INDEX IF NOT EXISTS kv_by_expiry ON kv (expires_ms) WHERE expires_ms IS NOT NULL;
  DROP TABLE IF EXISTS meta;
  `,
  // 2: tool pinning. The record is one JSON value; pin-math.ts owns its rules for every store.
  `
  CREATE TABLE IF NOT EXISTS pins (server TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (server, kind, name));
  `,
];

/** The schema version this build writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** How often (at most) an instance deletes expired counters as a side effect of a write. */
const PURGE_INTERVAL_MS = 60_000;

interface ApprovalRow {
  id: string;
  agent: string;
  server: string;
  tool: string;
  args_hash: string;
  args: string;
  amount_usd: number | null;
  created_ms: number;
  expires_ms: number;
  status: ApprovalStatus;
  decided_ms: number | null;
  decided_by: string | null;
  note: string | null;
  consumed_ms: number | null;
}

function toApproval(row: ApprovalRow, nowMs: number): Approval {
  return {
    id: row.id,
    agent: row.agent,
    server: row.server,
    tool: row.tool,
    argsHash: row.args_hash,
    args: row.args,
    amountUsd: row.amount_usd,
    createdAt: row.created_ms,
    expiresAt: row.expires_ms,
    status: effectiveStatus(row.status, row.expires_ms, nowMs),
    decidedAt: row.decided_ms,
    decidedBy: row.decided_by,
    note: row.note,
    consumedAt: row.consumed_ms,
  };
}

const KEY_MATCH = 'agent = @agent AND server = @server AND tool = @tool AND args_hash = @argsHash';

/** The statements, prepared once per connection. */
function prepare(db: Database.Database) {
  return {
    getBucket: db.prepare<[string, number], { tokens: number; updated_ms: number }>(
      'SELECT tokens, updated_ms FROM buckets WHERE key = ? AND expires_ms > ?',
    ),
    putBucket: db.prepare(
      'INSERT INTO buckets (key, tokens, updated_ms, expires_ms) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_ms = excluded.updated_ms, expires_ms = excluded.expires_ms',
    ),
    getSpend: db.prepare<[string, number], { micros: number }>(
      'SELECT micros FROM spend WHERE key = ? AND window_start = ?',
    ),
    addSpend: db.prepare(
      'INSERT INTO spend (key, window_start, micros, expires_ms) VALUES (?, ?, ?, ?) ON CONFLICT (key, window_start) DO UPDATE SET micros = spend.micros + excluded.micros, expires_ms = MAX(spend.expires_ms, excluded.expires_ms)',
    ),
    releaseSpend: db.prepare(
      'UPDATE spend SET micros = MAX(0, micros - ?) WHERE key = ? AND window_start = ?',
    ),
    expireStalePending: db.prepare(
      `UPDATE approvals SET status = 'expired' WHERE ${KEY_MATCH} AND status = 'pending' AND expires_ms <= @nowMs`,
    ),
    findPending: db.prepare<Record<string, unknown>, ApprovalRow>(
      `SELECT * FROM approvals WHERE ${KEY_MATCH} AND status = 'pending'`,
    ),
    insertApproval: db.prepare<Record<string, unknown>, ApprovalRow>(
      `INSERT INTO approvals (id, agent, server, tool, args_hash, args, amount_usd, created_ms, expires_ms, status)
       VALUES (@id, @agent, @server, @tool, @argsHash, @args, @amountUsd, @createdAt, @expiresAt, 'pending') RETURNING *`,
    ),
    approvalById: db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE id = ?'),
    listAll: db.prepare<[number], ApprovalRow>(
      'SELECT * FROM approvals ORDER BY created_ms DESC, id DESC LIMIT ?',
    ),
    listExpired: db.prepare<[number, number], ApprovalRow>(
      "SELECT * FROM approvals WHERE status = 'expired' OR (status IN ('pending', 'approved') AND expires_ms <= ?) ORDER BY created_ms DESC, id DESC LIMIT ?",
    ),
    listLive: db.prepare<[string, number, number], ApprovalRow>(
      'SELECT * FROM approvals WHERE status = ? AND expires_ms > ? ORDER BY created_ms DESC, id DESC LIMIT ?',
    ),
    listFinal: db.prepare<[string, number], ApprovalRow>(
      'SELECT * FROM approvals WHERE status = ? ORDER BY created_ms DESC, id DESC LIMIT ?',
    ),
    countPending: db.prepare<[number], { n: number }>(
      "SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending' AND expires_ms > ?",
    ),
    latest: db.prepare<Record<string, unknown>, ApprovalRow>(
      `SELECT * FROM approvals WHERE ${KEY_MATCH} AND status != 'consumed' ORDER BY created_ms DESC, id DESC LIMIT 1`,
    ),
    decide: db.prepare<Record<string, unknown>, ApprovalRow>(
      `UPDATE approvals SET status = @decision, decided_ms = @nowMs, decided_by = @by, note = @note,
         expires_ms = CASE WHEN @decision = 'approved' THEN @nowMs + @approvedTtlMs ELSE expires_ms END
       WHERE id = @id AND status = 'pending' AND expires_ms > @nowMs RETURNING *`,
    ),
    consume: db.prepare<Record<string, unknown>, ApprovalRow>(
      `UPDATE approvals SET status = 'consumed', consumed_ms = @nowMs WHERE id = (
         SELECT id FROM approvals WHERE ${KEY_MATCH} AND status = 'approved' AND expires_ms > @nowMs
           AND (@id IS NULL OR id = @id) ORDER BY created_ms DESC, id DESC LIMIT 1)
       RETURNING *`,
    ),
    expire: db.prepare(
      "UPDATE approvals SET status = 'expired' WHERE id = ? AND status IN ('pending', 'approved') AND expires_ms <= ?",
    ),
    decisionsSince: db.prepare<[number, number], ApprovalRow>(
      'SELECT * FROM approvals WHERE decided_ms IS NOT NULL AND decided_ms > ? ORDER BY decided_ms ASC, id ASC LIMIT ?',
    ),
    createdSince: db.prepare<[number, number], ApprovalRow>(
      'SELECT * FROM approvals WHERE created_ms > ? ORDER BY created_ms ASC, id ASC LIMIT ?',
    ),
    kvPut: db.prepare(
      'INSERT INTO kv (ns, key, value, expires_ms) VALUES (?, ?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms',
    ),
    // Replaces only an entry that has expired: a live one makes this a no-op (0 changes).
    kvPutIfAbsent: db.prepare(
      'INSERT INTO kv (ns, key, value, expires_ms) VALUES (?, ?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms WHERE kv.expires_ms IS NOT NULL AND kv.expires_ms <= ?',
    ),
    kvGet: db.prepare<[string, string, number], { value: string }>(
      'SELECT value FROM kv WHERE ns = ? AND key = ? AND (expires_ms IS NULL OR expires_ms > ?)',
    ),
    kvTake: db.prepare<[string, string], { value: string; expires_ms: number | null }>(
      'DELETE FROM kv WHERE ns = ? AND key = ? RETURNING value, expires_ms',
    ),
    kvDelete: db.prepare('DELETE FROM kv WHERE ns = ? AND key = ?'),
    getPin: db.prepare<[string, string, string], { record: string }>(
      'SELECT record FROM pins WHERE server = ? AND kind = ? AND name = ?',
    ),
    putPin: db.prepare(
      'INSERT INTO pins (server, kind, name, record) VALUES (?, ?, ?, ?) ON CONFLICT (server, kind, name) DO UPDATE SET record = excluded.record',
    ),
    listPins: db.prepare<[], { record: string }>('SELECT record FROM pins ORDER BY server, kind, name'),
    listServerPins: db.prepare<[string], { record: string }>(
      'SELECT record FROM pins WHERE server = ? ORDER BY kind, name',
    ),
    purgeBuckets: db.prepare('DELETE FROM buckets WHERE expires_ms <= ?'),
    purgeSpend: db.prepare('DELETE FROM spend WHERE expires_ms <= ?'),
    purgeKv: db.prepare('DELETE FROM kv WHERE expires_ms IS NOT NULL AND expires_ms <= ?'),
  };
}

export interface SqliteStoreOptions {
  /** How long to wait for another process's write lock before failing (default 2000 ms). */
  readonly busyTimeoutMs?: number;
}

/**
 * SQLite has no notifications between processes: messages reach the stores of this process on the same
 * file (several gateways in one process, as tests run them). Replicas in several processes need Redis or
 * PostgreSQL (docs/replicas.md).
 */
const sqliteBuses = new Map<string, ChannelHandlers>();

function sqliteBus(file: string): ChannelHandlers {
  const key = path.resolve(file);
  let bus = sqliteBuses.get(key);
  if (!bus) {
    bus = new ChannelHandlers();
    sqliteBuses.set(key, bus);
  }
  return bus;
}

export class SqliteStateStore implements StateStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly q: ReturnType<typeof prepare>;
  private lastPurgeMs = Date.now();

  /** Opens (creating with mode 0600 if new) and migrates the file; throws if a newer build wrote it. */
  constructor(
    readonly file: string,
    options: SqliteStoreOptions = {},
  ) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) {
      // Created 0600 before SQLite opens it (approvals hold redacted arguments; OAuth state holds grants).
      // SQLite gives the -wal and -shm files the database file's mode.
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? 2_000;
    this.db = new Database(file, { timeout: busyTimeoutMs });
    try {
      this.db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a commit survives a crash of the process; only a power loss or OS crash can
      // lose the last moments of commits. FULL would fsync on every rate-limit take.
      this.db.pragma('synchronous = NORMAL');
      this.migrate();
      this.q = prepare(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  private migrate(): void {
    this.db
      .transaction(() => {
        this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
        const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as {
          v: number | null;
        };
        const current = row.v ?? 0;
        if (current > SQLITE_SCHEMA_VERSION)
          throw new Error(
            `${this.file} has schema version ${current}, newer than this mcp-guard understands (${SQLITE_SCHEMA_VERSION}); upgrade mcp-guard`,
          );
        for (let v = current; v < SQLITE_SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v] as string);
        if (current < SQLITE_SCHEMA_VERSION) {
          this.db.exec('DELETE FROM schema_version');
          this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SQLITE_SCHEMA_VERSION);
        }
      })
      .immediate();
  }

  /** Runs `fn` in a BEGIN IMMEDIATE transaction (the write lock first, then the reads). */
  private tx<T>(fn: () => T): T {
    this.maybePurge();
    return this.db.transaction(fn).immediate();
  }

  private maybePurge(): void {
    const now = Date.now();
    if (now - this.lastPurgeMs < PURGE_INTERVAL_MS) return;
    this.lastPurgeMs = now;
    this.purgeNow(now);
  }

  private purgeNow(nowMs: number): void {
    this.db
      .transaction(() => {
        this.q.purgeBuckets.run(nowMs);
        this.q.purgeSpend.run(nowMs);
        this.q.purgeKv.run(nowMs);
      })
      .immediate();
  }

  async consumeTokens(buckets: readonly TokenBucketSpec[], nowMs: number): Promise<ConsumeResult> {
    checkTokenBuckets(buckets, nowMs);
    return this.tx(() => {
      const states = buckets.map((b) => {
        const row = this.q.getBucket.get(b.key, nowMs);
        return row ? { tokens: row.tokens, updatedMs: row.updated_ms } : undefined;
      });
      const outcome = takeTokens(buckets, states, nowMs);
      if (!outcome.allowed)
        return { allowed: false, index: outcome.index, retryAfterMs: outcome.retryAfterMs };
      outcome.next.forEach((n, i) => {
        this.q.putBucket.run((buckets[i] as TokenBucketSpec).key, n.tokens, n.updatedMs, n.expiresMs);
      });
      return { allowed: true };
    });
  }

  async reserveSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    windowMs: number;
    buckets: readonly SpendBucket[];
  }): Promise<ReserveResult> {
    checkSpend({ ...input, keys: input.buckets.map((b) => b.key) });
    return this.tx(() => {
      const spent = input.buckets.map((b) => this.q.getSpend.get(b.key, input.windowStartMs)?.micros ?? 0);
      for (let i = 0; i < input.buckets.length; i++) {
        const cap = (input.buckets[i] as SpendBucket).capMicros;
        const current = spent[i] ?? 0;
        if (cap !== null && current + input.amountMicros > cap)
          return { ok: false, index: i, spentMicros: current, capMicros: cap };
      }
      const expires = input.windowStartMs + input.windowMs;
      for (const b of input.buckets)
        this.q.addSpend.run(b.key, input.windowStartMs, input.amountMicros, expires);
      return { ok: true, spentMicros: spent.map((s) => s + input.amountMicros) };
    });
  }

  async releaseSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    keys: readonly string[];
  }): Promise<void> {
    checkSpend(input);
    this.tx(() => {
      for (const key of input.keys) this.q.releaseSpend.run(input.amountMicros, key, input.windowStartMs);
    });
  }

  async getSpend(key: string, windowStartMs: number): Promise<number> {
    return this.q.getSpend.get(key, windowStartMs)?.micros ?? 0;
  }

  async createOrGetPending(
    input: NewApproval,
    nowMs: number,
  ): Promise<{ approval: Approval; created: boolean }> {
    const key = { agent: input.agent, server: input.server, tool: input.tool, argsHash: input.argsHash };
    return this.tx(() => {
      this.q.expireStalePending.run({ ...key, nowMs });
      const existing = this.q.findPending.get(key);
      if (existing) return { approval: toApproval(existing, nowMs), created: false };
      const row = this.q.insertApproval.get({ ...input }) as ApprovalRow;
      return { approval: toApproval(row, nowMs), created: true };
    });
  }

  async getApproval(id: string, nowMs = Date.now()): Promise<Approval | undefined> {
    const row = this.q.approvalById.get(id);
    return row ? toApproval(row, nowMs) : undefined;
  }

  async listApprovals(
    filter: { status?: ApprovalStatus | 'all'; limit?: number },
    nowMs = Date.now(),
  ): Promise<Approval[]> {
    const limit = listLimit(filter.limit);
    const status = filter.status ?? 'all';
    const rows =
      status === 'all'
        ? this.q.listAll.all(limit)
        : status === 'expired'
          ? this.q.listExpired.all(nowMs, limit)
          : status === 'pending' || status === 'approved'
            ? this.q.listLive.all(status, nowMs, limit)
            : this.q.listFinal.all(status, limit);
    return rows.map((r) => toApproval(r, nowMs));
  }

  async countPending(nowMs: number): Promise<number> {
    return this.q.countPending.get(nowMs)?.n ?? 0;
  }

  async findLatestApproval(key: ApprovalKey, nowMs = Date.now()): Promise<Approval | undefined> {
    const row = this.q.latest.get({
      agent: key.agent,
      server: key.server,
      tool: key.tool,
      argsHash: key.argsHash,
    });
    return row ? toApproval(row, nowMs) : undefined;
  }

  async decideApproval(
    id: string,
    input: {
      decision: 'approved' | 'denied';
      by: string;
      note?: string;
      nowMs: number;
      approvedTtlMs: number;
    },
  ): Promise<DecideResult> {
    return this.tx(() => {
      const row = this.q.decide.get({
        id,
        decision: input.decision,
        by: input.by,
        note: input.note ?? null,
        nowMs: input.nowMs,
        approvedTtlMs: input.approvedTtlMs,
      });
      if (row) return { ok: true, approval: toApproval(row, input.nowMs) };
      const current = this.q.approvalById.get(id);
      if (!current) return { ok: false, reason: 'not_found' };
      const approval = toApproval(current, input.nowMs);
      return { ok: false, reason: approval.status === 'expired' ? 'expired' : 'not_pending', approval };
    });
  }

  async consumeApproval(input: ApprovalKey & { id?: string; nowMs: number }): Promise<Approval | undefined> {
    return this.tx(() => {
      const row = this.q.consume.get({
        agent: input.agent,
        server: input.server,
        tool: input.tool,
        argsHash: input.argsHash,
        id: input.id ?? null,
        nowMs: input.nowMs,
      });
      return row ? toApproval(row, input.nowMs) : undefined;
    });
  }

  async expireApproval(id: string, nowMs: number): Promise<boolean> {
    return this.tx(() => this.q.expire.run(id, nowMs).changes === 1);
  }

  async decisionsSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    return this.q.decisionsSince.all(sinceMs, listLimit(limit)).map((r) => toApproval(r, nowMs));
  }

  async createdSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    return this.q.createdSince.all(sinceMs, listLimit(limit)).map((r) => toApproval(r, nowMs));
  }

  async observePins(observations: readonly PinObservation[], nowMs: number): Promise<PinObserved[]> {
    for (const o of observations) checkObservation(o);
    if (observations.length === 0) return [];
    return this.tx(() =>
      observations.map((o) => {
        const row = this.q.getPin.get(o.server, o.kind, o.name);
        const { record, event, write } = observePin(row ? decodePin(row.record) : undefined, o, nowMs);
        if (write) this.q.putPin.run(o.server, o.kind, o.name, encodePin(record));
        return { record, event };
      }),
    );
  }

  async getPin(key: PinKey): Promise<PinRecord | undefined> {
    checkPinKey(key);
    const row = this.q.getPin.get(key.server, key.kind, key.name);
    return row ? decodePin(row.record) : undefined;
  }

  async listPins(filter: { server?: string } = {}): Promise<PinRecord[]> {
    const rows =
      filter.server === undefined ? this.q.listPins.all() : this.q.listServerPins.all(filter.server);
    return sortPins(rows.map((r) => decodePin(r.record)));
  }

  async decidePin(
    key: PinKey,
    input: { decision: 'approved' | 'rejected'; sha256?: string; by: string; nowMs: number },
  ): Promise<PinDecideResult> {
    checkPinKey(key);
    return this.tx(() => {
      const row = this.q.getPin.get(key.server, key.kind, key.name);
      const { write, ...result } = decidePin(row ? decodePin(row.record) : undefined, input);
      if (write && result.ok) this.q.putPin.run(key.server, key.kind, key.name, encodePin(result.record));
      return result;
    });
  }

  async kvPut(
    ns: string,
    key: string,
    value: string,
    options: { ttlMs?: number; ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    checkNamespace(ns);
    const now = Date.now();
    const expires = kvExpiry(now, options.ttlMs);
    return this.tx(() =>
      options.ifAbsent
        ? this.q.kvPutIfAbsent.run(ns, key, value, expires, now).changes === 1
        : this.q.kvPut.run(ns, key, value, expires).changes === 1,
    );
  }

  async kvGet(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    return this.q.kvGet.get(ns, key, Date.now())?.value;
  }

  async kvTake(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    const now = Date.now();
    const row = this.tx(() => this.q.kvTake.get(ns, key));
    return row && (row.expires_ms === null || row.expires_ms > now) ? row.value : undefined;
  }

  async kvDelete(ns: string, key: string): Promise<void> {
    checkNamespace(ns);
    this.tx(() => this.q.kvDelete.run(ns, key));
  }

  async purgeExpired(nowMs: number): Promise<void> {
    this.purgeNow(nowMs);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async publish(channel: string, message: string): Promise<void> {
    checkChannel(channel);
    checkMessage(message);
    // Delivered after the caller's turn, as a networked store would.
    const bus = sqliteBus(this.file);
    setImmediate(() => bus.deliver(channel, message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    checkChannel(channel);
    const bus = sqliteBus(this.file);
    bus.add(channel, onMessage);
    return async () => {
      bus.remove(channel, onMessage);
    };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
