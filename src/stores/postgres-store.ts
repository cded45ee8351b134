/**
 * State store on PostgreSQL. A check-and-update is a single statement where one suffices — e.g.
 * `UPDATE … WHERE status = 'approved' … RETURNING`: the row lock plus PostgreSQL's re-check of the WHERE
 * clause on the locked row make exactly one of several concurrent consumers win — and otherwise a short
 * transaction that first locks every row it will touch, in key order, with one
 * `INSERT … ON CONFLICT DO UPDATE … RETURNING` (which also creates missing counters), so two
 * transactions never deadlock and never both read the same old value.
 *
 * Tables are `mcpg_*` in a configurable schema (default `public`), created on open under an advisory lock
 * and versioned in `mcpg_schema_version`.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  checkObservation,
  checkPinKey,
  decidePin,
  decodePin,
  encodePin,
  observePin,
  pinId,
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

export interface PostgresStoreOptions {
  readonly url: string;
  /** Schema for the tables (created if missing); default `public`. */
  readonly schema?: string;
  /** How long to wait for a connection (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** How often (at most) an instance deletes expired counters as a side effect of a write. */
const PURGE_INTERVAL_MS = 60_000;

type Tables = Record<'buckets' | 'spend' | 'approvals' | 'kv' | 'pins' | 'version', string>;

/**
 * Schema migrations in order; the count is the version recorded in mcpg_schema_version. Version 1 uses
 * IF NOT EXISTS so tables made by pre-release builds (which had no version table) are taken over.
 */
const MIGRATIONS: ReadonlyArray<(t: Tables) => string[]> = [
  (t) => [
    `CREATE TABLE IF NOT EXISTS ${t.buckets} (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS mcpg_buckets_expiry ON ${t.buckets} (expires_ms)`,
    `CREATE TABLE IF NOT EXISTS ${t.spend} (key TEXT NOT NULL, window_start BIGINT NOT NULL, micros BIGINT NOT NULL, expires_ms BIGINT NOT NULL, PRIMARY KEY (key, window_start))`,
    `CREATE INDEX IF NOT EXISTS mcpg_spend_expiry ON ${t.spend} (expires_ms)`,
    `CREATE TABLE IF NOT EXISTS ${t.approvals} (
      id TEXT PRIMARY KEY, agent TEXT NOT NULL, server TEXT NOT NULL, tool TEXT NOT NULL, args_hash TEXT NOT NULL, args TEXT NOT NULL,
      amount_usd DOUBLE PRECISION, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, status TEXT NOT NULL,
      decided_ms BIGINT, decided_by TEXT, note TEXT, consumed_ms BIGINT)`,
    // The schema itself guarantees one pending approval per call; createOrGetPending relies on it.
    `CREATE UNIQUE INDEX IF NOT EXISTS mcpg_one_pending ON ${t.approvals} (agent, server, tool, args_hash) WHERE status = 'pending'`,
    `CREATE INDEX IF NOT EXISTS mcpg_approvals_by_key ON ${t.approvals} (agent, server, tool, args_hash, created_ms)`,
    `CREATE INDEX IF NOT EXISTS mcpg_approvals_created ON ${t.approvals} (created_ms DESC)`,
    `CREATE INDEX IF NOT EXISTS mcpg_approvals_decided ON ${t.approvals} (decided_ms)`,
    `CREATE TABLE IF NOT EXISTS ${t.kv} (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_ms BIGINT, PRIMARY KEY (ns, key))`,
    `CREATE INDEX IF NOT EXISTS mcpg_kv_expiry ON ${t.kv} (expires_ms) WHERE expires_ms IS NOT NULL`,
  ],
  // 2: tool pinning. The record is one JSON text (pin-math.ts owns its rules); NULL while a first
  // observation's transaction holds the freshly inserted row.
  (t) => [
    `CREATE TABLE IF NOT EXISTS ${t.pins} (server TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, record TEXT, PRIMARY KEY (server, kind, name))`,
  ],
];

/** The schema version this build writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

interface ApprovalRow {
  id: string;
  agent: string;
  server: string;
  tool: string;
  args_hash: string;
  args: string;
  amount_usd: number | null;
  created_ms: string;
  expires_ms: string;
  status: ApprovalStatus;
  decided_ms: string | null;
  decided_by: string | null;
  note: string | null;
  consumed_ms: string | null;
}

// BIGINT columns arrive as strings (pg does not guess at precision); our values are safe integers.
const num = (v: string | null) => (v === null ? null : Number(v));

function toApproval(row: ApprovalRow, nowMs: number): Approval {
  const expiresAt = Number(row.expires_ms);
  return {
    id: row.id,
    agent: row.agent,
    server: row.server,
    tool: row.tool,
    argsHash: row.args_hash,
    args: row.args,
    amountUsd: row.amount_usd,
    createdAt: Number(row.created_ms),
    expiresAt,
    status: effectiveStatus(row.status, expiresAt, nowMs),
    decidedAt: num(row.decided_ms),
    decidedBy: row.decided_by,
    note: row.note,
    consumedAt: num(row.consumed_ms),
  };
}

export class PostgresStateStore implements StateStore {
  readonly kind = 'postgres' as const;
  private readonly t: Tables;
  private lastPurgeMs = Date.now();
  private purging: Promise<void> | undefined;
  private closed = false;
  private readonly handlers = new ChannelHandlers();
  /** The connection that LISTENs (a pooled one would be handed back); made on the first subscribe. */
  private listener: Promise<pg.Client> | undefined;
  private readonly pgNames = new Map<string, string>();
  private connectionString = '';

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    const q = `"${schema}"`;
    this.t = {
      buckets: `${q}.mcpg_buckets`,
      spend: `${q}.mcpg_spend`,
      approvals: `${q}.mcpg_approvals`,
      kv: `${q}.mcpg_kv`,
      pins: `${q}.mcpg_pins`,
      version: `${q}.mcpg_schema_version`,
    };
  }

  /** Connects and creates or migrates the tables; fails fast when PostgreSQL is unreachable. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStateStore> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema))
      throw new Error(`schema name ${JSON.stringify(schema)} must match ${SCHEMA_NAME}`);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      // A statement stuck behind a lock fails (and the gateway fails closed) instead of hanging a request.
      statement_timeout: 10_000,
    });
    pool.on('error', () => {
      // An idle client lost its connection; the pool replaces it and the next query reports any outage.
    });
    const store = new PostgresStateStore(pool, schema);
    store.connectionString = options.url;
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const t = this.t;
    await this.transaction(async (c) => {
      await c.query('SET LOCAL statement_timeout = 0');
      // Replicas starting together take turns; the lock ends with the transaction.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`mcp-guard:${this.schema}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${t.version} (version INTEGER NOT NULL)`);
      const r = await c.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${t.version}`);
      const current = r.rows[0]?.v ?? 0;
      if (current > POSTGRES_SCHEMA_VERSION)
        throw new Error(
          `schema "${this.schema}" has mcp-guard schema version ${current}, newer than this build understands (${POSTGRES_SCHEMA_VERSION}); upgrade mcp-guard`,
        );
      for (let v = current; v < POSTGRES_SCHEMA_VERSION; v++)
        for (const sql of (MIGRATIONS[v] as (t: Tables) => string[])(t)) await c.query(sql);
      if (current < POSTGRES_SCHEMA_VERSION) {
        await c.query(`DELETE FROM ${t.version}`);
        await c.query(`INSERT INTO ${t.version} (version) VALUES ($1)`, [POSTGRES_SCHEMA_VERSION]);
      }
    });
  }

  /** Runs `fn` in a transaction; commits when `keep(result)` (default always), else rolls back. */
  private async transaction<T>(
    fn: (client: pg.PoolClient) => Promise<T>,
    keep: (result: T) => boolean = () => true,
  ): Promise<T> {
    const client = await this.pool.connect();
    // A connection lost while the client is checked out is emitted on the client (the pool only listens
    // to idle ones): without a listener that would end the process. The lost client is not reused.
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query(keep(result) ? 'COMMIT' : 'ROLLBACK');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onError);
      client.release(lost);
    }
  }

  /** Deletes expired rows about once a minute, off the request's path. */
  private maybePurge(): void {
    const now = Date.now();
    if (this.purging || now - this.lastPurgeMs < PURGE_INTERVAL_MS) return;
    this.lastPurgeMs = now;
    this.purging = this.purgeExpired(now)
      .catch(() => {
        // Best effort: the next write tries again; expired rows are invisible meanwhile.
      })
      .finally(() => {
        this.purging = undefined;
      });
  }

  async consumeTokens(buckets: readonly TokenBucketSpec[], nowMs: number): Promise<ConsumeResult> {
    checkTokenBuckets(buckets, nowMs);
    if (buckets.length === 0) return { allowed: true };
    this.maybePurge();
    const keys = buckets.map((b) => b.key);
    return this.transaction(
      async (c): Promise<ConsumeResult> => {
        // Locks every bucket row (creating missing ones as "no state"), in key order.
        const locked = await c.query<{ key: string; tokens: number; updated_ms: string; expires_ms: string }>(
          `INSERT INTO ${this.t.buckets} AS b (key, tokens, updated_ms, expires_ms)
           SELECT k, -1, 0, 0 FROM unnest($1::text[]) AS k ORDER BY k
           ON CONFLICT (key) DO UPDATE SET key = b.key
           RETURNING key, tokens, updated_ms, expires_ms`,
          [keys],
        );
        const byKey = new Map(locked.rows.map((r) => [r.key, r]));
        const states = keys.map((k) => {
          const r = byKey.get(k);
          // A placeholder (tokens -1) or an expired row is a fresh, full bucket.
          return r && r.tokens >= 0 && Number(r.expires_ms) > nowMs
            ? { tokens: r.tokens, updatedMs: Number(r.updated_ms) }
            : undefined;
        });
        const outcome = takeTokens(buckets, states, nowMs);
        if (!outcome.allowed)
          return { allowed: false, index: outcome.index, retryAfterMs: outcome.retryAfterMs };
        await c.query(
          `UPDATE ${this.t.buckets} AS b SET tokens = v.tokens, updated_ms = v.updated_ms, expires_ms = v.expires_ms
           FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::bigint[]) AS v(key, tokens, updated_ms, expires_ms)
           WHERE b.key = v.key`,
          [
            keys,
            outcome.next.map((n) => n.tokens),
            outcome.next.map((n) => n.updatedMs),
            outcome.next.map((n) => n.expiresMs),
          ],
        );
        return { allowed: true };
      },
      (r) => r.allowed,
    );
  }

  async reserveSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    windowMs: number;
    buckets: readonly SpendBucket[];
  }): Promise<ReserveResult> {
    const keys = input.buckets.map((b) => b.key);
    checkSpend({ ...input, keys });
    if (keys.length === 0) return { ok: true, spentMicros: [] };
    this.maybePurge();
    return this.transaction(
      async (c): Promise<ReserveResult> => {
        const locked = await c.query<{ key: string; micros: string }>(
          `INSERT INTO ${this.t.spend} AS s (key, window_start, micros, expires_ms)
           SELECT k, $2, 0, $3 FROM unnest($1::text[]) AS k ORDER BY k
           ON CONFLICT (key, window_start) DO UPDATE SET expires_ms = GREATEST(s.expires_ms, excluded.expires_ms)
           RETURNING key, micros`,
          [keys, input.windowStartMs, input.windowStartMs + input.windowMs],
        );
        const spent = new Map(locked.rows.map((r) => [r.key, Number(r.micros)]));
        for (let i = 0; i < input.buckets.length; i++) {
          const b = input.buckets[i] as SpendBucket;
          const current = spent.get(b.key) ?? 0;
          if (b.capMicros !== null && current + input.amountMicros > b.capMicros)
            return { ok: false, index: i, spentMicros: current, capMicros: b.capMicros };
        }
        const updated = await c.query<{ key: string; micros: string }>(
          `UPDATE ${this.t.spend} SET micros = micros + $3 WHERE key = ANY($1) AND window_start = $2 RETURNING key, micros`,
          [keys, input.windowStartMs, input.amountMicros],
        );
        const after = new Map(updated.rows.map((r) => [r.key, Number(r.micros)]));
        return { ok: true, spentMicros: keys.map((k) => after.get(k) ?? 0) };
      },
      (r) => r.ok,
    );
  }

  async releaseSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    keys: readonly string[];
  }): Promise<void> {
    checkSpend(input);
    if (input.keys.length === 0) return;
    await this.pool.query(
      `UPDATE ${this.t.spend} SET micros = GREATEST(0, micros - $3) WHERE key = ANY($1) AND window_start = $2`,
      [[...input.keys], input.windowStartMs, input.amountMicros],
    );
  }

  async getSpend(key: string, windowStartMs: number): Promise<number> {
    const r = await this.pool.query<{ micros: string }>(
      `SELECT micros FROM ${this.t.spend} WHERE key = $1 AND window_start = $2`,
      [key, windowStartMs],
    );
    return Number(r.rows[0]?.micros ?? 0);
  }

  async createOrGetPending(
    input: NewApproval,
    nowMs: number,
  ): Promise<{ approval: Approval; created: boolean }> {
    const t = this.t.approvals;
    const key = [input.agent, input.server, input.tool, input.argsHash];
    return this.transaction(async (c) => {
      // A pending row whose time has passed gives up the one-pending-per-call slot.
      await c.query(
        `UPDATE ${t} SET status = 'expired' WHERE agent = $1 AND server = $2 AND tool = $3 AND args_hash = $4 AND status = 'pending' AND expires_ms <= $5`,
        [...key, nowMs],
      );
      // A racing insert of the same call waits here for the other transaction, then conflicts.
      const inserted = await c.query<ApprovalRow>(
        `INSERT INTO ${t} (id, agent, server, tool, args_hash, args, amount_usd, created_ms, expires_ms, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
         ON CONFLICT (agent, server, tool, args_hash) WHERE status = 'pending' DO NOTHING RETURNING *`,
        [input.id, ...key, input.args, input.amountUsd, input.createdAt, input.expiresAt],
      );
      if (inserted.rows[0]) return { approval: toApproval(inserted.rows[0], nowMs), created: true };
      const existing = await c.query<ApprovalRow>(
        `SELECT * FROM ${t} WHERE agent = $1 AND server = $2 AND tool = $3 AND args_hash = $4 AND status = 'pending'`,
        key,
      );
      const row = existing.rows[0];
      if (!row) throw new Error('approval insert conflicted but no pending approval was found');
      return { approval: toApproval(row, nowMs), created: false };
    });
  }

  async getApproval(id: string, nowMs = Date.now()): Promise<Approval | undefined> {
    const r = await this.pool.query<ApprovalRow>(`SELECT * FROM ${this.t.approvals} WHERE id = $1`, [id]);
    return r.rows[0] ? toApproval(r.rows[0], nowMs) : undefined;
  }

  async listApprovals(
    filter: { status?: ApprovalStatus | 'all'; limit?: number },
    nowMs = Date.now(),
  ): Promise<Approval[]> {
    const t = this.t.approvals;
    const limit = listLimit(filter.limit);
    const status = filter.status ?? 'all';
    const order = 'ORDER BY created_ms DESC, id DESC';
    const r =
      status === 'all'
        ? await this.pool.query<ApprovalRow>(`SELECT * FROM ${t} ${order} LIMIT $1`, [limit])
        : status === 'expired'
          ? await this.pool.query<ApprovalRow>(
              `SELECT * FROM ${t} WHERE status = 'expired' OR (status IN ('pending', 'approved') AND expires_ms <= $1) ${order} LIMIT $2`,
              [nowMs, limit],
            )
          : status === 'pending' || status === 'approved'
            ? await this.pool.query<ApprovalRow>(
                `SELECT * FROM ${t} WHERE status = $1 AND expires_ms > $2 ${order} LIMIT $3`,
                [status, nowMs, limit],
              )
            : await this.pool.query<ApprovalRow>(`SELECT * FROM ${t} WHERE status = $1 ${order} LIMIT $2`, [
                status,
                limit,
              ]);
    return r.rows.map((row) => toApproval(row, nowMs));
  }

  async countPending(nowMs: number): Promise<number> {
    const r = await this.pool.query<{ n: string }>(
      `SELECT COUNT(*) AS n FROM ${this.t.approvals} WHERE status = 'pending' AND expires_ms > $1`,
      [nowMs],
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  async findLatestApproval(key: ApprovalKey, nowMs = Date.now()): Promise<Approval | undefined> {
    const r = await this.pool.query<ApprovalRow>(
      `SELECT * FROM ${this.t.approvals} WHERE agent = $1 AND server = $2 AND tool = $3 AND args_hash = $4 AND status != 'consumed' ORDER BY created_ms DESC, id DESC LIMIT 1`,
      [key.agent, key.server, key.tool, key.argsHash],
    );
    return r.rows[0] ? toApproval(r.rows[0], nowMs) : undefined;
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
    const r = await this.pool.query<ApprovalRow>(
      `UPDATE ${this.t.approvals} SET status = $2, decided_ms = $3, decided_by = $4, note = $5,
         expires_ms = CASE WHEN $2 = 'approved' THEN $6::bigint ELSE expires_ms END
       WHERE id = $1 AND status = 'pending' AND expires_ms > $3 RETURNING *`,
      [id, input.decision, input.nowMs, input.by, input.note ?? null, input.nowMs + input.approvedTtlMs],
    );
    if (r.rows[0]) return { ok: true, approval: toApproval(r.rows[0], input.nowMs) };
    const current = await this.getApproval(id, input.nowMs);
    if (!current) return { ok: false, reason: 'not_found' };
    return { ok: false, reason: current.status === 'expired' ? 'expired' : 'not_pending', approval: current };
  }

  async consumeApproval(input: ApprovalKey & { id?: string; nowMs: number }): Promise<Approval | undefined> {
    const t = this.t.approvals;
    // The outer WHERE repeats the conditions: a consumer that waited for another's row lock re-checks
    // them on the row as the winner left it, and finds it consumed.
    const r = await this.pool.query<ApprovalRow>(
      `UPDATE ${t} SET status = 'consumed', consumed_ms = $5
       WHERE id = (SELECT id FROM ${t} WHERE agent = $1 AND server = $2 AND tool = $3 AND args_hash = $4
                     AND status = 'approved' AND expires_ms > $5 AND ($6::text IS NULL OR id = $6)
                   ORDER BY created_ms DESC, id DESC LIMIT 1)
         AND status = 'approved' AND expires_ms > $5
       RETURNING *`,
      [input.agent, input.server, input.tool, input.argsHash, input.nowMs, input.id ?? null],
    );
    return r.rows[0] ? toApproval(r.rows[0], input.nowMs) : undefined;
  }

  async expireApproval(id: string, nowMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE ${this.t.approvals} SET status = 'expired' WHERE id = $1 AND status IN ('pending', 'approved') AND expires_ms <= $2`,
      [id, nowMs],
    );
    return r.rowCount === 1;
  }

  async decisionsSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    const r = await this.pool.query<ApprovalRow>(
      `SELECT * FROM ${this.t.approvals} WHERE decided_ms IS NOT NULL AND decided_ms > $1 ORDER BY decided_ms ASC, id ASC LIMIT $2`,
      [sinceMs, listLimit(limit)],
    );
    return r.rows.map((row) => toApproval(row, nowMs));
  }

  async createdSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    const r = await this.pool.query<ApprovalRow>(
      `SELECT * FROM ${this.t.approvals} WHERE created_ms > $1 ORDER BY created_ms ASC, id ASC LIMIT $2`,
      [sinceMs, listLimit(limit)],
    );
    return r.rows.map((row) => toApproval(row, nowMs));
  }

  async observePins(observations: readonly PinObservation[], nowMs: number): Promise<PinObserved[]> {
    for (const o of observations) checkObservation(o);
    if (observations.length === 0) return [];
    const t = this.t.pins;
    // Rows are created and locked in key order, so two replicas observing overlapping lists never deadlock.
    const keys = [...new Map(observations.map((o) => [pinId(o), o] as const)).values()].sort((a, b) =>
      pinId(a) < pinId(b) ? -1 : 1,
    );
    const columns = [keys.map((k) => k.server), keys.map((k) => k.kind), keys.map((k) => k.name)];
    return this.transaction(async (c) => {
      await c.query(
        `INSERT INTO ${t} (server, kind, name) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
        columns,
      );
      const rows = await c.query<{ server: string; kind: string; name: string; record: string | null }>(
        `SELECT p.server, p.kind, p.name, p.record FROM ${t} p
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(server, kind, name)
           ON p.server = u.server AND p.kind = u.kind AND p.name = u.name
         ORDER BY p.server, p.kind, p.name FOR UPDATE OF p`,
        columns,
      );
      const current = new Map<string, PinRecord | undefined>(
        rows.rows.map((r) => [pinId(r as PinKey), r.record === null ? undefined : decodePin(r.record)]),
      );
      const changed = new Map<string, PinRecord>();
      const out = observations.map((o) => {
        const id = pinId(o);
        const { record, event, write } = observePin(current.get(id), o, nowMs);
        if (write) {
          current.set(id, record);
          changed.set(id, record);
        }
        return { record, event };
      });
      if (changed.size > 0) {
        const list = [...changed.values()];
        await c.query(
          `UPDATE ${t} AS p SET record = u.record
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(server, kind, name, record)
           WHERE p.server = u.server AND p.kind = u.kind AND p.name = u.name`,
          [list.map((r) => r.server), list.map((r) => r.kind), list.map((r) => r.name), list.map(encodePin)],
        );
      }
      return out;
    });
  }

  async getPin(key: PinKey): Promise<PinRecord | undefined> {
    checkPinKey(key);
    const r = await this.pool.query<{ record: string | null }>(
      `SELECT record FROM ${this.t.pins} WHERE server = $1 AND kind = $2 AND name = $3`,
      [key.server, key.kind, key.name],
    );
    const text = r.rows[0]?.record;
    return text ? decodePin(text) : undefined;
  }

  async listPins(filter: { server?: string } = {}): Promise<PinRecord[]> {
    const r = await this.pool.query<{ record: string }>(
      `SELECT record FROM ${this.t.pins} WHERE record IS NOT NULL AND ($1::text IS NULL OR server = $1)`,
      [filter.server ?? null],
    );
    return sortPins(r.rows.map((row) => decodePin(row.record)));
  }

  async decidePin(
    key: PinKey,
    input: { decision: 'approved' | 'rejected'; sha256?: string; by: string; nowMs: number },
  ): Promise<PinDecideResult> {
    checkPinKey(key);
    const t = this.t.pins;
    return this.transaction(async (c) => {
      const r = await c.query<{ record: string | null }>(
        `SELECT record FROM ${t} WHERE server = $1 AND kind = $2 AND name = $3 FOR UPDATE`,
        [key.server, key.kind, key.name],
      );
      const text = r.rows[0]?.record;
      const { write, ...result } = decidePin(text ? decodePin(text) : undefined, input);
      if (write && result.ok)
        await c.query(`UPDATE ${t} SET record = $4 WHERE server = $1 AND kind = $2 AND name = $3`, [
          key.server,
          key.kind,
          key.name,
          encodePin(result.record),
        ]);
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
    this.maybePurge();
    // With ifAbsent, an existing entry is replaced only when it has expired; a live one makes the
    // statement return no row.
    const r = await this.pool.query(
      `INSERT INTO ${this.t.kv} AS kv (ns, key, value, expires_ms) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms
       ${options.ifAbsent ? 'WHERE kv.expires_ms IS NOT NULL AND kv.expires_ms <= $5' : ''} RETURNING 1`,
      options.ifAbsent ? [ns, key, value, expires, now] : [ns, key, value, expires],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async kvGet(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    const r = await this.pool.query<{ value: string }>(
      `SELECT value FROM ${this.t.kv} WHERE ns = $1 AND key = $2 AND (expires_ms IS NULL OR expires_ms > $3)`,
      [ns, key, Date.now()],
    );
    return r.rows[0]?.value;
  }

  async kvTake(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    const now = Date.now();
    const r = await this.pool.query<{ value: string; expires_ms: string | null }>(
      `DELETE FROM ${this.t.kv} WHERE ns = $1 AND key = $2 RETURNING value, expires_ms`,
      [ns, key],
    );
    const row = r.rows[0];
    return row && (row.expires_ms === null || Number(row.expires_ms) > now) ? row.value : undefined;
  }

  async kvDelete(ns: string, key: string): Promise<void> {
    checkNamespace(ns);
    await this.pool.query(`DELETE FROM ${this.t.kv} WHERE ns = $1 AND key = $2`, [ns, key]);
  }

  async purgeExpired(nowMs: number): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.t.buckets} WHERE expires_ms <= $1`, [nowMs]);
    await this.pool.query(`DELETE FROM ${this.t.spend} WHERE expires_ms <= $1`, [nowMs]);
    await this.pool.query(`DELETE FROM ${this.t.kv} WHERE expires_ms IS NOT NULL AND expires_ms <= $1`, [
      nowMs,
    ]);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** PostgreSQL channel names are identifiers (63 bytes): ours are a hash of the schema and the channel. */
  private pgChannel(channel: string): string {
    return `mcpg_${createHash('sha256').update(`${this.schema}:${channel}`).digest('hex').slice(0, 40)}`;
  }

  async publish(channel: string, message: string): Promise<void> {
    checkChannel(channel);
    checkMessage(message);
    await this.pool.query('SELECT pg_notify($1, $2)', [this.pgChannel(channel), message]);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    checkChannel(channel);
    const client = await this.listen();
    this.pgNames.set(this.pgChannel(channel), channel);
    if (this.handlers.add(channel, onMessage)) await client.query(`LISTEN "${this.pgChannel(channel)}"`);
    return async () => {
      if (this.handlers.remove(channel, onMessage))
        await (await this.listener)?.query(`UNLISTEN "${this.pgChannel(channel)}"`).catch(() => {});
    };
  }

  /** The listening connection; after it is lost, a new one listens again to every channel (1 s later). */
  private listen(): Promise<pg.Client> {
    this.listener ??= (async () => {
      const client = new pg.Client({ connectionString: this.connectionString });
      client.on('notification', (n) => {
        const channel = this.pgNames.get(n.channel);
        if (channel !== undefined && n.payload !== undefined) this.handlers.deliver(channel, n.payload);
      });
      client.on('error', () => {
        // Lost: messages until the next connection are lost (the bus is best effort); listen anew.
        this.listener = undefined;
        client.end().catch(() => {});
        const retry = setTimeout(() => void this.relisten(), 1_000);
        retry.unref();
      });
      await client.connect();
      return client;
    })();
    this.listener.catch(() => {
      this.listener = undefined;
    });
    return this.listener;
  }

  private async relisten(): Promise<void> {
    if (this.closed || this.handlers.channels.length === 0) return;
    try {
      const client = await this.listen();
      for (const channel of this.handlers.channels) await client.query(`LISTEN "${this.pgChannel(channel)}"`);
    } catch {
      setTimeout(() => void this.relisten(), 1_000).unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.purging;
    const listener = await this.listener?.catch(() => undefined);
    await listener?.end().catch(() => {});
    await this.pool.end();
  }
}
