/**
 * `isolation: pooled`: up to `pool_size` children (for a remote server: upstream sessions) per server,
 * started on demand and reused by every session. A request that the child could need to reach an agent
 * for — a session that declared sampling, elicitation or its own roots, or asked for log messages
 * (logging/setLevel; a 2026-07-28 call's logLevel) — leases one child exclusively while it is in
 * flight, so whatever that child sends meanwhile belongs to exactly one agent request. Other requests
 * share a child, up to `pool_calls_per_child` at once: its child was told the agent has nothing to
 * ask, so what it may send is progress (mapped by token) and log messages, delivered while one session
 * (for the 2026-07-28 relay: one call) has calls on it and dropped otherwise, never guessed. Sharing
 * is what makes a pool cheap: messages to a child are written once per event-loop turn, and a child
 * answering one message per wake-up cost as much CPU per call as the gateway itself (bench: a child per
 * call in flight 0.40 ms/call, shared 0.05). What is per session lives in the gateway
 * (MultiSessionBackend): logging levels, subscriptions, tasks.
 *
 * - A child is initialized with the client capabilities of the sessions it serves (a profile: sampling,
 *   elicitation, roots as they declared them), as a direct connection would be, and serves only sessions
 *   of that profile: a backend never asks an agent for what it did not declare, and lists what that
 *   agent would see. Agents of one kind share one profile; the children of all profiles together stay
 *   within pool_size (an idle child of another profile makes room).
 * - Children start on demand: the first of a profile at once, another when requests have waited for
 *   a child with room, without a break, longer than a child takes to start (a burst of short calls is
 *   cheaper to queue than a spawn; a steady backlog or long calls grow the pool, one child at a time).
 * - An exclusive request that must wait drains one child of its profile (no more shared requests join
 *   it; the others go on sharing) and takes it once it is empty; exclusive requests go in order.
 * - A call that waits for its agent's answer (sampling, elicitation, roots — a person, maybe, or a
 *   2026-07-28 client that has not retried yet) keeps its child, which then stops counting against
 *   pool_size (up to pool_size such children more): open questions must not hold every other call up.
 * - Requests beyond the pool wait in a bounded queue (`pool_queue`) for at most
 *   `pool_queue_timeout`, then get -32016 naming `pool_size`; past the bound they get it at once.
 * - A child that dies fails its requests with -32016 and is replaced on demand (at once after a healthy
 *   run, with backoff while it keeps failing; with nothing working and a restart pending, requests fail
 *   at once instead of queueing).
 * - A child whose request was cancelled or timed out rests briefly before its next lease, so messages
 *   it had already sent for the old request cannot reach the next one's session (a shared child drops
 *   log messages while it rests).
 * - A child unused for a minute exits; while sessions of its profile hold the server, one stays, so an
 *   `initialize` never waits for a spawn.
 * - Leases are cheap (no spawn): a sessionless request can take one and release it right after.
 */
import type { ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import type { Params, RequestId } from '../mcp/messages.js';
import { BackendConnection, type InitializeInfo } from './connection.js';
import {
  type Attribution,
  type ClientProfile,
  MultiSessionBackend,
  soleOwner,
} from './multi-session-backend.js';
import type { BackendListener, LeaseRequestOptions } from './pool.js';
import { backoffMs, HEALTHY_RUN_MS, unavailable } from './slot.js';
import type { BackendTransport } from './transports.js';

/** How long a child rests after a cancelled or timed-out request before it is leased again. */
const REST_MS = 250;
/**
 * Another child starts when requests have been waiting for free ones, without a break, for longer than
 * starting a child takes (measured, an average of the last starts; this before the first; a second at
 * most) — counted from the last child's start, so the pool grows one child at a time. A spawn costs far
 * more than a short call: a burst of quick calls is served by the children running, while a steady
 * backlog or long calls grow the pool. On a loaded machine both times grow together, so it stays calm.
 */
const FIRST_START_GUESS_MS = 250;
const MIN_GROW_AFTER_MS = 50;
/**
 * However slow the starts measured: one start made while the machine was swamped (5.6 s, measured beside
 * a test that spawned a hundred children) otherwise made every later backlog wait that long before the
 * pool grew — and, the pool not growing, no quicker start came to bring the average down.
 */
const MAX_GROW_AFTER_MS = 1_000;
/** A child unused this long exits (the last one of a held profile stays). */
const IDLE_CHILD_MS = 60_000;

/** The profile of a lease that declared nothing (the readiness probe, a client without capabilities). */
export const EMPTY_PROFILE: ClientProfile = { key: '{}', capabilities: {} };

interface Member {
  readonly profile: ClientProfile;
  conn: BackendConnection | undefined;
  opening: Promise<BackendConnection> | undefined;
  /** Leased requests in flight on this child. */
  calls: number;
  /** Takes no more shared requests: an exclusive request waits for it to empty. */
  draining: boolean;
  /** Questions of this child's call waiting for the agent's answer (sampling, elicitation, roots). */
  asking: number;
  /** Set while its one request has it to itself (that request's session and id). */
  lessee: Attribution | undefined;
  lastUsed: number;
  restUntil: number;
  /** The connection while it is being opened (closed at once on shutdown, not waited for). */
  starting?: BackendConnection;
}

interface Waiter {
  readonly profile: ClientProfile;
  /** Set for a request that must have a child to itself. */
  readonly lessee: Attribution | undefined;
  /** A task's requests must reach the child that runs it. */
  readonly via: BackendConnection | undefined;
  readonly resolve: (member: Member) => void;
  readonly reject: (error: Error) => void;
  readonly dispose: () => void;
}

export interface PoolTiming {
  readonly idleChildMs?: number;
  readonly restMs?: number;
  readonly growAfterMs?: number;
}

export class PooledBackend extends MultiSessionBackend {
  readonly isolation = 'pooled' as const;
  private readonly members: Member[] = [];
  private readonly waiters: Waiter[] = [];
  private failures = 0;
  private nextAttemptAt = 0;
  /** False after a start failed, until one succeeds. */
  private healthy = true;
  /** What the backend said at its last initialize, per profile. */
  private readonly infos = new Map<string, InitializeInfo>();
  private lastInfo: InitializeInfo | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private restTimer: NodeJS.Timeout | undefined;
  private growTimer: NodeJS.Timeout | undefined;
  /** Since when requests have waited without a break (undefined: none waits). */
  private backlogSince: number | undefined;
  /** When the last child finished starting. */
  private lastOpenedAt = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly idleChildMs: number;
  private readonly restMs: number;
  private readonly fixedGrowAfterMs: number | undefined;
  /** Average time a child took to start and initialize. */
  private startupMs: number | undefined;

  constructor(
    server: ServerConfig,
    logger: Logger,
    onIdle: () => void,
    private readonly transport: () => BackendTransport,
    private readonly report: (up: boolean) => void,
    timing: PoolTiming = {},
  ) {
    super(server, logger, onIdle);
    this.idleChildMs = timing.idleChildMs ?? IDLE_CHILD_MS;
    this.restMs = timing.restMs ?? REST_MS;
    this.fixedGrowAfterMs = timing.growAfterMs;
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(10_000, this.idleChildMs / 2)));
    this.sweeper.unref();
  }

  get up(): boolean {
    return this.working() || this.healthy;
  }

  infoFor(profile: ClientProfile | undefined): InitializeInfo | undefined {
    return this.infos.get((profile ?? EMPTY_PROFILE).key) ?? this.lastInfo;
  }

  /** Children running or starting, leased right now, and requests waiting for one. */
  get load(): { children: number; busy: number; queued: number } {
    return {
      children: this.members.length,
      busy: this.members.filter((m) => m.calls > 0).length,
      queued: this.waiters.length,
    };
  }

  private get growAfterMs(): number {
    return (
      this.fixedGrowAfterMs ??
      Math.min(MAX_GROW_AFTER_MS, Math.max(MIN_GROW_AFTER_MS, this.startupMs ?? FIRST_START_GUESS_MS))
    );
  }

  private working(): boolean {
    return this.members.some((m) => m.conn?.isOpen);
  }

  protected liveConnections(): BackendConnection[] {
    return this.members.flatMap((m) => (m.conn?.isOpen ? [m.conn] : []));
  }

  protected async anyConnection(profile: ClientProfile | undefined): Promise<BackendConnection> {
    const p = profile ?? EMPTY_PROFILE;
    // Lists and initialize info need no lease: any child of the profile answers, busy or not.
    const mine = this.members.filter((m) => m.profile.key === p.key);
    const ready = mine.find((m) => m.conn?.isOpen)?.conn;
    if (ready) return ready;
    const opening = mine.find((m) => m.opening)?.opening;
    if (opening) return opening;
    // None of this profile: starting one goes through the queue (pool_size, backoff, making room).
    const member = await this.acquire(undefined, undefined, p, undefined);
    this.release(member, false);
    return member.conn as BackendConnection;
  }

  protected async send(
    listener: BackendListener,
    method: string,
    params: Params,
    options: LeaseRequestOptions,
    via: BackendConnection | undefined,
    profile: ClientProfile | undefined,
  ): Promise<{ result: Params; conn: BackendConnection }> {
    const p = profile ?? EMPTY_PROFILE;
    // A task's requests go to the child that runs it, shared: what the child sends about the task
    // names it (related-task `_meta`) and reaches its owner that way.
    const lessee =
      via === undefined && this.needsAttribution(listener, p, options.relatedRequestId)
        ? { listener, related: options.relatedRequestId }
        : undefined;
    const member = await this.acquire(via, options.signal, p, lessee);
    const conn = member.conn as BackendConnection;
    let rest = false;
    try {
      options.onSent?.();
      const result = await this.requestOn(conn, listener, method, params, options);
      return { result, conn };
    } catch (err) {
      rest =
        options.signal?.aborted === true || (err instanceof WireError && err.reason === 'request_timeout');
      throw err;
    } finally {
      this.release(member, rest);
    }
  }

  protected unattributed(method: string): string {
    return `mcp-guard cannot tell which agent session ${method} is for: the pooled child of server "${this.server.name}" is not serving one session's request`;
  }

  /**
   * Whether what the child sends during this request must reach its session: the session declared
   * something the backend may ask it for (sampling, elicitation, its own roots), or wants log messages
   * (a session that set a level, a 2026-07-28 call with a logLevel). Such a request has a child to
   * itself; any other shares one.
   */
  private needsAttribution(
    listener: BackendListener,
    profile: ClientProfile,
    related: RequestId | undefined,
  ): boolean {
    if (this.server.pool.callsPerChild <= 1) return true;
    const caps = profile.capabilities;
    if (caps['sampling'] !== undefined || caps['elicitation'] !== undefined) return true;
    if (caps['roots'] !== undefined && this.server.agentRoots) return true;
    return this.holders.get(listener)?.level !== undefined || listener.wantsLogs?.(related) === true;
  }

  /** Who a message from `member`'s child is for: the exclusive lessee, else the one session with calls on it. */
  private attribution(member: Member): Attribution | undefined {
    if (member.lessee) return member.lessee;
    if (member.restUntil > Date.now() || !member.conn) return undefined;
    return soleOwner(member.conn);
  }

  // ------------------------------------------------------------------ leasing

  private acquire(
    via: BackendConnection | undefined,
    signal: AbortSignal | undefined,
    profile: ClientProfile,
    lessee: Attribution | undefined,
  ): Promise<Member> {
    signal?.throwIfAborted();
    const exclusive = lessee !== undefined;
    // Exclusive requests of a profile are served in order: a newcomer does not take the child an
    // earlier one has been draining.
    const free = exclusive && this.waitingExclusive(profile) ? undefined : this.free(via, profile, exclusive);
    if (free) {
      PooledBackend.lease(free, lessee);
      return Promise.resolve(free);
    }
    if (!via) {
      const refusal = this.refusal();
      if (refusal) return Promise.reject(refusal);
    }
    const { size, queue, queueTimeoutMs } = this.server.pool;
    if (this.waiters.length >= queue) {
      return Promise.reject(
        this.busyError(
          `no child can take the request and ${this.waiters.length} requests are waiting (pool_size: ${size}, pool_calls_per_child: ${this.server.pool.callsPerChild}, pool_queue: ${queue})`,
        ),
      );
    }
    return new Promise<Member>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dropWaiter(waiter);
        reject(
          this.busyError(
            `no child became free within ${queueTimeoutMs} ms (pool_size: ${size}); raise pool_size or pool_queue_timeout`,
          ),
        );
      }, queueTimeoutMs);
      const onAbort = () => {
        this.dropWaiter(waiter);
        reject(
          signal?.reason instanceof Error
            ? signal.reason
            : new WireError('internal_error', 'Request cancelled'),
        );
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter: Waiter = {
        profile,
        lessee,
        via,
        resolve,
        reject,
        dispose: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      this.waiters.push(waiter);
      if (!via) this.backlogSince ??= Date.now();
      // An exclusive request starts a child draining at once (pump), then the pool may grow.
      this.pump();
    });
  }

  /**
   * A child for `profile` (or the one running a task) that can take the request: an idle one for an
   * exclusive request, else one with room that nobody has to themselves and that is not draining. The
   * oldest, so calls gather on few children (more messages per write) and the newest ones idle out.
   */
  private free(
    via: BackendConnection | undefined,
    profile: ClientProfile,
    exclusive: boolean,
  ): Member | undefined {
    const now = Date.now();
    const room = exclusive ? 1 : this.server.pool.callsPerChild;
    return this.members.find(
      (m) =>
        m.calls < room &&
        !m.lessee &&
        (exclusive || via !== undefined || !m.draining) &&
        m.conn?.isOpen &&
        m.restUntil <= now &&
        (via === undefined ? m.profile.key === profile.key : m.conn === via),
    );
  }

  private waitingExclusive(profile: ClientProfile): boolean {
    return this.waiters.length > 0 && this.waiters.some((w) => w.lessee && w.profile.key === profile.key);
  }

  private static lease(member: Member, lessee: Attribution | undefined): void {
    member.calls++;
    member.lessee = lessee;
    if (lessee) member.draining = false;
  }

  /**
   * An exclusive request waits: one child of its profile (already draining, else the one with the
   * fewest calls) takes no more shared requests, so it empties — the others go on sharing.
   */
  private drainFor(profile: ClientProfile): void {
    let pick: Member | undefined;
    for (const m of this.members) {
      if (m.profile.key !== profile.key || m.lessee || !m.conn?.isOpen) continue;
      if (m.draining) return;
      if (!pick || m.calls < pick.calls) pick = m;
    }
    if (pick) pick.draining = true;
  }

  /** Children drain only while an exclusive request of their profile waits. */
  private stopNeedlessDraining(): void {
    for (const m of this.members) if (m.draining && !this.waitingExclusive(m.profile)) m.draining = false;
  }

  private dropWaiter(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
    waiter.dispose();
    this.backlogEnded();
    if (waiter.lessee) this.stopNeedlessDraining();
  }

  /** No request waits for any free child any more: the backlog clock stops. */
  private backlogEnded(): void {
    if (!this.waiters.some((w) => !w.via)) this.backlogSince = undefined;
  }

  private release(member: Member, rest: boolean): void {
    member.calls--;
    member.lessee = undefined;
    member.lastUsed = Date.now();
    if (rest) {
      member.restUntil = member.lastUsed + this.restMs;
      this.wakeAfterRest();
    }
    this.pump();
  }

  /** Pumps when the earliest rest ends (and again for any rest still running then). */
  private wakeAfterRest(): void {
    if (this.restTimer) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const m of this.members) if (m.restUntil > now) next = Math.min(next, m.restUntil);
    if (next === Number.POSITIVE_INFINITY) return;
    this.restTimer = setTimeout(() => {
      this.restTimer = undefined;
      this.pump();
      this.wakeAfterRest();
    }, next - now);
    this.restTimer.unref();
  }

  /**
   * Hands children to waiters in order (exclusive requests of a profile strictly in order, each
   * draining a child while it waits), then starts a child for those still waiting.
   */
  private pump(): void {
    // Every release pumps: with nobody waiting (the common case) nothing is allocated.
    if (this.waiters.length === 0) {
      this.backlogSince = undefined;
      return;
    }
    const stuck = new Set<string>();
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i] as Waiter;
      if (waiter.via && !this.members.some((m) => m.conn === waiter.via)) {
        this.waiters.splice(i, 1);
        waiter.dispose();
        waiter.reject(new WireError('invalid_params', 'Unknown task'));
        continue;
      }
      const exclusive = waiter.lessee !== undefined;
      const inOrder = !exclusive || !stuck.has(waiter.profile.key);
      const member = inOrder ? this.free(waiter.via, waiter.profile, exclusive) : undefined;
      if (!member) {
        if (exclusive && inOrder) {
          stuck.add(waiter.profile.key);
          this.drainFor(waiter.profile);
        }
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      waiter.dispose();
      PooledBackend.lease(member, waiter.lessee);
      waiter.resolve(member);
    }
    this.backlogEnded();
    this.stopNeedlessDraining();
    this.grow();
  }

  /**
   * Starts a child for waiting requests, within pool_size and the restart backoff, one at a time: at
   * once for a profile that has none, else once the backlog has lasted longer than a child takes to
   * start (since the backlog began or the last child came up, whichever is later).
   */
  private grow(): void {
    if (this.closed) return;
    const general = this.waiters.filter((w) => !w.via);
    if (general.length === 0) return;
    const refusal = this.refusal();
    if (refusal) {
      this.rejectGeneral(refusal);
      return;
    }
    if (this.members.some((m) => m.opening)) return;
    // A profile with no child that can take work (none, or all waiting for their agents): start at once.
    const first = general.find(
      (w) => !this.members.some((m) => m.profile.key === w.profile.key && !PooledBackend.parked(m)),
    );
    if (first) {
      if (this.makeRoom(general)) this.start(first.profile);
      return;
    }
    const now = Date.now();
    const wait = Math.max(this.backlogSince ?? now, this.lastOpenedAt) + this.growAfterMs - now;
    if (wait <= 0) {
      const oldest = general[0] as Waiter;
      if (this.makeRoom(general)) this.start(oldest.profile);
      return;
    }
    if (this.growTimer) return;
    this.growTimer = setTimeout(() => {
      this.growTimer = undefined;
      this.grow();
    }, wait);
    this.growTimer.unref();
  }

  /** A child whose call waits for the agent's answer: it counts against a second pool_size, not the first. */
  private static parked(m: Member): boolean {
    return m.lessee !== undefined && m.asking > 0;
  }

  /**
   * True when another child fits: pool_size children working (parked ones apart, up to pool_size more) —
   * if need be after stopping the least recently used idle child of a profile no waiting request needs.
   */
  private makeRoom(general: readonly Waiter[]): boolean {
    const size = this.server.pool.size;
    const parked = this.members.filter(PooledBackend.parked).length;
    if (this.members.length - parked < size && this.members.length < 2 * size) return true;
    const now = Date.now();
    const wanted = new Set(general.map((w) => w.profile.key));
    let victim: Member | undefined;
    for (const m of this.members) {
      if (m.calls > 0 || m.opening || !m.conn?.isOpen || m.restUntil > now || wanted.has(m.profile.key))
        continue;
      if (this.waiters.some((w) => w.via === m.conn)) continue;
      if (!victim || m.lastUsed < victim.lastUsed) victim = m;
    }
    if (!victim) return false;
    this.remove(victim);
    void victim.conn?.close();
    return true;
  }

  /** Why a request cannot even wait: nothing works and the next restart is not due yet. */
  private refusal(): WireError | undefined {
    if (this.closed) return unavailable(this.server.name, 'the gateway is shutting down');
    if (this.working() || this.members.some((m) => m.opening)) return undefined;
    const wait = this.nextAttemptAt - Date.now();
    if (wait > 0)
      return unavailable(this.server.name, `restarting, next attempt in ${Math.ceil(wait / 1000)} s`);
    return undefined;
  }

  private rejectGeneral(error: Error): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.via) continue;
      this.dropWaiter(waiter);
      waiter.reject(error);
    }
    this.backlogEnded();
  }

  private busyError(detail: string): WireError {
    return new WireError('backend_unavailable', `Backend "${this.server.name}" is busy: ${detail}`, {
      server: this.server.name,
      pool_size: this.server.pool.size,
    });
  }

  // ------------------------------------------------------------------ children

  private start(profile: ClientProfile): Member {
    const member: Member = {
      profile,
      conn: undefined,
      opening: undefined,
      calls: 0,
      draining: false,
      asking: 0,
      lessee: undefined,
      lastUsed: Date.now(),
      restUntil: 0,
    };
    this.members.push(member);
    const name = this.server.name;
    const startedAt = Date.now();
    const opening = (async () => {
      const conn = new BackendConnection({
        server: name,
        transport: this.transport(),
        logger: this.logger,
        roots: this.server.roots,
        agentRoots: this.server.agentRoots,
      });
      const openedAt = Date.now();
      member.starting = conn;
      try {
        await conn.open(
          {
            protocolVersion: '2025-11-25',
            capabilities: profile.capabilities,
            clientInfo: { name: 'mcp-guard', version: VERSION },
          },
          this.server.connectTimeoutMs,
        );
      } finally {
        member.starting = undefined;
      }
      if (this.closed || !this.members.includes(member)) {
        await conn.close();
        throw unavailable(name, 'the gateway is shutting down');
      }
      const handlers = this.handlers(() => this.attribution(member));
      conn.setHandlers({
        ...handlers,
        // While the call waits for the agent (a person, maybe), its child does not count against
        // pool_size: open questions must not hold every other agent's calls up.
        onRequest: async (message, signal) => {
          member.asking++;
          this.pump();
          try {
            return await (handlers.onRequest as NonNullable<typeof handlers.onRequest>)(message, signal);
          } finally {
            member.asking--;
          }
        },
        onClose: () => this.onChildClosed(member, openedAt),
      });
      return conn;
    })();
    member.opening = opening;
    opening.then(
      (conn) => {
        member.opening = undefined;
        member.conn = conn;
        member.lastUsed = Date.now();
        this.lastOpenedAt = member.lastUsed;
        const took = member.lastUsed - startedAt;
        this.startupMs = this.startupMs === undefined ? took : 0.7 * this.startupMs + 0.3 * took;
        this.healthy = true;
        if (conn.info) this.infos.set(profile.key, conn.info);
        this.lastInfo = conn.info;
        this.report(true);
        this.logger.info(
          {
            server: name,
            children: this.members.length,
            profile: profile.key,
            protocolVersion: conn.info?.protocolVersion,
          },
          'pooled backend child started',
        );
        this.onConnectionOpened(conn);
        this.pump();
      },
      (err: Error) => {
        member.opening = undefined;
        this.remove(member);
        if (this.closed) return;
        this.healthy = false;
        this.logger.warn({ server: name, err: err.message }, 'backend failed to start');
        this.failed();
        const error =
          err instanceof WireError ? err : unavailable(name, err.message || 'the backend failed to start');
        if (!this.working()) {
          this.report(false);
          this.rejectGeneral(error);
        }
        this.pump();
      },
    );
    return member;
  }

  private onChildClosed(member: Member, openedAt: number): void {
    member.conn = undefined;
    this.remove(member);
    if (this.closed) return;
    if (Date.now() - openedAt >= HEALTHY_RUN_MS) this.failures = 0;
    this.failed();
    if (!this.working()) this.report(false);
    this.pump();
  }

  /** Counts a failure (start or death) and arms the backoff; keeps one child coming while sessions wait. */
  private failed(): void {
    const delay = backoffMs(this.failures);
    this.failures++;
    this.nextAttemptAt = Date.now() + delay;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // A held server keeps one child running, so the next session does not wait for a spawn.
      const [held] = this.heldProfiles();
      if (!this.closed && held !== undefined && this.members.length === 0) {
        const profile = this.profileOfHolders(held);
        if (profile) this.start(profile);
      } else this.pump();
    }, delay);
    this.retryTimer.unref();
  }

  private profileOfHolders(key: string): ClientProfile | undefined {
    for (const h of this.holders.values()) if (h.profile?.key === key) return h.profile;
    return undefined;
  }

  private remove(member: Member): void {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    if (this.idle) this.onIdle();
  }

  /** Closes children unused for idleChildMs, keeping one of each profile sessions hold. */
  private sweep(): void {
    const now = Date.now();
    const keep = this.heldProfiles();
    const idle: Member[] = [];
    for (const m of this.members) {
      if (m.calls > 0 || m.opening || !m.conn?.isOpen) continue;
      if (keep.delete(m.profile.key)) continue;
      if (now - m.lastUsed >= this.idleChildMs) idle.push(m);
    }
    for (const m of idle) {
      this.remove(m);
      void m.conn?.close();
    }
    if (this.idle) this.onIdle();
  }

  protected get idle(): boolean {
    return this.holders.size === 0 && this.members.length === 0 && this.waiters.length === 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.restTimer) clearTimeout(this.restTimer);
    if (this.growTimer) clearTimeout(this.growTimer);
    this.clearTimers();
    const error = unavailable(this.server.name, 'the gateway is shutting down');
    for (const waiter of this.waiters.splice(0)) {
      waiter.dispose();
      waiter.reject(error);
    }
    const members = this.members.splice(0);
    // A child still starting is stopped now rather than waited for (its connect timeout may be long).
    await Promise.all(members.map((m) => (m.conn ?? m.starting)?.close()));
  }
}
