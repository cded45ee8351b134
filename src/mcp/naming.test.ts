import { describe, expect, it } from 'vitest';
import { exposeNames, type NamedItem } from './naming.js';

const servers = [
  { name: 'fs', prefix: false },
  { name: 'search', prefix: false },
  { name: 'bonanza', prefix: false },
];
const item = (server: string, name: string): NamedItem => ({ server, name });

describe('exposeNames', () => {
  it('keeps unique names and prefixes every server of a shared name', () => {
    const out = exposeNames(
      [item('fs', 'read_file'), item('fs', 'echo'), item('search', 'echo'), item('search', 'query')],
      {
        servers,
      },
    );
    expect(out.map((o) => [o.exposed, o.server, o.name])).toEqual([
      ['read_file', 'fs', 'read_file'],
      ['fs__echo', 'fs', 'echo'],
      ['search__echo', 'search', 'echo'],
      ['query', 'search', 'query'],
    ]);
  });

  it('prefixes all names of a server with prefix: true', () => {
    const out = exposeNames([item('fs', 'a'), item('search', 'b')], {
      servers: [
        { name: 'fs', prefix: true },
        { name: 'search', prefix: false },
      ],
    });
    expect(out.map((o) => o.exposed)).toEqual(['fs__a', 'b']);
  });

  it('follows routes and default (seed: wallet_pay → bonanza, read_file → fs, default → search)', () => {
    const items = [
      item('fs', 'read_file'),
      item('fs', 'write_file'),
      item('search', 'read_file'),
      item('search', 'query'),
      item('bonanza', 'wallet_pay'),
      item('bonanza', 'other'),
    ];
    const out = exposeNames(items, {
      servers,
      routes: { wallet_pay: 'bonanza', read_file: 'fs' },
      defaultRoute: 'search',
    });
    expect(out.map((o) => [o.exposed, o.server])).toEqual([
      ['read_file', 'fs'],
      ['query', 'search'],
      ['wallet_pay', 'bonanza'],
    ]);
  });

  it('without default, routed names are pinned and the rest aggregated', () => {
    const out = exposeNames([item('fs', 'x'), item('search', 'x'), item('search', 'y'), item('fs', 'y')], {
      servers,
      routes: { x: 'search' },
    });
    expect(out.map((o) => [o.exposed, o.server])).toEqual([
      ['fs__y', 'fs'],
      ['x', 'search'],
      ['search__y', 'search'],
    ]);
  });

  it('keeps exposed names within ^[A-Za-z0-9_-]{1,64}$ and unique', () => {
    const long = 'x'.repeat(80);
    const out = exposeNames(
      [item('fs', 'has.dot'), item('fs', 'has_dot'), item('fs', long), item('search', 'ünï')],
      { servers },
    );
    for (const o of out) expect(o.exposed).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(new Set(out.map((o) => o.exposed)).size).toBe(4);
    // The name that needed no rewriting keeps it; the rewritten one is told apart by a hash.
    expect(out.find((o) => o.name === 'has_dot')?.exposed).toBe('has_dot');
    expect(out.find((o) => o.name === 'has.dot')?.exposed).toMatch(/^has_dot-[0-9a-f]{8}$/);
  });

  it('separates delimiter tricks: server a__b + tool c vs server a + tool b__c', () => {
    const out = exposeNames([item('a', 'b__c'), item('a', 'x'), item('a__b', 'c'), item('a__b', 'x')], {
      servers: [
        { name: 'a', prefix: false },
        { name: 'a__b', prefix: false },
      ],
    });
    const exposed = out.map((o) => o.exposed);
    expect(new Set(exposed).size).toBe(out.length);
    expect(out).toHaveLength(4);
  });
});
