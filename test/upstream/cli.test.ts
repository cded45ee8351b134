/**
 * `mcp-guard backends list | login NAME` as a user runs them: the real CLI in a child process, its URL
 * printed, its exit codes (SPEC §1: 1 a problem, 2 a usage error), and `config check` masking the
 * OAuth client secret and the encryption key.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeConfig } from '../helpers/gateway.js';
import { CLI, OAUTH_SERVER } from '../helpers/paths.js';
import { runCli } from '../helpers/processes.js';

describe('mcp-guard backends', () => {
  let fixture: ChildProcess;
  let fixtureUrl: string;
  let file: string;

  beforeAll(async () => {
    fixture = spawn(process.execPath, [OAUTH_SERVER, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve) => {
      let out = '';
      fixture.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    fixtureUrl = `http://127.0.0.1:${port}/mcp`;
    const dir = tempDir('mcpg-backends-cli-');
    file = writeConfig(
      `
state:
  store: sqlite
  path: ${path.join(dir, 'state.db')}
servers:
  local:
    command: ${process.execPath}
    args: ["-e", "0"]
  plain:
    url: https://mcp.example.com/mcp
    headers: { X-Api-Key: "\${PLAIN_KEY:-k}" }
  remote:
    url: ${fixtureUrl}
    oauth:
      client_id: pre-registered
      client_secret: "\${REMOTE_SECRET:-the-client-secret}"
`,
      dir,
    );
  });
  afterAll(() => {
    fixture?.kill('SIGTERM');
  });

  it('lists every backend, and the OAuth ones with their state and the command to log in', async () => {
    const res = await runCli(['backends', 'list', '--config', file]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^NAME\s+TRANSPORT\s+URL \/ COMMAND\s+AUTH\s+STATE$/m);
    expect(res.stdout).toMatch(/^local\s+stdio\s+\S+ -e 0\s+env\s+-$/m);
    expect(res.stdout).toMatch(/^plain\s+streamable-http\s+https:\/\/mcp\.example\.com\/mcp\s+headers\s+-$/m);
    expect(res.stdout).toMatch(/^remote\s+streamable-http\s+\S+\s+oauth\s+not logged in$/m);
    expect(res.stdout).toContain('mcp-guard backends login remote');
  });

  it('refuses to log in without an encryption key, to an unknown server or one without oauth', async () => {
    const noKey = await runCli(['backends', 'login', 'remote', '--config', file], {
      MCP_GUARD_ENCRYPTION_KEY: '',
    });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(
      /no key to encrypt upstream tokens: set state\.encryption_key or MCP_GUARD_ENCRYPTION_KEY/,
    );
    const env = { MCP_GUARD_ENCRYPTION_KEY: 'a-cli-test-encryption-key-of-32-chars-plus' };
    const unknown = await runCli(['backends', 'login', 'nope', '--config', file], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no server nope \(servers: local, plain, remote\)/);
    const notOAuth = await runCli(['backends', 'login', 'plain', '--config', file], env);
    expect(notOAuth.code).toBe(2);
    expect(notOAuth.stderr).toMatch(/servers\.plain has no oauth: setting/);
  });

  it('prints the URL to open: PKCE S256, the resource and the scope, never the client secret', async () => {
    // The fixture's authorization server does not know the pre-registered client: the login fails at the
    // authorization request, after the URL was printed.
    const child = spawn(process.execPath, [CLI, 'backends', 'login', 'remote', '--config', file], {
      env: { ...process.env, MCP_GUARD_ENCRYPTION_KEY: 'a-cli-test-encryption-key-of-32-chars-plus' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const url = await new Promise<string>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^\s+(http:\/\/\S+\/authorize\?\S+)$/m.exec(out);
        if (m) resolve(m[1] as string);
      });
    });
    const params = new URL(url).searchParams;
    expect(params.get('client_id')).toBe('pre-registered');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('resource')).toBe(fixtureUrl);
    expect(params.get('scope')).toBe('read');
    // The authorization server refuses the unknown client; the person closes the browser; we end the wait.
    const refused = await fetch(url, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    await refused.text();
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    expect(out).toContain('Open this URL in a browser to let mcp-guard use remote');
    expect(out + err).not.toContain('the-client-secret');
  });

  it('masks the client secret and the encryption key in config check', async () => {
    const original = readFileSync(file, 'utf8');
    const servers = original.slice(original.indexOf('servers:'));
    const withKey = writeConfig(`state:\n  store: sqlite\n  encryption_key: "\${TOKEN_KEY}"\n${servers}`);
    const res = await runCli(['config', 'check', '--config', withKey], {
      REMOTE_SECRET: 'shown-nowhere-secret',
      TOKEN_KEY: 'an-encryption-key-nobody-may-see-0123456789',
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).not.toContain('shown-nowhere-secret');
    expect(res.stdout).not.toContain('an-encryption-key-nobody-may-see');
    // A reference with a default holds a literal secret: masked. One without is printed as written
    // (config check prints config syntax that loads again).
    expect(res.stdout).toMatch(/client_secret: !masked "\*\*\*"/);
    expect(res.stdout).toMatch(/encryption_key: \$\{TOKEN_KEY\}/);
  });
});

describe('docs/upstream-oauth.md', () => {
  it('has an example config that loads', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { ROOT } = await import('../helpers/paths.js');
    const doc = readFileSync(`${ROOT}docs/upstream-oauth.md`, 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = await loadConfig(writeConfig(yaml), {
      ...process.env,
      MCP_GUARD_TOKEN_KEY: 'a-documentation-example-key-of-32-characters',
      GITHUB_CLIENT_SECRET: 'example-secret',
    });
    const servers = Object.fromEntries(config.servers.map((s) => [s.name, s]));
    expect(servers['linear']).toMatchObject({
      kind: 'remote',
      oauth: { tokens: 'service', refreshBeforeMs: 60_000 },
    });
    expect(servers['github']).toMatchObject({
      oauth: {
        clientId: 'Iv1.0123456789abcdef',
        scopes: ['repo', 'read:org'],
        redirectUri: 'http://127.0.0.1:8976/callback',
      },
    });
    expect(config.state.encryptionKey).toBe('a-documentation-example-key-of-32-characters');
  });
});
