/**
 * Errors of the audit log. Internal (never sent to an agent): the audit stage turns a failed append
 * into a denied call, because a governed call must not run unrecorded (fail closed).
 */

export type AuditErrorCode =
  /** Another writer held the append lock (`<file>.lock.db`) longer than the busy timeout (5 s). */
  | 'AUDIT_LOCKED'
  /** The existing log's last line is not a valid chain line, so the chain cannot be continued. */
  | 'AUDIT_CORRUPT'
  /** write(2) (or opening, rotating, fsync) failed; the record is not in the log. */
  | 'AUDIT_WRITE_FAILED'
  /** append() after close(). */
  | 'AUDIT_CLOSED'
  /** The event cannot be recorded (no event name, arguments that are not JSON data). */
  | 'AUDIT_INVALID_RECORD'
  /** The log file does not exist (verify, tail). */
  | 'AUDIT_NOT_FOUND';

export class AuditError extends Error {
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
  }
}
