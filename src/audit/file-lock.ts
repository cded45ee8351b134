/**
 * An advisory single-writer lock for an audit file: `<file>.lock` holding the owner's pid and host.
 *
 * Two gateways appending to one audit file would interleave two chains and break verification, so
 * the second writer must fail at startup with a clear message instead. Hand-written rather than
 * using proper-lockfile (only a transitive dependency here, and its mtime-based staleness would
 * need a heartbeat): our owner is a process, so "is that pid alive" is the exact staleness test.
 *
 * The lock file is created whole with link(2) from a temporary file, so nobody ever reads a
 * half-written lock. A lock whose pid is dead (kill -9, crash) is taken over. Limits, documented in
 * docs/audit.md: a lock written on another host is never taken over automatically, and a reused
 * pid makes a stale lock look alive (delete the `.lock` file by hand after checking).
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AuditError } from './errors.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/** Paths locked by this process: a second AuditLog on the same file in one process is refused too. */
const heldHere = new Set<string>();

function parseOwner(text: string): LockOwner | null {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string') {
      return { pid: v.pid, host: v.host, since: String(v.since ?? '') };
    }
  } catch {
    // fall through: unreadable content is a stale lock
  }
  return null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the recorded owner can be taken over: dead, unreadable, or this very pid in an earlier life. */
function isStale(owner: LockOwner | null): boolean {
  if (owner === null) return true;
  if (owner.host !== hostname()) return false;
  // Our own pid but not held by this process: a previous incarnation (containers restart as pid 1).
  if (owner.pid === process.pid) return true;
  return !isAlive(owner.pid);
}

async function readOwner(lockPath: string): Promise<{ text: string; owner: LockOwner | null } | null> {
  try {
    const text = await readFile(lockPath, 'utf8');
    return { text, owner: parseOwner(text) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function tryCreate(lockPath: string, content: string): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function describe(lockPath: string, owner: LockOwner | null): string {
  const who = owner
    ? `pid ${owner.pid} on ${owner.host}${owner.since ? ` since ${owner.since}` : ''}`
    : 'another writer';
  return (
    `audit log is in use by ${who} (lock ${lockPath}); only one gateway process may write an audit file. ` +
    'If that process is gone, delete the lock file.'
  );
}

/** A held lock; release() removes the lock file if it is still ours. */
export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Takes the single-writer lock of `filePath` or throws AuditError AUDIT_LOCKED. */
export async function acquireFileLock(filePath: string): Promise<FileLock> {
  const lockPath = `${filePath}.lock`;
  if (heldHere.has(lockPath)) {
    throw new AuditError(
      'AUDIT_LOCKED',
      describe(lockPath, { pid: process.pid, host: hostname(), since: '' }),
    );
  }
  heldHere.add(lockPath);
  const content = `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await tryCreate(lockPath, content)) return makeLock(lockPath, content);
      const current = await readOwner(lockPath);
      if (current === null) continue; // released meanwhile: try again
      if (!isStale(current.owner)) throw new AuditError('AUDIT_LOCKED', describe(lockPath, current.owner));
      // Take over: move the stale lock aside, then make sure what we moved is the stale one. If a
      // competitor replaced it in between, put theirs back and report it as the owner.
      const aside = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
      try {
        await rename(lockPath, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = await readFile(aside, 'utf8').catch(() => '');
      if (moved !== current.text && !isStale(parseOwner(moved))) {
        await link(aside, lockPath).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
        throw new AuditError('AUDIT_LOCKED', describe(lockPath, parseOwner(moved)));
      }
      await unlink(aside).catch(() => undefined);
    }
    throw new AuditError('AUDIT_LOCKED', `could not take the audit lock ${lockPath} (contended)`);
  } catch (err) {
    heldHere.delete(lockPath);
    throw err;
  }
}

function makeLock(lockPath: string, content: string): FileLock {
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(lockPath);
      const current = await readOwner(lockPath).catch(() => null);
      if (current?.text === content) await unlink(lockPath).catch(() => undefined);
    },
  };
}
