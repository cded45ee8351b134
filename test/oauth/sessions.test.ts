/**
 * A grant ends: when its user is removed from the config (and the gateway restarted), its refresh token,
 * code and access tokens are refused and its token family revoked; and no family outlives
 * auth.oauth2.session_max_age, however often its refresh token is rotated.
 */
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { startGatewayOn, type TestGateway, tempDir, writeConfig } from '../helpers/gateway.js';
import {
  authorize,
  codeFlow,
  initializeWith,
  oauthConfig,
  PASSWORD,
  REDIRECT,
  refresh,
  register,
  token,
  USER,
} from './flow.js';

const ISSUER = 'https://gw.example';
const RESOURCE = `${ISSUER}/mcp`;
const RATE = 'rate_limit:\n  auth_failures_per_minute: 1000';

/** The oauth2 test config with a fixed issuer (tokens survive a restart on another port) and these users. */
const configWith = (users: readonly string[], extra = '') =>
  oauthConfig(`    issuer: ${ISSUER}\n${extra}`, RATE).replace(
    `users: [{ name: ${USER}, password: "${PASSWORD}" }]`,
    `users: [${users.map((u) => `{ name: ${u}, password: "${PASSWORD}" }`).join(', ')}]`,
  );

async function statusOf(gw: TestGateway, accessToken: string): Promise<number> {
  const res = await initializeWith(gw, accessToken);
  await res.text();
  return res.status;
}

describe('oauth2: a grant ends when its user is removed from the config', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('refuses the refresh token, a pending code and the access tokens, and revokes the family for good', async () => {
    const dir = tempDir();
    const file = writeConfig(configWith([USER, 'bob']), dir);
    gw = await startGatewayOn(file);
    const clientId = (await register(gw)).body['client_id'] as string;
    const first = await codeFlow(gw, clientId, { resource: RESOURCE });
    const rotated = await refresh(gw, clientId, first['refresh_token'] as string);
    expect(rotated.status).toBe(200);
    const code = await authorize(gw, clientId, { resource: RESOURCE });
    await gw.close();

    // The user is removed and the gateway restarted on the same state.
    writeConfig(configWith(['bob']), dir);
    gw = await startGatewayOn(file);
    const refused = await refresh(gw, clientId, rotated.body['refresh_token'] as string);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('no longer'),
    });
    expect(await statusOf(gw, rotated.body['access_token'] as string)).toBe(401);
    const exchanged = await token(gw, {
      grant_type: 'authorization_code',
      code: code.code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: code.verifier,
    });
    expect(exchanged.body).toMatchObject({ error: 'invalid_grant' });
    await gw.close();

    // Adding the user back does not bring the family back: it was revoked, not just refused.
    writeConfig(configWith([USER, 'bob']), dir);
    gw = await startGatewayOn(file);
    expect(await statusOf(gw, rotated.body['access_token'] as string)).toBe(401);
    expect((await refresh(gw, clientId, rotated.body['refresh_token'] as string)).status).toBe(400);
    // The user signs in again and gets a working grant.
    const fresh = await codeFlow(gw, clientId, { resource: RESOURCE });
    expect(await statusOf(gw, fresh['access_token'] as string)).toBe(200);
  });
});

describe('oauth2: auth.oauth2.session_max_age caps a token family', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('issues nothing that outlives the session, and refuses the refresh after it (revoking the family)', async () => {
    gw = await startGatewayOn(writeConfig(configWith([USER], '    session_max_age: 2s')));
    const clientId = (await register(gw)).body['client_id'] as string;
    const started = Date.now();
    const first = await codeFlow(gw, clientId, { resource: RESOURCE });
    expect(Number(first['expires_in'])).toBeLessThanOrEqual(2);
    const claims = decodeJwt(first['access_token'] as string);
    expect((claims.exp as number) * 1000).toBeLessThanOrEqual(started + 3_000);

    const second = await refresh(gw, clientId, first['refresh_token'] as string);
    expect(second.status).toBe(200);
    expect(Number(second.body['expires_in'])).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, Math.max(0, started + 2_200 - Date.now())));
    // Expired, but within the verifier's clock tolerance: still accepted until the family is revoked.
    expect(await statusOf(gw, second.body['access_token'] as string)).toBe(200);

    const third = await refresh(gw, clientId, second.body['refresh_token'] as string);
    expect(third.status).toBe(400);
    expect(third.body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('session_max_age'),
    });
    expect(await statusOf(gw, second.body['access_token'] as string)).toBe(401);
  });

  it('defaults to 30 days and must be longer than 0', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const loaded = await loadConfig(writeConfig(configWith([USER])), {});
    expect(loaded.auth.oauth2?.sessionMaxAgeMs).toBe(30 * 86_400_000);
    await expect(loadConfig(writeConfig(configWith([USER], '    session_max_age: 0s')), {})).rejects.toThrow(
      /auth\.oauth2\.session_max_age: must be longer than 0/,
    );
  });
});
