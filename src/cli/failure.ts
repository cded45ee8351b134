/**
 * How a command that could not run ends (SPEC §1, §3a): one line on stderr saying what failed and what
 * to do, exit 1. Only an error nobody foresaw — a bug — ends with exit 70 (EX_SOFTWARE), still in one
 * line; `MCP_GUARD_LOG_LEVEL=debug` adds its stack trace. docs/errors.md#start-up-failures lists them.
 */
import { AuditError } from '../audit/errors.js';
import { GatewayError } from '../core/errors.js';
import { explainSystemError, isSystemError, nativeModuleProblem } from '../core/system-errors.js';

export interface Failure {
  /** One line, without the `mcp-guard: ` prefix. */
  readonly line: string;
  readonly exitCode: 1 | 70;
}

/** Exit code of an internal error (a bug), from sysexits.h. */
export const EXIT_INTERNAL = 70;

const VERBS: Readonly<Record<string, string>> = {
  open: 'open',
  mkdir: 'create the folder',
  listen: 'listen on',
  bind: 'listen on',
  read: 'read',
  write: 'write',
  scandir: 'list',
  stat: 'find',
  lstat: 'find',
  unlink: 'remove',
  rename: 'rename',
  connect: 'connect to',
  chmod: 'change the mode of',
  fchmod: 'change the mode of',
};

const firstLine = (text: string) => text.split('\n')[0]?.trim() ?? '';

/** The line and exit code for an error that ended a command (ExitError aside, which carries its own). */
export function describeFailure(err: unknown): Failure {
  const native = nativeModuleProblem(err);
  if (native) return { line: native, exitCode: 1 };
  if (err instanceof AuditError) return { line: auditLine(err), exitCode: 1 };
  if (err instanceof GatewayError && err.code !== 'INTERNAL')
    return { line: firstLine(err.message), exitCode: 1 };
  if (isSystemError(err)) {
    const target =
      err.path ?? (err.address === undefined ? undefined : `${err.address}${err.port ? `:${err.port}` : ''}`);
    const { reason, hint } = explainSystemError(err);
    const what = `cannot ${VERBS[err.syscall ?? ''] ?? err.syscall}${target ? ` ${target}` : ''}`;
    return { line: `${what}: ${reason}${hint ? `; ${hint}` : ''}`, exitCode: 1 };
  }
  const message = err instanceof Error ? `${err.name}: ${firstLine(err.message)}` : firstLine(String(err));
  return {
    line: `unexpected error: ${message} (an internal error: please report it; MCP_GUARD_LOG_LEVEL=debug shows where)`,
    exitCode: EXIT_INTERNAL,
  };
}

function auditLine(err: AuditError): string {
  const line = firstLine(err.message);
  switch (err.code) {
    case 'AUDIT_LOCKED':
      return `${line}; another mcp-guard writing that audit log seems stuck: stop it, or give this one its own policies.audit_log`;
    case 'AUDIT_WRITE_FAILED': {
      const cause = err.cause;
      const hint = isSystemError(cause) ? explainSystemError(cause).hint : undefined;
      return `${line}; ${hint ?? 'check policies.audit_log and that the user running mcp-guard may write its folder'}`;
    }
    default:
      // AUDIT_CORRUPT says what to do itself (audit verify, then move the file aside).
      return line;
  }
}
