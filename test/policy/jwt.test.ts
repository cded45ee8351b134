/**
 * Every JWT attack of security.md §6.4 gets a token built with jose and must be refused; a good token
 * works and its `sub` becomes the agent id.
 */
import { sign as cryptoSign, generateKeyPairSync, KeyObject, type webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://gateway.example/mcp';
const SECRET = 'a-shared-secret-of-at-least-32-characters!!';

type Key = Awaited<ReturnType<typeof generateKeyPair>>;

async function status(url: string, token: string): Promise<{ status: number; challenge: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
  });
  await res.body?.cancel();
  return { status: res.status, challenge: res.headers.get('www-authenticate') };
}

function signByHand(
  key: Key['privateKey'],
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${part(header)}.${part(payload)}`;
  const signature = cryptoSign('sha256', Buffer.from(input), KeyObject.from(key as webcrypto.CryptoKey));
  return `${input}.${signature.toString('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

function claims(over: Record<string, unknown> = {}) {
  return { sub: 'agent-jwt', iss: ISSUER, aud: AUDIENCE, exp: now() + 300, iat: now(), ...over };
}

async function sign(
  key: Key['privateKey'] | Uint8Array | KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader(header as { alg: string });
  return jwt.sign(key);
}

describe('JWT with a JWKS URL (RS256 pinned)', () => {
  let rsa: Key;
  let other: Key;
  let jwks: Server;
  let gw: TestGateway;
  let publicJwk: JWK;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    other = await generateKeyPair('RS256', { extractable: true });
    publicJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const port = (jwks.address() as AddressInfo).port;
    // Many deliberate failures from one address: raise the brute-force limit so each case gets its 401.
    gw = await startGateway(`
rate_limit:
  auth_failures_per_minute: 1000
auth:
  mode: jwt
  jwt:
    jwks_url: http://127.0.0.1:${port}/jwks.json
    algorithms: [RS256]
    issuer: ${ISSUER}
    audience: ${AUDIENCE}
servers:
${stdioTestServer('tools')}`);
  });
  afterAll(async () => {
    await gw?.close();
    jwks?.close();
  });

  it('accepts a valid token and uses sub as the agent id', async () => {
    const token = await sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims());
    expect((await status(gw.url, token)).status).toBe(200);
    const client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${token}` } });
    expect((await client.callTool({ name: 'echo', arguments: { message: 'jwt ok' } })).content).toEqual([
      { type: 'text', text: 'jwt ok' },
    ]);
    await client.close();
  });

  it('accepts the same hand-signed token without crit (so the crit case fails on crit, not on its signature)', async () => {
    expect(
      (await status(gw.url, signByHand(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims()))).status,
    ).toBe(200);
  });

  const cases: Array<[string, () => Promise<string>]> = [
    ['alg none', async () => new UnsecuredJWT(claims()).encode()],
    [
      'HS256 signed with the RSA public key (HS/RS confusion)',
      async () => {
        const pem = await exportSPKI(rsa.publicKey);
        return sign(new TextEncoder().encode(pem), { alg: 'HS256', kid: 'k1' }, claims());
      },
    ],
    ['missing kid', async () => sign(rsa.privateKey, { alg: 'RS256' }, claims())],
    ['unknown kid', async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'nope' }, claims())],
    [
      'signed by another key under the known kid',
      async () => sign(other.privateKey, { alg: 'RS256', kid: 'k1' }, claims()),
    ],
    [
      'jku header',
      async () =>
        sign(rsa.privateKey, { alg: 'RS256', kid: 'k1', jku: 'https://evil.example/jwks' }, claims()),
    ],
    [
      'x5u header',
      async () =>
        sign(rsa.privateKey, { alg: 'RS256', kid: 'k1', x5u: 'https://evil.example/cert' }, claims()),
    ],
    [
      'embedded jwk header',
      async () =>
        sign(other.privateKey, { alg: 'RS256', kid: 'k1', jwk: await exportJWK(other.publicKey) }, claims()),
    ],
    [
      'missing exp',
      async () => {
        const { exp: _exp, ...rest } = claims();
        return sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, rest);
      },
    ],
    [
      'expired',
      async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ exp: now() - 3_600 })),
    ],
    [
      'nbf in the future',
      async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ nbf: now() + 3_600 })),
    ],
    [
      'iat in the future',
      async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ iat: now() + 3_600 })),
    ],
    [
      'wrong iss',
      async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ iss: 'https://evil.example' })),
    ],
    [
      'missing iss',
      async () => {
        const { iss: _iss, ...rest } = claims();
        return sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, rest);
      },
    ],
    [
      'wrong aud',
      async () =>
        sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ aud: 'https://other.example/mcp' })),
    ],
    [
      'aud array without the gateway',
      async () => sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, claims({ aud: ['a', 'b'] })),
    ],
    // jose will not even sign this, so it is assembled and signed by hand: a correct RS256 signature.
    [
      'unknown crit header',
      async () =>
        signByHand(
          rsa.privateKey,
          { alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 },
          claims(),
        ),
    ],
    [
      'missing sub (no agent id)',
      async () => {
        const { sub: _sub, ...rest } = claims();
        return sign(rsa.privateKey, { alg: 'RS256', kid: 'k1' }, rest);
      },
    ],
    ['not a JWT at all', async () => 'definitely.not.a-jwt'],
  ];

  for (const [name, build] of cases) {
    it(`refuses a token with ${name}: 401 invalid_token`, async () => {
      const { status: code, challenge } = await status(gw.url, await build());
      expect(code).toBe(401);
      expect(challenge).toContain('error="invalid_token"');
    });
  }
});

describe('JWT with a shared secret (HS256) and a required scope', () => {
  let gw: TestGateway;
  const key = new TextEncoder().encode(SECRET);
  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: jwt
  jwt:
    secret: "${SECRET}"
    issuer: ${ISSUER}
    audience: ${AUDIENCE}
    agent_claim: client_id
    required_scopes: [mcp:tools]
servers:
${stdioTestServer('tools')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('accepts HS256 with the scope and the configured agent claim', async () => {
    const token = await sign(key, { alg: 'HS256' }, claims({ client_id: 'bot-1', scope: 'mcp:tools other' }));
    expect((await status(gw.url, token)).status).toBe(200);
  });

  it('refuses a token without the agent claim, and answers 403 insufficient_scope without the scope', async () => {
    expect(
      (await status(gw.url, await sign(key, { alg: 'HS256' }, claims({ scope: 'mcp:tools' })))).status,
    ).toBe(401);
    const missingScope = await status(
      gw.url,
      await sign(key, { alg: 'HS256' }, claims({ client_id: 'bot-1', scope: 'other' })),
    );
    expect(missingScope.status).toBe(403);
    expect(missingScope.challenge).toContain('error="insufficient_scope"');
    expect(missingScope.challenge).toContain('scope="mcp:tools"');
  });

  it('refuses HS384 (not pinned) and a token signed with another secret', async () => {
    expect(
      (
        await status(
          gw.url,
          await sign(key, { alg: 'HS384' }, claims({ client_id: 'b', scope: 'mcp:tools' })),
        )
      ).status,
    ).toBe(401);
    const otherKey = new TextEncoder().encode('another-secret-of-at-least-32-characters!!');
    expect(
      (
        await status(
          gw.url,
          await sign(otherKey, { alg: 'HS256' }, claims({ client_id: 'b', scope: 'mcp:tools' })),
        )
      ).status,
    ).toBe(401);
  });
});

describe('JWT with a PEM public key and two pinned algorithms', () => {
  let gw: TestGateway;
  // Node KeyObjects, which (unlike WebCrypto keys) may sign with both RSA schemes.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  beforeAll(async () => {
    const pem = (await exportSPKI(rsa.publicKey)).trim().split('\n').join('\\n');
    gw = await startGateway(`
auth:
  mode: jwt
  jwt:
    public_key: "${pem}"
    algorithms: [RS256, PS256]
    issuer: ${ISSUER}
    audience: ${AUDIENCE}
servers:
${stdioTestServer('tools')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('verifies every pinned algorithm of the key, and nothing else', async () => {
    expect((await status(gw.url, await sign(rsa.privateKey, { alg: 'RS256' }, claims()))).status).toBe(200);
    expect((await status(gw.url, await sign(rsa.privateKey, { alg: 'PS256' }, claims()))).status).toBe(200);
    expect((await status(gw.url, await sign(rsa.privateKey, { alg: 'RS512' }, claims()))).status).toBe(401);
    const pem = await exportSPKI(rsa.publicKey);
    const confused = await sign(new TextEncoder().encode(pem), { alg: 'HS256' }, claims());
    expect((await status(gw.url, confused)).status).toBe(401);
  });
});

describe('JWKS URL', () => {
  it('must be https unless it is on loopback', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { writeConfig } = await import('../helpers/gateway.js');
    const yaml = (url: string) =>
      `auth:\n  mode: jwt\n  jwt:\n    jwks_url: ${url}\n    algorithms: [RS256]\n    issuer: ${ISSUER}\n    audience: ${AUDIENCE}\nservers:\n${stdioTestServer('t')}`;
    await expect(loadConfig(writeConfig(yaml('http://idp.example.com/jwks.json')), {})).rejects.toThrow(
      /auth\.jwt\.jwks_url: must be https/,
    );
    await expect(loadConfig(writeConfig(yaml('http://127.0.0.1:9/jwks.json')), {})).resolves.toBeDefined();
    await expect(
      loadConfig(writeConfig(yaml('https://idp.example.com/jwks.json')), {}),
    ).resolves.toBeDefined();
  });
});

describe('JWT with a required typ (jwt.typ)', () => {
  let gw: TestGateway;
  const key = new TextEncoder().encode(SECRET);
  beforeAll(async () => {
    gw = await startGateway(`
rate_limit:
  auth_failures_per_minute: 1000
auth:
  mode: jwt
  jwt:
    secret: "${SECRET}"
    issuer: ${ISSUER}
    audience: ${AUDIENCE}
    typ: at+jwt
servers:
${stdioTestServer('tools')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('accepts that typ, with or without the application/ prefix and in any case', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT'])
      expect((await status(gw.url, await sign(key, { alg: 'HS256', typ }, claims()))).status, typ).toBe(200);
  });

  it('refuses a token of another typ, or of none: 401 invalid_token', async () => {
    for (const header of [
      { alg: 'HS256', typ: 'JWT' },
      { alg: 'HS256', typ: 'dpop+jwt' },
      { alg: 'HS256' },
    ]) {
      const { status: code, challenge } = await status(gw.url, await sign(key, header, claims()));
      expect(code, JSON.stringify(header)).toBe(401);
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toContain('typ');
    }
  });
});
