/**
 * The admin API under `/admin` (docs/admin-api.md): the approval queue, its live events, recent calls,
 * spend and backend health, for the dashboard (/ui), the remote CLI (`approvals … --url`) and scripts.
 * Every route needs an admin credential (see admin-auth.ts); errors are JSON with stable codes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import type { Gateway } from '../gateway/gateway.js';
import { readBody } from '../http/read-body.js';
import type { Approval, ApprovalStatus } from '../stores/state-store.js';
import type { AdminAuth, AdminIdentity } from './admin-auth.js';
import { AdminError, NO_STORE, sendAdminError, sendAdminJson } from './admin-errors.js';
import { approvalToJson } from './approval-json.js';
import type { AdminEvent, ApprovalEventHub } from './event-hub.js';
import { backendsView, recentAgents, recentCalls, spendView } from './views.js';

export interface AdminApiDeps {
  readonly gateway: Gateway;
  readonly auth: AdminAuth;
  readonly hub: ApprovalEventHub;
  /** Open agent sessions (for /admin/backends). */
  readonly sessions: () => number;
  readonly logger: Logger;
  /** How often an event stream sends a keep-alive comment. */
  readonly heartbeatMs?: number;
}

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'consumed', 'all'] as const;
const DECISIONS = ['allowed', 'denied', 'rate_limited', 'held', 'approved', 'spend_capped'] as const;
const MAX_BODY = 16 * 1024;
const MAX_NOTE = 1_000;

export class AdminApi {
  private readonly streams = new Set<ServerResponse>();

  constructor(private readonly deps: AdminApiDeps) {}

  /** The route handler for `/admin` and everything under it. */
  handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      await this.route(req, res, url);
    } catch (err) {
      req.resume();
      if (err instanceof AdminError) return sendAdminError(res, err);
      this.deps.logger.error({ err, path: url.pathname }, 'admin API request failed');
      // Most unexpected failures here are the store's: say so when it cannot be reached.
      const store = this.deps.gateway.store;
      const reachable = await store.ping().then(
        () => true,
        () => false,
      );
      sendAdminError(
        res,
        reachable
          ? new AdminError('internal_error', 'Internal gateway error (details in its log)')
          : new AdminError('store_unavailable', `The state store (${store.kind}) cannot be reached`),
      );
    }
  };

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).slice(1); // after "admin"
    const method = req.method ?? 'GET';
    // Authentication comes before anything else, so an outsider learns nothing about the routes.
    const who = await this.deps.auth.authenticate(req);
    const [resource, id, action, ...rest] = parts;
    const only = (...methods: string[]) => {
      if (!methods.includes(method))
        throw new AdminError('method_not_allowed', `Use ${methods.join(' or ')} here`, {
          Allow: methods.join(', '),
        });
    };
    if (rest.length > 0) throw notFound(url);
    switch (resource) {
      case 'session':
        if (id !== undefined) throw notFound(url);
        only('GET');
        return sendAdminJson(res, 200, {
          name: who.name,
          via: who.via,
          ...(who.session
            ? { csrf_token: who.session.csrf, expires_at: new Date(who.session.expiresAt).toISOString() }
            : {}),
        });
      case 'approvals':
        if (id === undefined) {
          only('GET');
          return this.listApprovals(res, url);
        }
        if (action === undefined) {
          only('GET');
          return sendAdminJson(res, 200, { approval: approvalToJson(await this.find(id)) });
        }
        if (action === 'approve' || action === 'deny') {
          only('POST');
          return this.decide(req, res, who, id, action);
        }
        throw notFound(url);
      case 'events':
        if (id !== undefined) throw notFound(url);
        only('GET');
        return this.events(req, res, who);
      case 'calls':
        if (id !== undefined) throw notFound(url);
        only('GET');
        return this.calls(res, url);
      case 'spend': {
        if (id !== undefined) throw notFound(url);
        only('GET');
        const g = this.deps.gateway;
        return sendAdminJson(res, 200, await spendView(g.config, g.store, await recentAgents(g.audit?.path)));
      }
      case 'backends':
        if (id !== undefined) throw notFound(url);
        only('GET');
        return sendAdminJson(
          res,
          200,
          backendsView(
            this.deps.gateway.config,
            this.deps.gateway.backends(),
            this.deps.sessions(),
            this.deps.gateway.pool,
          ),
        );
      default:
        throw notFound(url);
    }
  }

  private async listApprovals(res: ServerResponse, url: URL): Promise<void> {
    const status = url.searchParams.get('status') ?? 'pending';
    if (!(STATUSES as readonly string[]).includes(status))
      throw new AdminError('invalid_parameter', `status must be one of ${STATUSES.join(', ')}`);
    const limit = intParam(url, 'limit', 100, 1_000);
    const list = await this.deps.gateway.store.listApprovals({
      status: status as ApprovalStatus | 'all',
      limit,
    });
    sendAdminJson(res, 200, { approvals: list.map(approvalToJson) });
  }

  private async find(id: string): Promise<Approval> {
    const approval = id.length <= 200 ? await this.deps.gateway.store.getApproval(id) : undefined;
    if (!approval) throw new AdminError('approval_not_found', `No approval ${id}`);
    return approval;
  }

  private async decide(
    req: IncomingMessage,
    res: ServerResponse,
    who: AdminIdentity,
    id: string,
    action: 'approve' | 'deny',
  ): Promise<void> {
    const body = await readJsonBody(req);
    const field = action === 'approve' ? 'note' : 'reason';
    const text = body[field] ?? (action === 'deny' ? body['note'] : undefined);
    if (text !== undefined && text !== null && typeof text !== 'string')
      throw new AdminError('invalid_parameter', `${field} must be text`);
    if (typeof text === 'string' && text.length > MAX_NOTE)
      throw new AdminError('invalid_parameter', `${field} is longer than ${MAX_NOTE} characters`);
    const g = this.deps.gateway;
    const result = await g.store.decideApproval(id, {
      decision: action === 'approve' ? 'approved' : 'denied',
      by: `${who.name} via ${who.session ? 'dashboard' : 'admin api'}`,
      note: typeof text === 'string' && text.trim() !== '' ? text.trim() : undefined,
      nowMs: Date.now(),
      approvedTtlMs: g.config.policies.approvedTtlMs,
    });
    if (!result.ok) {
      if (result.reason === 'not_found') throw new AdminError('approval_not_found', `No approval ${id}`);
      if (result.reason === 'expired')
        throw new AdminError('approval_expired', `Approval ${id} has expired; it can no longer be decided`);
      throw new AdminError(
        'approval_not_pending',
        `Approval ${id} is already ${result.approval?.status ?? 'decided'}`,
      );
    }
    // Recorded (audit line, notification) and announced before the answer: the caller may act on it.
    await g.recordDecision(result.approval);
    this.deps.hub.publish('approval_decided', result.approval);
    sendAdminJson(res, 200, { approval: approvalToJson(result.approval) });
  }

  private async calls(res: ServerResponse, url: URL): Promise<void> {
    const audit = this.deps.gateway.audit;
    if (!audit)
      throw new AdminError('audit_log_off', 'Recent calls come from the audit log: set policies.audit_log');
    const decision = url.searchParams.get('decision') ?? undefined;
    if (decision !== undefined && !(DECISIONS as readonly string[]).includes(decision))
      throw new AdminError('invalid_parameter', `decision must be one of ${DECISIONS.join(', ')}`);
    const text = (name: string) => {
      const v = url.searchParams.get(name);
      return v === null || v === '' ? undefined : v;
    };
    const calls = await recentCalls(audit.path, {
      agent: text('agent'),
      tool: text('tool'),
      decision,
      limit: intParam(url, 'limit', 50, 500),
    });
    sendAdminJson(res, 200, { calls });
  }

  /** Server-sent events: `approval_created`, `approval_decided` (data: the approval's JSON). */
  private async events(req: IncomingMessage, res: ServerResponse, who: AdminIdentity): Promise<void> {
    res.writeHead(200, {
      ...NO_STORE,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      // Proxies (nginx) must pass events on as they come.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    let counter = 0;
    const send = (event: AdminEvent) => {
      res.write(`event: ${event.type}\nid: ${++counter}\ndata: ${JSON.stringify(event.approval)}\n\n`);
    };
    const unsubscribe = this.deps.hub.subscribe(send);
    this.streams.add(res);
    // `ready` tells the page that events from now on will arrive: it loads the current list after it.
    res.write('event: ready\ndata: {}\n\n');
    const heartbeat = setInterval(async () => {
      // A dashboard session that ended (signed out, expired) ends its stream too.
      if (who.session && !(await this.deps.auth.session(req).catch(() => undefined))) {
        res.end();
        return;
      }
      res.write(': keep-alive\n\n');
    }, this.deps.heartbeatMs ?? 15_000);
    heartbeat.unref();
    const done = () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.streams.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
  }

  /** Ends every event stream (the gateway is stopping). */
  close(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}

function notFound(url: URL): AdminError {
  return new AdminError('not_found', `Not found: ${url.pathname}`);
}

function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new AdminError('invalid_parameter', `${name} must be an integer from 1 to ${max}`);
  return n;
}

/** A small JSON object body (empty body: {}); anything else is a 400, 413 or 415. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const length = req.headers['content-length'];
  const empty = length === '0' || (length === undefined && req.headers['transfer-encoding'] === undefined);
  if (empty) return {};
  // JSON only: an HTML form cannot send it cross-site without a CORS preflight.
  if (type !== 'application/json')
    throw new AdminError('unsupported_media_type', 'Send the body as application/json');
  const read = await readBody(req, MAX_BODY);
  if (!read.ok)
    throw read.status === 413
      ? new AdminError('body_too_large', `Body larger than ${MAX_BODY} bytes`)
      : new AdminError('bad_request', read.message);
  if (read.text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(read.text);
  } catch {
    throw new AdminError('bad_request', 'The body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new AdminError('bad_request', 'The body must be a JSON object');
  return value as Record<string, unknown>;
}
