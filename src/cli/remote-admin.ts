/**
 * The remote side of `mcp-guard approvals … --url URL`: a small client of the gateway's admin API. The
 * admin key comes from $MCP_GUARD_ADMIN_KEY only (never argv, which other users can read in `ps`), and
 * travels only over https — or plain http to a loopback address.
 */
import { approvalFromJson } from '../admin/approval-json.js';
import { ExitError } from '../core/errors.js';
import type { Approval, ApprovalStatus } from '../stores/state-store.js';

export const ADMIN_KEY_ENV = 'MCP_GUARD_ADMIN_KEY';

export class RemoteAdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteAdminError';
  }
}

/** The gateway's base URL from what a user types (`https://gw`, `https://gw/`, `https://gw/mcp`). */
export function adminBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ExitError(2, `--url ${raw} is not a URL (e.g. https://gateway.example)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ExitError(2, `--url must be an https:// URL, got ${url.protocol}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
  if (url.protocol === 'http:' && !loopback)
    throw new ExitError(
      2,
      '--url must be https:// (plain http only to a loopback address): the admin key would travel in clear text',
    );
  if (url.username || url.password || url.search || url.hash)
    throw new ExitError(2, '--url must not carry credentials, a query or a fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/mcp$/, '')}`;
}

export class RemoteAdmin {
  private readonly base: string;

  constructor(
    url: string,
    private readonly key: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.base = adminBaseUrl(url);
  }

  static fromEnv(url: string, env: NodeJS.ProcessEnv = process.env): RemoteAdmin {
    const key = env[ADMIN_KEY_ENV];
    if (!key) throw new ExitError(2, `set ${ADMIN_KEY_ENV} to an admin key (admin.keys) to use --url`);
    return new RemoteAdmin(url, key);
  }

  private async call(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${this.key}`,
          accept: 'application/json',
          'user-agent': 'mcp-guard-cli',
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ExitError(1, `cannot reach ${this.base}: ${cause ?? (err as Error).message}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ExitError(
        1,
        `${this.base}${path} answered HTTP ${res.status} with something that is not JSON (is --url the gateway?)`,
      );
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
      const code = typeof error?.code === 'string' ? error.code : `http_${res.status}`;
      const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`;
      if (res.status === 401 || res.status === 403)
        throw new ExitError(1, `the gateway refused the admin key (${res.status} ${code}): ${message}`);
      if (res.status === 429) throw new ExitError(1, `the gateway says: ${message}`);
      throw new RemoteAdminError(res.status, code, message);
    }
    return body;
  }

  async list(status: ApprovalStatus | 'all', limit: number): Promise<Approval[]> {
    const q = new URLSearchParams({ status, limit: String(limit) });
    const body = (await this.call(`/admin/approvals?${q}`)) as { approvals?: unknown[] };
    return (body.approvals ?? []).map(approvalFromJson);
  }

  /** One approval, or undefined when the gateway knows no such id. */
  async get(id: string): Promise<Approval | undefined> {
    try {
      const body = (await this.call(`/admin/approvals/${encodeURIComponent(id)}`)) as { approval?: unknown };
      return approvalFromJson(body.approval);
    } catch (err) {
      if (err instanceof RemoteAdminError && err.status === 404) return undefined;
      throw err;
    }
  }

  async decide(id: string, decision: 'approved' | 'denied', note: string | undefined): Promise<Approval> {
    const action = decision === 'approved' ? 'approve' : 'deny';
    const body = (await this.call(`/admin/approvals/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      body: decision === 'approved' ? { note } : { reason: note },
    })) as { approval?: unknown };
    return approvalFromJson(body.approval);
  }
}
