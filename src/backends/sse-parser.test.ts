import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse-parser.js';

function parseAll(chunks: readonly string[]): { events: SseEvent[]; parser: SseParser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const c of chunks) parser.push(c);
  return { events, parser };
}

/** Splits `text` at the given (sorted, deduplicated) offsets. */
function split(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let at = 0;
  for (const p of points) {
    out.push(text.slice(at, p));
    at = p;
  }
  out.push(text.slice(at));
  return out;
}

describe('SseParser', () => {
  it('reads data, event, id and retry fields, joins data lines and skips comments', () => {
    const { events, parser } = parseAll([
      ': keep-alive\n',
      'retry: 250\n',
      'id: 7\ndata: {"a":1}\n\n',
      'event: endpoint\ndata: /messages?x=1\n\n',
      'data: first\ndata:second\n\n',
      'id: 8\n\n',
      'data\n\n',
    ]);
    expect(events).toEqual([
      { event: 'message', data: '{"a":1}', id: '7' },
      { event: 'endpoint', data: '/messages?x=1', id: '7' },
      { event: 'message', data: 'first\nsecond', id: '7' },
      // A field name alone is a field with an empty value; the id of the data-less event stays in effect.
      { event: 'message', data: '', id: '8' },
    ]);
    expect(parser.retryMs).toBe(250);
    expect(parser.lastEventId).toBe('8');
  });

  it('drops an event the stream ends inside of, and ignores an id containing NUL', () => {
    const { events, parser } = parseAll(['id: 1\ndata: done\n\n', 'id: a\u0000b\n', 'data: unfinished']);
    parser.end();
    expect(events).toEqual([{ event: 'message', data: 'done', id: '1' }]);
    expect(parser.lastEventId).toBe('1');
  });

  it('refuses an event larger than its limit', () => {
    const parser = new SseParser(() => {}, 100);
    expect(() => parser.push(`data: ${'x'.repeat(200)}`)).toThrow(/exceeds 100 characters/);
    const lines = new SseParser(() => {}, 100);
    expect(() => {
      for (let i = 0; i < 20; i++) lines.push('data: 0123456789\n');
    }).toThrow(/exceeds 100 characters/);
  });

  it('yields the same events however the stream is cut into chunks and whichever line endings it uses', () => {
    const field = fc.string({
      unit: fc.constantFrom('a', 'b', '{', '"', ' ', ':', 'é', '😀'),
      maxLength: 12,
    });
    const event = fc.record({
      type: fc.option(fc.constantFrom('message', 'endpoint'), { nil: undefined }),
      id: fc.option(fc.stringMatching(/^[0-9a-z]{1,6}$/), { nil: undefined }),
      data: fc.array(field, { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 6 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 8 }),
        (list, eol, cuts) => {
          const text = list
            .map((e) =>
              [
                ...(e.type ? [`event: ${e.type}`] : []),
                ...(e.id ? [`id: ${e.id}`] : []),
                ...e.data.map((d) => `data: ${d}`),
              ]
                .map((line) => line + eol)
                .join(''),
            )
            .map((block) => block + eol)
            .join('');
          let lastId: string | undefined;
          const expected = list.map((e) => {
            if (e.id) lastId = e.id;
            return { event: e.type ?? 'message', data: e.data.join('\n'), id: lastId };
          });
          expect(parseAll(split(text, cuts)).events).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
