/**
 * `/mcp`: MCP Streamable HTTP (2025-11-25) with one SDK transport and one ClientSession per agent
 * session — never a shared transport, so responses cannot leak between agents. Before a message reaches
 * a transport this layer authenticates the HTTP request, enforces the body limit (413), refuses batches
 * and malformed JSON-RPC (400), binds the session to the principal that opened it, caps the number of
 * sessions and reaps idle ones (their per-session backend children exit with them).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { HttpAuthenticator } from '../auth/http-authenticator.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { readBody } from '../http/read-body.js';
import { invalidMessage, type JSONRPCMessage } from '../mcp/messages.js';
import { ClientSession, type SessionRuntime } from '../mcp/session.js';

export interface McpEndpointOptions {
  /** The current runtime: its authenticator checks each request; new sessions are bound to it. */
  readonly runtime: () => SessionRuntime & { readonly httpAuth: HttpAuthenticator };
  readonly maxBodyBytes: number;
  readonly maxSessions: number;
  readonly idleTtlMs: number;
  readonly logger: Logger;
}

interface Entry {
  readonly session: ClientSession;
  readonly transport: StreamableHTTPServerTransport;
  readonly principal: Principal;
  readonly createdAt: number;
}

const UNINITIALIZED_GRACE_MS = 60_000;

export class McpEndpoint {
  private readonly sessions = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: McpEndpointOptions) {
    const every = Math.max(250, Math.min(options.idleTtlMs / 2, 30_000));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return sendJsonError(res, 405, -32600, 'Method not allowed: use POST, GET or DELETE', {
        Allow: 'GET, POST, DELETE',
      });
    }
    const auth = await this.options.runtime().httpAuth.authenticate(req);
    if (!auth.ok) {
      res.writeHead(auth.status, { 'Content-Type': 'application/json', ...auth.headers });
      res.end(JSON.stringify(auth.body));
      req.resume();
      return;
    }
    const principal = auth.principal;
    const sessionId = headerValue(req, 'mcp-session-id');

    let body: unknown;
    if (method === 'POST') {
      const read = await readBody(req, this.options.maxBodyBytes);
      if (!read.ok) {
        // After a 413 the rest of the body is discarded; the connection is not reused.
        return sendJsonError(
          res,
          read.status,
          read.status === 413 ? -32600 : -32700,
          read.message,
          read.status === 413 ? { Connection: 'close' } : {},
        );
      }
      try {
        body = JSON.parse(read.text);
      } catch {
        return sendJsonError(res, 400, -32700, 'Parse error: the body is not valid JSON');
      }
      const problem = invalidMessage(body);
      if (problem) return sendJsonError(res, 400, -32600, `Invalid Request: ${problem}`);
    }

    if (sessionId === undefined) {
      if (method !== 'POST' || (body as { method?: unknown }).method !== 'initialize') {
        return sendJsonError(
          res,
          400,
          -32600,
          'Bad Request: Mcp-Session-Id header is required (send initialize first)',
        );
      }
      return this.openSession(req, res, principal, body);
    }

    const entry = this.sessions.get(sessionId);
    // Another principal's session id is treated as unknown: never confirm that it exists.
    if (!entry || entry.principal.agent !== principal.agent) {
      return sendJsonError(res, 404, -32600, 'Session not found: initialize a new session');
    }
    entry.session.lastActivity = Date.now();
    withPrincipal(req, principal);
    await entry.transport.handleRequest(req, res, body);
  }

  private async openSession(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<void> {
    if (this.sessions.size >= this.options.maxSessions) {
      this.options.logger.warn(
        { max: this.options.maxSessions },
        'session limit reached; initialize refused',
      );
      return sendJsonError(
        res,
        503,
        -32603,
        `Too many sessions (limit ${this.options.maxSessions}): end idle sessions with DELETE or retry later`,
        {
          'Retry-After': '5',
        },
      );
    }
    const id = randomUUID();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessionclosed: () => void this.closeSession(id, 'ended by the client (DELETE)'),
    });
    const session = new ClientSession({
      id,
      transport: 'http',
      principal,
      runtime: this.options.runtime,
      channel: {
        send: async (message: JSONRPCMessage, relatedRequestId) => {
          try {
            await transport.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId });
          } catch (err) {
            // The stream of the related request is gone (the agent disconnected): use the session stream.
            if (relatedRequestId === undefined || 'result' in message || 'error' in message) throw err;
            await transport.send(message);
          }
        },
      },
    });
    const entry: Entry = { session, transport, principal, createdAt: Date.now() };
    this.sessions.set(id, entry);
    transport.onmessage = (message, extra) =>
      session.handleMessage(message, principalOf(extra?.authInfo) ?? principal);
    transport.onerror = (err) =>
      this.options.logger.debug({ session: id, err: err.message }, 'transport error');
    transport.onclose = () => void this.closeSession(id, 'transport closed');
    withPrincipal(req, principal);
    this.options.logger.info({ session: id, agent: principal.agent }, 'session opened');
    await transport.handleRequest(req, res, body);
  }

  private async closeSession(id: string, reason: string): Promise<void> {
    const entry = this.sessions.get(id);
    if (!entry) return;
    this.sessions.delete(id);
    this.options.logger.info({ session: id, reason }, 'session closed');
    await entry.session.close(reason);
    await entry.transport.close().catch(() => {});
  }

  /** Closes sessions idle longer than the TTL (and ones that never finished initialize). */
  async sweep(now = Date.now()): Promise<void> {
    const expired: string[] = [];
    for (const [id, entry] of this.sessions) {
      const idle = now - entry.session.lastActivity;
      if (entry.session.inflightCount > 0) continue;
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
    await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id, 'gateway shutting down')));
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The SDK passes `req.auth` to the transport's onmessage as `extra.authInfo`; we carry the principal in it. */
function withPrincipal(req: IncomingMessage, principal: Principal): void {
  const info: AuthInfo = {
    token: '',
    clientId: principal.agent,
    scopes: [...(principal.scopes ?? [])],
    extra: { principal },
  };
  (req as IncomingMessage & { auth?: AuthInfo }).auth = info;
}

function principalOf(info: AuthInfo | undefined): Principal | undefined {
  return info?.extra?.['principal'] as Principal | undefined;
}

export function sendJsonError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}
