/**
 * Sessions that any replica can serve (2025-11-25 on serve-http): replicas on one state store act as one
 * gateway, with no sticky sessions at the load balancer.
 *
 * - The session id is sealed (session-seal.ts): a replica that has never seen a session opens its id and
 *   continues it with its own backend connections (pooled, shared or remote; a `per_session` stdio child
 *   lives on one replica, so such a session cannot move, and the agent is told so).
 * - The store holds what changes: that the session is alive (refreshed as it is used, expiring with the
 *   idle TTL; DELETE removes it), its log level and its resource subscriptions, which a replica that takes
 *   the session over replays.
 * - The store's bus carries what must reach another replica at once, on one channel per session: a
 *   message for the agent's GET stream held elsewhere, the agent's answer to a request another replica
 *   sent it, "the session ended", "a GET stream opened or closed there".
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { JSONRPCMessage, JSONRPCResponse, Params } from '../mcp/messages.js';
import type { StateStore } from '../stores/state-store.js';
import type { SealedSession, SessionSealer } from './session-seal.js';

/** What a session keeps in the store besides being alive. */
export interface SessionState {
  logLevel?: string;
  subscriptions: string[];
  /** The replica holding the agent's GET stream, if one does. */
  stream?: string;
}

type BusMessage =
  | { readonly t: 'out'; readonly m?: JSONRPCMessage; readonly ref?: string }
  | { readonly t: 'in'; readonly m?: JSONRPCResponse; readonly ref?: string }
  | { readonly t: 'end' }
  | { readonly t: 'stream'; readonly open: boolean };

/** What a replica's copy of a session hears from the others. */
export interface RemoteEvents {
  /** A message for the agent that another replica could not deliver (it holds no GET stream). */
  toAgent(message: JSONRPCMessage): void;
  /** The agent's answer to a request this replica may have sent. */
  fromAgent(message: JSONRPCResponse): void;
  /** The session was ended (DELETE) on another replica. */
  ended(): void;
  /** Another replica opened or closed the session's GET stream. */
  stream(open: boolean): void;
}

/** Bus messages above this go through the store (the bus carries at most 7,000 bytes). */
const INLINE_LIMIT = 6_000;
const SPILL_TTL_MS = 60_000;

export class SessionContinuityService {
  /** This process's tag, distinct among the replicas. */
  readonly replica = randomBytes(5).toString('hex');
  private readonly lastTouch = new Map<string, number>();

  constructor(
    private readonly sealer: SessionSealer,
    private readonly store: StateStore,
    private readonly idleTtlMs: number,
    private readonly logger: Logger,
  ) {}

  /** A new session's id (sealed) and its entry in the store. */
  async create(session: Omit<SealedSession, 'nonce' | 'createdAt'>): Promise<{ id: string; nonce: string }> {
    const nonce = randomBytes(16).toString('hex');
    const id = this.sealer.seal({ ...session, nonce, createdAt: Date.now() });
    await this.save(nonce, { subscriptions: [] });
    return { id, nonce };
  }

  /** What an id unknown here carries, if it is ours and the session is alive: the state to replay too. */
  async open(id: string): Promise<{ sealed: SealedSession; state: SessionState } | undefined> {
    const sealed = this.sealer.open(id);
    if (!sealed) return undefined;
    const text = await this.store.kvGet('session', sealed.nonce);
    if (text === undefined) return undefined;
    let state: SessionState = { subscriptions: [] };
    try {
      state = { subscriptions: [], ...(JSON.parse(text) as Partial<SessionState>) };
    } catch {
      // an older or damaged entry: the session goes on without its extras
    }
    return { sealed, state };
  }

  /** Keeps a session alive in the store while it is used (at most a few writes per TTL). */
  touch(nonce: string, state: SessionState, now = Date.now()): void {
    const every = Math.max(1_000, Math.min(60_000, this.idleTtlMs / 4));
    if (now - (this.lastTouch.get(nonce) ?? 0) < every) return;
    void this.save(nonce, state).catch((err: Error) =>
      this.logger.debug({ err: err.message }, 'could not refresh a session in the store'),
    );
  }

  async save(nonce: string, state: SessionState): Promise<void> {
    this.lastTouch.set(nonce, Date.now());
    await this.store.kvPut('session', nonce, JSON.stringify(state), { ttlMs: this.idleTtlMs });
  }

  /** Ends the session for every replica: gone from the store, and the others hear it. */
  async end(nonce: string): Promise<void> {
    this.lastTouch.delete(nonce);
    await this.store.kvDelete('session', nonce);
    await this.publish(nonce, { t: 'end' });
  }

  /** This replica dropped its copy (idle, shutdown): the session may go on elsewhere. */
  forget(nonce: string): void {
    this.lastTouch.delete(nonce);
  }

  toAgent(nonce: string, message: JSONRPCMessage): Promise<void> {
    return this.publish(nonce, { t: 'out', m: message });
  }

  fromAgent(nonce: string, message: JSONRPCResponse): Promise<void> {
    return this.publish(nonce, { t: 'in', m: message });
  }

  streamChanged(nonce: string, open: boolean): Promise<void> {
    return this.publish(nonce, { t: 'stream', open });
  }

  /** Listens to the session's channel (messages this replica sent itself are not heard). */
  listen(nonce: string, events: RemoteEvents): Promise<() => Promise<void>> {
    return this.store.subscribe(channelOf(nonce), (text) => void this.onMessage(text, events));
  }

  private async publish(nonce: string, body: BusMessage): Promise<void> {
    let text = JSON.stringify({ ...body, from: this.replica });
    if (Buffer.byteLength(text) > INLINE_LIMIT && 'm' in body) {
      // Too big for the bus: parked in the store for a minute, the bus carries where.
      const ref = randomBytes(12).toString('hex');
      await this.store.kvPut('bus', ref, JSON.stringify(body.m), { ttlMs: SPILL_TTL_MS });
      text = JSON.stringify({ t: body.t, ref, from: this.replica });
    }
    await this.store.publish(channelOf(nonce), text);
  }

  private async onMessage(text: string, events: RemoteEvents): Promise<void> {
    let body: BusMessage & { from?: string };
    try {
      body = JSON.parse(text) as BusMessage & { from?: string };
    } catch {
      return;
    }
    if (body.from === this.replica) return;
    switch (body.t) {
      case 'out': {
        const m = body.m ?? (await this.spilled<JSONRPCMessage>(body.ref));
        if (m) events.toAgent(m);
        return;
      }
      case 'in': {
        const m = body.m ?? (await this.spilled<JSONRPCResponse>(body.ref));
        if (m) events.fromAgent(m);
        return;
      }
      case 'end':
        return events.ended();
      case 'stream':
        return events.stream(body.open);
    }
  }

  private async spilled<T>(ref: string | undefined): Promise<T | undefined> {
    if (ref === undefined) return undefined;
    const text = await this.store.kvGet('bus', ref).catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

function channelOf(nonce: string): string {
  return `s:${nonce}`;
}

/** The state kept for a session, updated by what it just did. */
export function nextState(state: SessionState, method: string, params: Params): SessionState {
  if (method === 'logging/setLevel' && typeof params['level'] === 'string')
    return { ...state, logLevel: params['level'] };
  const uri = params['uri'];
  if (typeof uri !== 'string') return state;
  if (method === 'resources/subscribe')
    return state.subscriptions.includes(uri)
      ? state
      : { ...state, subscriptions: [...state.subscriptions, uri] };
  if (method === 'resources/unsubscribe')
    return { ...state, subscriptions: state.subscriptions.filter((u) => u !== uri) };
  return state;
}
