import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { GENESIS_HASH } from '../../src/audit/record.js';
import { listRotated } from '../../src/audit/rotation.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();

async function writeLines(path: string, n: number, options: { rotateBytes?: number; keepFiles?: number }) {
  const log = await AuditLog.open({ path, fsync: 'never', ...options });
  for (let i = 1; i <= n; i++) await log.append({ event: 'call', request_id: i, tool: 'read_file' });
  await log.close();
}

describe('rotation', () => {
  test('rotates by size, keeps files under the limit, and the chain runs through all files', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 60, { rotateBytes: 4000, keepFiles: 20 });
    const rotated = await listRotated(path);
    expect(rotated.length).toBeGreaterThanOrEqual(3);
    for (const f of [...rotated.map((r) => r.path), path]) {
      expect((await stat(f)).size).toBeLessThanOrEqual(4000);
      expect((await stat(f)).mode & 0o777).toBe(0o600);
    }
    // The oldest file starts at genesis; each file's first prev_hash is the last hash of the one before.
    const chain = [...rotated.map((r) => r.path).reverse(), path];
    const firstOf = async (f: string) => JSON.parse((await readLines(f))[0]!);
    const lastOf = async (f: string) => JSON.parse((await readLines(f)).at(-1)!);
    expect((await firstOf(chain[0]!)).prev_hash).toBe(GENESIS_HASH);
    for (let i = 1; i < chain.length; i++) {
      expect((await firstOf(chain[i]!)).prev_hash).toBe((await lastOf(chain[i - 1]!)).hash);
    }
    // request ids are in order across files: nothing lost, nothing duplicated.
    const ids: number[] = [];
    for (const f of chain) for (const l of await readLines(f)) ids.push(JSON.parse(l).request_id);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: true,
      lines: 60,
      files: chain.length,
      warnings: [],
    });
  });

  test('keepFiles deletes the oldest files; verify then warns that the chain starts mid-way', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 60, { rotateBytes: 2000, keepFiles: 2 });
    expect((await listRotated(path)).map((r) => r.n)).toEqual([1, 2]);
    const result = await verifyAuditFile(path);
    expect(result).toMatchObject({ ok: true, files: 3 });
    expect(result.warnings.join()).toContain(`${path}.2:1`);
  });

  test('a restart continues the chain, also when the live file is missing after a rotation', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 10, { rotateBytes: 100_000 });
    // As if the process died between renaming the live file and writing the first line of the new one.
    await rename(path, `${path}.1`);
    await writeLines(path, 5, { rotateBytes: 100_000 });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 15, files: 2, warnings: [] });
  });

  test('tampering inside a rotated file is reported with that file name', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 40, { rotateBytes: 3000, keepFiles: 10 });
    const target = `${path}.2`;
    const text = await readFile(target, 'utf8');
    await writeFile(target, text.replace('"read_file"', '"delete_file"'));
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, file: target, line: 1 });
  });

  test('a rotated file missing from the middle breaks the chain at the next file', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 60, { rotateBytes: 2000, keepFiles: 10 });
    await unlink(`${path}.2`);
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      file: `${path}.1`,
      line: 1,
      problem: expect.stringContaining(`${path}.3`),
    });
  });

  test('lowering keepFiles removes the files past it at the next rotation', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeLines(path, 60, { rotateBytes: 2000, keepFiles: 10 });
    expect((await listRotated(path)).length).toBeGreaterThan(3);
    await writeLines(path, 20, { rotateBytes: 2000, keepFiles: 2 });
    expect((await listRotated(path)).map((r) => r.n)).toEqual([1, 2]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
  });
});
