import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';

const created: string[] = [];

/** Creates a temporary folder that is removed after the current test. */
export async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-guard-audit-'));
  created.push(dir);
  return dir;
}

/** Registers the cleanup of folders made with makeTempDir(); call once at the top of a test file. */
export function cleanTempDirs(): void {
  afterEach(async () => {
    for (const d of created.splice(0)) await rm(d, { recursive: true, force: true });
  });
}

/** The file's lines (without the empty string after the final newline). */
export async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A writable stream that keeps what was written. */
export class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}
