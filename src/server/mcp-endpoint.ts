/**
 * `/mcp`: MCP Streamable HTTP, our own front on node:http.
 *
 * Every request is authenticated (sessions are never a credential), then checked in this order: Accept
 * (406), Content-Type (415), body size (413), JSON (400 -32700), JSON-RPC shape (400 -32600: batches,
 * bad ids). Then it is sorted by era:
 * - legacy (2025-11-25 and earlier): `initialize` opens a session (`Mcp-Session-Id`), later requests name
 *   it; each POSTed request is answered on its own response (JSON, or SSE once something must be streamed
 *   for it), GET opens the session's stream for messages unrelated to a request, DELETE ends the session;
 * - modern (2026-07-28): no session; a request carrying the era's `_meta` is served statelessly by
 *   `ModernFront`.
 * Sessions are bound to the principal that opened it, capped (`http.max_sessions`) and reaped when idle
 * (their per-session backend children exit with them).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpAuthenticator } from '../auth/http-authenticator.js';
import { shouldReap } from '../backends/session-reaping.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { readBody } from '../http/read-body.js';
import { depthLimitMessage, exceedsJsonDepth } from '../mcp/json-limits.js';
import { settledBy } from '../mcp/lifecycle.js';
import { invalidMessage, isRequest, type JSONRPCMessage, paramsOf } from '../mcp/messages.js';
import { isLegacyVersion, unsupportedVersionMessage } from '../mcp/protocol-versions.js';
import { ClientSession, type SessionRuntime } from '../mcp/session.js';
import { traceHeadersOf } from '../telemetry/tracing.js';
import { nextState, type SessionContinuityService, type SessionState } from './continuity.js';
import { sendWireError } from './http-errors.js';
import { EventStream, HttpReply } from './reply.js';

/** Serves the stateless 2026-07-28 era (src/server/modern-front.ts). */
export interface ModernHandler {
  handle(req: IncomingMessage, res: ServerResponse, message: JSONRPCMessage, principal: Principal): void;
  /** Whether a sessionless message belongs to the modern era. */
  claims(req: IncomingMessage, message: JSONRPCMessage): boolean;
  close(): Promise<void>;
}

export interface McpEndpointOptions {
  /** The current runtime: its authenticator checks each request; new sessions are bound to it. */
  readonly runtime: () => SessionRuntime & { readonly httpAuth: HttpAuthenticator };
  readonly maxBodyBytes: number;
  readonly maxSessions: number;
  readonly idleTtlMs: number;
  readonly logger: Logger;
  readonly modern?: ModernHandler;
  /** Sessions any replica on the store can serve (serve-http); without it, sessions are this process's. */
  readonly continuity?: SessionContinuityService;
}

interface Entry {
  readonly id: string;
  readonly session: ClientSession;
  readonly principal: Principal;
  readonly createdAt: number;
  /** The session's GET stream, while the agent holds one. */
  stream: EventStream | undefined;
  /** With continuity: the session's name in the store and on the bus, and what is kept there. */
  readonly nonce?: string;
  state: SessionState;
  /** Another replica holds the session's GET stream (it writes what this one cannot). */
  remoteStream: boolean;
  /** Replaying the session's state after taking it over (not recorded again). */
  restoring: boolean;
  stopListening?: Promise<() => Promise<void>>;
}

/** Why a session cannot be served here, for the 404 that says so. */
class SessionNotHere {
  constructor(readonly message: string) {}
}

const UNINITIALIZED_GRACE_MS = 60_000;
const KEEPALIVE_MS = 25_000;

export class McpEndpoint {
  private readonly sessions = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(private readonly options: McpEndpointOptions) {
    const every = Math.max(250, Math.min(options.idleTtlMs / 2, 30_000));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
    this.keepAlive = setInterval(() => {
      for (const entry of this.sessions.values()) entry.stream?.keepAlive();
    }, KEEPALIVE_MS);
    this.keepAlive.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method;
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      req.resume();
      return sendWireError(res, 405, 'invalid_request', 'Method not allowed: use POST, GET or DELETE', {
        headers: { Allow: 'GET, POST, DELETE' },
      });
    }
    const auth = await this.options.runtime().httpAuth.authenticate(req);
    if (!auth.ok) {
      req.resume();
      const body = JSON.stringify(auth.body);
      res.writeHead(auth.status, {
        ...auth.headers,
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (method === 'POST') return this.post(req, res, auth.principal);
    req.resume();
    if (method === 'GET') return this.get(req, res, auth.principal);
    return this.delete(req, res, auth.principal);
  }

  // ---------------------------------------------------------------- POST

  private async post(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      req.resume();
      return sendWireError(
        res,
        406,
        'invalid_request',
        'Not Acceptable: the Accept header must list both application/json and text/event-stream',
      );
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      req.resume();
      return sendWireError(
        res,
        415,
        'invalid_request',
        'Unsupported Media Type: Content-Type must be application/json',
      );
    }
    const read = await readBody(req, this.options.maxBodyBytes);
    if (!read.ok) {
      // After a 413 the rest of the body is discarded; the connection is not reused.
      return read.status === 413
        ? sendWireError(res, 413, 'invalid_request', read.message, { headers: { Connection: 'close' } })
        : sendWireError(res, 400, 'parse_error', read.message);
    }
    let message: JSONRPCMessage;
    try {
      message = JSON.parse(read.text) as JSONRPCMessage;
    } catch {
      return sendWireError(res, 400, 'parse_error', 'Parse error: the body is not valid JSON');
    }
    // Nothing may walk a message nested deeper than the limit (B3: it overflowed the stack downstream).
    const problem = exceedsJsonDepth(message)
      ? depthLimitMessage().replace(/^Invalid Request: /, '')
      : invalidMessage(message);
    if (problem) {
      const id = (message as { id?: unknown } | null)?.id;
      return sendWireError(res, 400, 'invalid_request', `Invalid Request: ${problem}`, {
        id: typeof id === 'string' || Number.isSafeInteger(id) ? (id as string | number) : null,
      });
    }

    const sessionId = headerOnce(req, 'mcp-session-id');
    if (sessionId === undefined) {
      // The modern era first: an `initialize` that claims 2026-07-28 is a removed method there, not a session.
      const modern = this.options.modern;
      if (modern?.claims(req, message)) return modern.handle(req, res, message, principal);
      if (isRequest(message) && message.method === 'initialize')
        return this.open(req, res, principal, message);
      return sendWireError(
        res,
        400,
        'invalid_request',
        'Bad Request: Mcp-Session-Id header is required (send initialize first, or use protocol version 2026-07-28 with its _meta)',
        { id: isRequest(message) ? message.id : null },
      );
    }
    const entry = await this.lookup(sessionId, principal);
    if (!(entry instanceof Object) || entry instanceof SessionNotHere) return sessionNotFound(res, entry);
    if (!this.checkVersionHeader(req, res)) return;
    this.deliver(entry, message, principal, req, res);
  }

  /** Hands one message to a session: a request is answered on this response, anything else gets 202. */
  private deliver(
    entry: Entry,
    message: JSONRPCMessage,
    principal: Principal,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    if (isRequest(message)) {
      entry.session.handleMessage(
        message,
        principal,
        new HttpReply(res, { 'mcp-session-id': entry.id }),
        this.options.runtime().tracing ? traceHeadersOf(req.headers) : undefined,
      );
      return;
    }
    entry.session.handleMessage(message, principal);
    res.writeHead(202, { 'mcp-session-id': entry.id });
    res.end();
  }

  private async open(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    message: JSONRPCMessage,
  ) {
    if (this.sessions.size >= this.options.maxSessions) {
      this.options.logger.warn(
        { max: this.options.maxSessions },
        'session limit reached; initialize refused',
      );
      return sendWireError(
        res,
        503,
        'internal_error',
        `Too many sessions (limit ${this.options.maxSessions}): end idle sessions with DELETE or retry later`,
        { headers: { 'Retry-After': '5' }, id: isRequest(message) ? message.id : null },
      );
    }
    const continuity = this.options.continuity;
    let id: string = randomUUID();
    let nonce: string | undefined;
    if (continuity) {
      // What initialize will settle is known from the request: sealed into the id, any replica can go on.
      const params = paramsOf(message as { params?: unknown });
      try {
        ({ id, nonce } = await continuity.create({ agent: principal.agent, ...settledBy(params) }));
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, 'cannot record a new session in the store');
        return sendWireError(
          res,
          503,
          'backend_unavailable',
          'The state store is unreachable: the session could not be opened',
          {
            id: isRequest(message) ? message.id : null,
            data: { reason: 'backend_unavailable', server: 'state_store' },
          },
        );
      }
    }
    const entry = this.addEntry(id, principal, nonce);
    this.options.logger.info({ session: id.slice(0, 24), agent: principal.agent }, 'session opened');
    this.deliver(entry, message, principal, req, res);
  }

  /** A session's entry here: its ClientSession, and with continuity its channel on the bus. */
  private addEntry(id: string, principal: Principal, nonce: string | undefined): Entry {
    const continuity = this.options.continuity;
    const entry: Entry = {
      id,
      principal,
      createdAt: Date.now(),
      stream: undefined,
      nonce,
      state: { subscriptions: [] },
      remoteStream: false,
      restoring: false,
      session: new ClientSession({
        id,
        transport: 'http',
        principal,
        runtime: this.options.runtime,
        channel: {
          send: (m) => {
            const stream = entry.stream;
            if (stream?.open) {
              stream.send(m);
              return true;
            }
            // The agent listens on another replica: that one writes it.
            if (continuity && nonce && entry.remoteStream) {
              void continuity.toAgent(nonce, m).catch(() => {});
              return true;
            }
            return false;
          },
        },
        ...(continuity && nonce
          ? {
              continuity: {
                replica: continuity.replica,
                forwardResponse: (m) => void continuity.fromAgent(nonce, m).catch(() => {}),
                stateChanged: (method, params) => {
                  if (entry.restoring) return;
                  entry.state = nextState(entry.state, method, params);
                  void continuity.save(nonce, entry.state).catch(() => {});
                },
              },
            }
          : {}),
      }),
    };
    this.sessions.set(id, entry);
    if (continuity && nonce)
      entry.stopListening = continuity.listen(nonce, {
        toAgent: (m) => {
          if (entry.stream?.open) entry.stream.send(m);
        },
        fromAgent: (m) => entry.session.handleResponse(m, true),
        ended: () => void this.closeSession(id, 'ended on another replica', false),
        stream: (open) => {
          entry.remoteStream = open;
        },
      });
    // Not hearing the other replicas (the store is away) costs cross-replica delivery only.
    entry.stopListening?.catch((err: Error) =>
      this.options.logger.warn({ err: err.message }, 'cannot listen for this session on the store'),
    );
    return entry;
  }

  // ---------------------------------------------------------------- GET and DELETE

  private async get(req: IncomingMessage, res: ServerResponse, principal: Principal) {
    if (!(req.headers.accept ?? '').includes('text/event-stream'))
      return sendWireError(
        res,
        406,
        'invalid_request',
        'Not Acceptable: the Accept header must list text/event-stream',
      );
    const sessionId = headerOnce(req, 'mcp-session-id');
    if (sessionId === undefined)
      return sendWireError(
        res,
        405,
        'invalid_request',
        'Method Not Allowed: a GET stream belongs to a session (Mcp-Session-Id); the 2026-07-28 era has none',
        { headers: { Allow: 'POST' } },
      );
    const entry = await this.lookup(sessionId, principal);
    if (!(entry instanceof Object) || entry instanceof SessionNotHere) return sessionNotFound(res, entry);
    if (!this.checkVersionHeader(req, res)) return;
    if (entry.stream?.open)
      return sendWireError(
        res,
        409,
        'invalid_request',
        'Conflict: this session already has a GET stream open',
      );
    entry.session.lastActivity = Date.now();
    const continuity = this.options.continuity;
    const nonce = entry.nonce;
    // Where the stream is goes into the session's state (a replica taking the session over reads it)
    // and onto the bus (replicas already holding the session hear it).
    const announce = async (open: boolean) => {
      if (!continuity || !nonce) return;
      entry.state = { ...entry.state, stream: open ? continuity.replica : undefined };
      await continuity.save(nonce, entry.state).catch(() => {});
      await continuity.streamChanged(nonce, open).catch(() => {});
    };
    // Recorded before the agent sees the stream open: what it does next may land on another replica.
    await announce(true);
    if (res.destroyed) {
      void announce(false); // the agent left meanwhile
      return;
    }
    const stream = new EventStream(res, { 'mcp-session-id': entry.id }, () => {
      if (entry.stream === stream) entry.stream = undefined;
      entry.session.lastActivity = Date.now();
      void announce(false);
    });
    entry.stream = stream;
  }

  private async delete(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const sessionId = headerOnce(req, 'mcp-session-id');
    if (sessionId === undefined)
      return sendWireError(res, 400, 'invalid_request', 'Bad Request: Mcp-Session-Id header is required');
    const entry = await this.lookup(sessionId, principal);
    if (!(entry instanceof Object) || entry instanceof SessionNotHere) return sessionNotFound(res, entry);
    if (!this.checkVersionHeader(req, res)) return;
    // Ended for every replica: gone from the store, and the others drop their copies.
    if (this.options.continuity && entry.nonce)
      await this.options.continuity.end(entry.nonce).catch(() => {});
    res.writeHead(200);
    res.end();
    await this.closeSession(sessionId, 'ended by the client (DELETE)', false);
  }

  // ---------------------------------------------------------------- sessions

  /**
   * The session, if it exists and belongs to `principal` (another principal's id is "not found"). With
   * continuity, a session this replica has not seen is taken over from its id and the store.
   */
  private async lookup(id: string, principal: Principal): Promise<Entry | SessionNotHere | undefined> {
    const entry = this.sessions.get(id) ?? (await this.takeOver(id, principal));
    if (!entry || entry instanceof SessionNotHere) return entry;
    if (entry.principal.agent !== principal.agent) return undefined;
    entry.session.lastActivity = Date.now();
    if (this.options.continuity && entry.nonce) this.options.continuity.touch(entry.nonce, entry.state);
    return entry;
  }

  /** Continues here a session another replica opened (or this one forgot). */
  private async takeOver(id: string, principal: Principal): Promise<Entry | SessionNotHere | undefined> {
    const continuity = this.options.continuity;
    if (!continuity) return undefined;
    let opened: Awaited<ReturnType<SessionContinuityService['open']>>;
    try {
      opened = await continuity.open(id);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'cannot look a session up in the store');
      return new SessionNotHere(
        'Session unknown here and the state store is unreachable: retry, or initialize a new session',
      );
    }
    if (!opened || opened.sealed.agent !== principal.agent) return undefined;
    const here = this.sessions.get(id);
    if (here) return here; // another request took it over meanwhile
    const pinned = this.pinnedServers();
    if (pinned.length > 0)
      return new SessionNotHere(
        `Session not found here: it holds its own backend processes (${pinned.join(', ')}: isolation per_session) on the replica that opened it, and such a session cannot move to another replica; initialize a new session (or use isolation pooled)`,
      );
    if (this.sessions.size >= this.options.maxSessions)
      return new SessionNotHere(
        `Too many sessions on this replica (limit ${this.options.maxSessions}): retry later`,
      );
    const { sealed, state } = opened;
    const entry = this.addEntry(id, principal, sealed.nonce);
    entry.state = state;
    entry.remoteStream = state.stream !== undefined && state.stream !== continuity.replica;
    entry.session.restore({
      protocolVersion: sealed.protocolVersion,
      capabilities: sealed.capabilities,
      clientInfo: sealed.clientInfo,
    });
    entry.restoring = true;
    try {
      if (state.logLevel) await entry.session.replay('logging/setLevel', { level: state.logLevel });
      for (const uri of state.subscriptions) await entry.session.replay('resources/subscribe', { uri });
    } finally {
      entry.restoring = false;
    }
    this.options.logger.info(
      { session: id.slice(0, 24), agent: principal.agent },
      'session taken over from another replica',
    );
    return entry;
  }

  /** Servers whose sessions hold their own processes here (per_session stdio): such sessions cannot move. */
  private pinnedServers(): string[] {
    const runtime = this.options.runtime();
    return runtime.config.servers
      .filter((s) => s.kind === 'stdio' && runtime.pool.isolationOf(s) === 'per_session')
      .map((s) => s.name);
  }

  /** An MCP-Protocol-Version header, when sent, must name a legacy revision (sessions are legacy). */
  private checkVersionHeader(req: IncomingMessage, res: ServerResponse): boolean {
    const version = headerOnce(req, 'mcp-protocol-version');
    if (version === undefined || isLegacyVersion(version)) return true;
    sendWireError(res, 400, 'invalid_request', `Bad Request: ${unsupportedVersionMessage(version)}`);
    return false;
  }

  /**
   * Drops this replica's copy of a session. `mayGoOn`: the session itself lives on (idle here, shutdown)
   * and another replica may continue it; otherwise it ended.
   */
  private async closeSession(id: string, reason: string, mayGoOn = true): Promise<void> {
    const entry = this.sessions.get(id);
    if (!entry) return;
    this.sessions.delete(id);
    this.options.logger.info({ session: id.slice(0, 24), reason }, 'session closed');
    entry.stream?.close();
    if (entry.nonce && mayGoOn) this.options.continuity?.forget(entry.nonce);
    const stop = await entry.stopListening?.catch(() => undefined);
    await stop?.().catch(() => {});
    await entry.session.close(reason);
  }

  /** Closes sessions idle longer than the TTL (and ones that never finished initialize). */
  async sweep(now = Date.now()): Promise<void> {
    const expired: string[] = [];
    for (const [id, entry] of this.sessions) {
      const idleMs = now - entry.session.lastActivity;
      const reap = shouldReap({
        holdsChildren: entry.session.holdsChildren,
        hasGetStream: entry.stream?.open === true,
        inflight: entry.session.inflightCount,
        idleMs,
        idleTtlMs: this.options.idleTtlMs,
      });
      if (
        reap ||
        (entry.session.inflightCount === 0 &&
          !entry.session.isInitialized &&
          now - entry.createdAt >= UNINITIALIZED_GRACE_MS)
      )
        expired.push(id);
    }
    // A session whose backends are per_session children cannot go on anywhere once it is closed: it
    // is ended in the store too, so its id answers 404 (initialize again) rather than "on another replica".
    const final = expired.length > 0 && this.pinnedServers().length > 0;
    await Promise.all(
      expired.map(async (id) => {
        const nonce = this.sessions.get(id)?.nonce;
        if (final && nonce) await this.options.continuity?.end(nonce).catch(() => {});
        await this.closeSession(id, 'idle timeout', !final);
      }),
    );
  }

  /** Ends every session (gateway shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.keepAlive);
    await Promise.all([
      ...[...this.sessions.keys()].map((id) => this.closeSession(id, 'gateway shutting down')),
      this.options.modern?.close(),
    ]);
  }
}

function headerOnce(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

function sessionNotFound(res: ServerResponse, why?: SessionNotHere) {
  sendWireError(res, 404, 'invalid_request', why?.message ?? 'Session not found: initialize a new session');
}
