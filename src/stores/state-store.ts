/**
 * The state store: where approvals, spend, rate-limit counters and OAuth state live, shared by every
 * gateway replica and the `mcp-guard approvals` CLI (SPEC §2 `state`; docs/state-store.md).
 *
 * The rule every implementation follows: each check-and-update is ONE atomic store operation (a SQLite
 * `BEGIN IMMEDIATE` transaction, a Redis Lua script, a PostgreSQL statement or locked transaction) —
 * never an in-process lock — so several processes on one store behave as one gateway.
 *
 * Money is counted in integer micro-dollars (no float drift: 33 × $3 is exactly $99). Times are ms.
 */

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';

export interface Approval {
  readonly id: string;
  readonly agent: string;
  readonly server: string;
  readonly tool: string;
  /** SHA-256 of the canonical JSON of the call's arguments. */
  readonly argsHash: string;
  /** The arguments, redacted, as JSON text (for the human deciding). */
  readonly args: string;
  readonly amountUsd: number | null;
  readonly createdAt: number;
  /** Pending: until when a decision can be made. Approved: until when the approved call can run. */
  readonly expiresAt: number;
  /** `pending` and `approved` read as `expired` once expiresAt has passed. */
  readonly status: ApprovalStatus;
  readonly decidedAt: number | null;
  readonly decidedBy: string | null;
  readonly note: string | null;
  readonly consumedAt: number | null;
}

export type NewApproval = Pick<
  Approval,
  'id' | 'agent' | 'server' | 'tool' | 'argsHash' | 'args' | 'amountUsd' | 'createdAt' | 'expiresAt'
>;

/** What makes two calls "the same call" for approvals (SPEC §3 approval round trip). */
export interface ApprovalKey {
  readonly agent: string;
  readonly server: string;
  readonly tool: string;
  readonly argsHash: string;
}

export interface TokenBucketSpec {
  /** Distinct within one call. */
  readonly key: string;
  /** Burst size, >= 1. */
  readonly capacity: number;
  /** Tokens added per ms, > 0 (N per minute = N / 60_000). */
  readonly refillPerMs: number;
  /** Tokens to take, an integer from 1 (default) to capacity: a gateway may take a few at once. */
  readonly take?: number;
}

export type ConsumeResult = { allowed: true } | { allowed: false; index: number; retryAfterMs: number };

export interface SpendBucket {
  /** Distinct within one call. */
  readonly key: string;
  /** null: no cap, but still counted. */
  readonly capMicros: number | null;
}

export type ReserveResult =
  | { ok: true; spentMicros: number[] }
  | { ok: false; index: number; spentMicros: number; capMicros: number };

export type DecideResult =
  | { ok: true; approval: Approval }
  | { ok: false; reason: 'not_found' | 'not_pending' | 'expired'; approval?: Approval };

/** What a pin is of: a tool, a prompt or a resource template (tool pinning, docs/pinning.md). */
export type PinKind = 'tool' | 'prompt' | 'resource_template';

/** One pinned definition, as a server offers it (its own name, not the exposed one). */
export interface PinKey {
  readonly server: string;
  readonly kind: PinKind;
  readonly name: string;
}

/**
 * What the store keeps per pinned definition. The approved definition is the one calls may use; a
 * different one seen since waits in `pending*` until an operator approves or rejects it.
 */
export interface PinRecord extends PinKey {
  /** SHA-256 of the canonical definition that is approved (null: none yet — flagged on first sight). */
  readonly approvedSha256: string | null;
  /** That definition as canonical JSON (for `tools diff` and `tools pin`). */
  readonly approvedDefinition: string | null;
  readonly approvedAt: number | null;
  /** `first-sight` when pinned automatically the first time it was seen. */
  readonly approvedBy: string | null;
  /** The definition seen since that differs from the approved one (quarantined under enforce). */
  readonly pendingSha256: string | null;
  readonly pendingDefinition: string | null;
  /** Poisoning markers found in the pending definition. */
  readonly pendingMarkers: readonly string[];
  readonly pendingSince: number | null;
  /** A definition an operator rejected: it stays refused and is not announced again. */
  readonly rejectedSha256: string | null;
  readonly rejectedBy: string | null;
  readonly firstSeenAt: number;
  readonly updatedAt: number;
}

/** A definition as a gateway sees it now. */
export interface PinObservation extends PinKey {
  readonly sha256: string;
  /** Canonical JSON of the definition. */
  readonly definition: string;
  /** Poisoning markers found in it (empty: none). */
  readonly markers: readonly string[];
}

/**
 * The outcome of observing one definition: the record after the observation, and `event` when this
 * observation changed what the store knows in a way humans must hear of — returned to exactly one of
 * several racing observers (replicas), so the audit line and the notification are written once.
 */
export interface PinObserved {
  readonly record: PinRecord;
  readonly event: 'pinned' | 'changed' | 'flagged' | null;
}

export type PinDecideResult =
  | { ok: true; record: PinRecord }
  | { ok: false; reason: 'not_found' | 'nothing_pending' | 'stale'; record?: PinRecord };

export interface StateStore {
  /** Which implementation (for logs and /readyz). */
  readonly kind: 'sqlite' | 'redis' | 'postgres';

  /**
   * Token buckets, all or nothing: refill each from elapsed time (up to capacity); if every bucket has a
   * token, take one from each; otherwise take nothing and report the first empty bucket and when it refills.
   * An idle bucket leaves the store once it would be full again.
   */
  consumeTokens(buckets: readonly TokenBucketSpec[], nowMs: number): Promise<ConsumeResult>;

  /**
   * Adds `amountMicros` to every bucket of the window starting at `windowStartMs`, only if none would go
   * over its cap; otherwise adds nothing and reports the first bucket in the way. Counters expire after
   * the window.
   */
  reserveSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    windowMs: number;
    buckets: readonly SpendBucket[];
  }): Promise<ReserveResult>;
  /** Gives a reservation back (the forwarded call failed); a counter never goes below zero. */
  releaseSpend(input: {
    amountMicros: number;
    windowStartMs: number;
    keys: readonly string[];
  }): Promise<void>;
  /** Micro-dollars counted for `key` in the window starting at `windowStartMs` (0 when none). */
  getSpend(key: string, windowStartMs: number): Promise<number>;

  /**
   * Returns the pending, unexpired approval for the same key, or inserts `input` (exactly one of racing
   * callers creates). A pending approval of that key whose time has passed is recorded as expired.
   */
  createOrGetPending(input: NewApproval, nowMs: number): Promise<{ approval: Approval; created: boolean }>;
  /** One approval by id, with its status as it reads at `nowMs`. */
  getApproval(id: string, nowMs?: number): Promise<Approval | undefined>;
  /** Approvals with that (effective) status, newest first; default all, at most `limit` (100). */
  listApprovals(
    filter: { status?: ApprovalStatus | 'all'; limit?: number },
    nowMs?: number,
  ): Promise<Approval[]>;
  /** How many approvals wait for a decision (pending and unexpired). */
  countPending(nowMs: number): Promise<number>;
  /** The newest approval for the key among those not consumed. */
  findLatestApproval(key: ApprovalKey, nowMs?: number): Promise<Approval | undefined>;
  /**
   * Only a pending, unexpired approval can be decided (of racing deciders exactly one wins); approving sets
   * expiresAt = nowMs + approvedTtlMs, the window in which the agent must retry.
   */
  decideApproval(
    id: string,
    input: {
      decision: 'approved' | 'denied';
      by: string;
      note?: string;
      nowMs: number;
      approvedTtlMs: number;
    },
  ): Promise<DecideResult>;
  /**
   * Moves the newest approved, unexpired approval matching the key (and `id` when given) to `consumed` and
   * returns it; of racing consumers exactly one gets it.
   */
  consumeApproval(input: ApprovalKey & { id?: string; nowMs: number }): Promise<Approval | undefined>;
  /**
   * Records that a pending or approved approval has expired (its expiresAt passed). True only for the one
   * caller that made the change, so "expired" is reported once and the next identical call starts anew.
   */
  expireApproval(id: string, nowMs: number): Promise<boolean>;
  /** Approvals decided after `sinceMs`, oldest decision first (for the gateway's audit of CLI decisions). */
  decisionsSince(sinceMs: number, limit: number, nowMs?: number): Promise<Approval[]>;
  /**
   * Approvals created after `sinceMs` (by their createdAt), oldest first: what the admin event stream
   * announces, whichever replica created them.
   */
  createdSince(sinceMs: number, limit: number, nowMs?: number): Promise<Approval[]>;

  /**
   * Tool pinning: records what the gateway sees now, for each observation, atomically per definition
   * (pin-math.ts `observePin` says what changes). A batch is one round trip where the store allows.
   */
  observePins(observations: readonly PinObservation[], nowMs: number): Promise<PinObserved[]>;
  /** One pin, or undefined. */
  getPin(key: PinKey): Promise<PinRecord | undefined>;
  /** Every pin (of one server when given), ordered by server, kind and name. */
  listPins(filter?: { server?: string }): Promise<PinRecord[]>;
  /**
   * Approves or rejects the pending definition of a pin (pin-math.ts `decidePin`); with `sha256`, only if
   * that is still the pending one (an operator approves what they looked at).
   */
  decidePin(
    key: PinKey,
    input: { decision: 'approved' | 'rejected'; sha256?: string; by: string; nowMs: number },
  ): Promise<PinDecideResult>;

  /** Stores a value; with ifAbsent, only when no live value exists (returns false then). */
  kvPut(
    ns: string,
    key: string,
    value: string,
    options?: { ttlMs?: number; ifAbsent?: boolean },
  ): Promise<boolean>;
  /** The live value, or undefined (expired entries are invisible). */
  kvGet(ns: string, key: string): Promise<string | undefined>;
  /** Atomic get-and-delete (single-use codes): of two racing takers, one gets the value. */
  kvTake(ns: string, key: string): Promise<string | undefined>;
  /** Removes an entry (no error when absent). */
  kvDelete(ns: string, key: string): Promise<void>;

  /**
   * Deletes counters and KV entries that expired before `nowMs`. Implementations also do this on their
   * own (Redis through key TTLs, SQL stores now and then), so callers never need to; approvals are kept.
   */
  purgeExpired(nowMs: number): Promise<void>;
  /** Throws when the store cannot be reached (for /readyz). */
  ping(): Promise<void>;

  /**
   * Messages between the gateways on one store (replicas): what one replica must tell the others at once
   * (a session's message for the replica holding its stream, a session ended, a client blocked).
   * Best effort: at most once, never kept, delivered to every subscriber of the channel on this store,
   * the publishing process included. Redis pub/sub, PostgreSQL LISTEN/NOTIFY; SQLite: within one process
   * only (replicas that share state need Redis or PostgreSQL). A message is at most 7,000 bytes.
   */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `onMessage` for each message on `channel`; resolves once listening, with a way to stop. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** Releases the file or connections; calling it twice is harmless. */
  close(): Promise<void>;
}

/** Computes the status a stored approval reads as at `nowMs`. */
export function effectiveStatus(stored: ApprovalStatus, expiresAt: number, nowMs: number): ApprovalStatus {
  return (stored === 'pending' || stored === 'approved') && expiresAt <= nowMs ? 'expired' : stored;
}

/** USD → integer micro-dollars. */
export function toMicros(usd: number): number {
  return Math.round(usd * 1_000_000);
}

/** Integer micro-dollars → USD. */
export function fromMicros(micros: number): number {
  return micros / 1_000_000;
}
