/**
 * The gateway as its own OAuth 2.1 authorization server and resource server (auth.mode: oauth2):
 * an SDK client connects from scratch (401 → metadata → registration → code + PKCE → token → tools),
 * the device flow runs from a script, a restart between authorization and token exchange loses nothing,
 * and the attacks of security.md §6.5 are refused.
 */
import { createServer } from 'node:net';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  approve,
  authorize,
  authorizeUrl,
  base,
  codeFlow,
  PASSWORD,
  pkce,
  REDIRECT,
  register,
  token,
  USER,
} from './flow.js';

const config = (extra = '') => `
auth:
  mode: oauth2
  oauth2:
    users: [{ name: ${USER}, password: "${PASSWORD}" }]
    scopes: [mcp]
${extra}
rate_limit:
  auth_failures_per_minute: 1000
servers:
${stdioTestServer('tools')}`;

describe('oauth2: an SDK client from scratch', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(config());
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('discovers from the 401, registers, runs code + PKCE, gets a token, lists and calls tools', async () => {
    const saved: {
      client?: OAuthClientInformationMixed;
      tokens?: OAuthTokens;
      verifier?: string;
      authUrl?: URL;
    } = {};
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return REDIRECT;
      },
      get clientMetadata(): OAuthClientMetadata {
        return {
          client_name: 'sdk agent',
          redirect_uris: [REDIRECT],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
        };
      },
      clientInformation: () => saved.client,
      saveClientInformation: (info) => {
        saved.client = info;
      },
      tokens: () => saved.tokens,
      saveTokens: (t) => {
        saved.tokens = t;
      },
      redirectToAuthorization: (url) => {
        saved.authUrl = url;
      },
      saveCodeVerifier: (v) => {
        saved.verifier = v;
      },
      codeVerifier: () => saved.verifier as string,
    };

    const transport = new StreamableHTTPClientTransport(new URL(gw.url), { authProvider: provider });
    const client = new Client({ name: 'oauth-agent', version: '1' });
    await expect(client.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(saved.client?.client_id).toMatch(/^mcpg_client_/); // dynamic registration happened
    const authUrl = saved.authUrl as URL;
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('resource')).toBe(gw.url);

    // The test plays the user on the consent page.
    const done = await approve(authUrl.toString());
    expect(done.status).toBe(302);
    const callback = new URL(done.location);
    expect(callback.searchParams.get('iss')).toBe(base(gw));
    expect(callback.searchParams.get('state')).toBe(authUrl.searchParams.get('state'));
    await transport.finishAuth(callback.searchParams.get('code') as string);
    expect(saved.tokens?.access_token).toBeTruthy();

    const connected = new Client({ name: 'oauth-agent', version: '1' });
    await connected.connect(new StreamableHTTPClientTransport(new URL(gw.url), { authProvider: provider }));
    expect((await connected.listTools()).tools.map((t) => t.name)).toContain('echo');
    const echo = await connected.callTool({ name: 'echo', arguments: { message: 'via oauth' } });
    expect(echo.content).toEqual([{ type: 'text', text: 'via oauth' }]);
    await connected.close();
  });

  it('serves RFC 8414 and RFC 9728 metadata that point at each other', async () => {
    const prm = (await (
      await fetch(`${base(gw)}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(prm).toMatchObject({
      resource: gw.url,
      authorization_servers: [base(gw)],
      scopes_supported: ['mcp'],
    });
    const as = (await (await fetch(`${base(gw)}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(as).toMatchObject({
      issuer: base(gw),
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    const challenge = (await fetch(gw.url, { method: 'POST', body: '{}' })).headers.get('www-authenticate');
    expect(challenge).toContain('resource_metadata=');
    expect(challenge).toContain('scope="mcp"');
  });

  it('rotates refresh tokens: the new one works, the old one is refused', async () => {
    const { body } = await register(gw);
    const first = await codeFlow(gw, body['client_id'] as string);
    const second = await token(gw, {
      grant_type: 'refresh_token',
      refresh_token: first['refresh_token'] as string,
      client_id: body['client_id'] as string,
    });
    expect(second.status).toBe(200);
    expect(second.body['refresh_token']).not.toBe(first['refresh_token']);
    const client = await connectHttp(gw.url, {
      headers: { Authorization: `Bearer ${second.body['access_token']}` },
    });
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    // The old one is spent (and replaying it revokes the family: hardening.test.ts).
    const reused = await token(gw, {
      grant_type: 'refresh_token',
      refresh_token: first['refresh_token'] as string,
      client_id: body['client_id'] as string,
    });
    expect(reused.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('runs the device flow from a script: poll → approve → token', async () => {
    const { body: reg } = await register(gw);
    const clientId = reg['client_id'] as string;
    const start = await fetch(`${base(gw)}/device_authorization`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      body: new URLSearchParams({ client_id: clientId, scope: 'mcp' }).toString(),
    });
    const device = (await start.json()) as Record<string, string | number>;
    expect(device).toMatchObject({
      user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/),
      interval: 5,
      verification_uri: `${base(gw)}/device`,
    });
    const poll = () =>
      token(gw, {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: device['device_code'] as string,
        client_id: clientId,
      });
    expect((await poll()).body).toMatchObject({ error: 'authorization_pending' });
    expect((await poll()).body).toMatchObject({ error: 'slow_down' });

    // The user opens the verification page and approves.
    const page = await (await fetch(device['verification_uri_complete'] as string)).text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1] ?? '';
    expect(field('user_code')).toBe(device['user_code']);
    const approved = await fetch(`${base(gw)}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      body: new URLSearchParams({
        request_id: field('request_id'),
        csrf: field('csrf'),
        user_code: field('user_code'),
        username: USER,
        password: PASSWORD,
        decision: 'approve',
      }).toString(),
    });
    expect(approved.status).toBe(200);

    await new Promise((r) => setTimeout(r, 5_100));
    const issued = await poll();
    expect(issued.status).toBe(200);
    const client = await connectHttp(gw.url, {
      headers: { Authorization: `Bearer ${issued.body['access_token']}` },
    });
    expect((await client.callTool({ name: 'echo', arguments: { message: 'device' } })).content).toEqual([
      { type: 'text', text: 'device' },
    ]);
    await client.close();
    expect((await poll()).body).toMatchObject({ error: 'expired_token' }); // one token per device code
  });
});

describe('oauth2: refused attacks (security.md §6.5)', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(config());
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('refuses plain PKCE and a missing method', async () => {
    const { verifier } = pkce();
    for (const method of ['plain', undefined]) {
      const res = await fetch(
        authorizeUrl(gw, {
          client_id: clientId,
          code_challenge: verifier,
          state: 'state-12345678',
          ...(method ? { code_challenge_method: method } : {}),
        }),
        { redirect: 'manual' },
      );
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location') as string);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toContain('S256');
    }
  });

  it('refuses a short or wrong verifier, and a code used twice', async () => {
    const redeem = (code: string, verifier: string) =>
      token(gw, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        client_id: clientId,
        code_verifier: verifier,
      });
    const first = await authorize(gw, clientId, { state: 'state-verifier-1' });
    expect((await redeem(first.code, 'a')).body).toMatchObject({ error: 'invalid_grant' });
    // The failed attempt used the code up.
    expect((await redeem(first.code, first.verifier)).body).toMatchObject({ error: 'invalid_grant' });

    const second = await authorize(gw, clientId, { state: 'state-verifier-2' });
    expect((await redeem(second.code, pkce().verifier)).body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('does not match'),
    });

    const third = await authorize(gw, clientId, { state: 'state-verifier-3' });
    expect((await redeem(third.code, third.verifier)).status).toBe(200);
    expect((await redeem(third.code, third.verifier)).body).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a missing code_verifier when a challenge was sent (invalid_grant)', async () => {
    const { code } = await authorize(gw, clientId);
    const res = await token(gw, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a redirect URI that differs by one character, at authorize and at token', async () => {
    const { challenge, verifier } = pkce();
    const res = await fetch(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'state-redirect-1',
        redirect_uri: `${REDIRECT}x`,
      }),
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const done = await approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'state-redirect-2',
      }),
    );
    const code = new URL(done.location).searchParams.get('code') as string;
    expect(
      (
        await token(gw, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: `${REDIRECT}/`,
          client_id: clientId,
          code_verifier: verifier,
        })
      ).body,
    ).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a state that was already used', async () => {
    const state = 'state-used-once';
    const first = await approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state,
      }),
    );
    expect(new URL(first.location).searchParams.get('code')).toBeTruthy();
    const again = await fetch(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state,
      }),
      { redirect: 'manual' },
    );
    expect(new URL(again.headers.get('location') as string).searchParams.get('error_description')).toContain(
      'state was already used',
    );
  });

  it('refuses registration with a non-https, non-loopback redirect URI, and a token for another resource', async () => {
    expect((await register(gw, ['http://evil.example.com/cb'])).body).toMatchObject({
      error: 'invalid_redirect_uri',
    });
    expect((await register(gw, ['https://app.example.com/cb#frag'])).body).toMatchObject({
      error: 'invalid_redirect_uri',
    });
    const res = await fetch(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state: 'state-resource',
        resource: 'https://other.example/mcp',
      }),
      { redirect: 'manual' },
    );
    expect(new URL(res.headers.get('location') as string).searchParams.get('error')).toBe('invalid_target');
  });

  it('serves the consent page so that it cannot be framed or cached, and a wrong password gets no code', async () => {
    const res = await fetch(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state: 'state-headers',
      }),
    );
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    await res.text();
    const wrong = await approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state: 'state-wrong-pw',
      }),
      'approve',
      'not the password',
    );
    expect(wrong.status).toBe(401);
    expect(wrong.location).toBe('');
    expect(wrong.body).toContain('Wrong user or password');
  });
});

describe('oauth2: a restart between authorization and token exchange', () => {
  it('completes the flow on a new gateway process state (same store, same issuer)', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const yaml = config(`    issuer: http://127.0.0.1:${port}`).replace(
      'servers:',
      `http:\n  port: ${port}\nservers:`,
    );
    let gw = await startGateway(yaml);
    // startGateway binds port 0; restart on the issuer's port by hand.
    await gw.close();
    const { loadConfig } = await import('../../src/config/load.js');
    const { openStateStore } = await import('../../src/stores/open-store.js');
    const { startHttpGateway } = await import('../../src/gateway/http-gateway.js');
    const { silentLogger } = await import('../../src/core/logger.js');
    const loaded = await loadConfig(gw.configFile);
    const start = async () => ({
      ...(await startHttpGateway(loaded, {
        port,
        logger: silentLogger,
        store: await openStateStore(loaded.state),
      })),
    });
    let running = await start();
    const clientId = (await register(running)).body['client_id'] as string;
    const { verifier, challenge } = pkce();
    const done = await approve(
      authorizeUrl(running, {
        client_id: clientId,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'state-restart',
      }),
    );
    const code = new URL(done.location).searchParams.get('code') as string;
    await running.close();

    running = await start();
    const t = await token(running, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
    });
    expect(t.status).toBe(200);
    const client = await connectHttp(running.url, {
      headers: { Authorization: `Bearer ${t.body['access_token']}` },
    });
    expect(
      (await client.callTool({ name: 'echo', arguments: { message: 'after restart' } })).content,
    ).toEqual([{ type: 'text', text: 'after restart' }]);
    await client.close();
    await running.close();
    gw = undefined as never;
  });
});
