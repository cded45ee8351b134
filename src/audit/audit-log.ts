/**
 * The audit log writer: one hash-chained JSON line per event, appended with write(2) before
 * append() resolves (docs/audit.md).
 *
 * - Durability: append() resolves once the line is in the kernel (a `kill -9` of the gateway right
 *   after cannot lose it). fsync, which only adds protection against power loss and OS crashes, is a
 *   policy: 'interval' (default, once a second), 'always' (before append() resolves) or 'never'.
 * - Order: lines are chained in append() call order. Appends made in the same tick, or while an
 *   fsync or a rotation is in flight, go out in one write (group commit), so concurrency costs fewer
 *   syscalls, not more.
 * - Failure: a failed write rejects the appends it carried and is cut back off the file, so the
 *   chain stays intact; if that cut fails, the log refuses further appends (fail closed).
 * - One writer per file, enforced by `<file>.lock` (file-lock.ts).
 */

import { ftruncateSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { RedactOptions, Redactor } from '../redact/redact-value.js';
import { createRedactor } from '../redact/redact-value.js';
import { checkLine, sealLine } from './chain.js';
import { AuditError } from './errors.js';
import type { FileLock } from './file-lock.js';
import { acquireFileLock } from './file-lock.js';
import { readLastLines } from './last-lines.js';
import type { AuditEvent } from './record.js';
import { GENESIS_HASH, serializeEvent } from './record.js';
import { listRotated, rotateFiles } from './rotation.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface AuditLogOptions {
  /** The live audit file (JSONL). Missing parent folders are created with mode 0700. */
  path: string;
  /** When to fsync: 'interval' (default), 'always' or 'never'. See docs/audit.md#writing-durability-order-cost. */
  fsync?: FsyncPolicy;
  /** Period of the 'interval' policy in ms. Default 1000. */
  fsyncIntervalMs?: number;
  /** Rotate before a write would take the live file past this size. Default: never rotate. */
  rotateBytes?: number;
  /** Rotated files kept (`.1` … `.N`); older ones are deleted. Default 10. */
  keepFiles?: number;
  /** Redaction of arguments and text fields. */
  redact?: RedactOptions;
  /** Receives problems that do not fail an append (mode fixed, rotation failed, background fsync failed). */
  onWarning?: (message: string) => void;
}

interface Pending {
  prefix: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Most lines put in one write(2); bounds the size of one buffer under a burst. */
const MAX_BATCH_LINES = 1024;
/** After a failed rotation, keep writing to the live file and retry rotating after this long. */
const ROTATE_RETRY_MS = 60_000;

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Cuts a torn last line (bytes after the final newline) off the live file, keeping them in a
 * `<file>.torn-<time>` file for inspection. Such bytes come from a write cut short by a crash,
 * kill -9 during a large write, or power loss; their append() never resolved, so no acknowledged
 * record is lost, and without the cut the chain could not continue.
 */
async function repairTornTail(path: string, warn: (message: string) => void): Promise<void> {
  let tail: Awaited<ReturnType<typeof readLastLines>>;
  try {
    tail = await readLastLines(path, 1);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  const torn = tail.lines[0];
  if (tail.endsWithNewline || torn === undefined) return;
  const keep = `${path}.torn-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await writeFile(keep, torn, { mode: 0o600, flag: 'wx' });
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(tail.size - torn.length);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  warn(
    `audit log ${path} ended with an incomplete line (${torn.length} bytes, a write cut short); moved it to ${keep}`,
  );
}

/** Reads the chain head (the last hash) of an existing log, looking into `.1` when the live file is empty. */
async function readChainHead(path: string): Promise<string> {
  for (const candidate of [path, ...(await listRotated(path)).slice(0, 1).map((f) => f.path)]) {
    let tail: Awaited<ReturnType<typeof readLastLines>>;
    try {
      tail = await readLastLines(candidate, 1);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    const last = tail.lines[0];
    if (last === undefined) continue;
    const checked = tail.endsWithNewline
      ? checkLine(last)
      : { ok: false as const, problem: 'no newline at the end' };
    if (!checked.ok) {
      throw new AuditError(
        'AUDIT_CORRUPT',
        `the last line of ${candidate} is damaged (${checked.problem}), so its hash chain cannot be continued; ` +
          `run "mcp-guard audit verify --file ${path}", then move the damaged file aside`,
      );
    }
    return checked.hash;
  }
  return GENESIS_HASH;
}

/** fsyncs a folder so that renames and new files in it survive a power loss (best effort). */
async function syncDir(dir: string, warn: (message: string) => void): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    warn(`fsync of folder ${dir} failed: ${String(err)}`);
  }
}

function checkOptions(options: AuditLogOptions): void {
  if (typeof options.path !== 'string' || options.path.length === 0)
    throw new TypeError('audit log path is required');
  const fsync = options.fsync ?? 'interval';
  if (!['always', 'interval', 'never'].includes(fsync)) {
    throw new TypeError(`audit fsync must be always, interval or never, got ${String(fsync)}`);
  }
  for (const [name, value] of [
    ['fsyncIntervalMs', options.fsyncIntervalMs],
    ['rotateBytes', options.rotateBytes],
    ['keepFiles', options.keepFiles],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new TypeError(`audit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
}

/** An open, locked, hash-chained audit file. Create with AuditLog.open(). */
export class AuditLog {
  readonly path: string;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly rotateBytes: number | undefined;
  private readonly keepFiles: number;
  private readonly redactor: Redactor;
  private readonly warn: (message: string) => void;
  private readonly lock: FileLock;
  private fh: FileHandle | null;
  private head: string;
  private bytes: number;
  private dirty = false;
  private pending: Pending[] = [];
  private running = false;
  private syncRequested = false;
  private idleWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private broken: AuditError | undefined;
  private rotateAgainAt = 0;

  private constructor(
    path: string,
    options: AuditLogOptions,
    redactor: Redactor,
    lock: FileLock,
    fh: FileHandle,
    head: string,
    size: number,
  ) {
    this.path = path;
    this.fsyncPolicy = options.fsync ?? 'interval';
    this.rotateBytes = options.rotateBytes;
    this.keepFiles = options.keepFiles ?? 10;
    this.redactor = redactor;
    this.warn = options.onWarning ?? (() => undefined);
    this.lock = lock;
    this.fh = fh;
    this.head = head;
    this.bytes = size;
    if (this.fsyncPolicy === 'interval') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.syncRequested = true;
        this.kick();
      }, options.fsyncIntervalMs ?? 1000);
      // The timer must not keep a finished gateway (or a test) alive; close() syncs the rest.
      this.timer.unref();
    }
  }

  /** Opens (creating with mode 0600) and locks the log, continuing the chain of what is already there. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    checkOptions(options);
    const redactor = createRedactor(options.redact); // bad redact options fail before any file is touched
    const path = resolve(options.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const lock = await acquireFileLock(path);
    try {
      await repairTornTail(path, options.onWarning ?? (() => undefined));
      const head = await readChainHead(path);
      const fh = await open(path, 'a', 0o600);
      try {
        const st = await fh.stat();
        // Audit lines hold agents' arguments (redacted, but still sensitive): nobody but the owner may
        // write them, and the world may not read them. Group read is left for log shippers.
        if ((st.mode & 0o037) !== 0) {
          const mode = st.mode & 0o740;
          await fh.chmod(mode);
          options.onWarning?.(
            `audit log ${path} had mode ${(st.mode & 0o777).toString(8)}; changed to ${mode.toString(8)}`,
          );
        }
        return new AuditLog(path, options, redactor, lock, fh, head, st.size);
      } catch (err) {
        await fh.close();
        throw err;
      }
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Hash of the last line written (GENESIS_HASH for an empty log). */
  get lastHash(): string {
    return this.head;
  }

  /** Size of the live file in bytes. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Records one event. Resolves after its line was written to the file with write(2) (and fsynced
   * under the 'always' policy); rejects with AuditError when it was not written.
   */
  append(event: AuditEvent): Promise<void> {
    if (this.closed)
      return Promise.reject(new AuditError('AUDIT_CLOSED', `audit log ${this.path} is closed`));
    if (this.broken) return Promise.reject(this.broken);
    let prefix: string;
    try {
      prefix = serializeEvent(event, this.redactor);
    } catch (err) {
      return Promise.reject(
        err instanceof AuditError
          ? err
          : new AuditError('AUDIT_INVALID_RECORD', `audit event cannot be recorded: ${String(err)}`, {
              cause: err,
            }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ prefix, resolve, reject });
      this.kick();
    });
  }

  /** Writes what is pending, fsyncs (unless the policy is 'never'), closes the file and releases the lock. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.whenIdle();
    try {
      if (this.fh) {
        if (this.fsyncPolicy !== 'never' && this.dirty) {
          await this.fh
            .datasync()
            .catch((err: unknown) => this.warn(`audit fsync on close failed: ${String(err)}`));
        }
        await this.fh.close();
        this.fh = null;
      }
    } finally {
      await this.lock.release();
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // Start on the next microtask so that appends made in the same tick share one write.
    queueMicrotask(() => void this.run());
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        if (this.pending.length > 0) {
          await this.writeBatch(this.pending.splice(0, MAX_BATCH_LINES));
        } else if (this.syncRequested) {
          this.syncRequested = false;
          await this.backgroundSync();
        } else {
          break;
        }
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async backgroundSync(): Promise<void> {
    if (!this.dirty || !this.fh) return;
    this.dirty = false;
    try {
      await this.fh.datasync();
    } catch (err) {
      this.dirty = true;
      this.warn(`audit fsync of ${this.path} failed: ${String(err)}`);
    }
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    const fh = await open(this.path, 'a', 0o600);
    this.fh = fh;
    this.bytes = (await fh.stat()).size;
    return fh;
  }

  private async rotate(): Promise<void> {
    const fh = await this.ensureOpen();
    // The rotated file is final: make it durable before it moves.
    if (this.fsyncPolicy !== 'never' && this.dirty) await fh.datasync();
    this.dirty = false;
    await fh.close();
    this.fh = null;
    try {
      await rotateFiles(this.path, this.keepFiles);
    } catch (err) {
      this.rotateAgainAt = Date.now() + ROTATE_RETRY_MS;
      this.warn(`audit rotation of ${this.path} failed, writing on in the same file: ${String(err)}`);
    }
    await this.ensureOpen();
    if (this.fsyncPolicy !== 'never') await syncDir(dirname(this.path), this.warn);
  }

  private needsRotation(nextBytes: number): boolean {
    return (
      this.rotateBytes !== undefined &&
      this.bytes > 0 &&
      this.bytes + nextBytes > this.rotateBytes &&
      Date.now() >= this.rotateAgainAt
    );
  }

  /** Seals and writes a batch, splitting it where rotation falls; settles every append it carries. */
  private async writeBatch(batch: Pending[]): Promise<void> {
    let done = 0; // appends whose line is in the file
    try {
      let prev = this.head;
      const lines = batch.map((p) => {
        const sealed = sealLine(p.prefix, prev);
        prev = sealed.hash;
        return { text: sealed.line, hash: sealed.hash, size: Buffer.byteLength(sealed.line) };
      });
      while (done < lines.length) {
        if (this.needsRotation(lines[done]!.size)) await this.rotate();
        let end = done;
        let size = 0;
        while (end < lines.length) {
          const next = lines[end]!.size;
          if (end > done && this.rotateBytes !== undefined && this.bytes + size + next > this.rotateBytes)
            break;
          size += next;
          end += 1;
        }
        const chunk = Buffer.from(
          lines
            .slice(done, end)
            .map((l) => l.text)
            .join(''),
          'utf8',
        );
        await this.writeChunk(chunk);
        this.head = lines[end - 1]!.hash;
        done = end;
      }
      if (this.fsyncPolicy === 'always') {
        await this.fh!.datasync();
        this.dirty = false;
      }
      for (const p of batch) p.resolve();
    } catch (err) {
      const failure =
        err instanceof AuditError
          ? err
          : new AuditError('AUDIT_WRITE_FAILED', `writing audit log ${this.path} failed: ${String(err)}`, {
              cause: err,
            });
      if (this.fsyncPolicy === 'always' && done === batch.length) {
        // The lines are in the file but not durable, and after a failed fsync the kernel may have
        // dropped them: stop accepting appends rather than acknowledge more that may vanish.
        this.broken = failure;
      }
      for (let i = 0; i < batch.length; i++) {
        if (i < done && this.fsyncPolicy !== 'always') batch[i]!.resolve();
        else batch[i]!.reject(failure);
      }
    }
  }

  /**
   * write(2) until the whole chunk is in; on failure, cut any partial write back off the file.
   *
   * The write is synchronous on purpose: appending a line to the page cache takes about 1 µs, while
   * an asynchronous write costs a thread-pool round trip (~35 µs measured on the CI box), which
   * would dominate the cost of every governed call. If the disk stalls, the gateway stalls with it
   * (visibly, /healthz included) instead of queueing calls that cannot be recorded anyway.
   */
  private async writeChunk(chunk: Buffer): Promise<void> {
    const fd = (await this.ensureOpen()).fd;
    const before = this.bytes;
    let off = 0;
    try {
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    } catch (err) {
      if (off > 0) {
        try {
          ftruncateSync(fd, before);
        } catch (cutErr) {
          this.broken = new AuditError(
            'AUDIT_WRITE_FAILED',
            `audit log ${this.path} ends with a partial line that could not be removed (${String(cutErr)}); ` +
              'refusing further appends',
            { cause: err },
          );
        }
      }
      throw err;
    }
    this.bytes += chunk.length;
    this.dirty = true;
  }
}
