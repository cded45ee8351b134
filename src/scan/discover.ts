/**
 * Finds the config files to scan: the clients' home and system locations (when home discovery is
 * on) and every client config under the given folders. Static and bounded: symlinked folders are not
 * followed (no loops, no escaping the tree), node_modules and VCS folders are skipped, and folders that
 * cannot be listed become warnings.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { classifyFile, classifyGivenFile, type HomeEnvironment, homeLocations } from './clients.js';
import { describeError } from './read-config.js';
import type { ConfigCandidate } from './types.js';

const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn']);
const MAX_DEPTH = 64;
const LIST_CONCURRENCY = 16;

export interface Discovery {
  readonly candidates: ConfigCandidate[];
  readonly warnings: string[];
}

/** Finds the candidates under `paths` (absolute) and, when `home` is given, in the clients' locations. */
export async function discover(
  paths: readonly string[],
  home: HomeEnvironment | undefined,
): Promise<Discovery> {
  const found = new Map<string, ConfigCandidate>();
  const warnings: string[] = [];
  const add = (c: ConfigCandidate) => {
    if (!found.has(c.path)) found.set(c.path, c);
  };

  if (home) {
    for (const location of homeLocations(home)) {
      for (const file of await expand(location.file)) {
        try {
          if ((await stat(file)).isFile())
            add({ path: file, client: location.client, format: location.format });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ENOTDIR')
            warnings.push(`cannot check ${file}: ${describeError(err)}`);
        }
      }
    }
  }

  const folders: string[] = [];
  for (const given of paths) {
    try {
      const info = await stat(given);
      if (info.isDirectory()) folders.push(given);
      else add({ path: given, ...classifyGivenFile(given) });
    } catch (err) {
      // A path inside a folder we may not search: it may well exist, so the reader reports it as a
      // file that cannot be checked (a finding) rather than a warning nobody reads.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') add({ path: given, ...classifyGivenFile(given) });
      else warnings.push(`cannot read ${given}: ${describeError(err)}`);
    }
  }
  await walk(folders, add, warnings);
  return { candidates: [...found.values()], warnings };
}

/** Expands one `*` in a path segment (e.g. `Packages/Claude_*`); a path without one is returned as is. */
async function expand(pattern: string): Promise<string[]> {
  const segments = pattern.split(path.sep);
  const at = segments.findIndex((s) => s.includes('*'));
  if (at < 0) return [pattern];
  const parent = segments.slice(0, at).join(path.sep) || path.sep;
  const [prefix = '', suffix = ''] = (segments[at] as string).split('*');
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith(suffix) && n.length >= prefix.length + suffix.length)
    .sort()
    .map((n) => path.join(parent, n, ...segments.slice(at + 1)));
}

/**
 * True when a symlink found in a walked folder resolves inside that folder. A repository can commit a
 * link named .mcp.json that points at a file of the CI runner (~/.docker/config.json); such links are
 * not read. A dangling link counts as inside, so the reader reports it.
 */
async function insideRoot(link: string, root: string): Promise<boolean> {
  let target: string;
  try {
    target = await realpath(link);
  } catch {
    return true;
  }
  const rel = path.relative(root, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Runs at most `n` of the given tasks at once (keeps a huge tree from exhausting file handles). */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Walks the given folders, listing at most LIST_CONCURRENCY folders at a time. */
async function walk(
  roots: readonly string[],
  add: (c: ConfigCandidate) => void,
  warnings: string[],
): Promise<void> {
  const limit = limiter(LIST_CONCURRENCY);
  const visit = async (root: string, dir: string, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await limit(() => readdir(dir, { withFileTypes: true }));
    } catch (err) {
      warnings.push(`cannot list ${dir}: ${describeError(err)}`);
      return;
    }
    const subdirs: string[] = [];
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && depth < MAX_DEPTH) subdirs.push(full);
        continue;
      }
      const known = classifyFile(full);
      if (!known) continue;
      // A FIFO, socket or device named like a config is never opened: reading a FIFO would block.
      if (entry.isFile()) add({ path: full, ...known });
      else if (!entry.isSymbolicLink()) warnings.push(`skipped ${full}: not a regular file`);
      else if (await insideRoot(full, root)) add({ path: full, ...known });
      else warnings.push(`skipped ${full}: symbolic link that leaves ${root}`);
    }
    await Promise.all(subdirs.map((sub) => visit(root, sub, depth + 1)));
  };
  await Promise.all(
    roots.map(async (root) => {
      const real = await realpath(root).catch(() => root);
      await visit(real, root, 0);
    }),
  );
}
