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
 * Everything done under the lock is synchronous, so the lock is never held across a turn of the event
 * loop; another AuditLog in the same process therefore never waits on it, and another process waits at
 * most for a stat, a short read and a write (the busy timeout below is only for a writer that stalls).
 *
 * Limit: fcntl locks need a local file system (not NFS/SMB shares), as SQLite's WAL mode does.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AuditError } from './errors.js';

/** How long an append waits for another writer before failing closed. */
const BUSY_TIMEOUT_MS = 5_000;

export class AppendLock {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
  }

  /** Opens (creating with mode 0600) the lock database of the audit file `filePath`. */
  static open(filePath: string): AppendLock {
    const path = `${filePath}.lock.db`;
    try {
      if (!existsSync(path)) {
        closeSync(openSync(path, 'a', 0o600));
        chmodSync(path, 0o600);
      }
      const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      try {
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        db.pragma('journal_mode = WAL');
        return new AppendLock(path, db);
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

  /** Runs `fn` (synchronous) while holding the lock; throws AUDIT_LOCKED if it cannot be taken in time. */
  run<T>(fn: () => T): T {
    try {
      this.begin.run();
    } catch (err) {
      throw new AuditError(
        'AUDIT_LOCKED',
        `another process held the audit lock ${this.path} for more than ${BUSY_TIMEOUT_MS} ms: ${String(err)}`,
        { cause: err },
      );
    }
    try {
      return fn();
    } finally {
      this.commit.run();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
