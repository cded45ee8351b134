import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { SEED_CONFIG } from '../helpers/seed.js';

const SEED = SEED_CONFIG;

const dir = mkdtempSync(path.join(tmpdir(), 'mcp-guard-config-'));
function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
async function errorOf(file: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await loadConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('loadConfig', () => {
  it('loads the seed example of SPEC §2 unchanged', async () => {
    const file = write('seed.yaml', SEED);
    const config = await loadConfig(file, { AGENT_API_KEY: 'k'.repeat(40) });
    expect(config.auth.mode).toBe('api_key');
    expect(config.auth.keys).toHaveLength(1);
    expect(config.auth.keys[0]?.agent).toMatch(/^key-[0-9a-f]{8}$/);
    expect(config.rateLimit.requestsPerMinute).toBe(30);
    expect(config.policies.spendCapUsd).toBe(100);
    expect(config.policies.requireApprovalAbove).toBe(5);
    expect(config.policies.deny).toEqual(['filesystem.delete_file', 'wallet_pay.bulk_transfer']);
    expect(config.policies.audit?.path).toBe(path.join(dir, 'audit.jsonl'));
    expect(config.servers).toEqual([
      expect.objectContaining({
        name: 'filesystem',
        kind: 'stdio',
        command: 'npx',
        // Unset: the front decides (pooled under serve-http, per_session under serve).
        isolation: undefined,
        pool: { size: 4, queue: 128, queueTimeoutMs: 30_000, callsPerChild: 16 },
      }),
    ]);
    expect(config.state).toEqual({ store: 'sqlite', path: path.join(dir, 'mcp-guard.db') });
    expect(config.http.host).toBe('127.0.0.1');
    expect(Object.isFrozen(config.auth)).toBe(true);
    // The plain key is not kept anywhere in the loaded config.
    expect(JSON.stringify(config)).not.toContain('k'.repeat(40));
  });

  it('refuses an unset ${VAR} naming the variable, file and line', async () => {
    const file = write('unset.yaml', SEED);
    const message = await errorOf(file, {});
    expect(message).toBe(
      `${file}:4: auth.keys[0]: environment variable AGENT_API_KEY is not set (use \${AGENT_API_KEY:-default} for a default)`,
    );
  });

  it('uses ${VAR:-default} and keeps $${VAR} literal', async () => {
    const file = write(
      'defaults.yaml',
      'servers:\n  a:\n    command: node\n    args: ["${ARG:-fallback}", "$${LITERAL}"]\n    env: { TOKEN: "${TOKEN}" }\n',
    );
    const config = await loadConfig(file, { TOKEN: 't' });
    const server = config.servers[0];
    expect(server?.kind === 'stdio' && server.args).toEqual(['fallback', '${LITERAL}']);
    expect(server?.kind === 'stdio' && server.env).toEqual({ TOKEN: 't' });
  });

  it('refuses a typo in auth.mode (never runs with auth off)', async () => {
    const file = write('mode.yaml', SEED.replace('mode: api_key', 'mode: apikey'));
    const message = await errorOf(file, { AGENT_API_KEY: 'x' });
    expect(message).toContain(`${file}:2: auth.mode: invalid value "apikey"`);
    expect(message).toContain('did you mean "api_key"?');
  });

  it('refuses an unknown key with its line and a suggestion', async () => {
    const file = write('typo.yaml', SEED.replace('  keys:', '  kyes:'));
    const message = await errorOf(file, { AGENT_API_KEY: 'x' });
    expect(message).toContain(`${file}:3: auth.kyes: unknown key (did you mean "keys"?)`);
    // …and the consequence: api_key mode without keys is refused too.
  });

  it('reports several problems at once, each with its line', async () => {
    const file = write(
      'many.yaml',
      [
        'servers:',
        '  a:',
        '    command: x',
        '    url: http://x',
        '  b:',
        '    url: ftp://example.com',
        '  c:',
        '    comand: x',
        'routes:',
        '  foo: zz',
        'state:',
        '  store: mysql',
        '',
      ].join('\n'),
    );
    const lines = (await errorOf(file)).split('\n');
    expect(lines).toEqual([
      `${file}:3: servers.a: has both command (stdio) and url (remote): choose one`,
      expect.stringMatching(new RegExp(`^${file}:6: servers\\.b\\.url: `)),
      `${file}:8: servers.c.comand: unknown key (did you mean "command"?)`,
      expect.stringMatching(new RegExp(`^${file}:8: servers\\.c\\.command: is required`)),
      expect.stringMatching(new RegExp(`^${file}:12: state\\.store: `)),
    ]);
  });

  it('cross-checks routes, auth blocks and JWT algorithms', async () => {
    const routes = write('routes.yaml', 'servers:\n  a: { command: x }\nroutes:\n  foo: zz\n  default: a\n');
    expect(await errorOf(routes)).toContain(`${routes}:4: routes.foo: routes to unknown server "zz"`);

    const jwt = write(
      'jwt.yaml',
      'auth:\n  mode: jwt\n  jwt:\n    public_key: "-----BEGIN PUBLIC KEY-----"\n    algorithms: [HS256]\n    issuer: i\n    audience: a\nservers:\n  a: { command: x }\n',
    );
    expect(await errorOf(jwt)).toContain('auth.jwt.algorithms: HS256 needs a shared secret');

    const noKeys = write('nokeys.yaml', 'auth:\n  mode: api_key\nservers:\n  a: { command: x }\n');
    expect(await errorOf(noKeys)).toContain(`${noKeys}:2: auth.mode: api_key mode needs at least one entry`);

    const keysNoMode = write(
      'keysnone.yaml',
      'auth:\n  mode: none\n  keys: [abc]\nservers:\n  a: { command: x }\n',
    );
    expect(await errorOf(keysNoMode)).toContain('auth.keys: keys are only used with mode api_key');
  });

  it('reads isolation and pool settings, and refuses pool settings a server does not use', async () => {
    const pooled = write(
      'pooled.yaml',
      'servers:\n  a:\n    command: x\n    isolation: pooled\n    pool_size: 8\n    pool_queue: 0\n    pool_queue_timeout: 2s\n  b:\n    url: http://127.0.0.1:9/mcp\n    isolation: shared\n',
    );
    const config = await loadConfig(pooled, {});
    expect(config.servers.map((s) => [s.name, s.isolation, s.pool])).toEqual([
      ['a', 'pooled', { size: 8, queue: 0, queueTimeoutMs: 2_000, callsPerChild: 16 }],
      ['b', 'shared', { size: 4, queue: 128, queueTimeoutMs: 30_000, callsPerChild: 16 }],
    ]);
    const unused = write(
      'unused.yaml',
      'servers:\n  a:\n    command: x\n    isolation: per_session\n    pool_size: 2\n',
    );
    expect(await errorOf(unused)).toContain(
      `${unused}:5: servers.a.pool_size: is only used with isolation: pooled (isolation is per_session)`,
    );
    const bad = write(
      'badpool.yaml',
      'servers:\n  a:\n    command: x\n    isolation: pool\n    pool_size: 0\n    pool_queue_timeout: soon\n',
    );
    const lines = (await errorOf(bad)).split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${bad}:4: servers\\.a\\.isolation: .*did you mean "pooled"\\?`)),
      expect.stringMatching(new RegExp(`^${bad}:5: servers\\.a\\.pool_size: `)),
      expect.stringMatching(new RegExp(`^${bad}:6: servers\\.a\\.pool_queue_timeout: must be a duration`)),
    ]);
  });

  it('refuses duplicate keys, bad YAML and negative or infinite amounts', async () => {
    const dup = write('dup.yaml', 'servers:\n  a: { command: x }\n  a: { command: y }\n');
    expect(await errorOf(dup)).toMatch(new RegExp(`^${dup}:3: .*unique`));
    const broken = write('broken.yaml', 'servers:\n  a: [\n');
    expect(await errorOf(broken)).toMatch(new RegExp(`^${broken}:\\d+: `));
    const negative = write('neg.yaml', 'policies:\n  spend_cap_usd: -1\nservers:\n  a: { command: x }\n');
    expect(await errorOf(negative)).toContain(`${negative}:2: policies.spend_cap_usd: `);
    const inf = write(
      'inf.yaml',
      'policies:\n  require_approval_above: .inf\nservers:\n  a: { command: x }\n',
    );
    expect(await errorOf(inf)).toContain(`${inf}:2: policies.require_approval_above: `);
  });

  it('reads JSON with the same rules and names a missing file', async () => {
    const json = write(
      'c.json',
      JSON.stringify({ auth: { mode: 'none' }, servers: { a: { url: 'https://example.com/mcp' } } }),
    );
    const config = await loadConfig(json, {});
    expect(config.servers[0]).toMatchObject({
      kind: 'remote',
      transport: 'streamable-http',
      url: 'https://example.com/mcp',
    });
    expect(await errorOf(path.join(dir, 'missing.yaml'))).toContain('cannot read config: file not found');
  });

  it('parses named keys and sha256 keys', async () => {
    const file = write(
      'keys.yaml',
      `auth:\n  mode: api_key\n  keys:\n    - { agent: alice, key: "${'a'.repeat(32)}" }\n    - { agent: bob, key_sha256: "${'b'.repeat(64)}" }\n    - "sha256:${'c'.repeat(64)}"\nservers:\n  a: { command: x }\n`,
    );
    const config = await loadConfig(file, {});
    expect(config.auth.keys.map((k) => k.agent)).toEqual(['alice', 'bob', `key-${'c'.repeat(8)}`]);
  });
});
