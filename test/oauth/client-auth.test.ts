/**
 * Client authentication at the token endpoint: malformed HTTP Basic credentials are 401 invalid_client
 * (never a 500, never a fall-back to the body), form-urlencoded Basic credentials work, two methods
 * in one request are refused, and failures count against the per-address limit like failed sign-ins.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  approve,
  authorize,
  authorizeUrl,
  base,
  basic,
  oauthConfig,
  pkce,
  postForm,
  REDIRECT,
  register,
  token,
} from './flow.js';

describe('oauth2: client credentials at the token endpoint', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig(
        `    clients: [{ client_id: "conf%idential", client_secret: "s3cret:with%25", redirect_uris: ["${REDIRECT}"] }]`,
        'rate_limit:\n  auth_failures_per_minute: 1000',
      ),
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers 401 invalid_client, never 500, for malformed Basic credentials', async () => {
    const publicClient = (await register(gw)).body['client_id'] as string;
    for (const header of [
      basic('%zz', '%zz'),
      basic('conf%25idential', '%E0%A4%A'),
      { authorization: 'Basic !!!not-base64!!!' },
      { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` },
    ]) {
      // The form names a public client: a broken header must not fall back to it.
      const res = await token(
        gw,
        { grant_type: 'refresh_token', refresh_token: 'x', client_id: publicClient },
        header,
      );
      expect(res.status, header.authorization).toBe(401);
      expect(res.body).toMatchObject({ error: 'invalid_client' });
    }
  });

  it('accepts form-encoded Basic credentials of a configured client and refuses two methods at once', async () => {
    const id = encodeURIComponent('conf%idential');
    const secret = encodeURIComponent('s3cret:with%25');
    const { code, verifier } = await authorize(gw, 'conf%idential');
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    };
    const twice = await token(gw, { ...params, client_secret: 's3cret:with%25' }, basic(id, secret));
    expect(twice.status).toBe(401);
    expect(twice.body).toMatchObject({ error: 'invalid_client' });
    expect((await token(gw, params, basic(id, 'wrong'))).status).toBe(401);
    // Refused client authentications did not spend the code.
    const ok = await token(gw, params, basic(id, secret));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe('oauth2: failed client authentications are limited per address and reported', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig(
        `    clients: [{ client_id: ci, client_secret: "the-real-secret", redirect_uris: ["${REDIRECT}"] }]`,
        'rate_limit:\n  auth_failures_per_minute: 3\npolicies:\n  audit_log: ./audit.jsonl\nmetrics:\n  public: true',
      ),
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('counts a wrong secret or an unknown client at /token and /device_authorization, then answers 429 unchecked', async () => {
    const bogusRefresh = { grant_type: 'refresh_token', refresh_token: 'x' };
    expect((await token(gw, bogusRefresh, basic('ci', 'guess-1'))).status).toBe(401);
    expect((await token(gw, { ...bogusRefresh, client_id: 'nobody' })).status).toBe(401);
    const device = await postForm(`${base(gw)}/device_authorization`, {
      client_id: 'ci',
      client_secret: 'guess-2',
    });
    expect(device.status).toBe(401);
    await device.text();

    // Past the limit even the right secret is not looked at: 429, not the invalid_grant it would get.
    const blocked = await token(gw, bogusRefresh, basic('ci', 'the-real-secret'));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.body).toMatchObject({ error: 'temporarily_unavailable' });
    const blockedDevice = await postForm(`${base(gw)}/device_authorization`, {
      client_id: 'ci',
      client_secret: 'the-real-secret',
    });
    expect(blockedDevice.status).toBe(429);
    expect(Number(blockedDevice.headers.get('retry-after'))).toBeGreaterThan(0);
    await blockedDevice.text();
    // One limiter for the address: the sign-in pages are blocked too.
    const consent = await approve(
      authorizeUrl(gw, { client_id: 'ci', code_challenge: pkce().challenge, code_challenge_method: 'S256' }),
    );
    expect(consent.status).toBe(429);

    const audit = readFileSync(path.join(gw.dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; reason?: string; detail?: { client?: string } })
      .filter((e) => e.event === 'auth_failed');
    expect(audit).toHaveLength(3);
    for (const entry of audit) {
      expect(entry.reason).toMatch(/^client authentication at \/(token|device_authorization) refused: /);
      expect(entry.detail?.client).toBe('127.0.0.1');
    }
    expect(audit.map((e) => e.reason)).toEqual([
      expect.stringContaining('wrong client secret'),
      expect.stringContaining('unknown client'),
      expect.stringContaining('wrong client secret'),
    ]);
    const text = readFileSync(path.join(gw.dir, 'audit.jsonl'), 'utf8');
    expect(text).not.toContain('guess-1');
    expect(text).not.toContain('the-real-secret');
    const metrics = await (await fetch(`${base(gw)}/metrics`)).text();
    expect(metrics).toContain('mcp_guard_auth_failures_total{mode="oauth2"} 3');
  });
});
