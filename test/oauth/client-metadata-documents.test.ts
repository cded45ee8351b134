/**
 * Client ID Metadata Documents at the built-in authorization server: a client whose id is a URL is
 * described by the document there (fetched under the outbound rules, size-limited, kept for a while),
 * and a document that does not describe itself, carries a secret, is too big or redirects is refused.
 * Also the admin scope: granted only to users whose `scopes` name it, and checked live by the admin
 * API's verifier.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  approve,
  authorizeUrl,
  base,
  codeFlow,
  initializeWith,
  oauthConfig,
  PASSWORD,
  pkce,
  REDIRECT,
  register,
  token,
} from './flow.js';

describe('oauth2: Client ID Metadata Documents', () => {
  let gw: TestGateway;
  let docs: Server;
  let origin: string;
  const fetched: string[] = [];
  const documents: Record<
    string,
    (url: string) => { status?: number; headers?: Record<string, string>; body: string }
  > = {
    '/good.json': (url) => ({
      headers: { 'cache-control': 'max-age=600' },
      body: JSON.stringify({ client_id: url, client_name: 'Doc Client', redirect_uris: [REDIRECT] }),
    }),
    '/other.json': () => ({
      body: JSON.stringify({ client_id: `${origin}/good.json`, redirect_uris: [REDIRECT] }),
    }),
    '/secret.json': (url) => ({
      body: JSON.stringify({ client_id: url, client_secret: 's3cret', redirect_uris: [REDIRECT] }),
    }),
    '/basic.json': (url) => ({
      body: JSON.stringify({
        client_id: url,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [REDIRECT],
      }),
    }),
    '/big.json': (url) => ({
      body: JSON.stringify({ client_id: url, client_name: 'x'.repeat(6_000), redirect_uris: [REDIRECT] }),
    }),
    '/moved.json': () => ({ status: 302, headers: { location: `${origin}/good.json` }, body: '' }),
    '/badredirect.json': (url) => ({
      body: JSON.stringify({ client_id: url, redirect_uris: ['https://elsewhere.example/callback'] }),
    }),
  };

  beforeAll(async () => {
    docs = createServer((req, res) => {
      const path = req.url ?? '/';
      fetched.push(path);
      const doc = documents[path]?.(`${origin}${path}`) ?? { status: 404, body: '{}' };
      res.writeHead(doc.status ?? 200, { 'content-type': 'application/json', ...doc.headers });
      res.end(doc.body);
    });
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
    gw = await startGateway(oauthConfig('', 'rate_limit:\n  auth_failures_per_minute: 1000'));
  });
  afterAll(async () => {
    await gw?.close();
    docs?.close();
  });

  const consent = (clientId: string) =>
    approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );

  it('advertises client_id_metadata_document_supported', async () => {
    const metadata = (await (
      await fetch(`${base(gw)}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(metadata['client_id_metadata_document_supported']).toBe(true);
  });

  it('runs the code flow for a client described by its document, fetched once and then kept', async () => {
    const clientId = `${origin}/good.json`;
    const page = await fetch(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('Doc Client');
    expect(html).toContain(clientId);
    const tokens = await codeFlow(gw, clientId);
    const res = await initializeWith(gw, tokens['access_token'] as string);
    expect(res.status).toBe(200);
    await res.text();
    // A public client: a refresh with its id and no secret works; a secret is refused.
    const refreshed = await token(gw, {
      grant_type: 'refresh_token',
      refresh_token: tokens['refresh_token'] as string,
      client_id: clientId,
    });
    expect(refreshed.status).toBe(200);
    expect(fetched.filter((p) => p === '/good.json')).toHaveLength(1);
  });

  it('refuses documents that name another URL, carry a secret, are too big or redirect', async () => {
    for (const [path, why] of [
      ['/other.json', 'its client_id is not the URL it was fetched from'],
      ['/secret.json', 'must not carry a client secret'],
      ['/basic.json', 'token_endpoint_auth_method client_secret_basic is not supported'],
      ['/big.json', 'larger than 5120 bytes'],
      ['/moved.json', 'HTTP 302 (redirects are not followed)'],
      ['/nothing.json', 'HTTP 404'],
    ] as const) {
      const done = await consent(`${origin}${path}`);
      expect(done.status, path).toBe(400);
      expect(done.body, path).toContain(why);
    }
    // A refused document is not fetched again at once (one attempt a minute).
    const before = fetched.filter((p) => p === '/secret.json').length;
    expect((await consent(`${origin}/secret.json`)).status).toBe(400);
    expect(fetched.filter((p) => p === '/secret.json').length).toBe(before);
  });

  it('holds a document client to its redirect URIs, and ignores ids that are no document URL', async () => {
    const mismatch = await consent(`${origin}/badredirect.json`);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('does not match any registered');
    // Not fetched at all: plain http to a non-loopback host, a bare origin, a fragment, dot segments.
    const count = fetched.length;
    for (const id of [
      'http://example.com/client.json',
      `${origin}/`,
      `${origin}/good.json#x`,
      `${origin}/a/../good.json`,
      'https://169.254.169.254/latest/meta-data',
    ]) {
      const done = await consent(id);
      expect(done.status, id).toBe(400);
    }
    expect(fetched.length).toBe(count);
  });
});

describe('oauth2: Client ID Metadata Documents switched off', () => {
  it('does not advertise them, and treats a URL client id as unknown', async () => {
    const gw = await startGateway(oauthConfig('    client_id_metadata_documents: false'));
    try {
      const metadata = (await (
        await fetch(`${base(gw)}/.well-known/oauth-authorization-server`)
      ).json()) as Record<string, unknown>;
      expect(metadata['client_id_metadata_document_supported']).toBe(false);
      const done = await approve(
        authorizeUrl(gw, {
          client_id: 'http://127.0.0.1:9/client.json',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      );
      expect(done.status).toBe(400);
      expect(done.body).toContain('not registered');
    } finally {
      await gw.close();
    }
  });
});

describe('oauth2: the admin scope', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig('    scopes: [mcp, admin]', 'rate_limit:\n  auth_failures_per_minute: 1000', [
        'mcp',
        'admin',
      ]),
    );
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is granted to a user whose scopes name it, opens the admin verifier, and ends when taken away', async () => {
    const admin = await codeFlow(gw, clientId, { scope: 'mcp admin' });
    expect(admin['scope']).toBe('mcp admin');
    const verifier = gw.gateway.adminTokenVerifier;
    expect(verifier).toBeDefined();
    expect((await verifier?.verify(admin['access_token'] as string))?.agent).toBe('ada');
    // /mcp does not require admin by default.
    const mcp = await initializeWith(gw, admin['access_token'] as string);
    expect(mcp.status).toBe(200);
    await mcp.text();
    const mcpOnly = await codeFlow(gw, clientId, { scope: 'mcp' });
    await expect(verifier?.verify(mcpOnly['access_token'] as string)).rejects.toThrow(/missing scope: admin/);

    // The user loses admin in the config: the admin token stops at once, the refresh narrows to mcp.
    writeFileSync(
      gw.configFile,
      readFileSync(gw.configFile, 'utf8').replace('scopes: [mcp, admin] }', 'scopes: [mcp] }'),
    );
    expect(await gw.gateway.reload()).toEqual({ ok: true, changed: true });
    await expect(gw.gateway.adminTokenVerifier?.verify(admin['access_token'] as string)).rejects.toThrow(
      /no longer granted to this user: admin/,
    );
    const narrowed = await token(gw, {
      grant_type: 'refresh_token',
      refresh_token: admin['refresh_token'] as string,
      client_id: clientId,
    });
    expect(narrowed.body['scope']).toBe('mcp');
  });

  it('is never granted to a user whose scopes do not name it', async () => {
    const other = await startGateway(oauthConfig('    scopes: [mcp, admin]'));
    try {
      const otherClient = (await register(other)).body['client_id'] as string;
      const asked = await codeFlow(other, otherClient, { scope: 'mcp admin' });
      expect(asked['scope']).toBe('mcp');
      const { challenge } = pkce();
      const adminOnly = await approve(
        authorizeUrl(other, {
          client_id: otherClient,
          code_challenge: challenge,
          code_challenge_method: 'S256',
          scope: 'admin',
        }),
        'approve',
        PASSWORD,
      );
      expect(adminOnly.status).toBe(302);
      expect(new URL(adminOnly.location).searchParams.get('error')).toBe('invalid_scope');
    } finally {
      await other.close();
    }
  });
});
