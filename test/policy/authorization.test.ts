/**
 * allow/deny per agent, per server and globally; name tricks; resources and prompts governed like
 * tools; credentials in the wrong place; the agent's credential never reaches a backend; hot reload.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBackend, startHttpTestServer, stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { codeOf } from '../helpers/results.js';

const ALICE = 'alice-key-0123456789abcdefghijklmnopqrstuv';
const BOB = 'bob-key-0123456789abcdefghijklmnopqrstuvwxyz';

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

describe('allow/deny through one gateway', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: api_key
  keys:
    - { agent: alice, key: "${ALICE}" }
    - { agent: bob, key: "${BOB}" }
rate_limit:
  auth_failures_per_minute: 3
policies:
  deny: [fs.delete_file, "*.crash", "fs.test://fs/item/*"]
agents:
  alice:
    allow: ["fs.*", "bank.pay"]
  bob:
    allow: [echo, add, "fs.test://fs/static", "fs.greet"]
    deny: [greet]
servers:
${stdioTestServer('fs')}${stdioTestServer('bank', '    deny: [charge]\n')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('gives two agents different tools/list results and refuses what each may not call', async () => {
    const alice = await connectHttp(gw.url, { headers: bearer(ALICE) });
    const bob = await connectHttp(gw.url, { headers: bearer(BOB) });
    const aliceTools = (await alice.listTools()).tools.map((t) => t.name).sort();
    const bobTools = (await bob.listTools()).tools.map((t) => t.name).sort();
    // Both servers offer the same tools, so they are exposed as fs__x and bank__x.
    expect(aliceTools).toContain('fs__echo');
    expect(aliceTools).toContain('bank__pay');
    expect(aliceTools).not.toContain('fs__delete_file'); // global deny
    expect(aliceTools).not.toContain('fs__crash'); // global deny by glob
    expect(aliceTools).not.toContain('bank__echo'); // alice's allow list
    expect(aliceTools).not.toContain('bank__charge'); // server deny
    expect(bobTools).toEqual(['bank__add', 'bank__echo', 'fs__add', 'fs__echo']);

    expect(await codeOf(alice.callTool({ name: 'bank__echo', arguments: { message: 'x' } }))).toBe(-32011);
    expect(await codeOf(bob.callTool({ name: 'fs__slow', arguments: { ms: 1 } }))).toBe(-32011);
    expect((await bob.callTool({ name: 'bank__echo', arguments: { message: 'ok' } })).content).toEqual([
      { type: 'text', text: 'ok' },
    ]);
    const denied = await alice
      .callTool({ name: 'fs__delete_file', arguments: { path: '/x' } })
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(McpError);
    expect((denied as McpError).code).toBe(-32011);
    expect((denied as McpError).data).toMatchObject({ reason: 'forbidden', tool: 'fs__delete_file' });
    await Promise.all([alice.close(), bob.close()]);
  });

  it('never lets name tricks reach a denied tool', async () => {
    const alice = await connectHttp(gw.url, { headers: bearer(ALICE) });
    // Variants of an exposed name are not names at all: they fail before any backend is asked.
    for (const name of [
      'FS__DELETE_FILE',
      'fs__delete_file ',
      ' fs__delete_file',
      'fs__delete_fіle',
      'fs__delete\u200b_file',
      'ｆｓ__delete_file',
    ]) {
      expect(await codeOf(alice.callTool({ name, arguments: { path: '/x' } }))).toBe(-32602);
    }
    // A backend offering a look-alike of a denied name is caught by the folded deny match.
    await alice.callTool({ name: 'fs__add_tool', arguments: { name: 'Delete_File' } });
    await alice.callTool({ name: 'fs__add_tool', arguments: { name: 'delete_fіle' } }); // Cyrillic і
    await waitFor(
      async () => (await alice.listTools()).tools.some((t) => t.name === 'fs__echo'),
      2_000,
      'tools',
    );
    const names = (await alice.listTools()).tools.map((t) => t.name);
    expect(names.some((n) => /delete/i.test(n))).toBe(false);
    expect(await codeOf(alice.callTool({ name: 'Delete_File', arguments: { message: 'x' } }))).toBe(-32011);
    await alice.close();
  });

  it('governs resources and prompts like tools (listing and reading)', async () => {
    const bob = await connectHttp(gw.url, { headers: bearer(BOB) });
    const resources = (await bob.listResources()).resources.map((r) => r.uri);
    expect(resources).toEqual(['test://fs/static']);
    expect((await bob.readResource({ uri: 'test://fs/static' })).contents[0]).toMatchObject({
      text: 'static fs',
    });
    expect(await codeOf(bob.readResource({ uri: 'test://bank/static' }))).toBe(-32011);
    expect(await codeOf(bob.readResource({ uri: 'test://fs/item/7' }))).toBe(-32011); // global deny by URI glob
    expect((await bob.listPrompts()).prompts).toEqual([]); // fs.greet allowed, but bob denies greet
    expect(await codeOf(bob.getPrompt({ name: 'fs__greet', arguments: { name: 'x' } }))).toBe(-32011);
    const alice = await connectHttp(gw.url, { headers: bearer(ALICE) });
    expect(
      (await alice.getPrompt({ name: 'fs__greet', arguments: { name: 'Ada' } })).messages[0]?.content,
    ).toEqual({ type: 'text', text: 'Hello, Ada' });
    await Promise.all([alice.close(), bob.close()]);
  });

  it('refuses credentials in the query string, two Authorization headers, other schemes; then 429 after repeated failures', async () => {
    const post = (path: string, headers: Record<string, string> | string[]) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(gw.url);
        const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{}');
      });
    expect(await post(`/mcp?access_token=${ALICE}`, { 'content-type': 'application/json' })).toBe(400);
    // Two Authorization headers: Node's parser already answers 400 (our own check is the second line).
    expect(
      await post('/mcp', [
        'Authorization',
        `Bearer ${ALICE}`,
        'Authorization',
        `Bearer ${BOB}`,
        'Content-Type',
        'application/json',
      ]),
    ).toBe(400);
    expect(
      await post('/mcp', { authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` }),
    ).toBe(401);
    // Requests without any credential (how every client discovers the authorization server) are
    // answered 401 but do not count: they cannot lock out the agents behind the same address.
    for (let i = 0; i < 5; i++) expect(await post('/mcp', { 'content-type': 'application/json' })).toBe(401);
    expect(await post('/mcp', { authorization: 'Bearer not-a-key' })).toBe(401);
    // The limit is 3 failures a minute from one address: the next attempt is refused unchecked.
    expect(await post('/mcp', { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' })).toBe(
      429,
    );
  });
});

describe('the agent credential never reaches a backend', () => {
  let backend: HttpBackend;
  let gw: TestGateway;
  beforeAll(async () => {
    backend = await startHttpTestServer(['--name', 'remote']);
    gw = await startGateway(`
auth:
  mode: api_key
  keys: ["${ALICE}"]
servers:
  remote:
    url: ${backend.url}
    headers:
      X-Backend-Token: backend-own-credential
`);
  });
  afterAll(async () => {
    await gw?.close();
    await backend?.stop();
  });

  it('sends only the backend its own configured headers', async () => {
    const client = await connectHttp(gw.url, { headers: bearer(ALICE) });
    const result = await client.callTool({ name: 'get_headers', arguments: {} });
    const headers = JSON.parse((result.content as Array<{ text: string }>)[0]?.text ?? '{}') as Record<
      string,
      string
    >;
    expect(headers['x-backend-token']).toBe('backend-own-credential');
    expect(headers['authorization']).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(ALICE);
    await client.close();
  });
});

describe('hot reload', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('fs')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('swaps a valid new config in for new requests and keeps the old one when the new one is invalid', async () => {
    const client = await connectHttp(gw.url);
    expect((await client.callTool({ name: 'echo', arguments: { message: 'before' } })).content).toEqual([
      { type: 'text', text: 'before' },
    ]);
    const original = readFileSync(gw.configFile, 'utf8');
    writeFileSync(gw.configFile, `policies:\n  deny: [echo]\n${original}`);
    expect(await gw.gateway.reload()).toEqual({ ok: true, changed: true });
    expect(await codeOf(client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(-32011);

    writeFileSync(gw.configFile, `policies:\n  deny: [echo]\n  dney: [add]\n${original}`);
    const rejected = await gw.gateway.reload();
    expect(rejected.ok).toBe(false);
    expect(!rejected.ok && rejected.error).toContain('policies.dney: unknown key (did you mean "deny"?)');
    // The last good config still rules: echo denied, add allowed.
    expect(await codeOf(client.callTool({ name: 'echo', arguments: { message: 'still' } }))).toBe(-32011);
    expect((await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content).toEqual([
      { type: 'text', text: '3' },
    ]);
    await client.close();
  });
});

describe('/metrics credentials', () => {
  let gw: TestGateway;
  const ADMIN = 'admin-key-0123456789abcdefghijklmnopqrstu';
  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: alice, key: "${ALICE}" }]
admin:
  keys: [{ agent: ops, key: "${ADMIN}" }]
rate_limit:
  auth_failures_per_minute: 2
servers:
${stdioTestServer('t')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('accepts an agent or admin key, and guessing there counts toward the same 429 as /mcp', async () => {
    const metrics = gw.url.replace(/\/mcp$/, '/metrics');
    const get = (key: string) => fetch(metrics, { headers: bearer(key) });
    expect((await get(ADMIN)).status).toBe(200);
    expect((await get(ALICE)).status).toBe(200);
    expect((await get('wrong-1')).status).toBe(401);
    expect((await get('wrong-2')).status).toBe(401);
    const blocked = await get(ADMIN);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await blocked.json()) as { error: { code: number; data: Record<string, unknown> } };
    expect(body.error).toMatchObject({ code: -32012, data: { reason: 'rate_limited', scope: 'auth' } });
    // The same address is blocked on /mcp as well: the limiter is one.
    const mcp = await fetch(gw.url, {
      method: 'POST',
      headers: { ...bearer(ALICE), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(mcp.status).toBe(429);
  });

  it('follows a reload: an admin key removed from the file stops opening /metrics', async () => {
    const fresh = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: alice, key: "${ALICE}" }]
admin:
  keys: [{ agent: ops, key: "${ADMIN}" }]
servers:
${stdioTestServer('t')}`);
    try {
      const metrics = fresh.url.replace(/\/mcp$/, '/metrics');
      expect((await fetch(metrics, { headers: bearer(ADMIN) })).status).toBe(200);
      writeFileSync(fresh.configFile, readFileSync(fresh.configFile, 'utf8').replace(/admin:\n.*\n/, ''));
      expect(await fresh.gateway.reload()).toEqual({ ok: true, changed: true });
      expect((await fetch(metrics, { headers: bearer(ADMIN) })).status).toBe(401);
      expect((await fetch(metrics, { headers: bearer(ALICE) })).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});

describe('auth failures behind a trusted reverse proxy', () => {
  const start = (extra: string) =>
    startGateway(`
auth:
  mode: api_key
  keys: [{ agent: alice, key: "${ALICE}" }]
rate_limit:
  auth_failures_per_minute: 2
${extra}servers:
${stdioTestServer('t')}`);
  const post = (gw: TestGateway, key: string, forwardedFor: string) =>
    fetch(gw.url, {
      method: 'POST',
      headers: { ...bearer(key), 'x-forwarded-for': forwardedFor, 'content-type': 'application/json' },
      body: '{}',
    }).then((r) => r.status);

  it('count per forwarded client when the proxy is trusted, and per peer (header ignored) otherwise', async () => {
    const trusted = await start('http:\n  trusted_proxies: [127.0.0.1]\n');
    try {
      expect(await post(trusted, 'wrong-1', '203.0.113.1')).toBe(401);
      expect(await post(trusted, 'wrong-2', '203.0.113.1')).toBe(401);
      expect(await post(trusted, ALICE, '203.0.113.1')).toBe(429); // the guesser is blocked
      expect(await post(trusted, ALICE, '203.0.113.2')).not.toBe(429); // another client behind the proxy is not
    } finally {
      await trusted.close();
    }
    const untrusted = await start('');
    try {
      expect(await post(untrusted, 'wrong-1', '203.0.113.1')).toBe(401);
      expect(await post(untrusted, 'wrong-2', '203.0.113.2')).toBe(401);
      expect(await post(untrusted, ALICE, '203.0.113.3')).toBe(429); // a forged header changes nothing
    } finally {
      await untrusted.close();
    }
  });
});
