/**
 * Property test of the config loader: any text, and any document built from the config's own vocabulary
 * with random values, either loads into a frozen config or fails with a ConfigError — never another
 * exception, never a hang, never prototype pollution, never a config with less protection than asked
 * (an auth mode it cannot enforce is an error, not "none").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateSource } from '../../src/config/load.js';
import { ConfigError, parseConfigText } from '../../src/config/source.js';

const KEYS = [
  'auth',
  'mode',
  'keys',
  'jwt',
  'rate_limit',
  'requests_per_minute',
  'per_tool',
  'policies',
  'deny',
  'allow',
  'spend_cap_usd',
  'require_approval_above',
  'audit_log',
  'pinning',
  'tools',
  'cost',
  'usd',
  'argument',
  'servers',
  'command',
  'args',
  'env',
  'url',
  'headers',
  'routes',
  'state',
  'store',
  'path',
  'http',
  'max_body_bytes',
  'agents',
  '__proto__',
  'constructor',
  'prototype',
];

const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(
      'none',
      'api_key',
      'jwt',
      'enforce',
      'sqlite',
      'node',
      '${HOME}',
      '${UNSET_VAR}',
      '${X:-d}',
      5,
      -1,
      0.5,
      true,
      null,
    ),
    fc.string({ maxLength: 20 }),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 4 }),
  ),
})).node;

function load(text: string): unknown {
  return validateSource(parseConfigText('/tmp/fuzz.yaml', text, { HOME: '/home/x', X: 'y' }));
}

function check(text: string): void {
  const started = performance.now();
  try {
    const config = load(text) as { auth: { mode: string }; servers: unknown[] };
    expect(Object.isFrozen(config)).toBe(true);
    expect(['none', 'api_key', 'jwt', 'oauth2']).toContain(config.auth.mode);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(err.message.length).toBeGreaterThan(0);
  }
  expect(performance.now() - started).toBeLessThan(2_000);
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
}

describe('config loader (property)', () => {
  it('any text loads or fails with a ConfigError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), check), { numRuns: 500 });
  });

  it('documents in the config vocabulary load or fail with a ConfigError', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }), (doc) => {
        check(stringify(doc));
        check(JSON.stringify(doc));
      }),
      { numRuns: 500 },
    );
  });

  it('survives alias bombs, deep nesting, duplicate keys and pollution keys', () => {
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++)
      laughs.push(
        `${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9)
          .fill(`*${'abcdefghij'[i - 1]}`)
          .join(',')}]`,
      );
    check(laughs.join('\n'));
    check(`${'['.repeat(50_000)}${']'.repeat(50_000)}`);
    check(`${'a:\n '.repeat(2_000)}b`);
    check('servers:\n  a: {command: node}\n  a: {command: rm}\n');
    check(
      '{"__proto__": {"polluted": 1}, "servers": {"a": {"command": "node", "__proto__": {"polluted": 1}}}}',
    );
    check('servers:\n  a:\n    command: node\n    env: {__proto__: {polluted: 1}}\n');
  });
});
