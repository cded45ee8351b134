/**
 * The consent page in a real browser (Debian's chromium driven by playwright-core): a user signs in and
 * approves, and the browser lands on the client's redirect URI with a code; the page refuses to be framed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const CHROMIUM = '/usr/bin/chromium';

describe('consent page in chromium', () => {
  let gw: TestGateway;
  let browser: Browser;
  let callback: Server;
  let callbackUrl: string;
  const received: URL[] = [];

  beforeAll(async () => {
    expect(
      existsSync(CHROMIUM),
      'Debian chromium is required (.ci/run installs it: apt-get install chromium)',
    ).toBe(true);
    callback = createServer((req, res) => {
      received.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>back in the app</p>');
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
    callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    gw = await startGateway(`
auth:
  mode: oauth2
  oauth2:
    users: [{ name: grace, password: "hopper-1906-cobol" }]
    clients: [{ client_id: browser-app, name: Browser App, redirect_uris: ["${callbackUrl}"] }]
servers:
${stdioTestServer('tools')}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    callback?.close();
  });

  it('signs in, approves, and lands on the redirect URI with a code and the issuer', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const base = gw.url.replace(/\/mcp$/, '');
    const url = `${base}/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: 'browser-app',
      redirect_uri: callbackUrl,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'browser-state-1',
    })}`;
    const page = await browser.newPage();
    await page.goto(url);
    expect(await page.textContent('h1')).toBe('Sign in to mcp-guard');
    expect(await page.textContent('body')).toContain('Browser App');
    await page.fill('#username', 'grace');
    await page.fill('#password', 'hopper-1906-cobol');
    await page.click('button[value="approve"]');
    await page.waitForURL((u) => u.pathname === '/callback');
    expect(await page.textContent('body')).toContain('back in the app');
    const landed = received.filter((u) => u.pathname === '/callback').at(-1) as URL;
    expect(landed.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(landed.searchParams.get('state')).toBe('browser-state-1');
    expect(landed.searchParams.get('iss')).toBe(base);

    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: landed.searchParams.get('code') as string,
        redirect_uri: callbackUrl,
        client_id: 'browser-app',
        code_verifier: verifier,
      }).toString(),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token_type: string }).token_type).toBe('Bearer');
    await page.close();
  });

  it('cannot be shown inside a frame of another page', async () => {
    const base = gw.url.replace(/\/mcp$/, '');
    const consentUrl = `${base}/authorize?client_id=browser-app&redirect_uri=${encodeURIComponent(callbackUrl)}&response_type=code&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    // Control: at the top level the very same URL shows the sign-in form.
    const direct = await browser.newPage();
    await direct.goto(consentUrl);
    expect(await direct.locator('#password').count()).toBe(1);
    await direct.close();
    const framer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<iframe id="f" src="${consentUrl}"></iframe>`);
    });
    await new Promise<void>((r) => framer.listen(0, '127.0.0.1', r));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`);
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    // The browser refuses to render it: the frame has no sign-in form.
    const hasForm = frame
      ? await frame
          .locator('#password')
          .count()
          .catch(() => 0)
      : 0;
    expect(hasForm).toBe(0);
    await page.close();
    framer.close();
  });
});
