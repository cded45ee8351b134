/**
 * A config reload reaches the built-in authorization server: a password changed (or a user removed) in
 * the file stops working at once, a new one works, and new required scopes apply to /mcp; the issuer
 * cannot change while the gateway runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  approve,
  authorizeUrl,
  codeFlow,
  initializeWith,
  oauthConfig,
  PASSWORD,
  pkce,
  register,
} from './flow.js';

const NEW_PASSWORD = 'a completely different passphrase';

describe('oauth2 after a config reload', () => {
  let gw: TestGateway;
  let clientId: string;
  beforeAll(async () => {
    gw = await startGateway(
      oauthConfig('    scopes: [mcp, admin]\n    required_scopes: [mcp]', '', ['mcp', 'admin']),
    );
    clientId = (await register(gw)).body['client_id'] as string;
  });
  afterAll(async () => {
    await gw?.close();
  });

  const consent = () =>
    authorizeUrl(gw, {
      client_id: clientId,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });

  it('signs in with the password of the file now in force, and enforces the new required scopes', async () => {
    expect((await approve(consent(), 'approve', PASSWORD)).status).toBe(302);
    const mcpOnly = await codeFlow(gw, clientId, { scope: 'mcp' });

    const original = readFileSync(gw.configFile, 'utf8');
    writeFileSync(
      gw.configFile,
      original
        .replace(PASSWORD, NEW_PASSWORD)
        .replace('required_scopes: [mcp]', 'required_scopes: [mcp, admin]'),
    );
    expect(await gw.gateway.reload()).toEqual({ ok: true, changed: true });
    expect((await approve(consent(), 'approve', PASSWORD)).status).toBe(401);
    expect((await approve(consent(), 'approve', NEW_PASSWORD)).status).toBe(302);
    // A token without the newly required scope no longer opens /mcp.
    const res = await initializeWith(gw, mcpOnly['access_token'] as string);
    expect(res.status).toBe(403);
    await res.text();
  });

  it('refuses a reload that changes the issuer, keeping the running config', async () => {
    const before = readFileSync(gw.configFile, 'utf8');
    writeFileSync(
      gw.configFile,
      before.replace('  oauth2:\n', '  oauth2:\n    issuer: https://elsewhere.example\n'),
    );
    const result = await gw.gateway.reload();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toContain('issuer cannot change while running');
    writeFileSync(gw.configFile, before);
  });
});
