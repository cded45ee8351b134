/**
 * Reads the last lines of a file from its end, a chunk at a time, so opening a large log (to continue
 * its chain) or `audit tail -n 20` costs a few reads rather than a scan of the whole file.
 *
 * Synchronous at heart: a writer reads the tail while it holds the append lock (another process may
 * have appended since its last write), and that section must not yield to the event loop.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

export interface LastLines {
  /** Up to `count` complete or trailing lines, oldest first, without their newline. */
  lines: Buffer[];
  /** File size when read; a follower continues from here. */
  size: number;
  /** False when the file does not end with a newline (a partial or truncated last line). */
  endsWithNewline: boolean;
}

/** The last `count` lines of the file open at `fd` (empty trailing line after the final newline not counted). */
export function readLastLinesOfFd(fd: number, count: number): LastLines {
  const { size } = fstatSync(fd);
  if (size === 0 || count <= 0) return { lines: [], size, endsWithNewline: true };
  const chunks: Buffer[] = [];
  let pos = size;
  let newlines = 0;
  let endsWithNewline = true;
  // Need count + 1 newlines (the one ending the last line and the one before the first wanted line),
  // or the start of the file.
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    let read = 0;
    while (read < len) {
      const r = readSync(fd, buf, read, len - read, pos + read);
      if (r === 0) break;
      read += r;
    }
    chunks.unshift(buf.subarray(0, read));
    if (pos + len === size) endsWithNewline = buf[read - 1] === 0x0a;
    for (let i = 0; i < read; i++) if (buf[i] === 0x0a) newlines += 1;
    if (newlines > count) break;
  }
  const all = Buffer.concat(chunks);
  const body = endsWithNewline ? all.subarray(0, all.length - 1) : all;
  const lines: Buffer[] = [];
  let end = body.length;
  // Split from the end; the first segment is dropped if it may be a partial line (pos > 0).
  for (let i = body.length - 1; i >= -1 && lines.length < count; i--) {
    if (i === -1 || body[i] === 0x0a) {
      if (i === -1 && pos > 0) break;
      lines.unshift(body.subarray(i + 1, end));
      end = i;
    }
  }
  return { lines, size, endsWithNewline };
}

/** readLastLinesOfFd for a path (throws ENOENT for a missing file). */
export function readLastLinesSync(path: string, count: number): LastLines {
  const fd = openSync(path, 'r');
  try {
    return readLastLinesOfFd(fd, count);
  } finally {
    closeSync(fd);
  }
}

/** Returns the last `count` lines of `path` (empty trailing line after the final newline not counted). */
export async function readLastLines(path: string, count: number): Promise<LastLines> {
  return readLastLinesSync(path, count);
}
