import { describe, expect, test } from 'vitest';
import { createRedactor, redactValue } from '../../src/redact/redact-value.js';
import { isSecretKey } from '../../src/redact/secret-keys.js';

const GHP = `ghp_${'R2d2C3po'.repeat(4)}Wxyz`;

describe('isSecretKey', () => {
  test.each([
    'password',
    'Password',
    'db_password',
    'passwd',
    'secret',
    'client_secret',
    'token',
    'access_token',
    'githubToken',
    'api_key',
    'apiKey',
    'API-KEY',
    'x-api-key',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'Set-Cookie',
    'private_key',
    'aws_secret_access_key',
    'auth',
    'credentials',
  ])('%s is secret', (key) => expect(isSecretKey(key)).toBe(true));

  test.each([
    'max_tokens',
    'token_count',
    'path',
    'name',
    'keyboard',
    'session',
    'author',
    'passenger_count',
    'sort_key',
  ])('%s is not', (key) => expect(isSecretKey(key)).toBe(false));
});

describe('redactValue', () => {
  test('masks secret-named keys whatever their value, and secret shapes anywhere', () => {
    const input = {
      user: 'alice',
      password: 12345,
      nested: { deeper: [{ api_key: { any: 'shape' } }, `token is ${GHP}`] },
      headers: { Authorization: 'Basic abc', Accept: 'application/json' },
      note: null,
      token: null,
    };
    expect(redactValue(input)).toEqual({
      user: 'alice',
      password: '[redacted]',
      nested: { deeper: [{ api_key: '[redacted]' }, 'token is ghp_…[redacted]'] },
      headers: { Authorization: '[redacted]', Accept: 'application/json' },
      note: null,
      token: null,
    });
  });

  test('returns a copy and never modifies the input', () => {
    const input = { password: 'x', list: [1, { a: 'b' }] };
    const before = JSON.stringify(input);
    const out = redactValue(input) as { list: unknown[] };
    expect(JSON.stringify(input)).toBe(before);
    expect(out.list).not.toBe(input.list);
  });

  test('configured fields: a bare name at any depth, a dotted path from the root, * wildcards', () => {
    const redact = createRedactor({ fields: ['card_number', 'payment.cvv', 'people.*.ssn'] });
    const out = redact({
      card_number: '4111',
      order: { CARD_NUMBER: '4111', cvv: '123' },
      payment: { cvv: '123', amount: 5 },
      people: { alice: { ssn: '1', age: 3 }, bob: [{ ssn: '2' }] },
    });
    expect(out).toEqual({
      card_number: '[redacted]',
      order: { CARD_NUMBER: '[redacted]', cvv: '123' },
      payment: { cvv: '[redacted]', amount: 5 },
      // Array levels do not count as path segments.
      people: { alice: { ssn: '[redacted]', age: 3 }, bob: [{ ssn: '[redacted]' }] },
    });
  });

  test('caps long strings with a marker naming how many characters were cut', () => {
    const out = redactValue({ s: 'a'.repeat(5000), short: 'ok' }, { maxStringLength: 100 }) as Record<
      string,
      string
    >;
    expect(out['s']).toBe(`${'a'.repeat(100)}…[truncated 4900 chars]`);
    expect(out['short']).toBe('ok');
    // Default cap 1024.
    const def = redactValue('b'.repeat(2000)) as string;
    expect(def.startsWith('b'.repeat(1024))).toBe(true);
    expect(def.endsWith('…[truncated 976 chars]')).toBe(true);
  });

  test('a 1 MB string is capped, and a secret right at the cut is masked, not half-kept', () => {
    const huge = `${'x'.repeat(95)} ${GHP} ${'y'.repeat(1_000_000)}`;
    const out = redactValue(huge, { maxStringLength: 100 }) as string;
    expect(out.length).toBeLessThan(200);
    expect(out).toContain('ghp_…');
    expect(out).not.toContain(GHP.slice(4, 8));
    expect(out).toMatch(/…\[truncated \d+ chars\]$/);
  });

  test('hostile strings cost linear time (no regex backtracking blow-up)', () => {
    const hostile = ['a.'.repeat(4600), 'a-'.repeat(4600), "password:'".repeat(920), 'sk-'.repeat(3000)];
    const args = Array.from({ length: 100 }, (_, i) => hostile[i % hostile.length]);
    const started = performance.now();
    redactValue(args, { maxItems: 100 });
    // 100 strings of 9 KB: ~0.1 s when linear; a quadratic pattern took ~10 s here.
    expect(performance.now() - started).toBeLessThan(3000);
  });

  test('never splits a surrogate pair when cutting', () => {
    const out = redactValue(`${'a'.repeat(9)}😀tail`, { maxStringLength: 10 }) as string;
    expect(out.startsWith(`${'a'.repeat(9)}…`)).toBe(true);
  });

  test('bounds depth, keys per object, items per array and total values', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const d = JSON.stringify(redactValue(deep, { maxDepth: 3 }));
    expect(d).toBe('{"d":{"d":{"d":"[max depth]"}}}');

    const wide = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
    expect(redactValue(wide, { maxKeys: 3 })).toEqual({ k0: 0, k1: 1, k2: 2, '…': '[7 more keys]' });
    expect(redactValue([1, 2, 3, 4, 5], { maxItems: 2 })).toEqual([1, 2, '[3 more items]']);

    const many = Array.from({ length: 50 }, (_, i) => ({ i }));
    const out = redactValue(many, { maxNodes: 10, maxItems: 1000 }) as unknown[];
    expect(out.filter((v) => v === '[truncated]').length).toBeGreaterThan(40);
  });

  test('cycles, binary data, bigint, Date, functions and undefined become JSON-safe', () => {
    const a: Record<string, unknown> = { n: 1n, when: new Date(0), fn: () => 1, u: undefined };
    a['self'] = a;
    a['buf'] = Buffer.from('secret bytes');
    a['list'] = [undefined, () => 1];
    expect(redactValue(a)).toEqual({
      n: '1',
      when: '1970-01-01T00:00:00.000Z',
      self: '[circular]',
      buf: '[binary 12 bytes]',
      list: [null, null],
    });
  });

  test('__proto__ and constructor keys are copied as data and pollute nothing', () => {
    const parsed = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}',
    );
    const out = redactValue(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe(
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
    );
  });

  test('secrets in object keys are masked too', () => {
    expect(redactValue({ [GHP]: 1 })).toEqual({ 'ghp_…[redacted]': 1 });
  });

  test('bad options are refused when the redactor is built', () => {
    expect(() => createRedactor({ maxStringLength: 0 })).toThrow(RangeError);
    expect(() => createRedactor({ maxDepth: 1.5 })).toThrow(RangeError);
    expect(() => createRedactor({ fields: [''] })).toThrow(RangeError);
  });
});
