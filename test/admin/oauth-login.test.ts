/**
 * "Sign in with OAuth" on the dashboard: the code flow with PKCE against the gateway's own authorization
 * server, played over real HTTP (the user's part through the consent page), ending in a dashboard
 * session; the state is bound to the browser and single-use.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { type HttpGateway, startHttpGateway } from '../../src/gateway/http-gateway.js';
import { openStateStore } from '../../src/stores/open-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, writeConfig } from '../helpers/gateway.js';
import { approve, PASSWORD, USER } from '../oauth/flow.js';
import { adminFetch } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const cookie = (res: Response, name: string) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] as string)
    .find((c) => c.startsWith(`${name}=`)) ?? '';

describe('dashboard sign-in with OAuth', () => {
  let gw: HttpGateway;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const file = writeConfig(`
auth:
  mode: oauth2
  oauth2:
    issuer: ${base}
    scopes: [mcp, admin]
    required_scopes: [mcp]
    users: [{ name: ${USER}, password: "${PASSWORD}", scopes: [mcp, admin] }]
    clients:
      - { client_id: mcp-guard-dashboard, name: mcp-guard dashboard, redirect_uris: ["${base}/ui/oauth/callback"] }
servers:
${stdioTestServer('tools')}`);
    const config = await loadConfig(file, process.env);
    gw = await startHttpGateway(config, {
      port,
      logger: silentLogger,
      store: await openStateStore(config.state),
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('offers the button, runs the code flow for the admin scope, and opens a session', async () => {
    expect(await (await fetch(`${base}/ui/login/options`)).json()).toEqual({ oauth: true });
    const start = await fetch(`${base}/ui/oauth/start?next=%2Fui%2Fspend`, { redirect: 'manual' });
    expect(start.status).toBe(303);
    const authorize = new URL(start.headers.get('location') ?? '');
    expect(authorize.pathname).toBe('/authorize');
    expect(authorize.searchParams.get('client_id')).toBe('mcp-guard-dashboard');
    expect(authorize.searchParams.get('scope')).toBe('admin');
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const stateCookie = cookie(start, 'mcpg_oauth_state');
    expect(stateCookie).toBe(`mcpg_oauth_state=${authorize.searchParams.get('state')}`);

    // The user signs in on the consent page and approves; the browser comes back with a code.
    const consent = await approve(authorize.toString());
    expect(consent.status).toBe(302);
    const back = new URL(consent.location);
    expect(back.pathname).toBe('/ui/oauth/callback');

    // Without the browser's state cookie (another browser: login CSRF) the code is not used.
    const foreign = await fetch(back, { redirect: 'manual' });
    expect(foreign.headers.get('location')).toBe('/ui/login?error=oauth_failed');

    const done = await fetch(back, { redirect: 'manual', headers: { cookie: stateCookie } });
    // The refused attempt did not use the state up: the cookie is checked before the state is taken.
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/ui/spend');
    const session = cookie(done, 'mcpg_admin');
    expect(session).toMatch(/^mcpg_admin=[A-Za-z0-9_-]{43}$/);
    const who = await adminFetch(base, '/admin/session', { headers: { cookie: session } });
    expect(await who.json()).toMatchObject({ name: USER, via: 'oauth2', csrf_token: expect.any(String) });

    // Single use: the same callback again opens nothing.
    const replay = await fetch(back, { redirect: 'manual', headers: { cookie: stateCookie } });
    expect(replay.headers.get('location')).toBe('/ui/login?error=oauth_failed');
    expect(cookie(replay, 'mcpg_admin')).toBe('');
  });

  it('is not offered without the dashboard client', async () => {
    const plain = await startGateway(`
auth:
  mode: oauth2
  oauth2:
    scopes: [mcp, admin]
    users: [{ name: ${USER}, password: "${PASSWORD}", scopes: [mcp, admin] }]
servers:
${stdioTestServer('tools')}`);
    const plainBase = plain.url.replace(/\/mcp$/, '');
    try {
      expect(await (await fetch(`${plainBase}/ui/login/options`)).json()).toEqual({ oauth: false });
      const start = await fetch(`${plainBase}/ui/oauth/start`, { redirect: 'manual' });
      expect(start.headers.get('location')).toBe('/ui/login?error=oauth_off');
    } finally {
      await plain.close();
    }
  });
});
