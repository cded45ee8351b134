import { SqliteError } from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { lockError } from './append-lock.js';

describe('lockError', () => {
  it('calls a busy lock AUDIT_LOCKED and any other SQLite failure AUDIT_WRITE_FAILED', () => {
    const busy = lockError('/x/a.jsonl.lock.db', new SqliteError('database is locked', 'SQLITE_BUSY'));
    expect(busy.code).toBe('AUDIT_LOCKED');
    expect(busy.message).toContain('another process held the audit lock /x/a.jsonl.lock.db');

    const io = lockError('/x/a.jsonl.lock.db', new SqliteError('disk I/O error', 'SQLITE_IOERR_WRITE'));
    expect(io.code).toBe('AUDIT_WRITE_FAILED');
    expect(io.message).toBe('cannot take the audit lock /x/a.jsonl.lock.db: SqliteError: disk I/O error');
    expect(io.cause).toBeInstanceOf(SqliteError);
  });
});
