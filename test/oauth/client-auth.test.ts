/**
 * Client authentication at the token endpoint: malformed HTTP Basic credentials are 401 invalid_client
 * (never a 500, never a fall-back to the body), form-urlencoded Basic credentials work, and two methods
 * in one request are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { authorize, basic, oauthConfig, REDIRECT, register, token } from './flow.js';

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
