/**
 * The audit log writer: one hash-chained JSON line per event, appended with write(2) before
 * append() resolves (docs/audit.md).
 *
 * - Durability: append() resolves once the line is in the kernel (a `kill -9` of the gateway right
 *   after cannot lose it). fsync, which only adds protection against power loss and OS crashes, is a
 *   policy: 'interval' (default, once a second), 'always' (before append() resolves) or 'never'.
 * - Order: lines are chained in append() call order. Appends made in the same turn of the event loop,
 *   or while an fsync or a rotation is in flight, go out in one write (group commit), so concurrency
 *   costs fewer syscalls, not more.
 * - Several writers, one chain: every batch is sealed and written under the append lock
 *   (append-lock.ts). Holding it, a writer first catches up with what other processes did since its
 *   last write (the file grew: read the new last hash; the file was rotated: reopen the path; a writer
 *   died mid-line: cut the torn bytes off), then continues the chain from the true last line.
 * - Failure: a failed write rejects the appends it carried and is cut back off the file, so the
 *   chain stays intact; if that cut fails, the log refuses further appends (fail closed).
 */

import {
  closeSync,
  fchmodSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { atTurnEnd } from '../core/turn-end.js';
import type { RedactOptions, Redactor } from '../redact/redact-value.js';
import { createRedactor } from '../redact/redact-value.js';
import { AppendLock } from './append-lock.js';
import { checkLine, sealLine } from './chain.js';
import { AuditError } from './errors.js';
import { readLastLinesOfFd, readLastLinesSync } from './last-lines.js';
import type { AuditEvent } from './record.js';
import { GENESIS_HASH, serializeEvent } from './record.js';
import { listRotatedSync, rotateFilesSync } from './rotation.js';

const fdatasyncAsync = promisify(fdatasync);

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
 * Cuts a torn last line (bytes after the final newline) off the live file open at `fd`, keeping them in
 * a `<file>.torn-<time>` file for inspection. Such bytes come from a write cut short by a crash, kill -9
 * during a large write, or power loss; their append() never resolved, so no acknowledged record is
 * lost, and without the cut the chain could not continue. Runs under the append lock.
 */
function repairTornTail(path: string, fd: number, warn: (message: string) => void): void {
  const tail = readLastLinesOfFd(fd, 1);
  const torn = tail.lines[0];
  if (tail.endsWithNewline || torn === undefined) return;
  const keep = `${path}.torn-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  writeFileSync(keep, torn, { mode: 0o600, flag: 'wx' });
  ftruncateSync(fd, tail.size - torn.length);
  fdatasyncSync(fd);
  warn(
    `audit log ${path} ended with an incomplete line (${torn.length} bytes, a write cut short); moved it to ${keep}`,
  );
}

/** Reads the chain head (the last hash) of a log, looking into `.1` when the live file is empty. */
function readChainHead(path: string, fd: number): string {
  const candidates: Array<{ path: string; read: () => ReturnType<typeof readLastLinesOfFd> }> = [
    { path, read: () => readLastLinesOfFd(fd, 1) },
    ...listRotatedSync(path)
      .slice(0, 1)
      .map((f) => ({ path: f.path, read: () => readLastLinesSync(f.path, 1) })),
  ];
  for (const candidate of candidates) {
    let tail: ReturnType<typeof readLastLinesOfFd>;
    try {
      tail = candidate.read();
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
        `the last line of ${candidate.path} is damaged (${checked.problem}), so its hash chain cannot be continued; ` +
          `run "mcp-guard audit verify --file ${path}", then move the damaged file aside`,
      );
    }
    return checked.hash;
  }
  return GENESIS_HASH;
}

/** fsyncs a folder so that renames and new files in it survive a power loss (best effort). */
function syncDir(dir: string, warn: (message: string) => void): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
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

/** An open, hash-chained audit file, shared with any other writer through the append lock. */
export class AuditLog {
  readonly path: string;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly rotateBytes: number | undefined;
  private readonly keepFiles: number;
  private readonly redactor: Redactor;
  private readonly warn: (message: string) => void;
  private readonly lock: AppendLock;
  /** The live file as this writer has it open, and what it knew of it after its last write. */
  private fd: number | null = null;
  private ino = 0;
  private dev = 0;
  private head = GENESIS_HASH;
  private bytes = 0;
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

  private constructor(path: string, options: AuditLogOptions, redactor: Redactor, lock: AppendLock) {
    this.path = path;
    this.fsyncPolicy = options.fsync ?? 'interval';
    this.rotateBytes = options.rotateBytes;
    this.keepFiles = options.keepFiles ?? 10;
    this.redactor = redactor;
    this.warn = options.onWarning ?? (() => undefined);
    this.lock = lock;
  }

  /** Opens (creating with mode 0600) the log, continuing the chain of what is already there. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    checkOptions(options);
    const redactor = createRedactor(options.redact); // bad redact options fail before any file is touched
    const path = resolve(options.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new AuditError(
        'AUDIT_WRITE_FAILED',
        `cannot create the folder of audit log ${path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    });
    const lock = AppendLock.open(path);
    const log = new AuditLog(path, options, redactor, lock);
    try {
      lock.run(log, () => {
        log.catchUp();
        const fd = log.fd as number;
        const mode = fstatSync(fd).mode;
        // Audit lines hold agents' arguments (redacted, but still sensitive): nobody but the owner may
        // write them, and the world may not read them. Group read is left for log shippers.
        if ((mode & 0o037) !== 0) {
          const tightened = mode & 0o740;
          fchmodSync(fd, tightened);
          log.warn(
            `audit log ${path} had mode ${(mode & 0o777).toString(8)}; changed to ${tightened.toString(8)}`,
          );
        }
      });
    } catch (err) {
      log.closeFd();
      lock.close();
      throw err;
    }
    if (log.fsyncPolicy === 'interval') {
      log.timer = setInterval(() => {
        if (!log.dirty) return;
        log.syncRequested = true;
        log.kick();
      }, options.fsyncIntervalMs ?? 1000);
      // The timer must not keep a finished gateway (or a test) alive; close() syncs the rest.
      log.timer.unref();
    }
    return log;
  }

  /** Hash of the last line this writer wrote or saw (GENESIS_HASH for an empty log). */
  get lastHash(): string {
    return this.head;
  }

  /** Size of the live file in bytes, as of this writer's last append. */
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

  /** Writes what is pending, fsyncs (unless the policy is 'never'), closes the file and the lock. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.whenIdle();
    try {
      if (this.fd !== null && this.fsyncPolicy !== 'never' && this.dirty) {
        await fdatasyncAsync(this.fd).catch((err: unknown) =>
          this.warn(`audit fsync on close failed: ${String(err)}`),
        );
      }
    } finally {
      this.closeFd();
      this.lock.close();
    }
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed: nothing left to release.
    }
    this.fd = null;
  }

  private whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // Start once this turn of the event loop has run its I/O callbacks, so that the appends of every
    // call that completed in this turn share one write and one take of the lock. Starting on the next
    // microtask gave one batch per socket read (about one line each at 32 concurrent calls); the wait
    // is a few microseconds, as nothing else runs in between.
    atTurnEnd(() => void this.run());
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
    if (!this.dirty || this.fd === null) return;
    this.dirty = false;
    try {
      await fdatasyncAsync(this.fd);
    } catch (err) {
      this.dirty = true;
      this.warn(`audit fsync of ${this.path} failed: ${String(err)}`);
    }
  }

  /**
   * Under the lock: makes this writer's view of the log true again. Another process may have rotated the
   * live file (the path names a new inode: reopen it), appended to it (it grew: read the new last hash)
   * or died in the middle of a line (cut the torn bytes off first).
   */
  private catchUp(): void {
    let atPath: { ino: number; dev: number } | undefined;
    try {
      atPath = statSync(this.path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    let reopened = false;
    const firstLook = this.fd === null;
    if (this.fd === null || !atPath || atPath.ino !== this.ino || atPath.dev !== this.dev) {
      this.reopen();
      reopened = true;
    }
    const fd = this.fd as number;
    if (reopened || fstatSync(fd).size !== this.bytes) {
      // Someone else writes this file too: the lock is shared per batch for a while (append-lock.ts).
      if (!firstLook) this.lock.othersWrite();
      repairTornTail(this.path, fd, this.warn);
      this.head = readChainHead(this.path, fd);
      this.bytes = fstatSync(fd).size;
    }
  }

  /** (Re)opens the live file by its path, creating it; what the old descriptor wrote is synced first. */
  private reopen(): void {
    if (this.fd !== null) {
      if (this.dirty && this.fsyncPolicy !== 'never') {
        try {
          fdatasyncSync(this.fd);
        } catch (err) {
          this.warn(`audit fsync of a rotated file failed: ${String(err)}`);
        }
      }
      this.dirty = false;
      this.closeFd();
    }
    // a+: appends always go to the end (O_APPEND), and the tail can be read back under the lock.
    const fd = openSync(this.path, 'a+', 0o600);
    const st = fstatSync(fd);
    this.fd = fd;
    this.ino = st.ino;
    this.dev = st.dev;
    this.bytes = st.size;
  }

  private rotate(): void {
    // The rotated file is final: make it durable before it moves.
    if (this.fsyncPolicy !== 'never' && this.dirty && this.fd !== null) fdatasyncSync(this.fd);
    this.dirty = false;
    this.closeFd();
    try {
      rotateFilesSync(this.path, this.keepFiles);
    } catch (err) {
      this.rotateAgainAt = Date.now() + ROTATE_RETRY_MS;
      this.warn(`audit rotation of ${this.path} failed, writing on in the same file: ${String(err)}`);
    }
    this.reopen();
    if (this.fsyncPolicy !== 'never') syncDir(dirname(this.path), this.warn);
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
      this.lock.run(this, (mayHaveChanged) => {
        // Within one tenure of the lock nobody else wrote since this writer did: no need to look.
        if (mayHaveChanged) this.catchUp();
        let prev = this.head;
        const lines = batch.map((p) => {
          const sealed = sealLine(p.prefix, prev);
          prev = sealed.hash;
          return { text: sealed.line, hash: sealed.hash, size: Buffer.byteLength(sealed.line) };
        });
        while (done < lines.length) {
          if (this.needsRotation(lines[done]!.size)) this.rotate();
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
          this.writeChunk(chunk);
          this.head = lines[end - 1]!.hash;
          done = end;
        }
      });
      if (this.fsyncPolicy === 'always') {
        await fdatasyncAsync(this.fd as number);
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
   * would dominate the cost of every governed call — and it happens under the append lock, which must
   * not be held across the event loop. If the disk stalls, the gateway stalls with it (visibly,
   * /healthz included) instead of queueing calls that cannot be recorded anyway.
   */
  private writeChunk(chunk: Buffer): void {
    if (this.fd === null) this.reopen();
    const fd = this.fd as number;
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
