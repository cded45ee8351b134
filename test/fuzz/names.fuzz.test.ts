/**
 * Property tests of name and URI matching (the authorize stage's NamePolicy): it never throws on any
 * input; a denied name stays denied under case, width, zero-width and look-alike variants; and an allow
 * list on a resource prefix admits only URIs that stay inside it however they spell `..` and escapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalUri, NamePolicy } from '../../src/stages/authorize/name-policy.js';
import { configOf } from '../helpers/stage-context.js';

const policy = (file: Record<string, unknown>) => new NamePolicy(configOf(file));

describe('name and URI matching (property)', () => {
  it('never throws, whatever the patterns and names', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 30 }), { maxLength: 5 }),
        fc.string({ maxLength: 60 }),
        (patterns, name) => {
          const p = policy({ policies: { deny: patterns.filter((x) => x.length > 0) } });
          for (const kind of ['tool', 'prompt', 'resource'] as const) p.decide('a', 'fs', name, kind);
          canonicalUri(name);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('a denied name is denied in every spelling a backend could expose', () => {
    const p = policy({ policies: { deny: ['delete_file'] } });
    const variant = fc
      .array(fc.constantFrom('plain', 'upper', 'fullwidth', 'zero-width', 'cyrillic'), {
        minLength: 1,
        maxLength: 3,
      })
      .map((ops) => {
        let s = 'delete_file';
        for (const op of ops) {
          if (op === 'upper') s = s.replace(/[a-z]/, (c) => c.toUpperCase());
          if (op === 'fullwidth')
            s = s.replace(/[a-z]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
          if (op === 'zero-width') s = `${s.slice(0, 3)}\u200B${s.slice(3)}`;
          if (op === 'cyrillic') s = s.replace('e', 'е');
        }
        return s;
      });
    fc.assert(
      fc.property(variant, (name) => {
        expect(p.decide('a', 'fs', name).allowed).toBe(false);
      }),
    );
  });

  it('an allowed resource prefix admits nothing outside it, whatever the dot segments and escapes', () => {
    const p = policy({ policies: { allow: ['fs.file:///data/*'] } });
    const segment = fc.constantFrom(
      'data',
      '..',
      '.',
      '%2e',
      '%2E%2e',
      '.%2e',
      'etc',
      'passwd',
      'x',
      '%65tc',
      '',
      'data%2F..',
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
        const uri = `file:///${segments.join('/')}`;
        if (p.decide('a', 'fs', uri, 'resource').allowed) {
          expect(canonicalUri(uri).startsWith('file:///data/')).toBe(true);
          expect(uri.startsWith('file:///data/')).toBe(true);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
