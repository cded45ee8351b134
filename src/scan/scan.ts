/**
 * `mcp-guard scan`, the library part: discover config files, read and parse them, check every server
 * entry. Static: nothing it reads is started or contacted. A file that cannot be read or parsed becomes
 * a finding or a warning, never an exception.
 */
import os from 'node:os';
import path from 'node:path';
import {
  checkEntry,
  checkFileFlags,
  checkInputFindings,
  type FindingPlace,
  fileFinding,
} from './check-entry.js';
import { checkPinFile } from './check-pins.js';
import type { HomeEnvironment } from './clients.js';
import { discover } from './discover.js';
import { extractServers, isGatewayConfig } from './extract.js';
import { type ParsedConfig, parseConfig } from './parse.js';
import { readConfigText } from './read-config.js';
import { type ConfigCandidate, type ScanFinding, type ScanResult, SEVERITY_RANK } from './types.js';

export interface ScanOptions {
  /** Files or folders to scan, relative to `cwd` or absolute. */
  readonly paths: readonly string[];
  /** The folder reported paths are relative to (the repository root in CI). */
  readonly cwd: string;
  /** Where the clients' user configs live; undefined scans only `paths` (`--no-home`). */
  readonly home?: HomeEnvironment;
  /** A pin file of `mcp-guard tools pin` to check as well (`--pins`), relative to `cwd` or absolute. */
  readonly pins?: string;
}

const READ_CONCURRENCY = 32;

/** The home environment of this process: os.homedir(), process.platform and the client env variables. */
export function currentHomeEnvironment(env: NodeJS.ProcessEnv = process.env): HomeEnvironment {
  return {
    home: os.homedir(),
    platform: process.platform,
    env,
    systemRoot: process.platform === 'win32' ? (env['SystemDrive'] ?? 'C:') + path.sep : path.sep,
  };
}

/** How a file is shown: relative to `cwd` (posix separators) when inside it, else absolute. */
export function displayPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return file;
  return rel.split(path.sep).join('/');
}

/** Scans the given paths (findings sorted by file, line, server, then most severe first) (and the clients' home configs when `home` is set). */
export async function scan(options: ScanOptions): Promise<ScanResult> {
  const absolute = options.paths.map((p) => path.resolve(options.cwd, p));
  const { candidates, warnings } = await discover(absolute, options.home);
  const homeDir = options.home?.home ?? os.homedir();
  const findings: ScanFinding[] = [];
  let files = 0;
  for (let i = 0; i < candidates.length; i += READ_CONCURRENCY) {
    const batch = candidates.slice(i, i + READ_CONCURRENCY);
    const results = await Promise.all(batch.map((c) => scanFileSafely(c, options.cwd, homeDir, warnings)));
    for (const r of results) {
      if (r === undefined) continue;
      files++;
      findings.push(...r);
    }
  }
  if (options.pins !== undefined) {
    const absolute = path.resolve(options.cwd, options.pins);
    findings.push(...(await checkPinFile(absolute, displayPath(absolute, options.cwd))));
    files++;
  }
  findings.sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      (a.server ?? '').localeCompare(b.server ?? '') ||
      SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
      a.rule.localeCompare(b.rule) ||
      a.subject.localeCompare(b.subject),
  );
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  return {
    findings,
    summary: { high: count('high'), medium: count('medium'), low: count('low'), files },
    warnings,
    root: options.cwd,
  };
}

/**
 * scanFile, with any failure it did not foresee turned into a finding about the file: one odd file
 * must not end the scan of the others, and a file that was not checked must not look clean.
 */
async function scanFileSafely(
  candidate: ConfigCandidate,
  cwd: string,
  home: string,
  warnings: string[],
): Promise<ScanFinding[] | undefined> {
  try {
    return await scanFile(candidate, cwd, home, warnings);
  } catch (err) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const place: FindingPlace = { file: displayPath(candidate.path, cwd), client: candidate.client };
    return [fileFinding('MCP-CFG-001', place, 1, `could not be checked: ${what.split('\n')[0]}`)];
  }
}

/** The findings of one file, or undefined when it turned out not to be a config (a warning instead). */
async function scanFile(
  candidate: ConfigCandidate,
  cwd: string,
  home: string,
  warnings: string[],
): Promise<ScanFinding[] | undefined> {
  const place: FindingPlace = { file: displayPath(candidate.path, cwd), client: candidate.client };
  const read = await readConfigText(candidate.path);
  if (!read.ok) {
    if (!read.finding) {
      warnings.push(`skipped ${place.file}: ${read.message}`);
      return undefined;
    }
    return [fileFinding('MCP-CFG-002', place, 1, read.message)];
  }
  const parsed = parseConfig(read.text, candidate.format);
  if (!parsed.ok) return [fileFinding('MCP-CFG-001', place, parsed.line, parsed.message)];
  if (candidate.client === 'mcp-json' && isGatewayConfig(parsed.config.value))
    return scanParsed({ ...place, client: 'mcp-guard' }, parsed.config, home);
  return scanParsed(place, parsed.config, home);
}

function scanParsed(place: FindingPlace, config: ParsedConfig, home: string): ScanFinding[] {
  const { servers, flags, inputs } = extractServers(place.client, config);
  return [
    ...servers.flatMap((s) => checkEntry(s, place, home)),
    ...checkFileFlags(flags, place),
    ...checkInputFindings(inputs, place),
  ];
}
