/**
 * The lock every writer of one audit file takes around each append, so several gateway processes (two
 * agent windows that each launch `mcp-guard serve` on one config) write ONE hash chain into one file.
 *
 * Node has no flock(2)/fcntl(2). SQLite does, and better-sqlite3 is already a dependency: a `BEGIN
 * IMMEDIATE` transaction on a small database beside the log (`<file>.lock.db`) takes SQLite's write
 * lock, an fcntl lock that the kernel drops when its process dies — so a writer killed with -9 in the
 * middle of an append never leaves a stale lock behind, and no pid bookkeeping is needed. The
 * transaction writes nothing; taking and releasing it costs about 10 µs (WAL mode, measured on the
 * 2-core CI box), on top of the append's own ~17 µs, and one lock covers a whole batch of lines.
 *
 * Everything done under the lock is synchronous. The lock is kept across turns of the event loop while a
 * writer is busy (see the tenure below), never more than 50 ms at a time, so another process waits at
 * most that long (the busy timeout below is only for a writer that stalls).
 *
 * Limit: fcntl locks need a local file system (not NFS/SMB shares), as SQLite's WAL mode does.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AuditError } from './errors.js';

/** How long an append waits for another writer before failing closed. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * The lock is kept between appends while a writer is busy (a tenure), so a burst of appends pays for
 * taking it once rather than per batch: released when the writer has been idle for IDLE_MS, and at least
 * every MAX_TENURE_MS, so another process waits at most that long for its turn. Within one process every
 * AuditLog on a file shares one AppendLock (a second SQLite connection would wait on the first forever:
 * the wait is synchronous, on the same thread).
 */
const IDLE_MS = 5;
const MAX_TENURE_MS = 50;
/**
 * After a tenure, and while another process is seen writing, the lock is taken per batch (released at
 * once), so a process waiting for it gets in between our batches: tenure alone would starve it.
 */
const SHARE_MS = 50;
const SHARE_AFTER_OTHERS_MS = 1_000;

const shared = new Map<string, AppendLock>();

export class AppendLock {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private users = 0;
  private held = false;
  private heldSince = 0;
  private lastUse = 0;
  /** Who wrote last under this tenure: anyone else must catch up first. */
  private lastOwner: unknown;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Until then, the lock is released after every batch. */
  private shareUntil = 0;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
  }

  /** The lock of the audit file `filePath` (creating its database with mode 0600), shared in this process. */
  static open(filePath: string): AppendLock {
    const path = `${filePath}.lock.db`;
    const existing = shared.get(path);
    if (existing) {
      existing.users++;
      return existing;
    }
    try {
      if (!existsSync(path)) {
        closeSync(openSync(path, 'a', 0o600));
        chmodSync(path, 0o600);
      }
      const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      try {
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        db.pragma('journal_mode = WAL');
        const lock = new AppendLock(path, db);
        lock.users = 1;
        shared.set(path, lock);
        return lock;
      } catch (err) {
        db.close();
        throw err;
      }
    } catch (err) {
      throw new AuditError('AUDIT_WRITE_FAILED', `cannot open the audit lock ${path}: ${String(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Runs `fn` (synchronous) while holding the lock; throws AUDIT_LOCKED if it cannot be taken in time.
   * `fn` learns whether the file may have changed since `owner` last wrote (a new tenure, or another
   * writer of this process wrote meanwhile): then it must catch up before appending.
   */
  run<T>(owner: unknown, fn: (mayHaveChanged: boolean) => T): T {
    const fresh = !this.held;
    if (fresh) {
      try {
        this.begin.run();
      } catch (err) {
        throw new AuditError(
          'AUDIT_LOCKED',
          `another process held the audit lock ${this.path} for more than ${BUSY_TIMEOUT_MS} ms: ${String(err)}`,
          { cause: err },
        );
      }
      this.held = true;
      this.heldSince = Date.now();
    }
    const changed = fresh || this.lastOwner !== owner;
    this.lastOwner = owner;
    try {
      return fn(changed);
    } finally {
      const now = Date.now();
      this.lastUse = now;
      if (now < this.shareUntil) this.release();
      else if (now - this.heldSince >= MAX_TENURE_MS) {
        this.release();
        this.shareUntil = now + SHARE_MS;
      } else this.scheduleRelease();
    }
  }

  /** Another process wrote to the file: take turns per batch for a while. */
  othersWrite(): void {
    this.shareUntil = Date.now() + SHARE_AFTER_OTHERS_MS;
  }

  private scheduleRelease(): void {
    if (this.releaseTimer) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      if (!this.held) return;
      if (Date.now() - this.lastUse >= IDLE_MS || Date.now() - this.heldSince >= MAX_TENURE_MS)
        this.release();
      else this.scheduleRelease();
    }, IDLE_MS);
    this.releaseTimer.unref();
  }

  private release(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    if (!this.held) return;
    this.held = false;
    this.lastOwner = undefined;
    this.commit.run();
  }

  close(): void {
    if (--this.users > 0) return;
    shared.delete(this.path);
    this.release();
    if (this.db.open) this.db.close();
  }
}
