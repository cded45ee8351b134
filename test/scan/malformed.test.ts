/**
 * Bad input never crashes the scan: broken syntax is a finding with the parser's line; binary, huge and
 * unreadable files are findings; FIFOs, dangling links, symlink loops and unlistable folders are
 * warnings; node_modules and .git are not walked.
 */
import { execFileSync, type SpawnSyncOptions, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NESTING } from '../../src/scan/parse.js';
import { MAX_CONFIG_BYTES } from '../../src/scan/read-config.js';
import { scan } from '../../src/scan/scan.js';
import { CLI } from '../helpers/paths.js';
import { compact, FIXTURES, tempDir } from './helpers.js';

// Root reads files and lists folders whatever their mode: in process, a root run checks the root
// behaviour; the permission cases themselves run the built CLI as another user (see the last block).
const isRoot = process.getuid?.() === 0;
const server = JSON.stringify({ mcpServers: { s: { command: 'mcp-guard', args: ['serve'] } } });

describe('syntax errors (test/fixtures/scan/broken)', () => {
  it('are low findings at the line the parser names, for JSON, TOML and YAML', async () => {
    const result = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'broken') });
    expect(compact(result.findings)).toEqual([
      '.codex/config.toml:4 (file) MCP-CFG-001',
      '.continue/config.yaml:4 (file) MCP-CFG-001',
      '.mcp.json:4 (file) MCP-CFG-001',
    ]);
    expect(result.findings.map((f) => f.message)).toEqual([
      'invalid TOML at line 4: expected comma or end of structure',
      'invalid YAML at line 4: Sequence item without - indicator',
      'invalid JSON at line 4: CommaExpected',
    ]);
    expect(result.findings.every((f) => f.severity === 'low')).toBe(true);
  });
});

describe('deeply nested documents', () => {
  let dir: string;

  beforeAll(() => {
    dir = tempDir();
    const make = (rel: string, content: string) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), content);
    };
    // Each of these overflowed jsonc-parser's recursion (getNodeValue / parseArray / the visitor).
    make('arrays/.mcp.json', `${'['.repeat(3000)}${']'.repeat(3000)}\n`);
    make('objects/.mcp.json', `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}\n`);
    make(
      'server/.mcp.json',
      `{\n  "mcpServers": {\n    "s": { "command": "node", "args": ${'['.repeat(5000)}${']'.repeat(5000)} }\n  }\n}\n`,
    );
    // Brackets inside strings and comments do not count; an unterminated string ends at its line.
    make(
      'quoted/.mcp.json',
      `// ${'['.repeat(5000)}\n{"mcpServers": {"s": {"command": "node", "args": ["${'['.repeat(5000)}"]}}}\n`,
    );
    make('unterminated/.mcp.json', `{"x": "abc\n${'['.repeat(5000)}\n`);
    make('yaml/.continue/config.yaml', `mcpServers: ${'['.repeat(20000)}${']'.repeat(20000)}\n`);
    make('toml/.codex/config.toml', `x = ${'['.repeat(20000)}${']'.repeat(20000)}\n`);
    // Deep but within the limit: parsed and checked as usual.
    const nested = `${'{"a":'.repeat(MAX_NESTING - 3)}1${'}'.repeat(MAX_NESTING - 3)}`;
    make('ok/.mcp.json', `{"mcpServers": {"s": {"command": "node", "x": ${nested}}}}\n`);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('are MCP-CFG-001 findings, never a crash, in process', async () => {
    const result = await scan({ paths: ['.'], cwd: dir });
    const byFile = Object.fromEntries(result.findings.map((f) => [f.file, `${f.rule} ${f.message}`]));
    const tooDeep = `MCP-CFG-001 invalid JSON at line 1: nested more than ${MAX_NESTING} levels deep; not parsed`;
    expect(byFile['arrays/.mcp.json']).toBe(tooDeep);
    expect(byFile['objects/.mcp.json']).toBe(tooDeep);
    expect(byFile['server/.mcp.json']).toBe(
      `MCP-CFG-001 invalid JSON at line 3: nested more than ${MAX_NESTING} levels deep; not parsed`,
    );
    expect(byFile['quoted/.mcp.json']).toBe(
      'MCP-GW-001 stdio server started directly (node), not through mcp-guard serve',
    );
    expect(byFile['unterminated/.mcp.json']).toBe(
      `MCP-CFG-001 invalid JSON at line 2: nested more than ${MAX_NESTING} levels deep; not parsed`,
    );
    expect(byFile['yaml/.continue/config.yaml']).toMatch(/^MCP-CFG-001 invalid YAML/);
    expect(byFile['toml/.codex/config.toml']).toMatch(/^MCP-CFG-001 invalid TOML/);
    expect(compact(result.findings)).toContain('ok/.mcp.json:1 s MCP-GW-001');
    expect(result.summary.files).toBe(8);
  });

  it('do not crash the built CLI (exit 1 for the findings, not 70)', () => {
    const out = spawnSync(
      process.execPath,
      [CLI, 'scan', '--no-home', '--format', 'json', '--fail-on', 'low', '.'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    expect(out.stderr).toBe('');
    expect(out.status).toBe(1);
    const report = JSON.parse(out.stdout) as { summary: { files: number; low: number } };
    expect(report.summary).toMatchObject({ files: 8, low: 6 });
  });
});

describe('files and folders that are not readable text', () => {
  let dir: string;
  let outside: string;

  beforeAll(() => {
    dir = tempDir();
    const make = (rel: string, content: string | Buffer) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), content);
    };
    make('binary/.mcp.json', Buffer.from([0x7b, 0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 0x7d]));
    make('latin1/.mcp.json', Buffer.from('{"mcpServers": {"caf\xe9": {}}}', 'latin1'));
    make('utf16/.mcp.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(server, 'utf16le')]));
    make('bom/.mcp.json', `\ufeff${server}`);
    make('empty/.mcp.json', '');
    // 50 MB, sparse: created in no time and never read into memory by the scan.
    mkdirSync(path.join(dir, 'huge'), { recursive: true });
    closeSync(openSync(path.join(dir, 'huge', '.mcp.json'), 'w'));
    execFileSync('truncate', ['-s', '50M', path.join(dir, 'huge', '.mcp.json')]);
    make('denied/.mcp.json', server);
    chmodSync(path.join(dir, 'denied', '.mcp.json'), 0o000);
    make('locked/inner/.mcp.json', server);
    chmodSync(path.join(dir, 'locked'), 0o000);
    // A FIFO named like a config must not block the scan on open().
    mkdirSync(path.join(dir, 'fifo'));
    execFileSync('mkfifo', [path.join(dir, 'fifo', '.mcp.json')]);
    mkdirSync(path.join(dir, 'dangling'));
    symlinkSync(path.join(dir, 'nowhere.json'), path.join(dir, 'dangling', '.mcp.json'));
    // A folder that links to its parent: walking it would never end.
    mkdirSync(path.join(dir, 'loop'));
    symlinkSync(path.join(dir, 'loop'), path.join(dir, 'loop', 'again'));
    make('loop/.mcp.json', server);
    // A committed link to a file outside the tree (a CI runner's credentials) is not read; a link
    // inside the tree is.
    outside = tempDir('mcp-guard-outside-');
    writeFileSync(path.join(outside, 'creds.json'), server);
    mkdirSync(path.join(dir, 'escape'));
    symlinkSync(path.join(outside, 'creds.json'), path.join(dir, 'escape', '.mcp.json'));
    make('inside/real.json', JSON.stringify({ mcpServers: { linked: { command: 'node' } } }));
    symlinkSync(path.join(dir, 'inside', 'real.json'), path.join(dir, 'inside', '.mcp.json'));
    // A folder named like a config.
    mkdirSync(path.join(dir, 'folder', 'mcp.json'), { recursive: true });
    // Not walked: dependencies and VCS internals.
    make('node_modules/pkg/.mcp.json', '{ not json');
    make('.git/mcp.json', '{ not json');
    make('sub/node_modules/x/mcp.json', '{ not json');
  });

  afterAll(() => {
    chmodSync(path.join(dir, 'locked'), 0o755);
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('turns each into a finding or a warning and finishes', async () => {
    const result = await scan({ paths: ['.'], cwd: dir });
    const byFile = Object.fromEntries(result.findings.map((f) => [f.file, `${f.rule} ${f.message}`]));
    expect(byFile['binary/.mcp.json']).toBe('MCP-CFG-002 file is binary (NUL bytes), not a text config');
    expect(byFile['latin1/.mcp.json']).toBe('MCP-CFG-002 file is not valid UTF-8 text');
    expect(byFile['huge/.mcp.json']).toBe(
      'MCP-CFG-002 file is 50.0 MB, over the 5 MB limit for a config; not read',
    );
    expect(byFile['empty/.mcp.json']).toBe('MCP-CFG-001 invalid JSON at line 1: ValueExpected');
    // UTF-16 and a UTF-8 byte-order mark are read like plain UTF-8: the wrapped server is clean.
    expect(byFile['utf16/.mcp.json']).toBeUndefined();
    expect(byFile['bom/.mcp.json']).toBeUndefined();
    expect(result.summary.files).toBeGreaterThanOrEqual(7);
    expect(MAX_CONFIG_BYTES).toBe(5 * 1024 * 1024);

    expect(result.warnings).toEqual(
      expect.arrayContaining([
        `skipped ${path.join(dir, 'fifo', '.mcp.json')}: not a regular file`,
        'skipped dangling/.mcp.json: no such file or folder',
      ]),
    );
    expect(result.warnings).toContain(
      `skipped ${path.join(dir, 'escape', '.mcp.json')}: symbolic link that leaves ${realpathSync(dir)}`,
    );
    expect(result.findings.some((f) => f.file.startsWith('escape/'))).toBe(false);
    expect(compact(result.findings)).toContain('inside/.mcp.json:1 linked MCP-GW-001');
    // The symlinked folder is not followed: loop/.mcp.json is read once, loop/again/… never.
    expect(result.findings.some((f) => f.file.startsWith('loop/again'))).toBe(false);
    expect(result.findings.some((f) => f.file.startsWith('folder/'))).toBe(false);
    // node_modules and .git are skipped at any depth.
    expect(result.findings.some((f) => /node_modules|\.git\//.test(f.file))).toBe(false);
  });

  it('reports a file it may not read as a finding, and a folder it may not list as a warning', async (ctx) => {
    const result = await scan({ paths: ['.'], cwd: dir });
    if (isRoot) {
      // As root both are readable: the scan sees the (clean) wrapped server and says nothing.
      expect(result.findings.some((f) => f.file === 'denied/.mcp.json')).toBe(false);
      expect(result.warnings.some((w) => w.includes('locked'))).toBe(false);
      ctx.annotate('running as root: permission errors cannot happen, only the root behaviour was checked');
      return;
    }
    const denied = result.findings.find((f) => f.file === 'denied/.mcp.json');
    expect(`${denied?.rule} ${denied?.message}`).toBe('MCP-CFG-002 permission denied');
    expect(result.warnings).toContain(`cannot list ${path.join(dir, 'locked')}: permission denied`);
  });

  it('scans a file given directly even when its name is unknown, by its extension', async () => {
    writeFileSync(path.join(dir, 'servers.toml'), '[mcp_servers.x]\ncommand = "node"\n');
    writeFileSync(path.join(dir, 'servers.yaml'), 'mcpServers:\n  x:\n    command: node\n');
    const result = await scan({ paths: ['servers.toml', 'servers.yaml'], cwd: dir });
    expect(compact(result.findings)).toEqual(['servers.toml:1 x MCP-GW-001', 'servers.yaml:2 x MCP-GW-001']);
  });
});

describe('files and folders the scanning user may not read (the built CLI)', () => {
  // Root reads everything, so as root the CLI runs as nobody (65534) through spawn's uid/gid.
  const NOBODY = 65534;
  let dir: string;

  beforeAll(() => {
    dir = tempDir();
    // mkdtemp makes a 0700 folder: let the other user in, everywhere but where the test says not.
    chmodSync(dir, 0o755);
    const make = (rel: string, content: string) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true, mode: 0o755 });
      writeFileSync(path.join(dir, rel), content, { mode: 0o644 });
    };
    make('readable/.mcp.json', JSON.stringify({ mcpServers: { open: { command: 'node', args: ['a.js'] } } }));
    make('denied/.mcp.json', server);
    chmodSync(path.join(dir, 'denied', '.mcp.json'), 0o000);
    make('locked/inner/.mcp.json', server);
    chmodSync(path.join(dir, 'locked'), 0o000);
  });

  afterAll(() => {
    chmodSync(path.join(dir, 'locked'), 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  function runAsOtherUser(args: string[]) {
    const options: SpawnSyncOptions = { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } };
    if (isRoot) Object.assign(options, { uid: NOBODY, gid: NOBODY });
    return spawnSync(process.execPath, [CLI, 'scan', ...args], options) as ReturnType<typeof spawnSync> & {
      stdout: string;
      stderr: string;
    };
  }

  it('reports an unreadable file as MCP-CFG-002 and an unlistable folder as a warning, and finishes', () => {
    const out = runAsOtherUser(['--no-home', '--format', 'json', '--fail-on', 'never', '.']);
    expect(out.status, out.stderr).toBe(0);
    const report = JSON.parse(out.stdout) as {
      findings: Array<{ file: string; rule: string; message: string }>;
    };
    expect(report.findings.map((f) => `${f.file} ${f.rule} ${f.message}`)).toEqual([
      'denied/.mcp.json MCP-CFG-002 permission denied',
      'readable/.mcp.json MCP-GW-001 stdio server started directly (node), not through mcp-guard serve',
    ]);
    expect(out.stderr).toBe(
      `mcp-guard scan: warning: cannot list ${path.join(dir, 'locked')}: permission denied\n`,
    );
  });

  it('reports a named file inside a folder it may not search as MCP-CFG-002, not as a missing path', () => {
    const out = runAsOtherUser([
      '--no-home',
      '--format',
      'json',
      '--fail-on',
      'low',
      'locked/inner/.mcp.json',
    ]);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(1);
    const report = JSON.parse(out.stdout) as {
      findings: Array<{ file: string; rule: string; message: string }>;
    };
    expect(report.findings.map((f) => `${f.file} ${f.rule} ${f.message}`)).toEqual([
      'locked/inner/.mcp.json MCP-CFG-002 permission denied',
    ]);
  });
});
