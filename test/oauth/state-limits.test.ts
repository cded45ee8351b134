/**
 * Nobody can fill the state store from outside: Dynamic Client Registration is limited per client
 * address, a registered client that goes unused is forgotten, and the writes behind /authorize, /device
 * and /device_authorization (pending consents, device codes) are limited per address too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { authorizeUrl, base, codeFlow, oauthConfig, pkce, postForm, refresh, register } from './flow.js';

const RATE = 'rate_limit:\n  auth_failures_per_minute: 1000';

/** GET /authorize for `clientId` with a fresh challenge; the page is read and dropped. */
async function loadConsent(gw: TestGateway, clientId: string): Promise<Response> {
  const res = await fetch(
    authorizeUrl(gw, {
      client_id: clientId,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }),
    { redirect: 'manual', headers: { connection: 'close' } },
  );
  await res.text();
  return res;
}

describe('oauth2: registrations per client address', () => {
  let gw: TestGateway;
  let defaults: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('    registrations_per_minute: 2', RATE));
    defaults = await startGateway(oauthConfig('', RATE));
  });
  afterAll(async () => {
    await gw?.close();
    await defaults?.close();
  });

  it('answers 429 with Retry-After past auth.oauth2.registrations_per_minute, storing nothing', async () => {
    expect((await register(gw)).status).toBe(201);
    expect((await register(gw)).status).toBe(201);
    const third = await register(gw);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(third.body['client_id']).toBeUndefined();
    const wait = Number(third.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
  });

  it('allows 10 a minute by default', async () => {
    for (let i = 0; i < 10; i++) expect((await register(defaults)).status, `registration ${i + 1}`).toBe(201);
    expect((await register(defaults)).status).toBe(429);
  });
});

describe('oauth2: a dynamically registered client that goes unused is forgotten', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('    dynamic_client_ttl: 3s', RATE));
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('expires dynamic_client_ttl after registration or its last use', async () => {
    const used = (await register(gw)).body['client_id'] as string;
    const idle = (await register(gw)).body['client_id'] as string;
    const tokens = await codeFlow(gw, used);
    await new Promise((r) => setTimeout(r, 1_800));
    // A use (here a refresh at the token endpoint) keeps the client for another dynamic_client_ttl.
    const refreshed = await refresh(gw, used, tokens['refresh_token'] as string);
    expect(refreshed.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_800));

    const gone = await loadConsent(gw, idle);
    expect(gone.status).toBe(400);
    const device = await postForm(`${base(gw)}/device_authorization`, { client_id: idle });
    expect(device.status).toBe(401);
    await device.text();
    expect((await loadConsent(gw, used)).status).toBe(200);
    expect((await refresh(gw, used, refreshed.body['refresh_token'] as string)).status).toBe(200);
  });
});

describe('oauth2: pending consents and device codes per client address', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('    authorization_requests_per_minute: 3', RATE));
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('counts /authorize, /device and /device_authorization together, then answers 429 with Retry-After', async () => {
    expect((await loadConsent(gw, clientId)).status).toBe(200);
    const device = await fetch(`${base(gw)}/device`, { headers: { connection: 'close' } });
    expect(device.status).toBe(200);
    await device.text();
    const started = await postForm(`${base(gw)}/device_authorization`, { client_id: clientId });
    expect(started.status).toBe(200);
    await started.text();

    const consent = await loadConsent(gw, clientId);
    expect(consent.status).toBe(429);
    expect(consent.headers.get('location')).toBeNull();
    expect(Number(consent.headers.get('retry-after'))).toBeGreaterThan(0);
    const page = await fetch(`${base(gw)}/device`, { headers: { connection: 'close' } });
    expect(page.status).toBe(429);
    expect(await page.text()).not.toContain('name="request_id"');
    const more = await postForm(`${base(gw)}/device_authorization`, { client_id: clientId });
    expect(more.status).toBe(429);
    expect(Number(more.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await more.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });

  it('defaults to 60 a minute', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { writeConfig } = await import('../helpers/gateway.js');
    const config = await loadConfig(writeConfig(oauthConfig()), {});
    expect(config.auth.oauth2).toMatchObject({
      authorizationRequestsPerMinute: 60,
      registrationsPerMinute: 10,
      dynamicClientTtlMs: 30 * 86_400_000,
    });
  });
});
