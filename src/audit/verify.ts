/**
 * `audit verify`: walks the hash chain through the rotated files (oldest first) and the live file,
 * and names the first line that breaks it.
 *
 * What it detects: an edited line (its hash no longer matches its bytes), a removed, inserted or
 * reordered line (a prev_hash that does not match the line before), a garbled or truncated line, and
 * a missing rotated file in the middle, and removed first lines of a log that never rotated. What it
 * cannot detect on its own: removal of the oldest lines or files of a rotated log (the chain then
 * starts later; reported as a warning, since rotation with `keepFiles` does exactly that), removal of
 * the newest lines, and a complete rewrite of the chain by someone who can write the file. Recording
 * the head hash elsewhere closes those gaps (docs/audit.md#limits).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { checkLine } from './chain.js';
import { AuditError } from './errors.js';
import { GENESIS_HASH } from './record.js';
import { listRotated } from './rotation.js';

export type VerifyResult =
  | {
      ok: true;
      /** Lines verified, all files together. */
      lines: number;
      /** Files verified. */
      files: number;
      /** The files, in chain order (oldest first). */
      paths: string[];
      /** Hash of the last line, to record elsewhere as an anchor (null for an empty log). */
      head: string | null;
      /** Not failures: e.g. the chain starts mid-way because older files were rotated away. */
      warnings: string[];
    }
  | {
      ok: false;
      /** The file holding the first bad line. */
      file: string;
      /** 1-based line number in that file. */
      line: number;
      problem: string;
      /** Lines verified before the bad one. */
      lines: number;
      warnings: string[];
    };

/** Yields each line's bytes (without the newline); `terminated` is false for a last line with no newline. */
async function* readLines(path: string): AsyncGenerator<{ bytes: Buffer; terminated: boolean }> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let buf = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      yield { bytes: buf.subarray(start, nl), terminated: true };
      start = nl + 1;
    }
    buf = buf.subarray(start);
    carry = Buffer.from(buf);
  }
  if (carry.length > 0) yield { bytes: carry, terminated: false };
}

/** Verifies the chain of `path` and its rotated predecessors (`path.N` … `path.1`, then `path`). */
export async function verifyAuditFile(path: string): Promise<VerifyResult> {
  try {
    await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AuditError('AUDIT_NOT_FOUND', `audit log not found: ${path}`);
    }
    throw err;
  }
  const paths = [...(await listRotated(path)).reverse().map((f) => f.path), path];
  const warnings: string[] = [];
  let expected: string | null = null; // prev_hash the next line must carry; null before the first line
  let previousFile: string | null = null;
  let total = 0;

  for (const file of paths) {
    let lineNo = 0;
    for await (const { bytes, terminated } of readLines(file)) {
      lineNo += 1;
      const fail = (problem: string): VerifyResult => ({
        ok: false,
        file,
        line: lineNo,
        problem,
        lines: total,
        warnings,
      });
      if (!terminated) {
        return fail(
          'the last line is incomplete (no newline at the end of the file): truncated or partly written',
        );
      }
      const checked = checkLine(bytes);
      if (!checked.ok) return fail(checked.problem);
      if (expected === null) {
        // Without rotated files the first line must start the chain; only rotation with keepFiles
        // legitimately drops the oldest lines (the oldest kept file then starts mid-way: a warning).
        if (checked.prevHash !== GENESIS_HASH && paths.length === 1) {
          return fail(
            'the first line does not start the chain and no rotated file precedes it: the oldest lines were removed',
          );
        }
        if (checked.prevHash !== GENESIS_HASH) {
          warnings.push(
            `the chain starts mid-way at ${file}:${lineNo} (prev_hash ${checked.prevHash.slice(0, 12)}…): ` +
              'older lines were rotated away or removed, and cannot be checked',
          );
        }
      } else if (checked.prevHash !== expected) {
        // On a file's first line, the previous line is the last one of the file before (expected is
        // only set once a line has been read, so previousFile is set too).
        return fail(
          lineNo === 1
            ? `prev_hash does not continue the last line of ${previousFile}: a line or a rotated file is missing, or files were renamed`
            : `prev_hash does not match the hash of line ${lineNo - 1}: a line was removed, inserted or reordered`,
        );
      }
      expected = checked.hash;
      total += 1;
    }
    if (lineNo > 0) previousFile = file;
  }
  return { ok: true, lines: total, files: paths.length, paths, head: expected, warnings };
}
