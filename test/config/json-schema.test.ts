/**
 * The config's JSON Schema (`mcp-guard config schema`, the repository's mcp-guard.schema.json): up to
 * date with the zod schema, valid for ajv in strict mode, and in agreement with the loader on the SPEC
 * example, the shipped example configs, the fixtures and a set of broken configs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { CONFIG_FIXTURES, FIXTURE_ENV, RICH_CONFIGS } from '../helpers/config-fixtures.js';
import { writeConfig } from '../helpers/gateway.js';
import { ROOT } from '../helpers/paths.js';
import { runCli } from '../helpers/processes.js';
import { SEED_CONFIG } from '../helpers/seed.js';

const addFormats = addFormatsModule.default;
const REPO_COPY = path.join(ROOT, 'mcp-guard.schema.json');

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(configJsonSchema());
const errorsOf = (data: unknown) => (validate(data) ? [] : (validate.errors ?? []));

describe('the config JSON Schema', () => {
  it('is what the repository ships (regenerate: node dist/cli/main.js config schema > mcp-guard.schema.json)', () => {
    expect(JSON.parse(readFileSync(REPO_COPY, 'utf8'))).toEqual(configJsonSchema());
  });

  it('is printed by `mcp-guard config schema`', async () => {
    const { code, stdout, stderr } = await runCli(['config', 'schema']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(JSON.parse(readFileSync(REPO_COPY, 'utf8')));
  });

  it('accepts the SPEC example, the shipped examples and every fixture', () => {
    const files = [
      ...RICH_CONFIGS.map((name) => path.join(CONFIG_FIXTURES, name)),
      path.join(ROOT, 'docker/mcp-guard.yaml'),
      path.join(ROOT, 'deploy/compose/mcp-guard.redis.yaml'),
      path.join(ROOT, 'deploy/compose/mcp-guard.postgres.yaml'),
    ];
    expect(errorsOf(parse(SEED_CONFIG))).toEqual([]);
    for (const file of files) expect(errorsOf(parse(readFileSync(file, 'utf8'))), file).toEqual([]);
    const chart = parse(readFileSync(path.join(ROOT, 'deploy/helm/mcp-guard/values.yaml'), 'utf8'));
    expect(errorsOf(chart.config), 'the Helm chart config').toEqual([]);
  });

  it('accepts ${VAR} references where the loader expands them, even in enums and URLs', async () => {
    const yaml = `
auth: { mode: "\${AUTH_MODE}", keys: ["\${KEY}"] }
servers:
  remote: { url: "\${REMOTE_URL}", transport: sse, timeout: "\${TIMEOUT}" }
state: { store: redis, url: "\${REDIS_URL:-redis://127.0.0.1:6379}", encryption_key: "\${ENC}" }
`;
    expect(errorsOf(parse(yaml))).toEqual([]);
    const env = {
      AUTH_MODE: 'api_key',
      KEY: 'k'.repeat(32),
      REMOTE_URL: 'https://mcp.example.com/mcp',
      TIMEOUT: '30s',
      ENC: 'e'.repeat(32),
    };
    await expect(loadConfig(writeConfig(yaml), env)).resolves.toMatchObject({ auth: { mode: 'api_key' } });
  });

  // Each of these is refused by the loader too: the schema never lets an editor bless a broken file.
  const broken: Array<[string, string]> = [
    ['an unknown top-level key', 'servers: { a: { command: node } }\nserver: {}\n'],
    ['an unknown auth mode', 'auth: { mode: apikey }\nservers: { a: { command: node } }\n'],
    ['headers on a stdio server', 'servers: { a: { command: node, headers: { X: y } } }\n'],
    ['command and url together', 'servers: { a: { command: node, url: "https://x.example/mcp" } }\n'],
    ['a state store that does not exist', 'state: { store: mongo }\nservers: { a: { command: node } }\n'],
    ['a port that is not a number', 'http: { port: "80a" }\nservers: { a: { command: node } }\n'],
    ['a duration in words', 'http: { session_idle_ttl: 5 minutes }\nservers: { a: { command: node } }\n'],
    ['a remote URL with another scheme', 'servers: { a: { url: "ftp://x.example/mcp" } }\n'],
    ['no servers at all', 'auth: { mode: none }\n'],
    ['a misspelt policy key', 'policies: { spend_cap: 5 }\nservers: { a: { command: node } }\n'],
    ['a negative spend cap', 'policies: { spend_cap_usd: -1 }\nservers: { a: { command: node } }\n'],
  ];
  it.each(broken)('refuses %s, as the loader does', async (_, yaml) => {
    expect(errorsOf(parse(yaml))).not.toEqual([]);
    await expect(loadConfig(writeConfig(yaml), {})).rejects.toBeInstanceOf(ConfigError);
  });

  it('describes the top-level sections for editors', () => {
    const schema = configJsonSchema() as { properties: Record<string, { description?: string }> };
    for (const [section, property] of Object.entries(schema.properties))
      expect(property.description, section).toMatch(/\w/);
  });

  it('loads fixtures with the environment they reference', async () => {
    // Guards the fixture list itself: a fixture the loader refuses would make the checks above vacuous.
    for (const name of RICH_CONFIGS) await loadConfig(path.join(CONFIG_FIXTURES, name), FIXTURE_ENV);
  });
});
