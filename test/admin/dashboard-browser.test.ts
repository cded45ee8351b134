/**
 * The dashboard on a phone: Debian's chromium (playwright-core) at a 390×844 touch viewport. Sign in with
 * an admin key; an agent's $25 call is held and its row appears within 2 s without a reload; tapping
 * Approve (and confirming) approves it; the agent's retry runs exactly once. A decision made elsewhere
 * (the CLI) updates the page. No horizontal scrolling, no CSP violation. Screenshots are written to
 * test-results/dashboard/ (kept as artefacts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { ROOT } from '../helpers/paths.js';
import { runCli } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-results', 'dashboard');
const AGENT_KEY = 'agent-key-for-the-browser-test-1';
const ADMIN_KEY = 'admin-key-for-the-browser-test-1';

describe('dashboard in chromium at 390×844 (touch)', () => {
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let agent: Client;
  const cspViolations: string[] = [];

  const shot = (name: string) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const noHorizontalScroll = async () => {
    // Strings, not functions: this test is type-checked without the DOM library.
    const { scroll, width } = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })',
    )) as { scroll: number; width: number };
    expect(width).toBe(390);
    expect(scroll).toBeLessThanOrEqual(width);
  };
  const payCalls = async () =>
    JSON.parse(textOf(await agent.callTool({ name: 'stats', arguments: {} }))).pay_calls as number;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is required (apt-get install chromium)').toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    gw = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: shopping-agent, key: ${AGENT_KEY} }]
admin:
  keys: [{ agent: ops, key: ${ADMIN_KEY} }]
policies:
  spend_cap_usd: 200
  require_approval_above: 5
  audit_log: ./audit.jsonl
servers:
${stdioTestServer('wallet')}`);
    base = gw.url.replace(/\/mcp$/, '');
    agent = await connectHttp(gw.url, { headers: { authorization: `Bearer ${AGENT_KEY}` } });
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
    context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await agent?.close();
    await gw?.close();
  });

  it('signs in with an admin key', async () => {
    await page.goto(`${base}/ui/`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await noHorizontalScroll();
    await shot('01-sign-in');
    await page.fill('#key', 'not-the-key');
    await page.tap('button[type="submit"]');
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).toContain('not an admin key');
    await page.fill('#key', ADMIN_KEY);
    await page.tap('button[type="submit"]');
    await page.waitForURL((u) => u.pathname === '/ui/');
    await page.waitForSelector('#live.on', { timeout: 5_000 });
    expect(await page.textContent('h1')).toBe('Pending approvals');
    // The cookie is not readable from the page.
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  it('a held $25 call appears within 2 s without a reload; tapping Approve and confirming approves it; the retry runs once', async () => {
    const before = await payCalls();
    const held = await failure(agent.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } }));
    const heldAt = Date.now();
    expect(held.code).toBe(-32004);
    const id = (held.data as { approval_id: string }).approval_id;
    const row = page.locator(`article[data-id="${id}"]`);
    await row.waitFor({ timeout: 2_000 });
    expect(Date.now() - heldAt).toBeLessThan(2_000);
    expect(await row.locator('.amount').textContent()).toBe('$25.00');
    expect(await row.locator('.who').textContent()).toBe('shopping-agent → wallet.pay');
    expect(JSON.parse((await row.locator('pre.args').textContent()) ?? '')).toEqual({
      amount_usd: 25,
      to: 'bob',
    });
    expect(await row.locator('.expiry').textContent()).toMatch(/^expires in /);
    expect(await page.textContent('#pending-count')).toBe('1');
    await noHorizontalScroll();
    await shot('02-held-call');

    await row.locator('input.note').fill('known payee');
    await row.locator('button.approve').tap();
    expect(await row.locator('button.approve').textContent()).toBe('Confirm: approve $25.00');
    await shot('03-confirm');
    await row.locator('button.approve').tap();
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    expect(await page.textContent('#toast')).toContain('Approved shopping-agent → pay ($25.00)');
    await shot('04-approved');

    const shown = JSON.parse(
      (await runCli(['approvals', 'show', id, '--json', '--config', gw.configFile])).stdout,
    );
    expect(shown).toMatchObject({ status: 'approved', note: 'known payee', decided_by: 'ops via dashboard' });
    expect(textOf(await agent.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } }))).toBe(
      'paid 25',
    );
    const again = await failure(agent.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } }));
    expect(again.code).toBe(-32004);
    expect((await payCalls()) - before).toBe(1);
  });

  it('a decision made elsewhere (the CLI) updates the page without a reload', async () => {
    const held = await failure(agent.callTool({ name: 'pay', arguments: { amount_usd: 40, to: 'mallory' } }));
    const id = (held.data as { approval_id: string }).approval_id;
    const row = page.locator(`article[data-id="${id}"]`);
    await row.waitFor({ timeout: 2_000 });
    expect(
      (await runCli(['approvals', 'deny', id, '--reason', 'unknown payee', '--config', gw.configFile])).code,
    ).toBe(0);
    await row.waitFor({ state: 'detached', timeout: 3_000 });
    await page.waitForFunction(
      `document.querySelector('#toast')?.textContent?.includes(${JSON.stringify(id)})`,
    );
    expect(await page.textContent('#toast')).toContain('denied by');
  });

  it('shows recent calls, spend and backends, each without horizontal scrolling', async () => {
    await page.tap('nav a[data-view="calls"]');
    await page.waitForSelector('article.call');
    expect(new URL(page.url()).pathname).toBe('/ui/calls');
    expect(await page.locator('article.call').count()).toBeGreaterThan(0);
    await noHorizontalScroll();
    await shot('05-calls');
    await page.selectOption('select[name="decision"]', 'held');
    await page.tap('form.filters button');
    await page.waitForURL((u) => u.searchParams.get('decision') === 'held');
    // The unfiltered list stays on screen until the filtered one has loaded; #view is aria-busy meanwhile.
    await page.waitForSelector('#view:not([aria-busy]) article.call');
    const badges = await page.locator('article.call .badge').allTextContents();
    expect(badges.length).toBeGreaterThan(0);
    expect(new Set(badges)).toEqual(new Set(['held']));

    await page.tap('nav a[data-view="spend"]');
    await page.waitForSelector('article.spend');
    expect(await page.locator('article.spend', { hasText: 'shopping-agent' }).textContent()).toContain(
      '$25.00 of $200.00',
    );
    await noHorizontalScroll();
    await shot('06-spend');

    await page.tap('nav a[data-view="backends"]');
    await page.waitForSelector('article.backend');
    expect(await page.locator('article.backend').textContent()).toContain('wallet');
    await noHorizontalScroll();
    await shot('07-backends');
    expect(cspViolations).toEqual([]);
  });

  it('a notification link opens the approval page directly (after signing in)', async () => {
    const held = await failure(agent.callTool({ name: 'pay', arguments: { amount_usd: 7, to: 'linked' } }));
    const id = (held.data as { approval_id: string }).approval_id;
    await page.goto(`${base}/ui/approvals/${id}`);
    const row = page.locator(`article[data-id="${id}"]`);
    await row.waitFor();
    expect(await page.locator('article[data-id]').count()).toBe(1);
    await noHorizontalScroll();
    await shot('08-one-approval');

    // Another site on this machine (same site for cookies: 127.0.0.1, another port) tries to approve it
    // with the signed-in browser's cookie: an auto-submitting form and a no-cors fetch. Both are refused.
    const attackerPage = `<!doctype html><form id="f" method="post" enctype="text/plain"
      action="${base}/admin/approvals/${id}/approve"><input name='{"note":"x","y":"' value='"}'></form>
      <script>fetch(${JSON.stringify(`${base}/admin/approvals/${id}/approve`)}, { method: 'POST', credentials: 'include',
        mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' }).finally(() => document.getElementById('f').submit());</script>`;
    const attacker = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(attackerPage),
    );
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    const sentCookies: Array<Promise<string>> = [];
    const watch = (r: import('playwright-core').Request) => {
      if (r.url().includes('/approve')) sentCookies.push(r.allHeaders().then((h) => h['cookie'] ?? ''));
    };
    page.on('request', watch);
    try {
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      await page.waitForURL((u) => u.pathname.endsWith('/approve'));
      expect(await page.textContent('body')).toContain('origin_refused');
      // The browser sent the session cookie with the form post (a same-site navigation; chromium leaves it
      // off the no-cors fetch): the gateway refused it anyway.
      const cookies = await Promise.all(sentCookies);
      expect(cookies.length).toBeGreaterThanOrEqual(2);
      expect(
        cookies.some((c) => c.includes('mcpg_admin=')),
        JSON.stringify(cookies),
      ).toBe(true);
    } finally {
      page.off('request', watch);
      attacker.close();
    }
    const still = JSON.parse(
      (await runCli(['approvals', 'show', id, '--json', '--config', gw.configFile])).stdout,
    );
    expect(still.status).toBe('pending');
    await page.goto(`${base}/ui/approvals/${id}`);
    await row.waitFor();

    // Signing out ends the session: the page sends us back to the sign-in form.
    await page.tap('#sign-out');
    await page.waitForURL((u) => u.pathname === '/ui/login');
    await page.goto(`${base}/ui/approvals/${id}`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
  });
});
