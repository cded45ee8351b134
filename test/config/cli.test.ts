/**
 * `mcp-guard config check` and `mcp-guard keys new` through the built CLI: what an operator runs before
 * starting the gateway.
 */

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ApiKeyVerifier } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config/load.js';
import { writeConfig } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';

const KEY = 'check-key-0123456789abcdefghijklmnopqrstuv';
const SECRET_ENV = 'super-secret-env-value-123';

describe('config check', () => {
  it('prints the effective config with every secret masked, and the pipeline it compiles to', async () => {
    const file = writeConfig(`
auth:
  mode: api_key
  keys: ["\${CHECK_KEY}"]
rate_limit:
  requests_per_minute: 30
policies:
  require_approval_above: 5
  audit_log: ./audit.jsonl
servers:
  fs:
    command: node
    args: [server.js]
    env: { API_TOKEN: "${SECRET_ENV}" }
  remote:
    url: https://user:pa55word@mcp.example.com/mcp
    headers: { Authorization: "Bearer remote-token-abcdef" }
`);
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file], { CHECK_KEY: KEY });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe(`# ${file}: ok`);
    for (const secret of [KEY, SECRET_ENV, 'pa55word', 'remote-token-abcdef'])
      expect(stdout).not.toContain(secret);
    // The printed body is YAML; the pipeline line lists the stages in order, audit included.
    expect(parse(stdout)).toMatchObject({ auth: { mode: 'api_key' } });
    expect(stdout).toContain(
      '# pipeline: authenticate → record → route → pin → rate_limit → cost → approval → record_decision → forward',
    );
  });

  it('masks secrets inside server args and env values, whatever their names (B2)', async () => {
    const file = writeConfig(`
servers:
  db:
    command: node
    args:
      - server.js
      - --api-key=sk-proj-abcDEF1234567890abcdefXYZ
      - postgres://app:db-pw-9876@db.example.com/prod
      - --password
      - hunter2-hunter2
      - --verbose
    env:
      DATABASE_URL: "postgres://app:db-pw-9876@db.example.com/prod"
      UPSTREAM: "Bearer abcdefghij0123456789"
      HARMLESS: "plain-value"
`);
    const { code, stdout } = await runCli(['config', 'check', '--config', file]);
    expect(code).toBe(0);
    for (const secret of ['abcDEF1234567890', 'db-pw-9876', 'hunter2-hunter2', 'abcdefghij0123456789'])
      expect(stdout).not.toContain(secret);
    const shown = parse(stdout) as { servers: { db: { args: string[]; env: Record<string, string> } } };
    // What is not secret stays readable: the operator must still recognise the command line.
    expect(shown.servers.db.args).toEqual([
      'server.js',
      '--api-key=sk-proj-…[redacted]', // the public prefix stays as a hint, as in the audit log
      'postgres://app:[redacted]@db.example.com/prod',
      '--password',
      '[redacted]',
      '--verbose',
    ]);
    expect(shown.servers.db.env['HARMLESS']).toBe('plain-value');
    expect(shown.servers.db.env['DATABASE_URL']).toBe('postgres://app:[redacted]@db.example.com/prod');
  });

  it('exits 1 and names the file, line and key of a typo', async () => {
    const file = writeConfig('auth:\n  mode: apikey\nservers:\n  a: { command: node }\n');
    const { code, stderr } = await runCli(['config', 'check', '--config', file]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${file}:2: auth.mode`);
  });
});

describe('keys new', () => {
  it('prints a fresh key and a config entry that accepts exactly that key', async () => {
    const first = await runCli(['keys', 'new', '--agent', 'ci-bot']);
    const second = await runCli(['keys', 'new']);
    expect(first.code).toBe(0);
    const key = /^key: (mcpg_[A-Za-z0-9_-]{43})$/m.exec(first.stdout)?.[1] as string;
    expect(key).toBeDefined();
    expect(second.stdout).not.toContain(key);
    const entry = first.stdout.split('\n').find((l) => l.startsWith('- {')) as string;
    expect(entry).not.toContain(key); // only the digest goes into the config
    const file = writeConfig(
      `auth:\n  mode: api_key\n  keys:\n  ${entry}\nservers:\n  a: { command: node }\n`,
    );
    const config = await loadConfig(file, {});
    const verifier = new ApiKeyVerifier(config.auth.keys);
    expect(verifier.verify(key)).toMatchObject({ agent: 'ci-bot' });
    expect(verifier.verify(`${key}x`)).toBeUndefined();
  });
});

describe('usage errors', () => {
  it('are one line on stderr with exit code 2', async () => {
    for (const args of [
      ['bogus'],
      ['scan', '--format', 'xml'],
      ['approvals', 'approve'],
      ['serve-http', '--port', 'x'],
    ]) {
      const { code, stdout, stderr } = await runCli(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(stderr).toMatch(/^mcp-guard: /);
    }
  });
});
