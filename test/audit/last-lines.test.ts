import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readLastLines } from '../../src/audit/last-lines.js';
import { cleanTempDirs, makeTempDir } from './helpers.js';

cleanTempDirs();

describe('readLastLines', () => {
  test('reads lines across 64 KiB chunk boundaries, oldest first', async () => {
    const path = join(await makeTempDir(), 'f');
    const lines = Array.from({ length: 400 }, (_, i) => `${i}:${'x'.repeat((i * 37) % 900)}`);
    await writeFile(path, `${lines.join('\n')}\n`);
    for (const n of [1, 2, 150, 399, 400, 1000]) {
      const got = await readLastLines(path, n);
      expect(got.lines.map((b) => b.toString())).toEqual(lines.slice(-Math.min(n, 400)));
      expect(got.endsWithNewline).toBe(true);
    }
  });

  test('a last line longer than a chunk, and a file without a final newline', async () => {
    const path = join(await makeTempDir(), 'f');
    const long = 'y'.repeat(200_000);
    await writeFile(path, `first\n${long}`);
    const got = await readLastLines(path, 1);
    expect(got.lines.map((b) => b.toString())).toEqual([long]);
    expect(got.endsWithNewline).toBe(false);
    expect(got.size).toBe(6 + long.length);
    expect((await readLastLines(path, 5)).lines.map((b) => b.length)).toEqual([5, 200_000]);
  });

  test('empty file and n = 0', async () => {
    const path = join(await makeTempDir(), 'f');
    await writeFile(path, '');
    expect(await readLastLines(path, 3)).toEqual({ lines: [], size: 0, endsWithNewline: true });
    await writeFile(path, 'a\nb\n');
    expect((await readLastLines(path, 0)).lines).toEqual([]);
  });
});
