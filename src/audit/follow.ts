/**
 * Follows an audit file like `tail -F`: yields each new complete line, across rotations and
 * truncation.
 *
 * Rotation: the writer closes the live file before renaming it, so once the path points to a new
 * inode the old file is final; it is read to its end, then every file rotated after it (found by
 * inode among `.N … .1`, in case several rotations happened between two polls), then the new live
 * file from its start. Polls with stat() rather than fs.watch, whose events are unreliable across
 * platforms and file systems; a 250 ms poll is cheap and invisible to a human reader.
 */

import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { listRotated } from './rotation.js';

export interface FollowOptions {
  /** Byte offset to start from in the current file (e.g. its size when the last lines were printed). */
  from: number;
  signal?: AbortSignal;
  /** Poll period in ms. Default 250. */
  pollMs?: number;
}

const READ_SIZE = 64 * 1024;

async function inodeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

interface ChainFile {
  path: string;
  ino: number;
  live: boolean;
}

/**
 * The files that follow the one with inode `doneIno` in chain order (just the live file if it is
 * gone). Positions are probed from the live file upwards: rotation renames from the oldest down,
 * so a scan in this direction may see a file twice (kept at its higher position) but never misses
 * one that moves while we look.
 */
async function filesAfter(path: string, doneIno: number): Promise<ChainFile[]> {
  const rotated = await listRotated(path);
  const top = (rotated.at(-1)?.n ?? 0) + 1;
  const byIno = new Map<number, ChainFile & { pos: number }>();
  for (let pos = 0; pos <= top; pos++) {
    const name = pos === 0 ? path : `${path}.${pos}`;
    const ino = await inodeOf(name);
    if (ino !== null) byIno.set(ino, { path: name, ino, live: pos === 0, pos });
  }
  const files = [...byIno.values()].sort((x, y) => y.pos - x.pos);
  const at = files.findIndex((f) => f.ino === doneIno);
  return at === -1 ? files.filter((f) => f.live) : files.slice(at + 1);
}

/** Yields complete new lines of `path` (as text, without newline) until the signal aborts. */
export async function* followFile(path: string, options: FollowOptions): AsyncGenerator<string> {
  const pollMs = options.pollMs ?? 250;
  const signal = options.signal;
  // Typed by assertion so that assignments inside the closures below do not leave it narrowed to null.
  let fh = null as FileHandle | null;
  let ino = -1;
  let pos = 0;
  let carry: Buffer = Buffer.alloc(0);
  const buf = Buffer.alloc(READ_SIZE);

  /** Opens `name` at `from`; false if it is missing or is no longer the inode we expected. */
  const openFile = async (name: string, from: number, expectIno?: number): Promise<boolean> => {
    let handle: FileHandle;
    try {
      handle = await open(name, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const st = await handle.stat();
    if (expectIno !== undefined && st.ino !== expectIno) {
      await handle.close();
      return false;
    }
    fh = handle;
    ino = st.ino;
    pos = from <= st.size ? from : 0;
    carry = Buffer.alloc(0);
    return true;
  };

  /** Reads what was appended since the last read and returns the complete lines. */
  const drain = async (): Promise<string[]> => {
    const lines: string[] = [];
    if (fh === null) return lines;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let data =
        carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
        lines.push(data.toString('utf8', start, nl));
        start = nl + 1;
      }
      data = data.subarray(start);
      carry = Buffer.from(data);
    }
    return lines;
  };

  /** Reads the current (final) file to its end, including a last line without newline, and closes it. */
  const finish = async (): Promise<string[]> => {
    const lines = await drain();
    if (carry.length > 0) lines.push(carry.toString('utf8'));
    await fh?.close();
    fh = null;
    return lines;
  };

  // Inode of a finished (rotated) file whose successor has not been opened yet.
  let after: number | null = null;
  try {
    await openFile(path, options.from);
    while (!signal?.aborted) {
      if (fh === null && after !== null) {
        // Walk the files rotated since `after`, oldest first, up to the live file. If the successor
        // does not exist yet (mid-rotation), `after` stays set and the walk resumes on the next poll.
        let done: number = after;
        for (let guard = 0; guard < 1000 && fh === null; guard++) {
          const next = (await filesAfter(path, done))[0];
          if (next === undefined) break;
          if (!(await openFile(next.path, 0, next.ino))) continue; // renamed meanwhile: list again
          if (next.live) {
            after = null;
          } else {
            done = ino;
            after = ino;
            yield* await finish();
          }
        }
      } else if (fh === null) {
        await openFile(path, 0); // the log did not exist yet
      }
      if (fh !== null) {
        yield* await drain();
        const current = await inodeOf(path);
        if (current !== null && current !== ino) {
          after = ino;
          yield* await finish();
          continue;
        }
        if ((await fh.stat()).size < pos) {
          pos = 0; // truncated in place
          carry = Buffer.alloc(0);
        }
      }
      try {
        await sleep(pollMs, undefined, { signal });
      } catch {
        break; // aborted
      }
    }
  } finally {
    await fh?.close();
  }
}
