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
 * writer is busy (see the tenure below). SQLite cannot tell a holder that someone waits, so a writer that
 * finds the lock taken says so first: it holds the write lock of a second small database
 * (`<file>.wait.db`) while it waits. Every 50 ms a busy holder looks there (one `BEGIN IMMEDIATE` that
 * fails at once when a waiter holds it) and, when someone waits, lets go after every batch for a while,
 * taking it back only through the wait database (a hand-over, see acquire()). A lone writer thus never
 * pays for sharing (at C=1 that was three fcntl and two stat calls per call), and a waiter gets in after
 * at most one look plus the batch in progress (the busy timeout below is for a writer that stalls).
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
 * taking it once rather than per batch: released when the writer has been idle for IDLE_MS. Every
 * MAX_TENURE_MS the holder looks for waiters; when there is one it releases, and for SHARE_MS takes the
 * lock per batch (released at once), so the waiter gets in between our batches. Within one process every
 * AuditLog on a file shares one AppendLock (a second SQLite connection would wait on the first forever:
 * the wait is synchronous, on the same thread).
 */
const IDLE_MS = 5;
const MAX_TENURE_MS = 50;
const SHARE_MS = 1_000;

const shared = new Map<string, AppendLock>();

export class AppendLock {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  /** `<file>.wait.db`: its write lock is held by whoever waits for this lock (busy timeout: ours). */
  private readonly queue: Database.Database;
  private readonly queueBegin: Database.Statement;
  private readonly queueCommit: Database.Statement;
  /** The same database with no busy timeout: a holder's look for waiters. */
  private readonly probe: Database.Database;
  private readonly probeBegin: Database.Statement;
  private readonly probeCommit: Database.Statement;
  private users = 0;
  private held = false;
  private heldSince = 0;
  private lastUse = 0;
  /** Who wrote last under this tenure: anyone else must catch up first. */
  private lastOwner: unknown;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Until then, the lock is released after every batch. */
  private shareUntil = 0;

  private constructor(
    path: string,
    db: Database.Database,
    queue: Database.Database,
    probe: Database.Database,
  ) {
    this.path = path;
    this.db = db;
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.queue = queue;
    this.queueBegin = queue.prepare('BEGIN IMMEDIATE');
    this.queueCommit = queue.prepare('COMMIT');
    this.probe = probe;
    this.probeBegin = probe.prepare('BEGIN IMMEDIATE');
    this.probeCommit = probe.prepare('COMMIT');
  }

  /** The lock of the audit file `filePath` (creating its database with mode 0600), shared in this process. */
  static open(filePath: string): AppendLock {
    const path = `${filePath}.lock.db`;
    const existing = shared.get(path);
    if (existing) {
      existing.users++;
      return existing;
    }
    const opened: Database.Database[] = [];
    try {
      const connect = (file: string, timeoutMs: number) => {
        if (!existsSync(file)) {
          closeSync(openSync(file, 'a', 0o600));
          chmodSync(file, 0o600);
        }
        const db = new Database(file, { timeout: timeoutMs });
        opened.push(db);
        db.pragma(`busy_timeout = ${timeoutMs}`);
        return db;
      };
      const db = connect(path, BUSY_TIMEOUT_MS);
      walMode(db);
      // From now on the lock is first tried without waiting; acquire() queues up and waits when it is taken.
      db.pragma('busy_timeout = 0');
      const waitPath = `${filePath}.wait.db`;
      const queue = connect(waitPath, BUSY_TIMEOUT_MS);
      // WAL here too: in rollback mode an empty COMMIT fails with SQLITE_BUSY while another connection
      // reads, which a holder's zero-timeout look would meet whenever a waiter is retrying.
      walMode(queue);
      const lock = new AppendLock(path, db, queue, connect(waitPath, 0));
      lock.users = 1;
      shared.set(path, lock);
      return lock;
    } catch (err) {
      for (const db of opened) db.close();
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
      this.acquire();
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
      if (now < this.shareUntil || this.tenureEnds(now)) this.release();
      else this.scheduleRelease();
    }
  }

  /** Another process wrote to the file: take turns per batch for a while. */
  othersWrite(): void {
    this.shareUntil = Date.now() + SHARE_MS;
  }

  /**
   * Takes the lock: at once when it is free, else queued where the holder can see us. While sharing
   * (someone waited or wrote lately), always through the queue: a waiter holds the queue until it has the
   * lock, so we cannot take the lock straight back after our batch while it polls (SQLite's busy handler
   * sleeps up to 100 ms between tries, and back-to-back batches leave it only microseconds).
   */
  private acquire(): void {
    if (Date.now() >= this.shareUntil) {
      try {
        this.begin.run();
        return;
      } catch (err) {
        if (!isBusy(err)) throw lockError(this.path, err);
      }
    }
    const started = Date.now();
    let queued = false;
    try {
      this.queueBegin.run(); // behind other waiters, if any
      queued = true;
      const left = Math.max(1, BUSY_TIMEOUT_MS - (Date.now() - started));
      this.db.pragma(`busy_timeout = ${left}`);
      try {
        this.begin.run();
      } finally {
        this.db.pragma('busy_timeout = 0');
      }
      // Whoever held it may write again soon: take turns per batch for a while.
      this.shareUntil = Date.now() + SHARE_MS;
    } catch (err) {
      throw lockError(this.path, err);
    } finally {
      if (queued) leaveQueue(this.queue, this.queueCommit);
    }
  }

  /**
   * At the end of each MAX_TENURE_MS of holding: true (release, and share for SHARE_MS) when another
   * process waits; else the tenure goes on.
   */
  private tenureEnds(now: number): boolean {
    if (now - this.heldSince < MAX_TENURE_MS) return false;
    this.heldSince = now;
    if (!this.someoneWaits()) return false;
    this.shareUntil = now + SHARE_MS;
    return true;
  }

  /**
   * Whether a writer holds `<file>.wait.db`, i.e. waits for this lock. Runs in a timer and after a batch
   * was written, so it never throws: a look that fails for another reason counts as a waiter (the
   * holder then shares, as it always did before waiters said so).
   */
  private someoneWaits(): boolean {
    try {
      this.probeBegin.run();
    } catch {
      return true;
    }
    leaveQueue(this.probe, this.probeCommit);
    return false;
  }

  private scheduleRelease(): void {
    if (this.releaseTimer) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      if (!this.held) return;
      const now = Date.now();
      if (now - this.lastUse >= IDLE_MS || this.tenureEnds(now)) this.release();
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
    try {
      this.release();
    } finally {
      for (const db of [this.db, this.queue, this.probe]) if (db.open) db.close();
    }
  }
}

/**
 * Ends a transaction on `<file>.wait.db` and never throws: its lock must not stay held (every waiter
 * would wait it out and fail), and a throw here would lose the append lock's own state.
 */
function leaveQueue(db: Database.Database, commit: Database.Statement): void {
  try {
    commit.run();
  } catch {
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // the connection is unusable: its next BEGIN fails (a holder then counts a waiter)
    }
  }
}

/**
 * Switches a new connection to WAL mode. Two writers opening one fresh lock file together can meet
 * SQLITE_BUSY here at once, without SQLite's busy handler being asked (switching the journal mode takes
 * an exclusive lock, and waiting for it could deadlock): seen as one of two gateways started together
 * failing to open its audit log. Tried again for up to BUSY_TIMEOUT_MS, as a busy handler would.
 */
function walMode(db: Database.Database): void {
  const started = Date.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!isBusy(err) || Date.now() - started >= BUSY_TIMEOUT_MS) throw err;
      Atomics.wait(pause, 0, 0, wait); // open() is synchronous: a short sleep, as SQLite's own handler does
    }
  }
}

/**
 * What a failure to take the lock means: busy past the timeout is another writer holding on
 * (AUDIT_LOCKED); anything else (the disk, permissions, a damaged lock file) is AUDIT_WRITE_FAILED.
 */
export function lockError(path: string, err: unknown): AuditError {
  if (!isBusy(err))
    return new AuditError('AUDIT_WRITE_FAILED', `cannot take the audit lock ${path}: ${String(err)}`, {
      cause: err,
    });
  return new AuditError(
    'AUDIT_LOCKED',
    `another process held the audit lock ${path} for more than ${BUSY_TIMEOUT_MS} ms: ${String(err)}`,
    { cause: err },
  );
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
