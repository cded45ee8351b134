/**
 * `mcp-guard scan` as a command: exit codes (SPEC §1), --fail-on, --no-home, formats, colour and
 * where warnings go. In process through runScanCommand, plus the built CLI for the real exit codes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScanCommand, type ScanCommandIo, type ScanCommandOptions } from '../../src/cli/scan.js';
import { ExitError } from '../../src/core/errors.js';
import { CLI } from '../helpers/paths.js';
import { FIXTURES, fixtureHome, tempDir } from './helpers.js';

interface Captured {
  stdout: string;
  stderr: string;
  exit: number;
  error: string;
}

async function run(
  options: Partial<ScanCommandOptions>,
  io: Partial<ScanCommandIo> & { isTTY?: boolean } = {},
): Promise<Captured> {
  const out: Captured = { stdout: '', stderr: '', exit: 0, error: '' };
  const full: ScanCommandIo = {
    stdout: { write: (s: string) => (out.stdout += s), isTTY: io.isTTY ?? false },
    stderr: { write: (s: string) => (out.stderr += s) },
    env: io.env ?? {},
    homeEnvironment: io.homeEnvironment ?? fixtureHome('linux'),
  };
  try {
    await runScanCommand(
      {
        paths: [],
        format: 'json',
        failOn: 'high',
        home: false,
        cwd: path.join(FIXTURES, 'repo'),
        ...options,
      },
      full,
    );
  } catch (err) {
    if (!(err instanceof ExitError)) throw err;
    out.exit = err.exitCode;
    out.error = err.message;
  }
  return out;
}

let mediumOnly: string;

beforeAll(() => {
  mediumOnly = tempDir();
  writeFileSync(
    path.join(mediumOnly, '.mcp.json'),
    JSON.stringify({ mcpServers: { s: { command: 'node', args: ['a.js'] } } }),
  );
});

afterAll(() => {
  rmSync(mediumOnly, { recursive: true, force: true });
});

describe('runScanCommand', () => {
  it('exits 1 (with no message) on findings at or above --fail-on, 0 below it or with never', async () => {
    expect(await run({ failOn: 'high' })).toMatchObject({ exit: 1, error: '' });
    expect((await run({ failOn: 'never' })).exit).toBe(0);
    expect((await run({ cwd: mediumOnly, failOn: 'high' })).exit).toBe(0);
    expect((await run({ cwd: mediumOnly, failOn: 'medium' })).exit).toBe(1);
    expect((await run({ cwd: mediumOnly, failOn: 'low' })).exit).toBe(1);
    expect((await run({ paths: ['clean'], cwd: FIXTURES, failOn: 'low' })).exit).toBe(0);
  });

  it('still prints the whole report when it exits 1', async () => {
    const out = await run({ failOn: 'high' });
    const report = JSON.parse(out.stdout) as { summary: { high: number; files: number } };
    expect(report.summary).toMatchObject({ high: 16, files: 9 });
  });

  it('exits 2 for a path that does not exist, before scanning anything', async () => {
    const out = await run({ paths: ['.', 'no/such/dir'] });
    expect(out).toMatchObject({ exit: 2, error: 'scan: no such file or folder: no/such/dir', stdout: '' });
  });

  it('scans the current folder when no path is given, with or without the home configs', async () => {
    const noHome = JSON.parse((await run({ home: false })).stdout) as { findings: Array<{ file: string }> };
    expect(noHome.findings.some((f) => f.file === '.mcp.json')).toBe(true);
    // A project folder: its configs and the clients' home and system configs.
    const both = await run({ home: true, cwd: path.join(FIXTURES, 'repo') });
    expect(both.stderr).toBe('');
    const files = (JSON.parse(both.stdout) as { findings: Array<{ file: string }> }).findings.map(
      (f) => f.file,
    );
    expect(files).toContain('.mcp.json');
    expect(files.some((f) => f.startsWith(path.join(FIXTURES, 'home')))).toBe(true);
    expect(files.some((f) => f.startsWith(path.join(FIXTURES, 'system')))).toBe(true);
  });

  it('does not walk the home folder itself (or the root), and says so', async () => {
    const home = tempDir();
    try {
      const server = JSON.stringify({ mcpServers: { s: { command: 'node', args: ['a.js'] } } });
      mkdirSync(path.join(home, '.cursor'));
      writeFileSync(path.join(home, '.cursor', 'mcp.json'), server); // a client's home location
      mkdirSync(path.join(home, 'project'));
      writeFileSync(path.join(home, 'project', '.mcp.json'), server); // found only by walking
      const homeEnvironment = {
        home,
        platform: 'linux' as const,
        env: {},
        systemRoot: path.join(home, 'none'),
      };
      const filesOf = (out: Captured) =>
        (JSON.parse(out.stdout) as { findings: Array<{ file: string }> }).findings.map((f) => f.file).sort();

      const atHome = await run({ home: true, cwd: home }, { homeEnvironment });
      expect(atHome.stderr).toBe(
        `mcp-guard scan: note: the current folder (${home}) was not walked, being the home folder: only the clients' config files were read. Name a folder to walk it (mcp-guard scan PATH).\n`,
      );
      expect(filesOf(atHome)).toEqual(['.cursor/mcp.json']);

      const inProject = await run({ home: true, cwd: path.join(home, 'project') }, { homeEnvironment });
      expect(inProject.stderr).toBe('');
      expect(filesOf(inProject)).toEqual(['.mcp.json', path.join(home, '.cursor', 'mcp.json')].sort());

      const atRoot = await run({ home: true, cwd: path.parse(home).root }, { homeEnvironment });
      expect(atRoot.stderr).toContain('was not walked, being the file-system root');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('writes SARIF when asked', async () => {
    const out = await run({ format: 'sarif', failOn: 'never' });
    expect((JSON.parse(out.stdout) as { version: string }).version).toBe('2.1.0');
  });

  it('colours text only on a TTY without NO_COLOR', async () => {
    expect((await run({ format: 'text', failOn: 'never' }, { isTTY: true })).stdout).toContain('\u001b[');
    expect(
      (await run({ format: 'text', failOn: 'never' }, { isTTY: true, env: { NO_COLOR: '1' } })).stdout,
    ).not.toContain('\u001b[');
    expect((await run({ format: 'text', failOn: 'never' }, { isTTY: false })).stdout).not.toContain(
      '\u001b[',
    );
  });

  it('writes warnings to stderr, never into the report', async () => {
    const dir = tempDir();
    try {
      writeFileSync(path.join(dir, '.mcp.json'), '{}');
      // A dangling symlink named like a config.
      symlinkSync(path.join(dir, 'gone.json'), path.join(dir, 'mcp.json'));
      const out = await run({ cwd: dir, format: 'json' });
      expect(out.stderr).toBe('mcp-guard scan: warning: skipped mcp.json: no such file or folder\n');
      expect(JSON.parse(out.stdout)).toEqual({
        findings: [],
        summary: { high: 0, medium: 0, low: 0, files: 1 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the built CLI (dist/cli/main.js)', () => {
  const cli = (args: string[], cwd = FIXTURES) =>
    spawnSync(process.execPath, [CLI, 'scan', ...args], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
  });

  it('exits 0, 1 and 2 as SPEC §1 says', () => {
    const clean = cli(['--no-home', 'clean']);
    expect(clean.status).toBe(0);
    expect(clean.stdout).toBe('No findings — 2 MCP config files scanned.\n');
    const bad = cli(['--no-home', '--format', 'json', 'repo']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('');
    expect((JSON.parse(bad.stdout) as { summary: { high: number } }).summary.high).toBe(16);
    expect(cli(['--no-home', '--fail-on', 'never', 'repo']).status).toBe(0);
    const missing = cli(['--no-home', 'nowhere']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('mcp-guard: scan: no such file or folder: nowhere\n');
    const usage = cli(['--format', 'xml']);
    expect(usage.status).toBe(2);
  });

  it('accepts paths after --, as the GitHub Action passes them', () => {
    const out = cli(
      ['--no-home', '--format', 'json', '--fail-on', 'never', '--', 'clean', 'broken'],
      FIXTURES,
    );
    expect(out.status).toBe(0);
    expect((JSON.parse(out.stdout) as { summary: { files: number; low: number } }).summary).toMatchObject({
      files: 5,
      low: 3,
    });
  });
});
