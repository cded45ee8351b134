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
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { readBody } from '../http/read-body.js';
import { depthLimitMessage, exceedsJsonDepth } from '../mcp/json-limits.js';
import { invalidMessage, isRequest, type JSONRPCMessage } from '../mcp/messages.js';
import { isLegacyVersion, unsupportedVersionMessage } from '../mcp/protocol-versions.js';
import { ClientSession, type SessionRuntime } from '../mcp/session.js';
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
}

interface Entry {
  readonly id: string;
  readonly session: ClientSession;
  readonly principal: Principal;
  readonly createdAt: number;
  /** The session's GET stream, while the agent holds one. */
  stream: EventStream | undefined;
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
    const entry = this.lookup(sessionId, principal);
    if (!entry) return sessionNotFound(res);
    if (!this.checkVersionHeader(req, res)) return;
    this.deliver(entry, message, principal, res);
  }

  /** Hands one message to a session: a request is answered on this response, anything else gets 202. */
  private deliver(entry: Entry, message: JSONRPCMessage, principal: Principal, res: ServerResponse): void {
    if (isRequest(message)) {
      entry.session.handleMessage(message, principal, new HttpReply(res, { 'mcp-session-id': entry.id }));
      return;
    }
    entry.session.handleMessage(message, principal);
    res.writeHead(202, { 'mcp-session-id': entry.id });
    res.end();
  }

  private open(req: IncomingMessage, res: ServerResponse, principal: Principal, message: JSONRPCMessage) {
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
    const id = randomUUID();
    const entry: Entry = {
      id,
      principal,
      createdAt: Date.now(),
      stream: undefined,
      session: new ClientSession({
        id,
        transport: 'http',
        principal,
        runtime: this.options.runtime,
        channel: {
          send: (m) => {
            const stream = entry.stream;
            if (!stream?.open) return false;
            stream.send(m);
            return true;
          },
        },
      }),
    };
    this.sessions.set(id, entry);
    this.options.logger.info({ session: id, agent: principal.agent }, 'session opened');
    void req;
    this.deliver(entry, message, principal, res);
  }

  // ---------------------------------------------------------------- GET and DELETE

  private get(req: IncomingMessage, res: ServerResponse, principal: Principal) {
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
    const entry = this.lookup(sessionId, principal);
    if (!entry) return sessionNotFound(res);
    if (!this.checkVersionHeader(req, res)) return;
    if (entry.stream?.open)
      return sendWireError(
        res,
        409,
        'invalid_request',
        'Conflict: this session already has a GET stream open',
      );
    entry.session.lastActivity = Date.now();
    const stream = new EventStream(res, { 'mcp-session-id': entry.id }, () => {
      if (entry.stream === stream) entry.stream = undefined;
      entry.session.lastActivity = Date.now();
    });
    entry.stream = stream;
  }

  private async delete(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const sessionId = headerOnce(req, 'mcp-session-id');
    if (sessionId === undefined)
      return sendWireError(res, 400, 'invalid_request', 'Bad Request: Mcp-Session-Id header is required');
    const entry = this.lookup(sessionId, principal);
    if (!entry) return sessionNotFound(res);
    if (!this.checkVersionHeader(req, res)) return;
    res.writeHead(200);
    res.end();
    await this.closeSession(sessionId, 'ended by the client (DELETE)');
  }

  // ---------------------------------------------------------------- sessions

  /** The session, if it exists and belongs to `principal` (another principal's id is "not found"). */
  private lookup(id: string, principal: Principal): Entry | undefined {
    const entry = this.sessions.get(id);
    if (!entry || entry.principal.agent !== principal.agent) return undefined;
    entry.session.lastActivity = Date.now();
    return entry;
  }

  /** An MCP-Protocol-Version header, when sent, must name a legacy revision (sessions are legacy). */
  private checkVersionHeader(req: IncomingMessage, res: ServerResponse): boolean {
    const version = headerOnce(req, 'mcp-protocol-version');
    if (version === undefined || isLegacyVersion(version)) return true;
    sendWireError(res, 400, 'invalid_request', `Bad Request: ${unsupportedVersionMessage(version)}`);
    return false;
  }

  private async closeSession(id: string, reason: string): Promise<void> {
    const entry = this.sessions.get(id);
    if (!entry) return;
    this.sessions.delete(id);
    this.options.logger.info({ session: id, reason }, 'session closed');
    entry.stream?.close();
    await entry.session.close(reason);
  }

  /** Closes sessions idle longer than the TTL (and ones that never finished initialize). */
  async sweep(now = Date.now()): Promise<void> {
    const expired: string[] = [];
    for (const [id, entry] of this.sessions) {
      if (entry.session.inflightCount > 0) continue;
      const idle = now - entry.session.lastActivity;
      if (
        idle >= this.options.idleTtlMs ||
        (!entry.session.isInitialized && now - entry.createdAt >= UNINITIALIZED_GRACE_MS)
      )
        expired.push(id);
    }
    await Promise.all(expired.map((id) => this.closeSession(id, 'idle timeout')));
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

function sessionNotFound(res: ServerResponse) {
  sendWireError(res, 404, 'invalid_request', 'Session not found: initialize a new session');
}
