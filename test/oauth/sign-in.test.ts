/**
 * Sign-in on the consent and device pages: passwords kept as salted scrypt hashes, credentials checked
 * before the device code (no oracle for user codes), failures limited per client address and reported
 * to the auth-failure hook.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthServer } from '../../src/auth/oauth/oauth-server.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { openStateStore } from '../../src/stores/open-store.js';
import type { StateStore } from '../../src/stores/state-store.js';
import { startGateway, type TestGateway, tempDir, writeConfig } from '../helpers/gateway.js';
import {
  approve,
  authorizeUrl,
  codeFlow,
  oauthConfig,
  PASSWORD,
  pkce,
  register,
  startDevice,
  submitDevice,
  USER,
} from './flow.js';

describe('oauth2: configured passwords', () => {
  it('keeps them as salted scrypt hashes, not the plaintext or an unsalted digest', async () => {
    const config = await loadConfig(
      writeConfig(
        oauthConfig().replace(
          `users: [{ name: ${USER}, password: "${PASSWORD}" }]`,
          `users: [{ name: ${USER}, password: "${PASSWORD}" }, { name: bob, password: "${PASSWORD}" }]`,
        ),
      ),
      { ...process.env },
    );
    const users = config.auth.oauth2?.users ?? [];
    const shown = (u: unknown) => inspect(u, { depth: 10, maxArrayLength: null }).replace(/name: '\w+'/, '');
    const hex = createHash('sha256').update(PASSWORD).digest('hex');
    for (const u of users) {
      const text = shown(u);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(hex.slice(0, 16));
      expect(JSON.stringify(u)).not.toContain(PASSWORD);
    }
    // One password, two users: the random salt makes the stored hashes differ.
    expect(shown(users[0])).not.toBe(shown(users[1]));
    expect(Object.isFrozen(users[0])).toBe(true);
  });

  it('signs in with a password given as password_sha256', async () => {
    const digest = createHash('sha256').update(PASSWORD).digest('hex');
    const gw = await startGateway(
      oauthConfig().replace(`password: "${PASSWORD}"`, `password_sha256: "sha256:${digest}"`),
    );
    try {
      const clientId = (await register(gw)).body['client_id'] as string;
      const tokens = await codeFlow(gw, clientId);
      expect(tokens['access_token']).toBeTruthy();
      const wrong = await approve(
        authorizeUrl(gw, {
          client_id: clientId,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
        'approve',
        digest,
      );
      expect(wrong.status).toBe(401);
    } finally {
      await gw.close();
    }
  });
});

describe('oauth2: the device page is no oracle for user codes', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('', 'rate_limit:\n  auth_failures_per_minute: 1000'));
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('checks the credentials before the code: a wrong password says the same for a real and a made-up code', async () => {
    const device = await startDevice(gw, clientId);
    const real = await submitDevice(gw, { user_code: device['user_code'] as string, password: 'guess' });
    const madeUp = await submitDevice(gw, { user_code: 'BCDF-GHJK', password: 'guess' });
    expect(real.status).toBe(madeUp.status);
    for (const page of [real, madeUp]) {
      expect(page.body).toContain('Wrong user or password');
      expect(page.body).not.toContain('Unknown or expired code');
    }
    // Signed in, an unknown code is named as such.
    const signedIn = await submitDevice(gw, { user_code: 'BCDF-GHJK' });
    expect(signedIn.body).toContain('Unknown or expired code');
    // And the real code still works.
    const approved = await submitDevice(gw, { user_code: device['user_code'] as string });
    expect(approved.status).toBe(200);
    expect(approved.body).toContain('approved');
  });
});

describe('oauth2: failed sign-ins are limited per client address', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(oauthConfig('', 'rate_limit:\n  auth_failures_per_minute: 3'));
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('counts failures on /authorize and /device together, then answers 429 without checking the password', async () => {
    const consent = () =>
      authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      });
    expect((await approve(consent(), 'approve', 'wrong-1')).status).toBe(401);
    expect((await submitDevice(gw, { user_code: 'BCDF-GHJK', password: 'wrong-2' })).status).toBe(401);
    // Signed in but guessing codes counts too.
    expect((await submitDevice(gw, { user_code: 'BCDF-GHJK' })).body).toContain('Unknown or expired code');

    const blocked = await approve(consent(), 'approve', PASSWORD);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.location).toBe('');
    expect(blocked.body).toContain('Too many failed sign-ins');
    const device = await submitDevice(gw, { user_code: 'BCDF-GHJK' });
    expect(device.status).toBe(429);
    expect(device.body).toContain('Too many failed sign-ins');
    expect(device.body).not.toContain('Unknown or expired code');
  });
});

describe('oauth2: failed sign-ins reach the auth-failure hook', () => {
  let store: StateStore;
  let server: Server;
  let url: string;
  const failures: Array<{ mode: string; reason: string; client: string }> = [];
  beforeAll(async () => {
    const config = await loadConfig(writeConfig(oauthConfig(), tempDir()), { ...process.env });
    store = await openStateStore(config.state);
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const oauth = await OAuthServer.open({
      config: config.auth.oauth2 as NonNullable<typeof config.auth.oauth2>,
      store,
      issuer: url,
      resource: `${url}/mcp`,
      logger: silentLogger,
      authFailuresPerMinute: 100,
      events: {
        onFailure: (info) => {
          failures.push(info);
        },
      },
    });
    const routes = oauth.routes();
    server.on('request', (req, res) => {
      const u = new URL(req.url ?? '/', url);
      void routes.get(u.pathname)?.(req, res, u);
    });
  });
  afterAll(async () => {
    server?.close();
    await store?.close();
  });

  it('reports wrong passwords and unknown device codes with the client address', async () => {
    const target = { url: `${url}/mcp` };
    const clientId = (await register(target)).body['client_id'] as string;
    await approve(
      authorizeUrl(target, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
      'approve',
      'wrong',
    );
    await submitDevice(target, { user_code: 'BCDF-GHJK' });
    expect(failures).toEqual([
      { mode: 'oauth2', reason: expect.stringContaining('wrong user or password'), client: '127.0.0.1' },
      {
        mode: 'oauth2',
        reason: expect.stringContaining('unknown or expired user code'),
        client: '127.0.0.1',
      },
    ]);
  });
});

describe('oauth2: failed sign-ins in the gateway audit log and metrics', () => {
  it('writes auth_failed and counts auth_failures_total{mode="oauth2"}', async () => {
    const gw = await startGateway(
      oauthConfig('', 'policies:\n  audit_log: ./audit.jsonl\nmetrics:\n  public: true'),
    );
    try {
      const clientId = (await register(gw)).body['client_id'] as string;
      const consent = authorizeUrl(gw, {
        client_id: clientId,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      });
      expect((await approve(consent, 'approve', 'not-the-password')).status).toBe(401);
      const audit = readFileSync(path.join(gw.dir, 'audit.jsonl'), 'utf8');
      expect(audit).toContain('"event":"auth_failed"');
      expect(audit).not.toContain('not-the-password');
      const metrics = await (await fetch(gw.url.replace(/\/mcp$/, '/metrics'))).text();
      expect(metrics).toContain('mcp_guard_auth_failures_total{mode="oauth2"} 1');
    } finally {
      await gw.close();
    }
  });
});
