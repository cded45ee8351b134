import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { sealLine } from '../../src/audit/chain.js';
import { GENESIS_HASH } from '../../src/audit/record.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();

/** A log of `n` call lines (request_id 1..n). */
async function makeLog(n: number): Promise<string> {
  const path = join(await makeTempDir(), 'audit.jsonl');
  const log = await AuditLog.open({ path, fsync: 'never' });
  for (let i = 1; i <= n; i++) {
    await log.append({ event: 'call', agent: 'alice', tool: 'pay', amount_usd: i, request_id: i });
  }
  await log.close();
  return path;
}

async function rewrite(path: string, edit: (lines: string[]) => string[]): Promise<void> {
  const lines = await readLines(path);
  await writeFile(path, `${edit(lines).join('\n')}\n`);
}

describe('verifyAuditFile', () => {
  test('an untouched log passes', async () => {
    const path = await makeLog(10);
    const result = await verifyAuditFile(path);
    expect(result).toMatchObject({ ok: true, lines: 10, files: 1, warnings: [] });
    const lines = await readLines(path);
    expect(result.ok && result.head).toBe(JSON.parse(lines[9]!).hash);
  });

  test('an empty log passes with no head', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeFile(path, '');
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 0, head: null });
  });

  test('a missing log is an error, not a pass', async () => {
    await expect(verifyAuditFile(join(await makeTempDir(), 'nope.jsonl'))).rejects.toMatchObject({
      code: 'AUDIT_NOT_FOUND',
    });
  });

  test('an edited field fails at that line', async () => {
    const path = await makeLog(10);
    await rewrite(path, (lines) => {
      lines[4] = lines[4]!.replace('"amount_usd":5', '"amount_usd":0.5');
      return lines;
    });
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      file: path,
      line: 5,
      problem: expect.stringContaining('edited'),
    });
  });

  test('an edit that only changes whitespace or key order still fails (the hash covers the bytes)', async () => {
    const path = await makeLog(3);
    await rewrite(path, (lines) => {
      lines[1] = lines[1]!.replace('"agent":"alice"', '"agent": "alice"');
      return lines;
    });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, line: 2 });
  });

  test('a deleted line fails at the line after the gap', async () => {
    const path = await makeLog(10);
    await rewrite(path, (lines) => lines.filter((_, i) => i !== 6));
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      line: 7,
      problem: expect.stringContaining('prev_hash does not match the hash of line 6'),
    });
  });

  test('two swapped lines fail at the first of them', async () => {
    const path = await makeLog(10);
    await rewrite(path, (lines) => {
      [lines[3], lines[4]] = [lines[4]!, lines[3]!];
      return lines;
    });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, line: 4 });
  });

  test('an inserted line with a valid hash but a wrong prev_hash fails at that line', async () => {
    const path = await makeLog(10);
    const forgedPrefix =
      '{"ts":"2026-01-01T00:00:00.000Z","event":"call","agent":"mallory","decision":"allowed"';
    const { line } = sealLine(forgedPrefix, 'f'.repeat(64));
    await rewrite(path, (lines) => [...lines.slice(0, 5), line.trimEnd(), ...lines.slice(5)]);
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      line: 6,
      problem: expect.stringContaining('prev_hash'),
    });
  });

  test('an inserted line chained correctly to its predecessor still breaks the next line', async () => {
    const path = await makeLog(10);
    const lines = await readLines(path);
    const prev = JSON.parse(lines[4]!).hash as string;
    const { line } = sealLine('{"ts":"2026-01-01T00:00:00.000Z","event":"call","agent":"mallory"', prev);
    await rewrite(path, (ls) => [...ls.slice(0, 5), line.trimEnd(), ...ls.slice(5)]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, line: 7 });
  });

  test('a truncated last line fails at that line', async () => {
    const path = await makeLog(10);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length - 40));
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      line: 10,
      problem: expect.stringContaining('incomplete'),
    });
  });

  test('a garbled line in the middle fails at that line', async () => {
    const path = await makeLog(5);
    await rewrite(path, (lines) => {
      lines[2] = lines[2]!.slice(0, 30);
      return lines;
    });
    expect(await verifyAuditFile(path)).toMatchObject({
      ok: false,
      line: 3,
      problem: expect.stringContaining('not valid JSON'),
    });
  });

  test('an empty line and invalid UTF-8 are reported', async () => {
    const path = await makeLog(3);
    await rewrite(path, (lines) => [lines[0]!, '', lines[1]!, lines[2]!]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, line: 2, problem: 'empty line' });
    const path2 = await makeLog(2);
    const bytes = await readFile(path2);
    bytes[20] = 0xff;
    await writeFile(path2, bytes);
    expect(await verifyAuditFile(path2)).toMatchObject({
      ok: false,
      line: 1,
      problem: expect.stringContaining('UTF-8'),
    });
  });

  test('removing the first lines of a log that never rotated fails at line 1', async () => {
    const path = await makeLog(5);
    await rewrite(path, (lines) => lines.slice(2));
    const result = await verifyAuditFile(path);
    expect(result).toMatchObject({ ok: false, file: path, line: 1, lines: 0 });
    expect(!result.ok && result.problem).toContain('the oldest lines were removed');
    expect(JSON.parse((await readLines(path))[0]!).prev_hash).not.toBe(GENESIS_HASH);
  });
});
