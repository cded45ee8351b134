/**
 * Hot reload as an operator meets it: a `serve-http` process picks up an edited config file by itself,
 * keeps the running config (and says why, naming the key) when the edit is invalid, follows saves that
 * rename a new file over it and symlinks to it, and reloads on SIGHUP where a file watch cannot see the
 * change (a folder symlink switched to another folder).
 * A reload never lowers protection below what the listening address requires.
 */
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('applies a file saved by renaming a new one over it, and keeps watching it after that', async () => {
    const file = writeConfig(base);
    gw = await startGatewayProcess(file);
    client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await echoCode(client)).toBe('ok');

    // How many editors save: write a temporary file, rename it over the config (a new inode).
    const saveAtomically = (text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    saveAtomically(`policies:\n  deny: [echo]\n${base}`);
    await waitFor(async () => (await echoCode(client as Client)) === -32011, 10_000, 'the first reload');
    saveAtomically(base);
    await waitFor(async () => (await echoCode(client as Client)) === 'ok', 10_000, 'the second reload');
  });

  it('applies an edit made to the target of a symlinked config', async () => {
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
    await waitFor(async () => (await echoCode(client as Client)) === -32011, 10_000, 'the reload');
  });

  it('reloads on SIGHUP (a folder symlink switched to another folder, which the watch cannot see)', async () => {
    // A Kubernetes ConfigMap mount updates this way: `..data` is a symlink switched to a new folder.
    const dir = tempDir();
    for (const [name, text] of [
      ['v1', base],
      ['v2', `policies:\n  deny: [echo]\n${base}`],
    ] as const) {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, 'mcp-guard.yaml'), text);
    }
    symlinkSync(path.join(dir, 'v1'), path.join(dir, 'current'));
    gw = await startGatewayProcess(path.join(dir, 'current', 'mcp-guard.yaml'));
    client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await echoCode(client)).toBe('ok');

    symlinkSync(path.join(dir, 'v2'), path.join(dir, 'next'));
    renameSync(path.join(dir, 'next'), path.join(dir, 'current'));
    await new Promise((r) => setTimeout(r, 600));
    expect(await echoCode(client)).toBe('ok'); // not seen: the watched file itself did not change
    gw.child.kill('SIGHUP');
    await waitFor(async () => (await echoCode(client as Client)) === -32011, 10_000, 'the SIGHUP reload');
  });

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
