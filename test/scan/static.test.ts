/**
 * "The scan is static: it never starts the servers it reads about" (SPEC §7), proved: every server in
 * these configs would create a sentinel file if started (a shell, node -e, a plain command, through
 * JSON, TOML and YAML configs), and the remote ones point at a local HTTP server that counts
 * connections. After scans in every format, no sentinel exists and no connection arrived.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { scan } from '../../src/scan/scan.js';
import { CLI } from '../helpers/paths.js';
import { tempDir } from './helpers.js';

let dir: string;
let server: Server;
let connections = 0;
const sentinels: string[] = [];

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
  dir = tempDir();
  server = createServer((_req, res) => res.end('{}'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  const sentinel = (name: string) => {
    const file = path.join(dir, 'sentinels', name);
    sentinels.push(file);
    return file;
  };
  mkdirSync(path.join(dir, 'sentinels'));
  const write = (rel: string, content: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  };
  write(
    '.mcp.json',
    JSON.stringify({
      mcpServers: {
        shell: { command: 'sh', args: ['-c', `touch ${sentinel('sh')}`] },
        node: {
          command: process.execPath,
          args: ['-e', `require('fs').writeFileSync(${JSON.stringify(sentinel('node'))}, 'x')`],
        },
        plain: { command: 'touch', args: [sentinel('touch')] },
        remote: { type: 'http', url },
        proxy: { command: 'npx', args: ['-y', 'mcp-remote@0.1.18', url] },
      },
    }),
  );
  write(
    '.codex/config.toml',
    `[mcp_servers.toml]\ncommand = "touch"\nargs = [${JSON.stringify(sentinel('toml'))}]\n`,
  );
  write(
    '.continue/mcpServers/s.yaml',
    `mcpServers:\n  - name: yaml\n    command: sh\n    args: ["-c", "touch ${sentinel('yaml')}"]\n  - name: sse\n    type: sse\n    url: ${url}\n`,
  );
  write('.vscode/mcp.json', JSON.stringify({ servers: { vs: { type: 'http', url } } }));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

it('starts no server and connects to none, in process and through the CLI in every format', async () => {
  const inProcess = await scan({ paths: ['.'], cwd: dir });
  expect(inProcess.summary.files).toBe(4);
  for (const format of ['text', 'json', 'sarif']) {
    const out = spawnSync(
      process.execPath,
      [CLI, 'scan', '--no-home', '--format', format, '--fail-on', 'never', '.'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    expect(out.status, out.stderr).toBe(0);
  }
  // Give a stray child process time to do what it would have done.
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const file of sentinels) expect(existsSync(file), file).toBe(false);
  expect(connections).toBe(0);
  // The configs were read: every server above is reported (the loopback ones have nothing to report).
  const servers = new Set(inProcess.findings.map((f) => f.server));
  for (const name of ['shell', 'node', 'plain', 'proxy', 'toml', 'yaml']) expect(servers).toContain(name);
});

it('would have created the sentinels if the commands ran (the test can fail)', () => {
  const probe = path.join(dir, 'sentinels', 'probe');
  spawnSync('sh', ['-c', `touch ${probe}`]);
  expect(existsSync(probe)).toBe(true);
  rmSync(probe);
});
