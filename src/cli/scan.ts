/**
 * `mcp-guard scan [PATH...] [--format text|json|sarif] [--fail-on …] [--no-home] [--pins FILE]` (SPEC §1, §7).
 * The report goes to stdout, warnings to stderr; exit 1 when findings at or above --fail-on exist,
 * exit 2 for a path that does not exist.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitError } from '../core/errors.js';
import type { HomeEnvironment } from '../scan/clients.js';
import { escapeLine } from '../scan/hidden.js';
import { renderJson } from '../scan/report-json.js';
import { renderSarif } from '../scan/report-sarif.js';
import { renderText } from '../scan/report-text.js';
import { currentHomeEnvironment, scan } from '../scan/scan.js';
import { SEVERITY_RANK, type Severity } from '../scan/types.js';

export interface ScanCommandOptions {
  paths: string[];
  format: 'text' | 'json' | 'sarif';
  failOn: Severity | 'never';
  home: boolean;
  cwd: string;
  /** A pin file of `mcp-guard tools pin` to check (`--pins`). */
  pins?: string;
}

/** What the command touches outside its options; tests replace it, the CLI uses the process's own. */
export interface ScanCommandIo {
  readonly stdout: { write(chunk: string): unknown; isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Home discovery settings; defaults to os.homedir(), process.platform and the env variables. */
  readonly homeEnvironment?: HomeEnvironment;
}

const processIo: ScanCommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** Runs `mcp-guard scan`; throws ExitError(1, '') on findings at/above --fail-on, ExitError(2, …) on usage errors. */
export async function runScanCommand(
  options: ScanCommandOptions,
  io: ScanCommandIo = processIo,
): Promise<void> {
  for (const given of [...options.paths, ...(options.pins === undefined ? [] : [options.pins])]) {
    try {
      await stat(path.resolve(options.cwd, given));
    } catch (err) {
      // Only a path that is not there is a usage error; one we may not read is reported by the scan.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new ExitError(2, `scan: no such file or folder: ${escapeLine(given)}`);
    }
  }
  const homeEnvironment = options.home ? (io.homeEnvironment ?? currentHomeEnvironment(io.env)) : undefined;
  // No path: the current folder (a project's .mcp.json, .vscode/mcp.json…) besides the home configs —
  // unless it is the home folder itself or the file-system root, whose walk would read everything.
  let paths = options.paths;
  if (paths.length === 0) {
    const here = path.resolve(options.cwd);
    const tooWide =
      homeEnvironment && (here === path.resolve(homeEnvironment.home) || here === path.parse(here).root);
    if (tooWide)
      io.stderr.write(
        `mcp-guard scan: note: the current folder (${escapeLine(here)}) was not walked, being the ${here === path.parse(here).root ? 'file-system root' : 'home folder'}: only the clients' config files were read. Name a folder to walk it (mcp-guard scan PATH).\n`,
      );
    else paths = ['.'];
  }
  const result = await scan({
    paths,
    cwd: options.cwd,
    ...(homeEnvironment ? { home: homeEnvironment } : {}),
    ...(options.pins === undefined ? {} : { pins: options.pins }),
  });

  // Warnings name files: a line feed or control character in a file name must not reach the terminal.
  for (const warning of result.warnings) io.stderr.write(`mcp-guard scan: warning: ${escapeLine(warning)}\n`);
  const color = Boolean(io.stdout.isTTY) && !io.env['NO_COLOR'];
  const home = homeEnvironment?.home;
  io.stdout.write(
    options.format === 'json'
      ? renderJson(result)
      : options.format === 'sarif'
        ? renderSarif(result)
        : renderText(result, { color, ...(home ? { home } : {}) }),
  );

  if (options.failOn === 'never') return;
  const threshold = SEVERITY_RANK[options.failOn];
  if (result.findings.some((f) => SEVERITY_RANK[f.severity] >= threshold)) throw new ExitError(1, '');
}
