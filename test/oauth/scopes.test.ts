/**
 * Scopes in oauth2 mode: /mcp demands auth.oauth2.required_scopes (403 insufficient_scope otherwise),
 * a refresh may narrow the granted scope but never widen it (RFC 6749 §6), and the config refuses
 * required scopes the server does not offer.
 */
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { ROOT } from '../helpers/paths.js';
import { base, codeFlow, initializeWith, oauthConfig, refresh, register } from './flow.js';

describe('oauth2: scopes are enforced and a refresh never widens them', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig(
        '    scopes: [mcp, admin]\n    required_scopes: [mcp]',
        'rate_limit:\n  auth_failures_per_minute: 1000',
        ['mcp', 'admin'],
      ),
    );
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers 403 insufficient_scope on /mcp for a token without the required scope', async () => {
    const adminOnly = await codeFlow(gw, clientId, { scope: 'admin' });
    expect(adminOnly['scope']).toBe('admin');
    const res = await initializeWith(gw, adminOnly['access_token'] as string);
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer error="insufficient_scope", scope="mcp", /);
    expect(challenge).toContain(`resource_metadata="${base(gw)}/.well-known/oauth-protected-resource/mcp"`);
    await res.text();

    const full = await codeFlow(gw, clientId, { scope: 'mcp admin' });
    const ok = await initializeWith(gw, full['access_token'] as string);
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it('refuses a refresh asking for a scope beyond the original grant (RFC 6749 §6), keeping the token', async () => {
    const granted = await codeFlow(gw, clientId, { scope: 'mcp' });
    const wider = await refresh(gw, clientId, granted['refresh_token'] as string, { scope: 'admin' });
    expect(wider.status).toBe(400);
    expect(wider.body).toMatchObject({ error: 'invalid_scope' });
    const alsoWider = await refresh(gw, clientId, granted['refresh_token'] as string, { scope: 'mcp admin' });
    expect(alsoWider.body).toMatchObject({ error: 'invalid_scope' });
    // A refused request does not spend the refresh token.
    const same = await refresh(gw, clientId, granted['refresh_token'] as string);
    expect(same.status).toBe(200);
    expect(same.body['scope']).toBe('mcp');
  });

  it('lets a refresh narrow the scope for one access token, and the next refresh get the whole grant back', async () => {
    const granted = await codeFlow(gw, clientId, { scope: 'mcp admin' });
    const narrow = await refresh(gw, clientId, granted['refresh_token'] as string, { scope: 'admin' });
    expect(narrow.status).toBe(200);
    expect(narrow.body['scope']).toBe('admin');
    expect(decodeJwt(narrow.body['access_token'] as string)['scope']).toBe('admin');
    const forbidden = await initializeWith(gw, narrow.body['access_token'] as string);
    expect(forbidden.status).toBe(403);
    await forbidden.text();
    const whole = await refresh(gw, clientId, narrow.body['refresh_token'] as string);
    expect(whole.body['scope']).toBe('mcp admin');
  });
});

describe('oauth2: required_scopes in the config', () => {
  const load = (extra: string) =>
    loadConfig(writeConfig(oauthConfig(extra)), { ...process.env }).then(
      (c) => c.auth.oauth2?.requiredScopes,
      (err: Error) => err.message,
    );

  it('defaults to every offered scope, and must name offered scopes', async () => {
    expect(await load('')).toEqual(['mcp']);
    expect(await load('    scopes: [read, write]')).toEqual(['read', 'write']);
    expect(await load('    scopes: [read, write]\n    required_scopes: [read]')).toEqual(['read']);
    expect(await load('    scopes: [read, write]\n    required_scopes: []')).toEqual([]);
    expect(await load('    scopes: [read]\n    required_scopes: [admin]')).toMatch(
      /auth\.oauth2\.required_scopes.*admin.*not in auth\.oauth2\.scopes/s,
    );
  });
});

describe('docs/oauth.md', () => {
  it('has an example config that loads, requiring mcp of every token', async () => {
    const doc = readFileSync(`${ROOT}docs/oauth.md`, 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = await loadConfig(writeConfig(yaml), {
      ...process.env,
      ADA_PASSWORD: 'a long passphrase',
      CI_AGENT_SECRET: 'a-client-secret',
    });
    expect(config.auth.oauth2).toMatchObject({ scopes: ['mcp', 'admin'], requiredScopes: ['mcp'] });
    expect(config.http.publicUrl).toBe('https://mcp.example.com');
  });
});
