/**
 * Reads a config file defensively: only regular files (a FIFO named mcp.json must not hang the scan),
 * never more than MAX_CONFIG_BYTES into memory, text only (NUL bytes or invalid UTF-8 mean binary),
 * UTF-8 or UTF-16 with a byte-order mark. Every failure comes back as a value, never as a throw.
 */
import { open, stat } from 'node:fs/promises';

/** Client configs are a few kilobytes; anything past this is not one, and is not read. */
export const MAX_CONFIG_BYTES = 5 * 1024 * 1024;

export type ReadOutcome =
  | { readonly ok: true; readonly text: string }
  /** The file is there but cannot be checked: a finding (MCP-CFG-002). */
  | { readonly ok: false; readonly finding: true; readonly message: string }
  /** Not a config at all (gone, a folder, a device): a warning. */
  | { readonly ok: false; readonly finding: false; readonly message: string };

/** Short, stable wording for file-system errors. */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  if (code === 'EISDIR') return 'is a folder';
  return (err as Error | undefined)?.message ?? String(err);
}

const isDenied = (err: unknown) => ['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Reads one config file as text, within the size cap. */
export async function readConfigText(file: string): Promise<ReadOutcome> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) return { ok: false, finding: false, message: 'not a regular file' };
    size = info.size;
  } catch (err) {
    return { ok: false, finding: isDenied(err), message: describeError(err) };
  }
  if (size > MAX_CONFIG_BYTES) {
    return {
      ok: false,
      finding: true,
      message: `file is ${(size / 1024 / 1024).toFixed(1)} MB, over the 5 MB limit for a config; not read`,
    };
  }
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      // Read at most one byte past the cap, in case the file grew after stat.
      const buffer = Buffer.alloc(Math.min(size, MAX_CONFIG_BYTES) + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      bytes = buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  } catch (err) {
    return { ok: false, finding: isDenied(err), message: describeError(err) };
  }
  if (bytes.length > MAX_CONFIG_BYTES) {
    return { ok: false, finding: true, message: 'file is over the 5 MB limit for a config; not read' };
  }
  return decode(bytes);
}

function decode(bytes: Buffer): ReadOutcome {
  // Windows editors sometimes save JSON as UTF-16 with a byte-order mark.
  if (bytes[0] === 0xff && bytes[1] === 0xfe)
    return { ok: true, text: new TextDecoder('utf-16le').decode(bytes.subarray(2)) };
  if (bytes[0] === 0xfe && bytes[1] === 0xff)
    return { ok: true, text: new TextDecoder('utf-16be').decode(bytes.subarray(2)) };
  if (bytes.includes(0))
    return { ok: false, finding: true, message: 'file is binary (NUL bytes), not a text config' };
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    return { ok: true, text };
  } catch {
    return { ok: false, finding: true, message: 'file is not valid UTF-8 text' };
  }
}
