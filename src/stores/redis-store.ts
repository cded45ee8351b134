/**
 * State store on Redis (>= 6.2). Every check-and-update is one Lua script: Redis runs a script to the
 * end before any other command, so replicas never interleave inside one. Counters and KV entries carry
 * TTLs, so idle keys leave on their own; approvals are kept as history, like the SQL stores keep them.
 *
 * Keys, all under the prefix (default `mcp-guard:`):
 *   bucket:<key>            hash {t: tokens, u: updated ms}           PEXPIRE: until full again
 *   spend:<window>:<key>    integer micro-dollars                     PEXPIRE: end of window (+1 min)
 *   approval:<id>           hash of the record, plus kh (key hash)
 *   approvals               zset id → createdAt       (listing, newest first; createdSince)
 *   pending                 zset id → expiresAt       (stored-pending ones: count and list)
 *   pendingkey:<kh>         the id of the one stored-pending approval of that call
 *   bykey:<kh>              zset id → createdAt       (the call's approvals not consumed)
 *   decided                 zset id → decidedAt       (decisionsSince)
 *   kv:<ns>:<key>           string                    PX: the entry's TTL
 *   pin:<server>:<kind>:<name>  the pin record as JSON (pin-math.ts)
 *   pins                    set of the pin ids above  (listing)
 * The approval scripts build key names from the prefix inside Lua, so the store needs a standalone Redis
 * (or one primary with replicas), not Redis Cluster.
 *
 * Numbers cross into Lua as strings and are written back from those strings: Lua formats numbers with
 * 14 significant digits, which would turn a large micro-dollar amount into "1e+14".
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
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
import { checkNamespace, checkSpend, checkTokenBuckets, kvTtl, listLimit } from './store-input.js';

/** Version of the key layout above; a newer one in the same Redis is refused. */
const REDIS_LAYOUT_VERSION = 1;
/** Spend counters outlive their window by this much, for replicas whose clocks differ a little. */
const SPEND_GRACE_MS = 60_000;

// KEYS: bucket keys. ARGV: now, then capacity, refill-per-ms and tokens to take for each bucket.
// Returns {1} or {0, index, retryAfterMs}.
const CONSUME_TOKENS = `
local now = tonumber(ARGV[1])
local levels = {}
local stamps = {}
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 * i - 1])
  local rate = tonumber(ARGV[3 * i])
  local take = tonumber(ARGV[3 * i + 1])
  local state = redis.call('HMGET', key, 't', 'u')
  local level = cap
  local updated = now
  if state[1] then
    local last = tonumber(state[2])
    local elapsed = math.max(0, now - last)
    level = math.min(cap, tonumber(state[1]) + elapsed * rate)
    -- The bucket's time never goes back (see token-math.ts).
    updated = math.max(now, last)
  end
  if level < take then
    return {0, i - 1, math.ceil((take - level) / rate)}
  end
  levels[i] = level
  stamps[i] = updated
end
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 * i - 1])
  local rate = tonumber(ARGV[3 * i])
  local left = levels[i] - tonumber(ARGV[3 * i + 1])
  redis.call('HSET', key, 't', string.format('%.17g', left), 'u', string.format('%d', stamps[i]))
  redis.call('PEXPIRE', key, string.format('%d', math.ceil((cap - left) / rate) + 1000 + stamps[i] - now))
end
return {1}
`;

// KEYS: spend counters. ARGV: amount, ttlMs, then a cap per key ('' = none).
// Returns {1, spent...} or {0, index, spent, cap}.
const RESERVE_SPEND = `
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local current = tonumber(redis.call('GET', key) or '0')
  local cap = ARGV[2 + i]
  if cap ~= '' and current + amount > tonumber(cap) then
    return {0, i - 1, current, tonumber(cap)}
  end
end
local out = {1}
for i, key in ipairs(KEYS) do
  out[#out + 1] = redis.call('INCRBY', key, ARGV[1])
  if redis.call('PTTL', key) < tonumber(ARGV[2]) then redis.call('PEXPIRE', key, ARGV[2]) end
end
return out
`;

// KEYS: spend counters. ARGV: amount. Never below zero; a missing counter stays missing.
const RELEASE_SPEND = `
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if redis.call('DECRBY', key, ARGV[1]) < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
  end
end
return 1
`;

// ARGV: prefix, now, kh, id, agent, server, tool, argsHash, args, amountUsd ('' = none), createdAt, expiresAt.
// Returns {1, id} when created, {0, existingId} when a live pending approval of the call exists.
const CREATE_OR_GET_PENDING = `
local p, now, kh, id = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local pk = p .. 'pendingkey:' .. kh
local existing = redis.call('GET', pk)
if existing then
  local h = p .. 'approval:' .. existing
  local f = redis.call('HMGET', h, 'status', 'expires_ms')
  if f[1] == 'pending' then
    if tonumber(f[2]) > now then return {0, existing} end
    redis.call('HSET', h, 'status', 'expired')
  end
end
local h = p .. 'approval:' .. id
if redis.call('EXISTS', h) == 1 then return redis.error_reply('approval id ' .. id .. ' already exists') end
redis.call('HSET', h, 'id', id, 'kh', kh, 'agent', ARGV[5], 'server', ARGV[6], 'tool', ARGV[7], 'args_hash', ARGV[8],
  'args', ARGV[9], 'amount_usd', ARGV[10], 'created_ms', ARGV[11], 'expires_ms', ARGV[12], 'status', 'pending')
redis.call('SET', pk, id)
-- Stored-pending approvals whose time has passed no longer count as pending; drop them from the index.
redis.call('ZREMRANGEBYSCORE', p .. 'pending', '-inf', ARGV[2])
redis.call('ZADD', p .. 'pending', ARGV[12], id)
redis.call('ZADD', p .. 'bykey:' .. kh, ARGV[11], id)
redis.call('ZADD', p .. 'approvals', ARGV[11], id)
return {1, id}
`;

// ARGV: prefix, id, now, decision, by, hasNote ('1'/'0'), note, expiresAt if approved.
// Returns 'ok', 'not_found', 'not_pending' or 'expired'.
const DECIDE = `
local p, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local h = p .. 'approval:' .. id
local f = redis.call('HMGET', h, 'status', 'expires_ms', 'kh')
if not f[1] then return 'not_found' end
if (f[1] == 'pending' or f[1] == 'approved') and tonumber(f[2]) <= now then return 'expired' end
if f[1] ~= 'pending' then return 'not_pending' end
local expires = f[2]
if ARGV[4] == 'approved' then expires = ARGV[8] end
redis.call('HSET', h, 'status', ARGV[4], 'decided_ms', ARGV[3], 'decided_by', ARGV[5], 'expires_ms', expires)
if ARGV[6] == '1' then redis.call('HSET', h, 'note', ARGV[7]) end
redis.call('ZREM', p .. 'pending', id)
local pk = p .. 'pendingkey:' .. f[3]
if redis.call('GET', pk) == id then redis.call('DEL', pk) end
redis.call('ZADD', p .. 'decided', ARGV[3], id)
return 'ok'
`;

// ARGV: prefix, now, kh, agent, server, tool, argsHash, id ('' = the newest approved one of the call).
// Returns the consumed id or nil.
const CONSUME_APPROVAL = `
local p, now, kh = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local bk = p .. 'bykey:' .. kh
local ids
if ARGV[8] ~= '' then ids = {ARGV[8]} else ids = redis.call('ZREVRANGE', bk, 0, -1) end
for _, id in ipairs(ids) do
  local h = p .. 'approval:' .. id
  local f = redis.call('HMGET', h, 'status', 'expires_ms', 'agent', 'server', 'tool', 'args_hash')
  if f[1] == 'approved' and tonumber(f[2]) > now
    and f[3] == ARGV[4] and f[4] == ARGV[5] and f[5] == ARGV[6] and f[6] == ARGV[7] then
    redis.call('HSET', h, 'status', 'consumed', 'consumed_ms', ARGV[2])
    redis.call('ZREM', bk, id)
    return id
  end
end
return false
`;

// ARGV: prefix, id, now. Returns 1 when this call moved the approval to expired.
const EXPIRE_APPROVAL = `
local p, id = ARGV[1], ARGV[2]
local h = p .. 'approval:' .. id
local f = redis.call('HMGET', h, 'status', 'expires_ms', 'kh')
if (f[1] == 'pending' or f[1] == 'approved') and tonumber(f[2]) <= tonumber(ARGV[3]) then
  redis.call('HSET', h, 'status', 'expired')
  redis.call('ZREM', p .. 'pending', id)
  local pk = p .. 'pendingkey:' .. f[3]
  if redis.call('GET', pk) == id then redis.call('DEL', pk) end
  return 1
end
return 0
`;

// ARGV: prefix, kh. The newest not-consumed approval of the call as a flat HGETALL, read in one step so a
// concurrent consume cannot slip between finding the id and reading the record.
const LATEST = `
local ids = redis.call('ZREVRANGE', ARGV[1] .. 'bykey:' .. ARGV[2], 0, 0)
if #ids == 0 then return {} end
return redis.call('HGETALL', ARGV[1] .. 'approval:' .. ids[1])
`;

// KEYS: the pin key. ARGV: the record this writer read ('' = none), the new record, the pin id, the
// prefix. A compare-and-set: the rules live in pin-math.ts (shared with the SQL stores), and a writer
// that lost a race reads again and re-applies them. Returns 1 when written.
const PUT_PIN_IF = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', ARGV[4] .. 'pins', ARGV[3])
return 1
`;

type Arg = string | number;
interface Scripts {
  mcpgConsumeTokens(numKeys: number, ...args: Arg[]): Promise<[number, number?, number?]>;
  mcpgReserveSpend(numKeys: number, ...args: Arg[]): Promise<number[]>;
  mcpgReleaseSpend(numKeys: number, ...args: Arg[]): Promise<number>;
  mcpgCreateOrGetPending(...args: Arg[]): Promise<[number, string]>;
  mcpgDecide(...args: Arg[]): Promise<string>;
  mcpgConsumeApproval(...args: Arg[]): Promise<string | null>;
  mcpgExpireApproval(...args: Arg[]): Promise<number>;
  mcpgLatest(...args: Arg[]): Promise<string[]>;
  mcpgPutPinIf(numKeys: number, ...args: Arg[]): Promise<number>;
}

/** Compare-and-set attempts before an observation gives up (only under a storm of writers to one pin). */
const PIN_CAS_ATTEMPTS = 20;

export interface RedisStoreOptions {
  readonly url: string;
  /** Key prefix (default `mcp-guard:`), so several gateways or tests can share one Redis. */
  readonly prefix?: string;
  /** How long to wait for the connection (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

type Hash = Record<string, string>;

function toApproval(h: Hash, nowMs: number): Approval | undefined {
  if (!h['id']) return undefined;
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  const expiresAt = Number(h['expires_ms']);
  return {
    id: h['id'],
    agent: h['agent'] ?? '',
    server: h['server'] ?? '',
    tool: h['tool'] ?? '',
    argsHash: h['args_hash'] ?? '',
    args: h['args'] ?? '{}',
    amountUsd: num(h['amount_usd']),
    createdAt: Number(h['created_ms']),
    expiresAt,
    status: effectiveStatus(h['status'] as ApprovalStatus, expiresAt, nowMs),
    decidedAt: num(h['decided_ms']),
    decidedBy: h['decided_by'] ?? null,
    note: h['note'] ?? null,
    consumedAt: num(h['consumed_ms']),
  };
}

function byNewest(a: Approval, b: Approval): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The identity of a call as one opaque key part (agent names and tools may contain any character). */
function keyHash(key: ApprovalKey): string {
  return createHash('sha256')
    .update(JSON.stringify([key.agent, key.server, key.tool, key.argsHash]))
    .digest('hex');
}

export class RedisStateStore implements StateStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis & Scripts;
  private readonly prefix: string;
  private readonly handlers = new ChannelHandlers();
  private subscribing: Promise<Redis> | undefined;

  private constructor(redis: Redis, prefix: string) {
    this.redis = redis as Redis & Scripts;
    this.prefix = prefix;
    // defineCommand sends EVALSHA and falls back to EVAL once when the server lacks the script.
    redis.defineCommand('mcpgConsumeTokens', { lua: CONSUME_TOKENS });
    redis.defineCommand('mcpgReserveSpend', { lua: RESERVE_SPEND });
    redis.defineCommand('mcpgReleaseSpend', { lua: RELEASE_SPEND });
    redis.defineCommand('mcpgCreateOrGetPending', { lua: CREATE_OR_GET_PENDING, numberOfKeys: 0 });
    redis.defineCommand('mcpgDecide', { lua: DECIDE, numberOfKeys: 0 });
    redis.defineCommand('mcpgConsumeApproval', { lua: CONSUME_APPROVAL, numberOfKeys: 0 });
    redis.defineCommand('mcpgExpireApproval', { lua: EXPIRE_APPROVAL, numberOfKeys: 0 });
    redis.defineCommand('mcpgLatest', { lua: LATEST, numberOfKeys: 0 });
    redis.defineCommand('mcpgPutPinIf', { lua: PUT_PIN_IF });
  }

  /** Connects, checks the server version and the key layout; fails fast when Redis is unreachable. */
  static async open(options: RedisStoreOptions): Promise<RedisStateStore> {
    const redis = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
      // While the connection is down, commands fail at once (the gateway fails closed) instead of
      // queueing behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    redis.on('error', () => {
      // Reported through failed commands; without a listener ioredis prints every reconnect attempt.
    });
    const prefix = options.prefix ?? 'mcp-guard:';
    try {
      await redis.connect();
      const info = await redis.info('server');
      const version = /redis_version:(\d+)\.(\d+)/.exec(info);
      if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2)))
        throw new Error(`Redis ${version[1]}.${version[2]} is too old: the state store needs 6.2 or newer`);
      await redis.set(`${prefix}layout`, String(REDIS_LAYOUT_VERSION), 'NX');
      const layout = Number(await redis.get(`${prefix}layout`));
      if (layout > REDIS_LAYOUT_VERSION)
        throw new Error(
          `keys under "${prefix}" use layout ${layout}, newer than this mcp-guard understands; upgrade mcp-guard`,
        );
    } catch (err) {
      // Stops ioredis' background reconnect loop, which would otherwise keep the process alive.
      redis.disconnect();
      throw err;
    }
    return new RedisStateStore(redis, prefix);
  }

  private k(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  async consumeTokens(buckets: readonly TokenBucketSpec[], nowMs: number): Promise<ConsumeResult> {
    checkTokenBuckets(buckets, nowMs);
    if (buckets.length === 0) return { allowed: true };
    const keys = buckets.map((b) => this.k('bucket', b.key));
    const args = buckets.flatMap((b) => [String(b.capacity), String(b.refillPerMs), String(b.take ?? 1)]);
    const r = await this.redis.mcpgConsumeTokens(keys.length, ...keys, String(nowMs), ...args);
    return r[0] === 1
      ? { allowed: true }
      : { allowed: false, index: Number(r[1]), retryAfterMs: Number(r[2]) };
  }

  async reserveSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    windowMs: number;
    buckets: readonly SpendBucket[];
  }): Promise<ReserveResult> {
    checkSpend({ ...input, keys: input.buckets.map((b) => b.key) });
    if (input.buckets.length === 0) return { ok: true, spentMicros: [] };
    const keys = input.buckets.map((b) => this.k('spend', String(input.windowStartMs), b.key));
    const ttl = Math.max(0, input.windowStartMs + input.windowMs - Date.now()) + SPEND_GRACE_MS;
    const caps = input.buckets.map((b) => (b.capMicros === null ? '' : String(b.capMicros)));
    const r = await this.redis.mcpgReserveSpend(
      keys.length,
      ...keys,
      String(input.amountMicros),
      String(ttl),
      ...caps,
    );
    if (r[0] === 1) return { ok: true, spentMicros: r.slice(1).map(Number) };
    return { ok: false, index: Number(r[1]), spentMicros: Number(r[2]), capMicros: Number(r[3]) };
  }

  async releaseSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    keys: readonly string[];
  }): Promise<void> {
    checkSpend(input);
    if (input.keys.length === 0) return;
    const keys = input.keys.map((key) => this.k('spend', String(input.windowStartMs), key));
    await this.redis.mcpgReleaseSpend(keys.length, ...keys, String(input.amountMicros));
  }

  async getSpend(key: string, windowStartMs: number): Promise<number> {
    return Number((await this.redis.get(this.k('spend', String(windowStartMs), key))) ?? 0);
  }

  private async loadMany(ids: readonly string[], nowMs: number): Promise<Approval[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.k('approval', id));
    const replies = (await pipeline.exec()) ?? [];
    const out: Approval[] = [];
    for (const [err, hash] of replies) {
      if (err) throw err;
      const a = toApproval(hash as Hash, nowMs);
      if (a) out.push(a);
    }
    return out;
  }

  private async load(id: string, nowMs: number): Promise<Approval | undefined> {
    return toApproval(await this.redis.hgetall(this.k('approval', id)), nowMs);
  }

  async createOrGetPending(
    input: NewApproval,
    nowMs: number,
  ): Promise<{ approval: Approval; created: boolean }> {
    const [created, id] = await this.redis.mcpgCreateOrGetPending(
      this.prefix,
      String(nowMs),
      keyHash(input),
      input.id,
      input.agent,
      input.server,
      input.tool,
      input.argsHash,
      input.args,
      input.amountUsd === null ? '' : String(input.amountUsd),
      String(input.createdAt),
      String(input.expiresAt),
    );
    const approval = await this.load(id, nowMs);
    if (!approval) throw new Error(`approval ${id} vanished right after it was stored`);
    return { approval, created: created === 1 };
  }

  getApproval(id: string, nowMs = Date.now()): Promise<Approval | undefined> {
    return this.load(id, nowMs);
  }

  async listApprovals(
    filter: { status?: ApprovalStatus | 'all'; limit?: number },
    nowMs = Date.now(),
  ): Promise<Approval[]> {
    const limit = listLimit(filter.limit);
    const status = filter.status ?? 'all';
    if (status === 'pending') {
      const ids = await this.redis.zrangebyscore(this.k('pending'), `(${nowMs}`, '+inf');
      const loaded = await this.loadMany(ids, nowMs);
      return loaded
        .filter((a) => a.status === 'pending')
        .sort(byNewest)
        .slice(0, limit);
    }
    // Other statuses: walk all approvals newest first (the CLI's listing; not on the request path).
    const out: Approval[] = [];
    const page = 500;
    for (let start = 0; out.length < limit; start += page) {
      const ids = await this.redis.zrevrange(this.k('approvals'), start, start + page - 1);
      for (const a of await this.loadMany(ids, nowMs)) {
        if (status === 'all' || a.status === status) out.push(a);
        if (out.length >= limit) break;
      }
      if (ids.length < page) break;
    }
    return out;
  }

  async countPending(nowMs: number): Promise<number> {
    return this.redis.zcount(this.k('pending'), `(${nowMs}`, '+inf');
  }

  async findLatestApproval(key: ApprovalKey, nowMs = Date.now()): Promise<Approval | undefined> {
    const flat = await this.redis.mcpgLatest(this.prefix, keyHash(key));
    const hash: Hash = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
    return toApproval(hash, nowMs);
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
    const r = await this.redis.mcpgDecide(
      this.prefix,
      id,
      String(input.nowMs),
      input.decision,
      input.by,
      input.note === undefined ? '0' : '1',
      input.note ?? '',
      String(input.nowMs + input.approvedTtlMs),
    );
    const approval = await this.load(id, input.nowMs);
    if (r === 'ok' && approval) return { ok: true, approval };
    if (r === 'not_found' || !approval) return { ok: false, reason: 'not_found' };
    return { ok: false, reason: r === 'expired' ? 'expired' : 'not_pending', approval };
  }

  async consumeApproval(input: ApprovalKey & { id?: string; nowMs: number }): Promise<Approval | undefined> {
    const id = await this.redis.mcpgConsumeApproval(
      this.prefix,
      String(input.nowMs),
      keyHash(input),
      input.agent,
      input.server,
      input.tool,
      input.argsHash,
      input.id ?? '',
    );
    return id ? this.load(id, input.nowMs) : undefined;
  }

  async expireApproval(id: string, nowMs: number): Promise<boolean> {
    return (await this.redis.mcpgExpireApproval(this.prefix, id, String(nowMs))) === 1;
  }

  async decisionsSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    const ids = await this.redis.zrangebyscore(
      this.k('decided'),
      `(${sinceMs}`,
      '+inf',
      'LIMIT',
      0,
      listLimit(limit),
    );
    return this.loadMany(ids, nowMs);
  }

  async createdSince(sinceMs: number, limit: number, nowMs = Date.now()): Promise<Approval[]> {
    const ids = await this.redis.zrangebyscore(
      this.k('approvals'),
      `(${sinceMs}`,
      '+inf',
      'LIMIT',
      0,
      listLimit(limit),
    );
    return this.loadMany(ids, nowMs);
  }

  async observePins(observations: readonly PinObservation[], nowMs: number): Promise<PinObserved[]> {
    for (const o of observations) checkObservation(o);
    if (observations.length === 0) return [];
    // One round trip reads every pin; only the (rare) changes are written, each by compare-and-set.
    const ids = [...new Set(observations.map(pinId))];
    const texts = await this.redis.mget(...ids.map((id) => this.k('pin', id)));
    const current = new Map(ids.map((id, i) => [id, texts[i] ?? null]));
    const out: PinObserved[] = [];
    for (const o of observations) {
      const id = pinId(o);
      let text = current.get(id) ?? null;
      for (let attempt = 0; ; attempt++) {
        const { record, event, write } = observePin(text === null ? undefined : decodePin(text), o, nowMs);
        if (!write) {
          out.push({ record, event });
          break;
        }
        const next = encodePin(record);
        if ((await this.redis.mcpgPutPinIf(1, this.k('pin', id), text ?? '', next, id, this.prefix)) === 1) {
          current.set(id, next);
          out.push({ record, event });
          break;
        }
        if (attempt >= PIN_CAS_ATTEMPTS) throw new Error(`pin ${id}: too many concurrent writers`);
        text = await this.redis.get(this.k('pin', id));
      }
    }
    return out;
  }

  async getPin(key: PinKey): Promise<PinRecord | undefined> {
    checkPinKey(key);
    const text = await this.redis.get(this.k('pin', pinId(key)));
    return text === null ? undefined : decodePin(text);
  }

  async listPins(filter: { server?: string } = {}): Promise<PinRecord[]> {
    const ids = (await this.redis.smembers(this.k('pins'))).filter(
      (id) => filter.server === undefined || id.startsWith(`${filter.server}:`),
    );
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(...ids.map((id) => this.k('pin', id)));
    return sortPins(texts.filter((t): t is string => t !== null).map(decodePin));
  }

  async decidePin(
    key: PinKey,
    input: { decision: 'approved' | 'rejected'; sha256?: string; by: string; nowMs: number },
  ): Promise<PinDecideResult> {
    checkPinKey(key);
    const id = pinId(key);
    for (let attempt = 0; attempt < PIN_CAS_ATTEMPTS; attempt++) {
      const text = await this.redis.get(this.k('pin', id));
      const { write, ...result } = decidePin(text === null ? undefined : decodePin(text), input);
      if (!write || !result.ok) return result;
      const next = encodePin(result.record);
      if ((await this.redis.mcpgPutPinIf(1, this.k('pin', id), text ?? '', next, id, this.prefix)) === 1)
        return result;
    }
    throw new Error(`pin ${id}: too many concurrent writers`);
  }

  async kvPut(
    ns: string,
    key: string,
    value: string,
    options: { ttlMs?: number; ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    checkNamespace(ns);
    const k = this.k('kv', ns, key);
    const ttl = kvTtl(options.ttlMs);
    // SET … NX is Redis' own atomic "only if absent"; an expired key is absent.
    const reply =
      ttl === undefined
        ? options.ifAbsent
          ? await this.redis.set(k, value, 'NX')
          : await this.redis.set(k, value)
        : options.ifAbsent
          ? await this.redis.set(k, value, 'PX', ttl, 'NX')
          : await this.redis.set(k, value, 'PX', ttl);
    return reply === 'OK';
  }

  async kvGet(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    return (await this.redis.get(this.k('kv', ns, key))) ?? undefined;
  }

  async kvTake(ns: string, key: string): Promise<string | undefined> {
    checkNamespace(ns);
    return (await this.redis.getdel(this.k('kv', ns, key))) ?? undefined;
  }

  async kvDelete(ns: string, key: string): Promise<void> {
    checkNamespace(ns);
    await this.redis.del(this.k('kv', ns, key));
  }

  async purgeExpired(nowMs: number): Promise<void> {
    // Counters and KV entries expire through their own TTLs; only the pending index needs trimming.
    await this.redis.zremrangebyscore(this.k('pending'), '-inf', String(nowMs));
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async publish(channel: string, message: string): Promise<void> {
    checkChannel(channel);
    checkMessage(message);
    await this.redis.publish(this.k('bus', channel), message);
  }

  /**
   * One subscriber connection per store (a subscribed Redis connection can do nothing else); it
   * re-subscribes by itself after a reconnect (ioredis keeps the list).
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    checkChannel(channel);
    const subscriber = await this.subscriber();
    if (this.handlers.add(channel, onMessage)) await subscriber.subscribe(this.k('bus', channel));
    return async () => {
      if (this.handlers.remove(channel, onMessage))
        await subscriber.unsubscribe(this.k('bus', channel)).catch(() => {});
    };
  }

  private subscriber(): Promise<Redis> {
    this.subscribing ??= (async () => {
      const sub = this.redis.duplicate({
        lazyConnect: true,
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
      });
      sub.on('error', () => {
        // Reconnects by itself; messages published meanwhile are lost (the bus is best effort).
      });
      const prefix = this.k('bus', '');
      sub.on('message', (full: string, message: string) => {
        if (full.startsWith(prefix)) this.handlers.deliver(full.slice(prefix.length), message);
      });
      await sub.connect();
      return sub;
    })();
    return this.subscribing;
  }

  async close(): Promise<void> {
    if (this.subscribing) {
      const sub = await this.subscribing.catch(() => undefined);
      sub?.disconnect();
    }
    if (this.redis.status === 'end') return;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
