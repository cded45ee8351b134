/**
 * Per-user upstream tokens (`oauth.tokens: per_user`): agents are OAuth users of the gateway, and each
 * user connects their own account at the remote server on the gateway's /upstream/login page (signed in
 * as themselves). One user's token is never used for another, and no gateway token reaches the backend.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsList } from '../../src/cli/backends.js';
import { connectHttp, startGateway, type TestGateway, tempDir } from '../helpers/gateway.js';
import { OAUTH_SERVER } from '../helpers/paths.js';
import {
  approve,
  authorizeUrl,
  base,
  field,
  PASSWORD,
  pkce,
  postForm,
  REDIRECT,
  register,
  token,
} from '../oauth/flow.js';

describe('upstream OAuth with a token per user', () => {
  let fixture: ChildProcess;
  let fixtureBase: string;
  let gw: TestGateway;
  let clientId: string;

  beforeAll(async () => {
    fixture = spawn(process.execPath, [OAUTH_SERVER, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve) => {
      let out = '';
      fixture.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    fixtureBase = `http://127.0.0.1:${port}`;
    const dir = tempDir('mcpg-per-user-');
    gw = await startGateway(`
auth:
  mode: oauth2
  oauth2:
    users:
      - { name: ada, password: "${PASSWORD}" }
      - { name: bob, password: "${PASSWORD}" }
rate_limit:
  auth_failures_per_minute: 1000
state:
  store: sqlite
  path: ${path.join(dir, 'state.db')}
  encryption_key: per-user-test-encryption-key-32-chars-or-more
servers:
  remote:
    url: ${fixtureBase}/mcp
    oauth:
      tokens: per_user
`);
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
    fixture?.kill('SIGTERM');
  });

  /** A gateway access token for `user` (the agent signs its user in on the gateway's consent page). */
  const gatewayToken = async (user: string) => {
    const { verifier, challenge } = pkce();
    const done = await approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: pkce().verifier,
      }),
      'approve',
      PASSWORD,
      user,
    );
    const code = new URL(done.location).searchParams.get('code') as string;
    const t = await token(gw, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
      resource: gw.url,
    });
    return t.body['access_token'] as string;
  };

  const echo = async (accessToken: string, text: string) => {
    const agent = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${accessToken}` } });
    try {
      const result = (await agent.callTool({ name: 'echo', arguments: { text } })) as {
        content: Array<{ text: string }>;
      };
      return result.content[0]?.text;
    } finally {
      await agent.close();
    }
  };

  /** What the user does in a browser: the gateway's page, sign in, the server's consent, back to the gateway. */
  const connectAccount = async (user: string) => {
    const page = await fetch(`${base(gw)}/upstream/login?server=remote`);
    const html = await page.text();
    expect(page.status).toBe(200);
    const submitted = await postForm(`${base(gw)}/upstream/login`, {
      request_id: field(html, 'request_id'),
      csrf: field(html, 'csrf'),
      username: user,
      password: PASSWORD,
    });
    expect(submitted.status).toBe(302);
    const toServer = submitted.headers.get('location') as string;
    expect(toServer.startsWith(`${fixtureBase}/authorize?`)).toBe(true);
    const consent = await fetch(toServer, { redirect: 'manual' });
    await consent.text();
    const back = consent.headers.get('location') as string;
    expect(back.startsWith(`${base(gw)}/upstream/callback?`)).toBe(true);
    const done = await fetch(back);
    return { status: done.status, body: await done.text(), back };
  };

  it('tells a user without a token where to connect their account', async () => {
    const ada = await gatewayToken('ada');
    await expect(echo(ada, 'x')).rejects.toThrow(
      new RegExp(
        `ada connects their account at ${base(gw).replace(/[.]/g, '\\.')}/upstream/login\\?server=remote`,
      ),
    );
  });

  it('connects an account for the user who signed in, and uses it only for that user', async () => {
    const connected = await connectAccount('ada');
    expect(connected.status).toBe(200);
    expect(connected.body).toContain('remote is connected for ada');
    // The callback is single-use.
    const replay = await fetch(connected.back);
    expect(replay.status).toBe(400);
    await replay.text();

    const ada = await gatewayToken('ada');
    expect(await echo(ada, 'as ada')).toBe('as ada');
    const bob = await gatewayToken('bob');
    await expect(echo(bob, 'as bob')).rejects.toThrow(/bob connects their account/);

    const stats = (await (await fetch(`${fixtureBase}/test/stats`)).json()) as { bearers: string[] };
    expect(stats.bearers.length).toBeGreaterThan(0);
    expect(stats.bearers.every((b) => /^at-[0-9a-f]{32}$/.test(b))).toBe(true);
    expect(stats.bearers).not.toContain(ada);

    const lines: string[] = [];
    await backendsList({ config: gw.configFile, cwd: process.cwd(), out: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/remote\s+streamable-http\s+\S+\s+oauth\s+per user: 1 signed in/);
  });

  it("works in a real browser (chromium): sign in, the server's consent, back to the gateway", async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${base(gw)}/upstream/login?server=remote`);
      expect(await page.textContent('h1')).toBe('Connect remote');
      await page.fill('#username', 'bob');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(/\/upstream\/callback\?/), page.click('button[type="submit"]')]);
      expect(await page.textContent('body')).toContain('remote is connected for bob');
    } finally {
      await browser.close();
    }
    expect(await echo(await gatewayToken('bob'), 'as bob')).toBe('as bob');
  });

  it('refuses a callback it did not start, and a wrong password on its page', async () => {
    const forged = await fetch(`${base(gw)}/upstream/callback?code=x&state=never-issued`);
    expect(forged.status).toBe(400);
    await forged.text();
    const page = await (await fetch(`${base(gw)}/upstream/login?server=remote`)).text();
    const wrong = await postForm(`${base(gw)}/upstream/login`, {
      request_id: field(page, 'request_id'),
      csrf: field(page, 'csrf'),
      username: 'bob',
      password: 'not the password',
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Wrong user or password');
  });
});
