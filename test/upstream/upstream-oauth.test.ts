/**
 * Upstream OAuth against a real OAuth-protected MCP server (test/servers/oauth-server.ts, built with the
 * SDK's auth helpers): `backends login` once, then the gateway uses the token, refreshes it before it
 * expires and on a 401, keeps it across a restart (encrypted in the store), records a step-up and asks
 * for the wider scope at the next login — and the agent's own credential never reaches the backend.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsList, backendsLogin } from '../../src/cli/backends.js';
import {
  connectHttp,
  startGateway,
  startGatewayOn,
  type TestGateway,
  tempDir,
  writeConfig,
} from '../helpers/gateway.js';
import { OAUTH_SERVER } from '../helpers/paths.js';

const AGENT_KEY = 'agent-key-that-must-never-reach-the-backend-1234';
const ENCRYPTION_KEY = 'a-test-encryption-key-of-at-least-32-characters';

interface Fixture {
  readonly url: string;
  readonly base: string;
  readonly child: ChildProcess;
  stats(): Promise<{
    registrations: number;
    codeGrants: number;
    refreshGrants: number;
    bearers: string[];
    unauthorized: number;
    lastAuthorization?: { clientId: string; scopes: string[]; resource?: string };
  }>;
  post(path: string): Promise<void>;
  stop(): Promise<void>;
}

async function startFixture(args: string[]): Promise<Fixture> {
  const child = spawn(process.execPath, [OAUTH_SERVER, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`oauth-server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/mcp`,
    base,
    child,
    stats: async () => (await fetch(`${base}/test/stats`)).json() as never,
    post: async (p) => {
      await (await fetch(`${base}${p}`, { method: 'POST' })).text();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** What a person does with the printed URL: the fixture approves at once; follow it to our loopback listener. */
async function followConsent(url: string): Promise<void> {
  const authorize = await fetch(url, { redirect: 'manual' });
  await authorize.text();
  const location = authorize.headers.get('location');
  if (!location) throw new Error(`no redirect from ${url}: ${authorize.status}`);
  const back = await fetch(location);
  await back.text();
}

const config = (fixtureUrl: string, dir: string, extra = '') => `
auth:
  mode: api_key
  keys: [{ agent: ci, key: ${AGENT_KEY} }]
state:
  store: sqlite
  path: ${path.join(dir, 'state.db')}
  encryption_key: ${ENCRYPTION_KEY}
servers:
  remote:
    url: ${fixtureUrl}
    isolation: shared
    oauth:
      refresh_before: 1s
${extra}`;

const agentHeaders = { Authorization: `Bearer ${AGENT_KEY}` };
const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text).join('');

describe('upstream OAuth: a protected server behind the gateway', () => {
  let fixture: Fixture;
  let dir: string;
  let file: string;
  let gw: TestGateway | undefined;
  const lines: string[] = [];
  const cli = { cwd: process.cwd(), out: (l: string) => lines.push(l) };

  beforeAll(async () => {
    fixture = await startFixture(['--token-ttl', '3']);
    dir = tempDir('mcpg-upstream-');
    file = writeConfig(config(fixture.url, dir), dir);
  });
  afterAll(async () => {
    await gw?.close();
    await fixture?.stop();
  });

  it('logs in once: discovery from the 401, dynamic registration, PKCE and the resource indicator', async () => {
    await backendsLogin({ ...cli, config: file, name: 'remote', open: followConsent });
    expect(lines.at(-1)).toMatch(
      /^Logged in to remote: issuer http:\/\/127\.0\.0\.1:\d+\/, client client-.* \(dynamic\), scope read, expires .*, refreshable\.$/,
    );
    const stats = await fixture.stats();
    expect(stats.registrations).toBe(1);
    expect(stats.codeGrants).toBe(1);
    // The scope of the 401 challenge, and the resource indicator of the protected resource metadata.
    expect(stats.lastAuthorization).toMatchObject({ scopes: ['read'], resource: fixture.url });
  });

  it('stores only ciphertext', async () => {
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    try {
      const rows = db.prepare("SELECT key, value FROM kv WHERE ns = 'upstream_oauth'").all() as Array<{
        key: string;
        value: string;
      }>;
      expect(rows.map((r) => r.key)).toEqual(
        expect.arrayContaining(['client:remote', 'token:remote:service', 'discovery:remote']),
      );
      const all = rows.map((r) => r.value).join('\n');
      expect(all).not.toMatch(/\b(at|rt)-[0-9a-f]{32}\b/);
      const token = JSON.parse(rows.find((r) => r.key === 'token:remote:service')?.value ?? '{}');
      expect(token.sealed).toMatchObject({ v: 1 });
      expect(token.meta).toMatchObject({ scope: 'read', refreshable: true });
    } finally {
      db.close();
    }
  });

  it('serves the agent with the token, refreshing it before expiry and on a 401; the agent key never goes upstream', async () => {
    gw = await startGatewayOn(file);
    const agent = await connectHttp(gw.url, { headers: agentHeaders });
    try {
      expect((await agent.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'whoami', 'write']);
      expect(text(await agent.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
      expect(JSON.parse(text(await agent.callTool({ name: 'whoami', arguments: {} })))).toMatchObject({
        scopes: ['read'],
      });
      // Within refresh_before (1 s) of the 3 s token's expiry: the next call refreshes first, no 401 seen.
      const beforeExpiry = await fixture.stats();
      await new Promise((r) => setTimeout(r, 2_500));
      expect(text(await agent.callTool({ name: 'echo', arguments: { text: 'after expiry' } }))).toBe(
        'after expiry',
      );
      const afterExpiry = await fixture.stats();
      expect(afterExpiry.refreshGrants).toBe(beforeExpiry.refreshGrants + 1);
      expect(afterExpiry.unauthorized).toBe(beforeExpiry.unauthorized);
      // The server forgets every access token: the 401 is cured by a refresh and one retry.
      await fixture.post('/test/expire');
      expect(text(await agent.callTool({ name: 'echo', arguments: { text: 'after 401' } }))).toBe(
        'after 401',
      );
      const stats = await fixture.stats();
      expect(stats.refreshGrants).toBe(afterExpiry.refreshGrants + 1);
      expect(stats.unauthorized).toBe(afterExpiry.unauthorized + 1);
      expect(stats.bearers.length).toBeGreaterThan(3);
      expect(stats.bearers.every((b) => /^at-[0-9a-f]{32}$/.test(b))).toBe(true);
      expect(stats.bearers.some((b) => b.includes(AGENT_KEY))).toBe(false);
    } finally {
      await agent.close();
    }
  });

  it('keeps working across a gateway restart with the stored token', async () => {
    await gw?.close();
    const before = (await fixture.stats()).codeGrants;
    gw = await startGatewayOn(file);
    const agent = await connectHttp(gw.url, { headers: agentHeaders });
    try {
      expect(text(await agent.callTool({ name: 'echo', arguments: { text: 'restarted' } }))).toBe(
        'restarted',
      );
      expect((await fixture.stats()).codeGrants).toBe(before);
    } finally {
      await agent.close();
    }
    const ready = (await (await fetch(gw.url.replace(/\/mcp$/, '/readyz'))).json()) as Record<
      string,
      unknown
    >;
    expect(ready['upstream_oauth']).toEqual([
      expect.objectContaining({
        server: 'remote',
        tokens: 'service',
        state: 'authorized',
        scope: 'read',
        refreshable: true,
      }),
    ]);
    expect(JSON.stringify(ready)).not.toMatch(/\b(at|rt)-[0-9a-f]{32}\b/);
  });

  it('records a step-up on insufficient_scope, and the next login asks for the union of scopes', async () => {
    const agent = await connectHttp((gw as TestGateway).url, { headers: agentHeaders });
    try {
      await expect(agent.callTool({ name: 'write', arguments: {} })).rejects.toThrow(
        /needs a wider OAuth scope \(write\)/,
      );
    } finally {
      await agent.close();
    }
    lines.length = 0;
    await backendsList({ ...cli, config: file });
    expect(lines.join('\n')).toMatch(
      /remote\s+streamable-http\s+http:\/\/127\.0\.0\.1:\d+\/mcp\s+oauth\s+needs scope read write/,
    );
    expect(lines.join('\n')).toContain('mcp-guard backends login remote');

    await backendsLogin({ ...cli, config: file, name: 'remote', open: followConsent });
    const stats = await fixture.stats();
    expect(stats.lastAuthorization?.scopes.sort()).toEqual(['read', 'write']);
    // The stored registration was used again: no second registration.
    expect(stats.registrations).toBe(1);
    const again = await connectHttp((gw as TestGateway).url, { headers: agentHeaders });
    try {
      expect(text(await again.callTool({ name: 'write', arguments: {} }))).toBe('written');
    } finally {
      await again.close();
    }
  });

  it('says "login required" once the server revokes everything', async () => {
    await fixture.post('/test/revoke');
    const agent = await connectHttp((gw as TestGateway).url, { headers: agentHeaders });
    try {
      await expect(agent.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toThrow(
        /backend remote needs an OAuth login .*run `mcp-guard backends login remote`/,
      );
    } finally {
      await agent.close();
    }
    lines.length = 0;
    await backendsList({ ...cli, config: file, json: true });
    const listed = JSON.parse(lines.join('\n')) as Array<{ name: string; oauth?: { state: string } }>;
    expect(listed.find((r) => r.name === 'remote')?.oauth?.state).toMatch(/login_required|not_logged_in/);
  });
});

describe('upstream OAuth: configuration', () => {
  it('refuses to start without an encryption key, naming the servers and the setting', async () => {
    const fixtureUrl = 'http://127.0.0.1:9/mcp';
    const dir = tempDir('mcpg-upstream-nokey-');
    const yaml = config(fixtureUrl, dir).replace(/ {2}encryption_key: .*\n/, '');
    await expect(startGateway(yaml, { MCP_GUARD_ENCRYPTION_KEY: '' })).rejects.toThrow(
      /servers remote use oauth: set state\.encryption_key or MCP_GUARD_ENCRYPTION_KEY/,
    );
  });

  it('refuses an Authorization header next to oauth, and per_user tokens without users or with a shared connection', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const dir = tempDir('mcpg-upstream-cfg-');
    const base = config('https://mcp.example.com/mcp', dir);
    const problems = async (yaml: string) =>
      loadConfig(writeConfig(yaml, tempDir()), { ...process.env }).then(
        () => '',
        (e: Error) => e.message,
      );
    expect(
      await problems(
        base.replace(
          '    isolation: shared\n',
          '    isolation: shared\n    headers: { Authorization: "Bearer x" }\n',
        ),
      ),
    ).toMatch(/servers\.remote\.headers.*Authorization header and oauth both set/s);
    expect(await problems(base.replace('      refresh_before: 1s', '      tokens: per_user'))).toMatch(
      /per_user tokens need isolation: per_session/,
    );
    expect(
      await problems(
        base
          .replace('    isolation: shared\n', '')
          .replace('      refresh_before: 1s', '      tokens: per_user'),
      ),
    ).toMatch(/per_user tokens need auth\.mode oauth2/);
    expect(
      await problems(base.replace('      refresh_before: 1s', '      redirect_uri: http://example.com/cb')),
    ).toMatch(/redirect_uri.*loopback/s);
  });
});
