/**
 * What a new user meets first: `auth: {}` means none (as documented), and the "did you mean" hints of
 * unknown keys point somewhere useful — never at the key itself, and at a key cut short
 * (`spend_cap` → `spend_cap_usd`).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { writeConfig } from '../helpers/gateway.js';

async function problemsOf(yaml: string): Promise<string[]> {
  const file = writeConfig(yaml);
  try {
    await loadConfig(file, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => `${p.line}: ${p.path}: ${p.message}`);
  }
  throw new Error('expected the config to be refused');
}

describe('auth without a mode', () => {
  it('`auth: {}` is mode none, like no auth block', async () => {
    const config = await loadConfig(writeConfig('auth: {}\nservers:\n  a: { command: node }\n'), {});
    expect(config.auth.mode).toBe('none');
  });

  it('still fails closed: keys or a jwt block without a mode are refused, not ignored', async () => {
    expect(await problemsOf('auth:\n  keys: [abc]\nservers:\n  a: { command: node }\n')).toEqual([
      '2: auth.keys: keys are only used with mode api_key (mode is none); remove them or set the mode',
    ]);
    expect(
      await problemsOf(
        'auth:\n  jwt: { secret: x, issuer: i, audience: a }\nservers:\n  a: { command: node }\n',
      ),
    ).toEqual(['2: auth.jwt: auth.jwt is only used with mode jwt (mode is none)']);
  });
});

describe('did you mean', () => {
  it('names the kind of server a key belongs to instead of suggesting the key itself', async () => {
    expect(await problemsOf('servers:\n  a:\n    command: node\n    headers: { X-Token: abc }\n')).toEqual([
      '4: servers.a.headers: unknown key (headers is for remote servers, which have url:; a stdio server takes command, args, env and cwd)',
    ]);
    expect(await problemsOf('servers:\n  a:\n    url: https://x.example/mcp\n    env: { A: b }\n')).toEqual([
      '4: servers.a.env: unknown key (env is for stdio servers, which have command:; this one has url:)',
    ]);
  });

  it('still suggests the closest key of the right kind', async () => {
    expect(await problemsOf('servers:\n  a:\n    url: https://x.example/mcp\n    header: {}\n')).toEqual([
      '4: servers.a.header: unknown key (did you mean "headers"?)',
    ]);
    expect(await problemsOf('servers:\n  a:\n    command: node\n    arg: []\n')).toEqual([
      '4: servers.a.arg: unknown key (did you mean "args"?)',
    ]);
  });

  it('suggests the full key for one cut short at an underscore', async () => {
    expect(await problemsOf('policies:\n  spend_cap: 5\nservers:\n  a: { command: node }\n')).toEqual([
      '2: policies.spend_cap: unknown key (did you mean "spend_cap_usd"?)',
    ]);
    expect(await problemsOf('agents:\n  bot:\n    spend_cap: 5\nservers:\n  a: { command: node }\n')).toEqual(
      ['3: agents.bot.spend_cap: unknown key (did you mean "spend_cap_usd"?)'],
    );
    expect(await problemsOf('policies:\n  require_approval: 5\nservers:\n  a: { command: node }\n')).toEqual([
      '2: policies.require_approval: unknown key (did you mean "require_approval_above"?)',
    ]);
  });

  it('covers the telemetry section, its otlp block and its choices', async () => {
    expect(
      await problemsOf(
        'servers:\n  a: { command: node }\ntelemetry:\n  enabeld: true\n  sample_ratio: 2\n  otlp:\n    protocl: http/json\n    protocol: grpc\n',
      ),
    ).toEqual([
      '4: telemetry.enabeld: unknown key (did you mean "enabled"?)',
      '5: telemetry.sample_ratio: Too big: expected number to be <=1',
      '7: telemetry.otlp.protocl: unknown key (did you mean "protocol"?)',
      '8: telemetry.otlp.protocol: invalid value "grpc" (expected one of: http/protobuf, http/json)',
    ]);
  });

  it('suggests nothing for a word far from every key', async () => {
    expect(await problemsOf('policies:\n  zebra: 5\nservers:\n  a: { command: node }\n')).toEqual([
      '2: policies.zebra: unknown key',
    ]);
  });

  it('names the choices of a missing required key', async () => {
    const [problem] = await problemsOf('state: { path: ./x.db }\nservers:\n  a: { command: node }\n');
    expect(problem).toMatch(/^1: state\.store: .*sqlite.*redis.*postgres/);
    expect(problem).not.toContain('undefined');
  });
});
