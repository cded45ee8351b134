import { describe, expect, it } from 'vitest';
import { normalize } from '../../config/normalize.js';
import { canonicalUri, NamePolicy } from './name-policy.js';

function policy(yaml: Record<string, unknown>): NamePolicy {
  return new NamePolicy(normalize({ servers: { fs: { command: 'node' } }, ...yaml } as never, '/tmp/x.yaml'));
}

describe('canonicalUri', () => {
  it('resolves dot segments, decodes unreserved escapes and drops a localhost file host', () => {
    expect(canonicalUri('file:///data/../etc/passwd')).toBe('file:///etc/passwd');
    expect(canonicalUri('file:///data/%2e%2E/etc/passwd')).toBe('file:///etc/passwd');
    expect(canonicalUri('file:///%65tc/passwd')).toBe('file:///etc/passwd');
    expect(canonicalUri('file://localhost/etc/passwd')).toBe('file:///etc/passwd');
    expect(canonicalUri('test://fs/item/./7')).toBe('test://fs/item/7');
    // An encoded slash stays encoded (it is data, not a separator); a non-URL stays as written.
    expect(canonicalUri('file:///data%2F..%2Fetc')).toBe('file:///data%2F..%2Fetc');
    expect(canonicalUri('not a uri')).toBe('not a uri');
  });
});

describe('resource URIs in allow/deny', () => {
  it('an allow list must hold for the URI as written and as the backend reads it', () => {
    const p = policy({ policies: { allow: ['fs.file:///data/*'] } });
    expect(p.decide('a', 'fs', 'file:///data/report.txt', 'resource')).toEqual({ allowed: true });
    for (const outside of [
      'file:///data/../etc/passwd',
      'file:///data/%2e%2e/etc/passwd',
      'file:///data/./../../etc/shadow',
    ])
      expect(p.decide('a', 'fs', outside, 'resource').allowed, outside).toBe(false);
  });

  it('a deny matches the canonical form too', () => {
    const p = policy({ policies: { deny: ['fs.file:///etc/*'] } });
    for (const variant of [
      'file:///etc/passwd',
      'file://localhost/etc/passwd',
      'file:///%65tc/passwd',
      'file:///tmp/../etc/passwd',
    ])
      expect(p.decide('a', 'fs', variant, 'resource').allowed, variant).toBe(false);
    expect(p.decide('a', 'fs', 'file:///tmp/etc/passwd', 'resource')).toEqual({ allowed: true });
  });

  it('tool names are not treated as URIs', () => {
    const p = policy({ policies: { allow: ['fs.read_*'] } });
    expect(p.decide('a', 'fs', 'read_file')).toEqual({ allowed: true });
    expect(p.decide('a', 'fs', 'write_file').allowed).toBe(false);
  });
});
