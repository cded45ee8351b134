/**
 * Dashboard sessions and what guards them: signing in only from our own origin, the cookie's flags, a
 * cross-site POST carrying the cookie refused (Origin and CSRF token), sessions shared by replicas on one
 * store, sign-out; the failure limiter on admin credentials; and OAuth tokens with the `admin` scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, startGatewayOn, type TestGateway } from '../helpers/gateway.js';
import { codeFlow, oauthConfig, register } from '../oauth/flow.js';
import { adminFetch } from './helpers.js';

const ADMIN_KEY = 'admin-key-for-session-tests-01';

async function signIn(base: string, key: string, origin = base): Promise<Response> {
  return fetch(`${base}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, connection: 'close' },
    body: new URLSearchParams({ key, next: '/ui/approvals' }).toString(),
  });
}

const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0] as string;

describe('dashboard sessions', () => {
  let gw: TestGateway;
  let base: string;

  beforeAll(async () => {
    gw = await startGateway(`
admin:
  keys: [{ agent: ops, key: ${ADMIN_KEY} }]
  session_ttl: 1h
rate_limit:
  auth_failures_per_minute: 1000
policies:
  require_approval_above: 5
servers:
${stdioTestServer('wallet')}`);
    base = gw.url.replace(/\/mcp$/, '');
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('pages need a session; the sign-in page and assets do not, and all carry a strict CSP', async () => {
    const page = await fetch(`${base}/ui/approvals/apr_123`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fapprovals%2Fapr_123');
    const login = await fetch(`${base}/ui/login`);
    expect(login.status).toBe(200);
    const csp = login.headers.get('content-security-policy') ?? '';
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'self'",
    ])
      expect(csp).toContain(directive);
    expect(csp).not.toContain('unsafe-inline');
    expect(await login.text()).not.toMatch(/<script>|\sstyle=|\son[a-z]+=/); // no inline code for the CSP to allow
    const js = await fetch(`${base}/ui/static/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect((await fetch(`${base}/ui/static/../../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/ui/static/index.ts`)).status).toBe(404);
  });

  it('signs in with an admin key from our own page only; the cookie is HttpOnly and SameSite=Strict', async () => {
    const wrong = await signIn(base, 'wrong-key');
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get('location')).toContain('error=invalid');
    expect(wrong.headers.get('set-cookie')).toBeNull();

    // A loopback origin passes the gateway-wide check, but it is not this gateway's page.
    const foreign = await signIn(base, ADMIN_KEY, 'http://localhost:1');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();

    const ok = await signIn(base, ADMIN_KEY);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/ui/approvals');
    const setCookie = ok.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(
      /^mcpg_admin=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Strict$/,
    );
    // The page loads with the cookie; an open redirect is not possible.
    const page = await fetch(`${base}/ui/approvals`, { headers: { cookie: cookieOf(ok) } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/ui/static/app.js');
    const evil = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ key: ADMIN_KEY, next: 'https://evil.example/' }).toString(),
    });
    expect(evil.headers.get('location')).toBe('/ui/');
  });

  it('a cross-site POST carrying the cookie is refused; our page (Origin + CSRF token) is not', async () => {
    const cookie = cookieOf(await signIn(base, ADMIN_KEY));
    const session = await adminFetch(base, '/admin/session', { headers: { cookie } });
    const { csrf_token: csrf, name } = (await session.json()) as { csrf_token: string; name: string };
    expect(name).toBe('ops');
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // A held call to decide.
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport } = await import(
      '@modelcontextprotocol/sdk/client/streamableHttp.js'
    );
    const agent = new Client({ name: 'a', version: '1' });
    await agent.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
    const held = await agent
      .callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'x' } })
      .catch((e) => e);
    const id = (held as { data: { approval_id: string } }).data.approval_id;
    await agent.close();

    const approve = (headers: Record<string, string>) =>
      adminFetch(base, `/admin/approvals/${id}/approve`, {
        method: 'POST',
        body: {},
        headers: { cookie, ...headers },
      });
    // Another site: the browser sends its own Origin. Refused by the gateway's Origin check or ours.
    const crossSite = await approve({ origin: 'https://evil.example', 'x-csrf-token': csrf });
    expect(crossSite.status).toBe(403);
    const otherLocal = await approve({ origin: 'http://localhost:1', 'x-csrf-token': csrf });
    expect(otherLocal.status).toBe(403);
    expect(await otherLocal.json()).toMatchObject({ error: { code: 'origin_refused' } });
    const noOrigin = await approve({ 'x-csrf-token': csrf });
    expect(noOrigin.status).toBe(403);
    const noToken = await approve({ origin: base });
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ error: { code: 'csrf_failed' } });
    const wrongToken = await approve({ origin: base, 'x-csrf-token': 'x'.repeat(43) });
    expect(await wrongToken.json()).toMatchObject({ error: { code: 'csrf_failed' } });
    // A form post (what a cross-site page can send without a preflight) is not JSON: refused too.
    const form = await fetch(`${base}/admin/approvals/${id}/approve`, {
      method: 'POST',
      headers: {
        cookie,
        origin: base,
        'x-csrf-token': csrf,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'note=x',
    });
    expect(form.status).toBe(415);
    // Nothing was decided by any of those.
    const still = (await (await adminFetch(base, `/admin/approvals/${id}`, { key: ADMIN_KEY })).json()) as {
      approval: { status: string };
    };
    expect(still.approval.status).toBe('pending');

    const ours = await approve({ origin: base, 'x-csrf-token': csrf });
    expect(ours.status).toBe(200);
    expect(await ours.json()).toMatchObject({
      approval: { status: 'approved', decided_by: 'ops via dashboard' },
    });
  });

  it('a session made on one replica works on another sharing the store; signing out ends it everywhere', async () => {
    const cookie = cookieOf(await signIn(base, ADMIN_KEY));
    const other = await startGatewayOn(gw.configFile);
    const otherBase = other.url.replace(/\/mcp$/, '');
    try {
      const there = await adminFetch(otherBase, '/admin/session', { headers: { cookie } });
      expect(there.status).toBe(200);
      const { csrf_token: csrf } = (await there.json()) as { csrf_token: string };
      const out = await fetch(`${base}/ui/logout`, {
        method: 'POST',
        headers: { cookie, origin: base, 'x-csrf-token': csrf },
      });
      expect(out.status).toBe(204);
      expect(out.headers.get('set-cookie')).toMatch(/^mcpg_admin=; Path=\/; Max-Age=0/);
      expect((await adminFetch(otherBase, '/admin/session', { headers: { cookie } })).status).toBe(401);
      expect((await adminFetch(base, '/admin/approvals', { headers: { cookie } })).status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe('admin credentials: failure limit and https cookies', () => {
  it('after auth_failures_per_minute wrong admin keys an address gets 429, even with the right key', async () => {
    const gw = await startGateway(`
admin:
  keys: [${ADMIN_KEY}]
rate_limit:
  auth_failures_per_minute: 3
http:
  public_url: https://gateway.example
servers:
${stdioTestServer('wallet')}`);
    const base = gw.url.replace(/\/mcp$/, '');
    try {
      for (let i = 0; i < 3; i++)
        expect((await adminFetch(base, '/admin/approvals', { key: `guess-${i}` })).status).toBe(401);
      const blocked = await adminFetch(base, '/admin/approvals', { key: ADMIN_KEY });
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await blocked.json()).toMatchObject({ error: { code: 'rate_limited' } });
      // Behind https (public_url), the cookie is Secure and __Host- prefixed.
      const { AdminAuth } = await import('../../src/admin/admin-auth.js');
      const { AuthFailureLimiter } = await import('../../src/auth/failure-limiter.js');
      const auth = new AdminAuth({
        config: () => gw.gateway.config,
        store: gw.gateway.store,
        tokenVerifier: () => undefined,
        limiter: new AuthFailureLimiter(10),
        events: {},
      });
      const { cookie } = await auth.openSession({ name: 'ops', via: 'admin_key' });
      expect(cookie).toMatch(
        /^__Host-mcpg_admin=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/,
      );
    } finally {
      await gw.close();
    }
  });

  it('config load refuses a key that is both an agent key and an admin key', async () => {
    await expect(
      startGateway(`
auth:
  mode: api_key
  keys: [same-key-for-both-0000000]
admin:
  keys: [same-key-for-both-0000000]
servers:
${stdioTestServer('wallet')}`),
    ).rejects.toThrow(/admin keys must be separate/);
  });
});

describe('OAuth tokens at /admin', () => {
  let gw: TestGateway;
  let clientId: string;

  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig('    scopes: [mcp, admin]\n    required_scopes: [mcp]', '', ['mcp', 'admin']),
    );
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('a token with the admin scope is accepted; one without gets 403 insufficient_scope', async () => {
    const base = gw.url.replace(/\/mcp$/, '');
    const admin = await codeFlow(gw, clientId, { scope: 'admin' });
    const ok = await adminFetch(base, '/admin/approvals', { key: admin['access_token'] as string });
    expect(ok.status).toBe(200);
    const who = (await (
      await adminFetch(base, '/admin/session', { key: admin['access_token'] })
    ).json()) as Record<string, unknown>;
    expect(who).toEqual({ name: 'ada', via: 'oauth2' });

    const agent = await codeFlow(gw, clientId, { scope: 'mcp' });
    const refused = await adminFetch(base, '/admin/approvals', { key: agent['access_token'] as string });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect(await refused.json()).toMatchObject({ error: { code: 'insufficient_scope' } });
    const forged = await adminFetch(base, '/admin/approvals', { key: `${admin['access_token']}x` });
    expect(forged.status).toBe(401);
  });
});
