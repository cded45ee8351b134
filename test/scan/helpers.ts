import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkEntry } from '../../src/scan/check-entry.js';
import type { HomeEnvironment } from '../../src/scan/clients.js';
import { extractServers } from '../../src/scan/extract.js';
import { parseConfig } from '../../src/scan/parse.js';
import { scan } from '../../src/scan/scan.js';
import type { ClientId, Format, ScanFinding, ScanResult } from '../../src/scan/types.js';

/** test/fixtures/scan */
export const FIXTURES = fileURLToPath(new URL('../fixtures/scan/', import.meta.url));

/** A home environment rooted in the fixture tree (home/ and system/). */
export function fixtureHome(platform: NodeJS.Platform, env: Record<string, string> = {}): HomeEnvironment {
  return { home: path.join(FIXTURES, 'home'), platform, env, systemRoot: path.join(FIXTURES, 'system') };
}

/** One line per finding, `file:line server RULE`, for exact comparisons. */
export function compact(findings: readonly ScanFinding[]): string[] {
  return findings.map((f) => `${f.file}:${f.line} ${f.server ?? '(file)'} ${f.rule}`);
}

/** Findings for a config given as text, checked in memory (no file system). */
export function findingsOf(
  text: string,
  client: ClientId = 'claude-code',
  format: Format = 'json',
): ScanFinding[] {
  const parsed = parseConfig(text, format);
  if (!parsed.ok) throw new Error(parsed.message);
  const { servers } = extractServers(client, parsed.config);
  return servers.flatMap((s) => checkEntry(s, { file: 'config', client }, '/home/dev'));
}

/** Findings for one server entry of a `.mcp.json`. */
export function serverFindings(server: Record<string, unknown>): ScanFinding[] {
  return findingsOf(JSON.stringify({ mcpServers: { s: server } }));
}

/** The rule ids found for one server entry, sorted. */
export function rulesOf(server: Record<string, unknown>): string[] {
  return [...new Set(serverFindings(server).map((f) => f.rule))].sort();
}

export function tempDir(prefix = 'mcp-guard-scan-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes the given files (path relative to a fresh temp folder → content; objects are written as
 * JSON) and scans that folder with --no-home; the folder is removed afterwards.
 */
export async function scanFiles(files: Record<string, string | object>): Promise<ScanResult> {
  const dir = tempDir();
  try {
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(dir, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
    }
    return await scan({ paths: ['.'], cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
