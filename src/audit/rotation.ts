/**
 * Size-based rotation with logrotate's numbering: `audit.jsonl` is the live file, `audit.jsonl.1` the
 * most recent rotated one, up to `audit.jsonl.<keepFiles>`, the oldest. The chain runs through them
 * in that order (oldest number first), so the first line of a new live file links to the last line
 * of `.1`.
 *
 * Rotation runs inside the append lock (several processes may write one log), so it is synchronous.
 */
import { readdirSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface RotatedFile {
  n: number;
  path: string;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The rotated files of `path` that exist, most recent (`.1`) first. */
export function listRotatedSync(path: string): RotatedFile[] {
  const dir = dirname(path);
  const re = new RegExp(`^${escapeRegExp(basename(path))}\\.([1-9][0-9]{0,5})$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: RotatedFile[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (m) out.push({ n: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** The rotated files of `path` that exist, most recent (`.1`) first. */
export async function listRotated(path: string): Promise<RotatedFile[]> {
  return listRotatedSync(path);
}

function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Moves the live file to `.1`, shifting older files up by one and deleting those that would pass
 * `keepFiles`. Renames go from the oldest down, so a crash part-way leaves a gap in the numbers but
 * never overwrites a file; verify follows the chain across such a gap.
 */
export function rotateFilesSync(path: string, keepFiles: number): void {
  const rotated = listRotatedSync(path);
  for (const file of rotated) if (file.n >= keepFiles) unlinkIfExists(file.path);
  for (const file of rotated.filter((f) => f.n < keepFiles).reverse()) {
    renameSync(file.path, `${path}.${file.n + 1}`);
  }
  renameSync(path, `${path}.1`);
}
