/**
 * `mcp-guard audit verify` and `mcp-guard audit tail` (SPEC §1). Both take the audit file path; main.ts
 * resolves `--config` to it. Output goes to the given streams (stdout/stderr by default).
 */
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { AuditError } from '../audit/errors.js';
import { followFile } from '../audit/follow.js';
import { escapeControl, formatLine } from '../audit/format.js';
import { readLastLines } from '../audit/last-lines.js';
import { listRotated } from '../audit/rotation.js';
import { verifyAuditFile } from '../audit/verify.js';
import { ExitError } from '../core/errors.js';

export interface AuditVerifyOptions {
  file: string;
  out?: Writable;
  err?: Writable;
}

/**
 * Verifies the hash chain of `file` and its rotated predecessors. Prints `ok: …` and the head hash,
 * or `audit chain broken at FILE:LINE: PROBLEM` and exits 1. Warnings go to stderr.
 */
export async function auditVerify(options: AuditVerifyOptions): Promise<void> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  let result: Awaited<ReturnType<typeof verifyAuditFile>>;
  try {
    result = await verifyAuditFile(options.file);
  } catch (e) {
    // A missing audit log is a finding too (it may have been deleted), hence exit 1 rather than 2.
    if (e instanceof AuditError) throw new ExitError(1, e.message);
    throw e;
  }
  for (const warning of result.warnings) err.write(`warning: ${escapeControl(warning)}\n`);
  if (result.ok) {
    out.write(`ok: ${result.lines} lines verified in ${result.files} files\n`);
    if (result.head !== null) out.write(`head: ${result.head}\n`);
    return;
  }
  out.write(`audit chain broken at ${escapeControl(result.file)}:${result.line}: ${result.problem}\n`);
  throw new ExitError(1, '');
}

export interface AuditTailOptions {
  file: string;
  /** How many of the last lines to print first. */
  lines: number;
  /** Keep printing new lines (across rotation) until the signal aborts. */
  follow: boolean;
  /** Print the raw JSON lines instead of the one-line summary. */
  json?: boolean;
  signal?: AbortSignal;
  out?: Writable;
  /** Poll period of --follow in ms (default 250). */
  pollMs?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Prints the last `lines` records of the audit log (reaching into `.1` after a rotation), then follows it. */
export async function auditTail(options: AuditTailOptions): Promise<void> {
  const out = options.out ?? process.stdout;
  if (!Number.isInteger(options.lines) || options.lines < 0) {
    throw new ExitError(2, `-n must be a non-negative integer, got ${String(options.lines)}`);
  }
  const render = (text: string): string => (options.json ? escapeControl(text) : formatLine(text));

  let from = 0;
  if (await exists(options.file)) {
    const tail = await readLastLines(options.file, options.lines);
    let lines = tail.lines;
    from = tail.size;
    if (!tail.endsWithNewline && lines.length > 0) {
      // A line still being written: leave it to the follower, which prints it once complete.
      from -= lines[lines.length - 1]!.length;
      lines = lines.slice(0, -1);
    }
    const missing = options.lines - lines.length;
    const previous = (await listRotated(options.file))[0];
    if (missing > 0 && previous && previous.n === 1) {
      lines = [...(await readLastLines(previous.path, missing)).lines, ...lines];
    }
    for (const line of lines) out.write(`${render(line.toString('utf8'))}\n`);
  } else if (!options.follow) {
    throw new ExitError(1, `audit log not found: ${options.file}`);
  }

  if (!options.follow || options.signal?.aborted) return;
  for await (const line of followFile(options.file, {
    from,
    signal: options.signal,
    pollMs: options.pollMs,
  })) {
    out.write(`${render(line)}\n`);
  }
}
