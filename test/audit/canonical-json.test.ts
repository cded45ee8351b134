import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { argsSha256, canonicalJson, sha256Hex } from '../../src/audit/canonical-json.js';

describe('canonicalJson', () => {
  test('sorts keys at every level and drops whitespace', () => {
    const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } };
    const b = JSON.parse('{ "a": { "c": "x", "d": [3, { "y": 2, "z": 1 }] }, "b": 1 }');
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(argsSha256(a)).toBe(argsSha256(b));
  });

  test('different values give different hashes', () => {
    expect(argsSha256({ amount: 5 })).not.toBe(argsSha256({ amount: 5.01 }));
    expect(argsSha256({ a: '1' })).not.toBe(argsSha256({ a: 1 }));
  });

  test('keys sort by UTF-16 code units (RFC 8785), numbers and strings as JSON.stringify', () => {
    expect(canonicalJson({ é: 1, z: 2, A: 3, '😀': 4, '\uffff': 5 })).toBe(
      '{"A":3,"z":2,"é":1,"😀":4,"\uffff":5}',
    );
    expect(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'a"\n\u2028'])).toBe('[1e+21,0.1,0,1.5e-7,"a\\"\\n\u2028"]');
  });

  test('JSON.stringify semantics for undefined, functions and non-finite numbers', () => {
    expect(
      canonicalJson({ a: undefined, b: () => 1, c: Number.NaN, d: [undefined, Number.POSITIVE_INFINITY] }),
    ).toBe('{"c":null,"d":[null,null]}');
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
  });

  test('refuses what is not JSON data', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    expect(() => canonicalJson(1n)).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });

  test('a value shared twice (not a cycle) is fine', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  test('sha256Hex is plain SHA-256 of the UTF-8 bytes', () => {
    expect(sha256Hex('é')).toBe(createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'));
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
