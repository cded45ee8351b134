/**
 * Every way a start commonly fails ends the same way (SPEC §3a, docs/errors.md#start-up-failures): one
 * line on stderr that says what failed and what to do, exit 1, no stack trace, and promptly — nothing
 * the half-started gateway opened keeps it alive. The failures are real: stores that are not there, a
 * database that is not one, an audit log that is damaged or whose lock another process holds, a port in
 * use, and a native SQLite driver that cannot be loaded (a copy of the install with its binary broken).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFailure, EXIT_INTERNAL } from '../../src/cli/failure.js';
import { tempDir, writeConfig } from '../helpers/gateway.js';
import { CLI, ROOT, TEST_SERVER } from '../helpers/paths.js';
import { runCli } from '../helpers/processes.js';

const cleanup: Array<() => void> = [];
afterAll(() => {
  for (const fn of cleanup.splice(0)) fn();
});

const BACKEND = `servers:\n  t:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(TEST_SERVER)}]\n`;

/** A loopback port that nothing listens on (taken, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Asserts the SPEC §3a shape: exit 1 and exactly one `mcp-guard: …` line on stderr, no stack trace. */
function expectOneLine(result: { code: number; stderr: string }, pattern: RegExp): string {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mcp-guard: /);
  expect(lines[0]).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(pattern);
  return lines[0] as string;
}

const serveHttp = (config: string, extra: string[] = []) =>
  runCli(['serve-http', '--config', config, '--port', '0', ...extra]);

describe('a state store that cannot be opened', () => {
  it('Redis that is not there', async () => {
    const port = await freePort();
    const config = writeConfig(`state: { store: redis, url: "redis://127.0.0.1:${port}" }\n${BACKEND}`);
    expectOneLine(
      await serveHttp(config),
      new RegExp(`cannot open the redis state store at redis://127\\.0\\.0\\.1:${port}.*; is Redis running`),
    );
  });

  it('PostgreSQL that is not there, and a database that does not exist', async () => {
    const port = await freePort();
    const down = writeConfig(
      `state: { store: postgres, url: "postgres://127.0.0.1:${port}/test" }\n${BACKEND}`,
    );
    expectOneLine(
      await serveHttp(down),
      /cannot open the postgres state store .*ECONNREFUSED.*; is PostgreSQL running/,
    );
    const noDb = writeConfig(
      `state: { store: postgres, url: "postgres://postgres@127.0.0.1:5432/mcp_guard_no_such_db" }\n${BACKEND}`,
    );
    expectOneLine(
      await serveHttp(noDb),
      /does not exist; create that database, or fix its name in state\.url/,
    );
  });

  it('an SQLite path under a file, and a file that is not a database', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'plain-file'), 'x');
    const under = writeConfig(`state: { store: sqlite, path: ./plain-file/state.db }\n${BACKEND}`, dir);
    expectOneLine(
      await serveHttp(under),
      /EEXIST.*; a part of the path is a file, not a folder.*\(state\.path\)$/,
    );
    writeFileSync(path.join(dir, 'not-a.db'), 'this is not an SQLite database, it is text');
    const notDb = writeConfig(`state: { store: sqlite, path: ./not-a.db }\n${BACKEND}`, dir);
    expectOneLine(
      await serveHttp(notDb),
      /file is not a database; state\.path is not a usable SQLite database/,
    );
    // The approvals CLI opens the same store and says the same.
    expectOneLine(await runCli(['approvals', 'list', '--config', notDb]), /file is not a database/);
  });
});

describe('an audit log that cannot be continued', () => {
  it('damaged: names the file and says to verify it and move it aside', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'audit.jsonl'), '{"garbage": true}\n');
    const config = writeConfig(`policies: { audit_log: ./audit.jsonl }\n${BACKEND}`, dir);
    expectOneLine(
      await serveHttp(config),
      /audit\.jsonl is damaged .*run "mcp-guard audit verify --file .*move the damaged file aside$/,
    );
  });

  it('its folder blocked by a file', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'logs'), 'x');
    const config = writeConfig(`policies: { audit_log: ./logs/audit.jsonl }\n${BACKEND}`, dir);
    expectOneLine(
      await serveHttp(config),
      /^mcp-guard: cannot create the folder of audit log .*logs\/audit\.jsonl: .*; a part of the path is a file/,
    );
  });

  it('locked by another process for longer than the lock timeout', async () => {
    const dir = tempDir();
    const audit = path.join(dir, 'audit.jsonl');
    // Another process takes the append lock (the same SQLite write lock a writer takes) and keeps it.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]); db.pragma('journal_mode = WAL');
         db.exec('BEGIN IMMEDIATE'); console.log('locked'); setInterval(() => {}, 1000);`,
        `${audit}.lock.db`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanup.push(() => holder.kill('SIGKILL'));
    await new Promise((resolve) => holder.stdout?.once('data', resolve));
    const config = writeConfig(`policies: { audit_log: ./audit.jsonl }\n${BACKEND}`, dir);
    expectOneLine(
      await serveHttp(config),
      /another process held the audit lock .*audit\.jsonl\.lock\.db for more than 5000 ms.*; another mcp-guard writing that audit log seems stuck/,
    );
    holder.kill('SIGKILL');
  });
});

describe('a port in use', () => {
  let blocker: Server | undefined;
  afterAll(() => blocker?.close());

  it('ends at once with one line, and leaves no backend behind', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    // A backend that never answers: the start-up probe would wait for it for a minute.
    const marker = `startup-failure-marker-${process.pid}`;
    const config = writeConfig(
      `servers:\n  hang:\n    command: ${JSON.stringify(process.execPath)}\n    args: ["-e", "setInterval(() => {}, 1000)", "${marker}"]\n    connect_timeout: 60s\n`,
    );
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, 'serve-http', '--config', config, '--port', String(port)], {
      env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    cleanup.push(() => child.kill('SIGKILL'));
    const result = await exited(child);
    // Well before the probe's 60 s: the failed start closed the backend it was probing.
    expect(Date.now() - started).toBeLessThan(30_000);
    expectOneLine(result, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`));
    expect(processesWith(marker)).toEqual([]);
  });
});

describe('a native SQLite driver that cannot be loaded', () => {
  /**
   * A copy of the install (package.json, dist and node_modules as links) whose better-sqlite3 has a
   * broken binary, or none: what a node_modules copied from another platform or Node.js looks like.
   * --preserve-symlinks makes Node resolve packages from the copy rather than from the links' targets.
   */
  function brokenInstall(binary: string | undefined): string {
    const root = tempDir();
    cpSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
    symlinkSync(path.join(ROOT, 'dist'), path.join(root, 'dist'));
    mkdirSync(path.join(root, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    for (const name of readdirSync(path.join(ROOT, 'node_modules')))
      if (name !== 'better-sqlite3')
        symlinkSync(path.join(ROOT, 'node_modules', name), path.join(root, 'node_modules', name));
    for (const part of ['package.json', 'lib'])
      cpSync(
        path.join(ROOT, 'node_modules/better-sqlite3', part),
        path.join(root, 'node_modules/better-sqlite3', part),
        {
          recursive: true,
        },
      );
    if (binary !== undefined)
      writeFileSync(path.join(root, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), binary);
    return root;
  }

  const run = (root: string, args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--preserve-symlinks', '--preserve-symlinks-main', path.join(root, 'dist/cli/main.js'), ...args],
        { env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn' }, timeout: 60_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });

  it.each([
    ['a binary built for something else', 'not an ELF file: built on another machine'],
    ['no binary at all', undefined],
  ])('%s: says to run npm rebuild better-sqlite3', async (_, binary) => {
    const root = brokenInstall(binary);
    const config = writeConfig(`state: { store: sqlite, path: ./state.db }\n${BACKEND}`);
    const line = expectOneLine(
      await run(root, ['serve-http', '--config', config, '--port', '0']),
      /^mcp-guard: the native SQLite driver \(better-sqlite3\) cannot be loaded by Node\.js v\d+.*: run "npm rebuild better-sqlite3" where mcp-guard is installed$/,
    );
    expect(line).toContain(process.version);
    // Commands that only read the store say the same.
    expectOneLine(await run(root, ['approvals', 'list', '--config', config]), /npm rebuild better-sqlite3/);
  });
});

describe('other start-up failures', () => {
  it('a key file that is not there is named, with exit 1 (config check and serve-http alike)', async () => {
    const config = writeConfig(
      `auth:\n  mode: jwt\n  jwt: { public_key_file: ./missing.pem, algorithms: [ES256], issuer: i, audience: a }\n${BACKEND}`,
    );
    for (const args of [
      ['config', 'check', '--config', config],
      ['serve-http', '--config', config, '--port', '0'],
    ])
      expectOneLine(
        await runCli(args),
        /^mcp-guard: cannot open .*missing\.pem: no such file or folder \(ENOENT\)/,
      );
  });

  it('an error nobody foresaw (a bug) is one line too, with the documented exit 70', () => {
    const failure = describeFailure(
      new TypeError("Cannot read properties of undefined (reading 'x')\n    at f"),
    );
    expect(failure.exitCode).toBe(EXIT_INTERNAL);
    expect(EXIT_INTERNAL).toBe(70);
    expect(failure.line).toBe(
      "unexpected error: TypeError: Cannot read properties of undefined (reading 'x') (an internal error: please report it; MCP_GUARD_LOG_LEVEL=debug shows where)",
    );
  });
});

function exited(child: ChildProcess): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, stderr })));
}

/** Pids of live processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}
