/**
 * What an operator can do about the failures a start meets most (a file that cannot be created, a port in
 * use, a native module built for another Node.js): one readable reason and one hint, for the CLI's
 * one-line errors (docs/errors.md#start-up-failures).
 */

/** Node's system error: `code` such as ENOENT, with the call and the path or address it was about. */
export interface SystemError extends Error {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly address?: string;
  readonly port?: number;
}

export function isSystemError(err: unknown): err is SystemError {
  if (!(err instanceof Error)) return false;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof syscall === 'string';
}

/** Errors and their causes, outermost first (bounded: a cause chain may loop). */
export function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 8; e = (e as { cause?: unknown }).cause) {
    if (out.includes(e)) break;
    out.push(e);
    if (typeof e !== 'object') break;
  }
  return out;
}

const REASONS: Readonly<Record<string, { reason: string; hint: string }>> = {
  ENOENT: { reason: 'no such file or folder', hint: 'check the path in the config' },
  EACCES: {
    reason: 'permission denied',
    hint: 'give the user running mcp-guard access to it (owner and mode of the file and its folder)',
  },
  EPERM: {
    reason: 'operation not permitted',
    hint: 'give the user running mcp-guard access to it (owner and mode of the file and its folder)',
  },
  EROFS: { reason: 'the file system is read-only', hint: 'put it on a writable volume' },
  EEXIST: {
    reason: 'a file is in the way of a folder',
    hint: 'a part of the path is a file, not a folder: fix the path or move the file',
  },
  ENOTDIR: {
    reason: 'a part of the path is not a folder',
    hint: 'a part of the path is a file, not a folder: fix the path or move the file',
  },
  EISDIR: { reason: 'it is a folder', hint: 'name a file, not a folder' },
  ENOSPC: { reason: 'no space left on the device', hint: 'free some space or use another volume' },
  EDQUOT: { reason: 'disk quota exceeded', hint: 'free some space or use another volume' },
  EMFILE: { reason: 'too many open files', hint: 'raise the limit (ulimit -n)' },
  EADDRINUSE: {
    reason: 'the address is in use',
    hint: 'stop the process that listens there, or choose another --port (http.port)',
  },
  EADDRNOTAVAIL: {
    reason: 'no such address on this machine',
    hint: 'use an address of this machine, 127.0.0.1 or 0.0.0.0 (--host, http.host)',
  },
};

/** A readable reason and a hint for a system error (the code itself when it is not a common one). */
export function explainSystemError(err: SystemError): { reason: string; hint?: string } {
  if (err.code === 'EACCES' && err.syscall === 'listen')
    return {
      reason: 'permission denied',
      hint: 'ports below 1024 need privileges: choose a port above 1023 (--port, http.port)',
    };
  const known = REASONS[err.code];
  return known ? { reason: `${known.reason} (${err.code})`, hint: known.hint } : { reason: err.code };
}

const NATIVE_PREFIX = 'the native SQLite driver (better-sqlite3)';

/**
 * The native SQLite driver failed to load: built for another Node.js or platform, or not built at all.
 * Returns a one-line description with the fix, or undefined for any other error.
 */
export function nativeModuleProblem(err: unknown): string | undefined {
  for (const e of causes(err)) {
    if (!(e instanceof Error)) continue;
    const code = (e as { code?: unknown }).code;
    const first = e.message.split('\n')[0]?.trim() ?? '';
    if (first.startsWith(NATIVE_PREFIX)) return first; // described already (open-store)
    const about = /better[-_]sqlite3|bindings file|NODE_MODULE_VERSION/.test(e.message);
    if (code === 'ERR_MODULE_NOT_FOUND' && /better-sqlite3/.test(e.message))
      return `${NATIVE_PREFIX} is not installed: run "npm install" where mcp-guard is installed`;
    if (
      code === 'ERR_DLOPEN_FAILED' ||
      (about && /bindings file|NODE_MODULE_VERSION|\.node\b/.test(e.message))
    )
      return (
        `${NATIVE_PREFIX} cannot be loaded by Node.js ${process.version} on ` +
        `${process.platform}-${process.arch} (${first}): run "npm rebuild better-sqlite3" where mcp-guard is installed`
      );
  }
  return undefined;
}
