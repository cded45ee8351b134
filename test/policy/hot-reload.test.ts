/**
 * Hot reload as an operator meets it: a `serve-http` process picks up an edited config file by itself,
 * keeps the running config (and says why, naming the key) when the edit is invalid, and reloads on
 * SIGHUP where a file watch cannot see the change (a symlinked config whose target lives elsewhere).
 * A reload never lowers protection below what the listening address requires.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { exposureProblem } from '../../src/gateway/http-gateway.js';
import { openStateStore } from '../../src/stores/open-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, tempDir, writeConfig } from '../helpers/gateway.js';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.js';
import { waitFor } from '../helpers/processes.js';

const KEY = 'reload-key-0123456789abcdefghijklmnopqrstu';
const base = `auth:\n  mode: api_key\n  keys: ["${KEY}"]\nservers:\n${stdioTestServer('t')}`;

async function echoCode(client: Client): Promise<number | 'ok'> {
  try {
    await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    return 'ok';
  } catch (err) {
    if (err instanceof McpError) return err.code;
    throw err;
  }
}

let gw: GatewayProcess | undefined;
let client: Client | undefined;
afterEach(async () => {
  await client?.close();
  await gw?.stop();
  client = undefined;
  gw = undefined;
});

describe('hot reload of a running serve-http', () => {
  it('applies an edited file, and keeps the running config when the edit is invalid', async () => {
    const file = writeConfig(base);
    gw = await startGatewayProcess(file);
    client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await echoCode(client)).toBe('ok');

    writeFileSync(file, `policies:\n  deny: [echo]\n${base}`);
    await waitFor(async () => (await echoCode(client as Client)) === -32011, 10_000, 'the reload');
    // The log line travels on stderr, the refusal on the HTTP socket: either may reach the test first.
    await waitFor(() => gw?.stderr().includes('config reloaded') ?? false, 5_000, 'the reload log line');

    writeFileSync(file, `policies:\n  dney: [echo]\n${base}`);
    await waitFor(() => gw?.stderr().includes('config reload rejected') ?? false, 10_000, 'the rejection');
    expect(gw.stderr()).toContain('policies.dney: unknown key (did you mean \\"deny\\"?)');
    expect(await echoCode(client)).toBe(-32011);
  });

  it('reloads on SIGHUP (a symlinked config whose target the watch cannot see)', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'real'));
    const target = path.join(dir, 'real', 'mcp-guard.yaml');
    writeFileSync(target, base);
    const link = path.join(dir, 'mcp-guard.yaml');
    symlinkSync(target, link);
    gw = await startGatewayProcess(link);
    client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await echoCode(client)).toBe('ok');

    writeFileSync(target, `policies:\n  deny: [echo]\n${base}`);
    await new Promise((r) => setTimeout(r, 600));
    expect(await echoCode(client)).toBe('ok'); // not seen by the watch: the link did not change
    gw.child.kill('SIGHUP');
    await waitFor(async () => (await echoCode(client as Client)) === -32011, 10_000, 'the SIGHUP reload');
  });
});

describe('reload and the auth failure limit', () => {
  it('keeps the failures counted before the reload', async () => {
    const yaml = `rate_limit:\n  auth_failures_per_minute: 2\n${base}`;
    const gw = await startGateway(yaml);
    try {
      const post = (key: string) =>
        fetch(gw.url, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: '{}',
        });
      expect((await post('wrong-1')).status).toBe(401);
      expect((await post('wrong-2')).status).toBe(401);
      writeFileSync(gw.configFile, `policies:\n  deny: [echo]\n${yaml}`);
      expect(await gw.gateway.reload()).toEqual({ ok: true, changed: true });
      expect((await post(KEY)).status).toBe(429);
    } finally {
      await gw.close();
    }
  });
});

describe('reload and the listening address', () => {
  it('refuses a reload that would drop authentication on a non-loopback address', async () => {
    const file = writeConfig(base);
    const config = await loadConfig(file, {});
    const gateway = await Gateway.open(config, {
      logger: silentLogger,
      store: await openStateStore(config.state),
      validate: (next) => exposureProblem(next, '0.0.0.0'),
    });
    try {
      writeFileSync(file, `servers:\n${stdioTestServer('t')}`); // valid, but with auth off
      const result = await gateway.reload();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toContain('refusing to listen on 0.0.0.0 without authentication');
      expect(gateway.config.auth.mode).toBe('api_key');
    } finally {
      await gateway.close();
    }
  });

  it('needs a public URL for the built-in authorization server beyond loopback', async () => {
    const oauth = await loadConfig(
      writeConfig(
        `auth:\n  mode: oauth2\n  oauth2:\n    users: [{ name: a, password: "long-enough-password" }]\nservers:\n${stdioTestServer('t')}`,
      ),
      {},
    );
    expect(exposureProblem(oauth, '127.0.0.1')).toBeUndefined();
    expect(exposureProblem(oauth, '0.0.0.0')).toContain('needs http.public_url');
  });
});
