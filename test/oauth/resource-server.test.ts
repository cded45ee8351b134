/**
 * The resource-server side of oauth2 mode: protected resource metadata at the root well-known path too,
 * http.public_url as issuer, metadata URLs and token audience behind a proxy, and the agent's access
 * token never passed on to an HTTP backend.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportPKCS8,
  generateKeyPair,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type HttpBackend, startHttpTestServer } from '../helpers/backends.js';
import {
  connectHttp,
  startGateway,
  startGatewayOn,
  type TestGateway,
  tempDir,
  writeConfig,
} from '../helpers/gateway.js';
import {
  approve,
  authorizeUrl,
  base,
  codeFlow,
  initializeWith,
  oauthConfig,
  PASSWORD,
  pkce,
  register,
  USER,
} from './flow.js';

describe('oauth2: the resource server side', () => {
  let gw: TestGateway;
  let backend: HttpBackend;
  beforeAll(async () => {
    backend = await startHttpTestServer(['--name', 'remote']);
    gw = await startGateway(`
auth:
  mode: oauth2
  oauth2:
    users: [{ name: ${USER}, password: "${PASSWORD}" }]
rate_limit:
  auth_failures_per_minute: 1000
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

  it('serves the same protected resource metadata at the root well-known path', async () => {
    const root = await fetch(`${base(gw)}/.well-known/oauth-protected-resource`);
    const suffixed = await fetch(`${base(gw)}/.well-known/oauth-protected-resource/mcp`);
    expect(root.status).toBe(200);
    const doc = await root.json();
    expect(doc).toEqual(await suffixed.json());
    expect(doc).toMatchObject({ resource: gw.url, authorization_servers: [base(gw)] });
  });

  it('never passes the agent access token on to an HTTP backend', async () => {
    const clientId = (await register(gw)).body['client_id'] as string;
    const tokens = await codeFlow(gw, clientId);
    const access = tokens['access_token'] as string;
    const client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${access}` } });
    const result = await client.callTool({ name: 'get_headers', arguments: {} });
    const text = (result.content as Array<{ text: string }>)[0]?.text ?? '{}';
    const headers = JSON.parse(text) as Record<string, string>;
    expect(headers['x-backend-token']).toBe('backend-own-credential');
    expect(headers['authorization']).toBeUndefined();
    expect(text).not.toContain(access);
    expect(text).not.toContain(access.split('.')[2] as string);
    await client.close();
  });
});

describe('oauth2: behind a proxy, http.public_url is the issuer and the token audience', () => {
  const PUBLIC = 'https://gw.example.com';
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig('', `http:\n  public_url: ${PUBLIC}\nrate_limit:\n  auth_failures_per_minute: 1000`),
    );
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('names the public URL in both metadata documents and the 401 challenge', async () => {
    const as = (await (await fetch(`${base(gw)}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      string
    >;
    expect(as).toMatchObject({
      issuer: PUBLIC,
      authorization_endpoint: `${PUBLIC}/authorize`,
      token_endpoint: `${PUBLIC}/token`,
      registration_endpoint: `${PUBLIC}/register`,
    });
    const prm = await (await fetch(`${base(gw)}/.well-known/oauth-protected-resource`)).json();
    expect(prm).toMatchObject({ resource: `${PUBLIC}/mcp`, authorization_servers: [PUBLIC] });
    const res = await fetch(gw.url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(
      `resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('issues tokens for the public resource that work on /mcp, and refuses the loopback one', async () => {
    const tokens = await codeFlow(gw, clientId, { resource: `${PUBLIC}/mcp` });
    const claims = decodeJwt(tokens['access_token'] as string);
    expect(claims).toMatchObject({ iss: PUBLIC, aud: `${PUBLIC}/mcp`, sub: USER });
    const res = await initializeWith(gw, tokens['access_token'] as string);
    expect(res.status).toBe(200);
    await res.text();
    const done = await approve(
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(new URL(done.location).searchParams.get('error')).toBe('invalid_target');
  });
});

describe('oauth2: a trailing slash on auth.oauth2.issuer', () => {
  const ISSUER = 'https://gw.example';
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig(`    issuer: ${ISSUER}/`, 'rate_limit:\n  auth_failures_per_minute: 1000'),
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is dropped: the 401 challenge, both metadata documents and the tokens agree on one issuer', async () => {
    const res = await fetch(gw.url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    await res.text();
    expect(res.headers.get('www-authenticate')).toContain(
      `resource_metadata="${ISSUER}/.well-known/oauth-protected-resource/mcp"`,
    );
    const as = (await (await fetch(`${base(gw)}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      string
    >;
    expect(as).toMatchObject({ issuer: ISSUER, token_endpoint: `${ISSUER}/token` });
    const prm = await (await fetch(`${base(gw)}/.well-known/oauth-protected-resource`)).json();
    expect(prm).toMatchObject({ resource: `${ISSUER}/mcp`, authorization_servers: [ISSUER] });
    const clientId = (await register(gw)).body['client_id'] as string;
    const tokens = await codeFlow(gw, clientId, { resource: `${ISSUER}/mcp` });
    expect(decodeJwt(tokens['access_token'] as string)).toMatchObject({ iss: ISSUER, aud: `${ISSUER}/mcp` });
    const ok = await initializeWith(gw, tokens['access_token'] as string);
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it('is refused with a query or a fragment (RFC 8414 §2)', async () => {
    for (const issuer of [`${ISSUER}/?tenant=a`, `${ISSUER}/#top`]) {
      await expect(loadConfig(writeConfig(oauthConfig(`    issuer: "${issuer}"`)), {})).rejects.toThrow(
        /auth\.oauth2\.issuer: .*query or fragment/,
      );
    }
  });
});

describe('oauth2: the resource server takes only at+jwt access tokens (RFC 9068)', () => {
  let gw: TestGateway;
  let privateKey: CryptoKey;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const dir = tempDir();
    writeFileSync(path.join(dir, 'signing.pem'), await exportPKCS8(pair.privateKey));
    gw = await startGatewayOn(
      writeConfig(
        oauthConfig('    signing_key_file: signing.pem', 'rate_limit:\n  auth_failures_per_minute: 1000'),
        dir,
      ),
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** A token signed with the gateway's own key, carrying everything the gateway's tokens carry. */
  const forge = (header: Record<string, unknown>) =>
    new SignJWT({ scope: 'mcp', client_id: 'c', sid: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'ES256', kid: 'file', ...header })
      .setIssuer(base(gw))
      .setAudience(gw.url)
      .setSubject(USER)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  it('accepts its own kind of token and refuses the same claims under another typ or none', async () => {
    const issued = await codeFlow(gw, (await register(gw)).body['client_id'] as string);
    expect(decodeProtectedHeader(issued['access_token'] as string).typ).toBe('at+jwt');
    const own = await initializeWith(gw, await forge({ typ: 'at+jwt' }));
    expect(own.status).toBe(200);
    await own.text();
    for (const header of [{ typ: 'JWT' }, { typ: 'dpop+jwt' }, {}]) {
      const res = await initializeWith(gw, await forge(header));
      expect(res.status, JSON.stringify(header)).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      await res.text();
    }
  });
});
