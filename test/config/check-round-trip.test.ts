/**
 * `mcp-guard config check` prints the effective config in config syntax: fed back, the print passes
 * `config check` again with the same output and loads to the same config, for the SPEC example and for
 * fixtures that together use every key of the schema. Secrets never appear: references stay references,
 * literal secrets become `!masked`, which does not load.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { UserDirectory } from '../../src/auth/oauth/passwords.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { loadConfig } from '../../src/config/load.js';
import type { GuardConfig } from '../../src/config/types.js';
import { CONFIG_FIXTURES, FIXTURE_ENV, RICH_CONFIGS } from '../helpers/config-fixtures.js';
import { writeConfig } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';
import { SEED_CONFIG } from '../helpers/seed.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mcp-guard-round-trip-'));

/** The output without its first line (`# FILE: ok`, which names the file checked). */
const body = (stdout: string) => stdout.slice(stdout.indexOf('\n') + 1);

/** A loaded config in a comparable form: no source file, password hashes (randomly salted) left out. */
function comparable(config: GuardConfig): unknown {
  const { source: _, ...rest } = config;
  return JSON.parse(
    JSON.stringify(rest, (key, value) =>
      key === 'password' && value?.algorithm === 'scrypt' ? 'scrypt' : value,
    ),
  );
}

const cases: Array<[name: string, file: string]> = [
  ['the SPEC example', writeConfig(SEED_CONFIG)],
  ...RICH_CONFIGS.map((name): [string, string] => [name, path.join(CONFIG_FIXTURES, name)]),
];

describe('config check round trip', () => {
  it.each(cases)(
    '%s: the output, fed back, prints the same and loads to the same config',
    async (_, file) => {
      const first = await runCli(['config', 'check', '--config', file], FIXTURE_ENV);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      for (const [name, secret] of Object.entries(FIXTURE_ENV))
        expect(first.stdout, `${name} leaked`).not.toContain(secret);
      expect(first.stdout).not.toContain('null');
      expect(first.stdout).not.toContain('!masked'); // every secret of these files is a ${VAR}

      const printed = path.join(dir, `printed-${path.basename(file)}`);
      writeFileSync(printed, first.stdout);
      const second = await runCli(['config', 'check', '--config', printed], FIXTURE_ENV);
      expect(second.stderr).toBe('');
      expect(second.code).toBe(0);
      expect(second.stdout.split('\n')[0]).toBe(`# ${printed}: ok`);
      expect(body(second.stdout)).toBe(body(first.stdout));

      const original = await loadConfig(file, FIXTURE_ENV);
      const reloaded = await loadConfig(printed, FIXTURE_ENV);
      expect(comparable(reloaded)).toEqual(comparable(original));
      // Users' passwords are kept only as salted hashes: the reloaded ones still accept the same passwords.
      if (reloaded.auth.oauth2) {
        const users = new UserDirectory(reloaded.auth.oauth2.users);
        expect(await users.check('alice', FIXTURE_ENV['ALICE_PASSWORD'] as string)).toBe('alice');
        expect(await users.check('bob', 'bob-password')).toBe('bob');
        expect(await users.check('bob', 'wrong')).toBeUndefined();
      }
    },
  );

  it('the fixtures use every key of the config schema (so the round trip covers every key)', () => {
    const used = new Set<string>();
    const collect = (value: unknown, at: string, schemaPaths: Set<string>) => {
      if (Array.isArray(value)) for (const item of value) collect(item, `${at}[].`, schemaPaths);
      else if (value !== null && typeof value === 'object')
        for (const [key, child] of Object.entries(value)) {
          // Map entries (servers.NAME, agents.NAME, policies.tools.TOOL) count under `*`.
          const name = schemaPaths.has(`${at}${key}`) ? key : '*';
          used.add(`${at}${name}`);
          collect(child, `${at}${name}.`, schemaPaths);
        }
    };
    const keys = schemaKeyPaths(configJsonSchema());
    for (const name of RICH_CONFIGS)
      collect(parse(readFileSync(path.join(CONFIG_FIXTURES, name), 'utf8')), '', keys);
    const missing = [...keys].filter((k) => !used.has(k));
    expect(missing, 'add these keys to a fixture in test/fixtures/config').toEqual([]);
  });

  it('prints literal secrets as !masked, which does not load, and never the secret itself', async () => {
    const secrets = {
      jwt: 'literal-jwt-secret-0123456789abcdefghijkl',
      env: 'literal-env-token-abcdef0123456789',
      header: 'literal-header-token-0123456789abc',
      state: 'literal-redis-pw-0123',
      defaulted: 'default-secret-0123456789',
      otlp: 'literal-otlp-token-0123456789',
      otlpQuery: 'otlp-query-key-0123456789',
    };
    const file = writeConfig(`
auth:
  mode: jwt
  jwt: { secret: "${secrets.jwt}", issuer: https://login.example.com, audience: gw }
servers:
  local:
    command: node
    args: [server.js, --api-key, "\${API_KEY:-${secrets.defaulted}}"]
    env: { GITHUB_TOKEN: "${secrets.env}", PLAIN: hello }
  remote:
    url: https://mcp.example.com/mcp?tenant=acme
    headers: { Authorization: "Bearer ${secrets.header}" }
state: { store: redis, url: "redis://:${secrets.state}@redis.internal:6379" }
telemetry:
  otlp:
    endpoint: "https://otel.example.com/v1/traces?api_key=${secrets.otlpQuery}"
    headers: { Authorization: "Bearer ${secrets.otlp}", X-Scope-OrgID: acme }
`);
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    for (const secret of Object.values(secrets)) expect(stdout).not.toContain(secret);
    const doc = parseDocument(stdout);
    const tagOf = (...at: Array<string | number>) => (doc.getIn(at, true) as { tag?: string }).tag;
    expect(tagOf('auth', 'jwt', 'secret')).toBe('!masked');
    expect(tagOf('servers', 'local', 'args', 2)).toBe('!masked'); // a ${VAR:-default} holds a literal
    expect(tagOf('servers', 'local', 'env', 'GITHUB_TOKEN')).toBe('!masked');
    expect(tagOf('servers', 'local', 'env', 'PLAIN')).toBeUndefined();
    expect(doc.getIn(['servers', 'local', 'env', 'PLAIN'])).toBe('hello');
    expect(tagOf('servers', 'remote', 'headers', 'Authorization')).toBe('!masked');
    // What is not secret stays readable: the user of the URL, the query's names, the host.
    expect(doc.getIn(['servers', 'remote', 'url'])).toBe('https://mcp.example.com/mcp?tenant=***');
    expect(doc.getIn(['state', 'url'])).toBe('redis://:***@redis.internal:6379');
    expect(tagOf('telemetry', 'otlp', 'headers', 'Authorization')).toBe('!masked');
    expect(doc.getIn(['telemetry', 'otlp', 'headers', 'X-Scope-OrgID'])).toBe('acme');
    expect(tagOf('telemetry', 'otlp', 'endpoint')).toBe('!masked');

    const printed = path.join(dir, 'printed-literal.yaml');
    writeFileSync(printed, stdout);
    const again = await runCli(['config', 'check', '--config', printed]);
    expect(again.code).toBe(1);
    const lines = stdout.split('\n');
    const lineOf = (text: string) => lines.findIndex((l) => l.includes(text)) + 1;
    expect(again.stderr).toContain(
      `${printed}:${lineOf('secret: !masked')}: auth.jwt.secret: was hidden by config check (!masked)`,
    );
    expect(again.stderr).toContain(
      `${printed}:${lineOf('GITHUB_TOKEN: !masked')}: servers.local.env.GITHUB_TOKEN`,
    );
  });

  it('prints API keys as their SHA-256 digest, for the same agents', async () => {
    const key = 'plain-agent-key-0123456789abcdef';
    const file = writeConfig(
      `auth:\n  mode: api_key\n  keys: ["${key}", { agent: named, key: "${key}x" }]\nservers:\n  a: { command: node }\n`,
    );
    const { code, stdout } = await runCli(['config', 'check', '--config', file]);
    expect(code).toBe(0);
    expect(stdout).not.toContain(key);
    const printed = parse(stdout) as { auth: { keys: unknown[] } };
    expect(printed.auth.keys).toEqual([
      expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      { agent: 'named', key_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    const again = path.join(dir, 'printed-keys.yaml');
    writeFileSync(again, stdout);
    const [before, after] = [await loadConfig(file, {}), await loadConfig(again, {})];
    expect(after.auth.keys.map((k) => k.agent)).toEqual(before.auth.keys.map((k) => k.agent));
    expect(after.auth.keys.map((k) => k.sha256.toString('hex'))).toEqual(
      before.auth.keys.map((k) => k.sha256.toString('hex')),
    );
  });
});

/** Every key path of a JSON Schema (`servers.*.url`, `auth.keys.[].agent`), through anyOf and local $refs. */
function schemaKeyPaths(root: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const defs = (root['$defs'] ?? {}) as Record<string, unknown>;
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (typeof n['$ref'] === 'string') walk(defs[n['$ref'].split('/').pop() as string], at);
    for (const key of ['anyOf', 'oneOf', 'allOf'])
      for (const branch of (n[key] as unknown[] | undefined) ?? []) walk(branch, at);
    for (const [key, child] of Object.entries((n['properties'] ?? {}) as Record<string, unknown>)) {
      out.add(`${at}${key}`);
      walk(child, `${at}${key}.`);
    }
    if (typeof n['additionalProperties'] === 'object') walk(n['additionalProperties'], `${at}*.`);
    if (n['items']) walk(n['items'], `${at}[].`);
  };
  walk(root, '');
  return out;
}
