/**
 * Token families: a replayed (spent) refresh token or authorization code revokes everything issued from
 * that authorization — refresh and access tokens — and leaves other authorizations alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  authorize,
  codeFlow,
  initializeWith,
  oauthConfig,
  REDIRECT,
  refresh,
  register,
  token,
} from './flow.js';

describe('oauth2: a replayed refresh token or code revokes its token family', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('', 'rate_limit:\n  auth_failures_per_minute: 1000'));
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('replaying a rotated refresh token kills the newer refresh and access tokens; other families live on', async () => {
    const bystander = await codeFlow(gw, clientId);
    const first = await codeFlow(gw, clientId);
    const second = await refresh(gw, clientId, first['refresh_token'] as string);
    expect(second.status).toBe(200);
    const live = await initializeWith(gw, second.body['access_token'] as string);
    expect(live.status).toBe(200);
    await live.text();

    const replay = await refresh(gw, clientId, first['refresh_token'] as string);
    expect(replay.body).toMatchObject({ error: 'invalid_grant' });
    const after = await refresh(gw, clientId, second.body['refresh_token'] as string);
    expect(after.status).toBe(400);
    expect(after.body).toMatchObject({ error: 'invalid_grant' });
    const revoked = await initializeWith(gw, second.body['access_token'] as string);
    expect(revoked.status).toBe(401);
    await revoked.text();

    const other = await refresh(gw, clientId, bystander['refresh_token'] as string);
    expect(other.status).toBe(200);
  });

  it('of two racing refreshes with one token, one wins and the race revokes the family', async () => {
    const first = await codeFlow(gw, clientId);
    const both = await Promise.all([
      refresh(gw, clientId, first['refresh_token'] as string),
      refresh(gw, clientId, first['refresh_token'] as string),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 400]);
    const winner = both.find((r) => r.status === 200);
    expect((await refresh(gw, clientId, winner?.body['refresh_token'] as string)).status).toBe(400);
  });

  it('reusing an authorization code revokes the tokens it issued', async () => {
    const { code, verifier } = await authorize(gw, clientId);
    const exchange = () =>
      token(gw, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        client_id: clientId,
        code_verifier: verifier,
      });
    const issued = await exchange();
    expect(issued.status).toBe(200);
    const again = await exchange();
    expect(again.body).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(gw, clientId, issued.body['refresh_token'] as string)).body).toMatchObject({
      error: 'invalid_grant',
    });
    const res = await initializeWith(gw, issued.body['access_token'] as string);
    expect(res.status).toBe(401);
    await res.text();
  });
});
