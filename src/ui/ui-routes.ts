/**
 * The approvals dashboard at `/ui`: plain HTML, CSS and ES-module JavaScript in `./static` (copied to
 * dist by `npm run build`; no bundler, nothing built at install time), served with a strict
 * Content-Security-Policy (same-origin scripts and styles only, no inline code, never framed).
 *
 * Signing in: a form posts an admin key to /ui/login (from our own origin only); the answer sets the
 * session cookie (see admin/admin-auth.ts). Pages need a session; the page itself carries no secret —
 * it asks /admin/session for its CSRF token and talks to /admin/* with the cookie.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminAuth } from '../admin/admin-auth.js';
import { AdminError } from '../admin/admin-errors.js';
import type { Logger } from '../core/logger.js';
import { readBody } from '../http/read-body.js';
import type { DashboardOAuthLogin } from './oauth-login.js';

const STATIC_DIR = new URL('./static/', import.meta.url);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Files served under /ui/static/ (a fixed list: nothing else on disk is reachable). */
const ASSETS = ['app.js', 'app.css', 'login.js', 'icon.svg'] as const;
/** Paths of the single-page app (the page picks the view from the path). */
const PAGES = /^\/ui\/(?:approvals(?:\/[A-Za-z0-9_-]{1,100})?|calls|spend|backends)?$/;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const PAGE_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  // Not no-referrer: under it a browser sends `Origin: null` with our own form posts, which the sign-in
  // check must then refuse. Same-origin sends nothing to other sites and our origin to us.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
} as const;

function load(name: string): Buffer {
  return readFileSync(new URL(name, STATIC_DIR));
}

export interface UiDeps {
  readonly auth: AdminAuth;
  readonly logger: Logger;
  /** "Sign in with OAuth" (offered when auth.mode is oauth2 and the dashboard's client is configured). */
  readonly oauth?: DashboardOAuthLogin;
}

export class DashboardUi {
  private readonly files = new Map<string, Buffer>();

  constructor(private readonly deps: UiDeps) {
    // Read once at start: a missing file is a broken install, reported now rather than per request.
    for (const name of ['index.html', 'login.html', ...ASSETS]) this.files.set(name, load(name));
  }

  handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      await this.route(req, res, url);
    } catch (err) {
      req.resume();
      if (err instanceof AdminError && err.code === 'rate_limited')
        return this.redirect(res, `/ui/login?error=rate_limited`);
      if (err instanceof AdminError) return this.text(res, err.status, err.message);
      this.deps.logger.error({ err, path: url.pathname }, 'dashboard request failed');
      this.text(res, 500, 'Internal gateway error (details in its log)');
    }
  };

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path === '/ui') return this.redirect(res, '/ui/', 308);
    if (path.startsWith('/ui/static/')) {
      const name = path.slice('/ui/static/'.length);
      const file = (ASSETS as readonly string[]).includes(name) ? this.files.get(name) : undefined;
      if (!file || (method !== 'GET' && method !== 'HEAD')) return this.text(res, 404, 'Not found');
      return this.send(res, 200, name, file, method, { 'Cache-Control': 'no-cache' });
    }
    if (path === '/ui/login') {
      if (method === 'POST') return this.signIn(req, res);
      if (method !== 'GET' && method !== 'HEAD') return this.text(res, 405, 'Use GET or POST');
      if (await this.deps.auth.session(req))
        return this.redirect(res, safeNext(url.searchParams.get('next')));
      return this.send(res, 200, 'login.html', this.files.get('login.html') as Buffer, method);
    }
    if (path === '/ui/login/options') {
      // What the sign-in page may offer besides the key (read by login.js; no secret in it).
      const why = this.deps.oauth ? this.deps.oauth.unavailable() : 'not available';
      res.writeHead(200, {
        ...PAGE_HEADERS,
        'Content-Type': 'application/json',
        'Cache-Control': 'no-store',
      });
      res.end(JSON.stringify({ oauth: why === undefined }));
      return;
    }
    if (path === '/ui/oauth/start' && this.deps.oauth) {
      if (method !== 'GET') return this.text(res, 405, 'Use GET');
      return this.deps.oauth.start(res, safeNext(url.searchParams.get('next')));
    }
    if (path === '/ui/oauth/callback' && this.deps.oauth) {
      if (method !== 'GET') return this.text(res, 405, 'Use GET');
      return this.deps.oauth.callback(req, res, url);
    }
    if (path === '/ui/logout') {
      if (method !== 'POST') return this.text(res, 405, 'Use POST');
      return this.signOut(req, res);
    }
    if (PAGES.test(path)) {
      if (method !== 'GET' && method !== 'HEAD') return this.text(res, 405, 'Use GET');
      if (!(await this.deps.auth.session(req)))
        return this.redirect(res, `/ui/login?${new URLSearchParams({ next: path })}`);
      return this.send(res, 200, 'index.html', this.files.get('index.html') as Buffer, method);
    }
    return this.text(res, 404, 'Not found');
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Login CSRF: only our own sign-in form may sign a browser in.
    this.deps.auth.checkOrigin(req);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      return this.text(res, 415, 'Send the sign-in form');
    }
    const body = await readBody(req, 8 * 1024);
    if (!body.ok) return this.text(res, body.status, body.message);
    const form = new URLSearchParams(body.text);
    const key = (form.get('key') ?? '').trim();
    const next = safeNext(form.get('next'));
    const back = (error: string) => this.redirect(res, `/ui/login?${new URLSearchParams({ error, next })}`);
    if (key === '') return back('missing');
    try {
      const { cookie, identity } = await this.deps.auth.signIn(req, key);
      this.deps.logger.info({ admin: identity.name }, 'dashboard sign-in');
      return this.redirect(res, next, 303, { 'Set-Cookie': cookie });
    } catch (err) {
      if (!(err instanceof AdminError)) throw err;
      return back(err.code === 'rate_limited' ? 'rate_limited' : 'invalid');
    }
  }

  private async signOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    // The same checks as any change made with the cookie (Origin, CSRF token).
    let identity: Awaited<ReturnType<AdminAuth['authenticate']>> | undefined;
    try {
      identity = await this.deps.auth.authenticate(req);
    } catch (err) {
      if (!(err instanceof AdminError) || err.code !== 'unauthorized') throw err;
    }
    const cookie = await this.deps.auth.signOut(identity);
    res.writeHead(204, { ...PAGE_HEADERS, 'Set-Cookie': cookie, 'Cache-Control': 'no-store' });
    res.end();
  }

  private send(
    res: ServerResponse,
    status: number,
    name: string,
    body: Buffer,
    method: string,
    headers: Record<string, string> = {},
  ): void {
    const ext = name.slice(name.lastIndexOf('.'));
    res.writeHead(status, {
      ...PAGE_HEADERS,
      'Content-Type': TYPES[ext] ?? 'application/octet-stream',
      'Content-Length': String(body.length),
      'Cache-Control': 'no-store',
      ...headers,
    });
    res.end(method === 'HEAD' ? undefined : body);
  }

  private redirect(
    res: ServerResponse,
    location: string,
    status = 303,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(status, { ...PAGE_HEADERS, Location: location, 'Cache-Control': 'no-store', ...headers });
    res.end();
  }

  private text(res: ServerResponse, status: number, message: string): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, {
      ...PAGE_HEADERS,
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
    });
    res.end(`${message}\n`);
  }
}

/** Where to go after signing in: a dashboard page, never another site (no open redirect). */
export function safeNext(next: string | null | undefined): string {
  return next && PAGES.test(next) ? next : '/ui/';
}
