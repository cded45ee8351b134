/**
 * Definition of done: `mcp-guard scan --no-home path/` on a repo with 1,000 config files finishes in
 * under 2 s. The tree is generated in a temp folder (a mix of clients and formats, plus node_modules
 * and .git noise that must be skipped). Timed twice: the in-process scan() call's CPU time against the 2 s, and
 * the built CLI as a user runs it (process start, module loading, JSON output) against a looser bound,
 * because CI runs the whole suite in parallel on 2 cores; the measured times are printed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { scan } from '../../src/scan/scan.js';
import { CLI } from '../helpers/paths.js';
import { tempDir } from './helpers.js';

const FILES = 1000;
let dir: string;

const json = (i: number) =>
  `${JSON.stringify(
    {
      mcpServers: {
        [`fs-${i}`]: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', `/srv/${i}`] },
        [`api-${i}`]: {
          type: 'http',
          url: `https://api${i}.example.com/mcp`,
          headers: { authorization: 'Bearer ${T}' },
        },
        [`guarded-${i}`]: {
          command: 'mcp-guard',
          args: ['serve', '--config', 'g.yaml'],
          env: { API_KEY: `k${i}-abcdefgh12345` },
        },
      },
    },
    null,
    2,
  )}\n`;
const toml = (i: number) =>
  `[mcp_servers.s${i}]\ncommand = "uvx"\nargs = ["mcp-server-${i}"]\n\n[mcp_servers.r${i}]\nurl = "http://r${i}.example.com/mcp"\n`;
const yaml = (i: number) =>
  `mcpServers:\n  - name: s${i}\n    command: docker\n    args: [run, -i, --rm, mcp/s${i}]\n`;
const LAYOUTS: Array<[string, (i: number) => string]> = [
  ['.mcp.json', json],
  ['.cursor/mcp.json', json],
  ['.vscode/mcp.json', (i) => json(i).replace('"mcpServers"', '"servers"')],
  ['.codex/config.toml', toml],
  ['.continue/mcpServers/s.yaml', yaml],
];

beforeAll(() => {
  dir = tempDir('mcp-guard-scan-perf-');
  for (let i = 0; i < FILES; i++) {
    const [file, content] = LAYOUTS[i % LAYOUTS.length] as [string, (i: number) => string];
    const target = path.join(dir, `pkg-${Math.floor(i / 50)}`, `app-${i}`, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content(i));
    if (i % 100 === 0) {
      // Noise the walk must skip.
      mkdirSync(path.join(dir, `pkg-${i}`, 'node_modules', 'dep'), { recursive: true });
      writeFileSync(path.join(dir, `pkg-${i}`, 'node_modules', 'dep', '.mcp.json'), json(i));
    }
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// CPU time, not wall time: other test files share the 2-core machine, and their load is not the scan's.
it(`scans ${FILES} config files in under 2 s of CPU`, async () => {
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const result = await scan({ paths: ['.'], cwd: dir });
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const ms = performance.now() - started;
  console.log(
    `scan of ${result.summary.files} config files: ${cpuMs.toFixed(0)} ms CPU, ${ms.toFixed(0)} ms wall, ${result.findings.length} findings`,
  );
  expect(result.summary.files).toBe(FILES);
  expect(result.findings.length).toBeGreaterThan(FILES);
  expect(result.findings.some((f) => f.file.includes('node_modules'))).toBe(false);
  expect(cpuMs).toBeLessThan(2000);
});

it(`runs the built CLI on ${FILES} config files (--no-home, JSON) in under 6 s (2 s when idle)`, () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
  const started = performance.now();
  const out = spawnSync(
    process.execPath,
    [CLI, 'scan', '--no-home', dir, '--format', 'json', '--fail-on', 'never'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const ms = performance.now() - started;
  console.log(
    `node dist/cli/main.js scan --no-home DIR --format json (${FILES} files): ${ms.toFixed(0)} ms wall`,
  );
  expect(out.status, out.stderr).toBe(0);
  const report = JSON.parse(out.stdout) as { summary: { files: number } };
  expect(report.summary.files).toBe(FILES);
  expect(ms).toBeLessThan(6000);
});
