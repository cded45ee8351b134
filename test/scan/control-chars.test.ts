/**
 * Control characters from a scanned config never reach the terminal raw: a carriage return (which lets
 * a terminal overwrite what came before it) is a MCP-NAME-002 finding and shown as <U+000D>; a line
 * feed in a server name, a script or a file name is shown as \n, so it cannot start a line of its own
 * (a forged "No findings", say). Checked on the built CLI's text report and its warnings.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/paths.js';
import { tempDir } from './helpers.js';

const FORGED = 'No findings — 0 MCP config files scanned.';
let dir: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
  dir = tempDir();
  const wrapped = { command: 'mcp-guard', args: ['serve'] };
  writeFileSync(
    path.join(dir, '.mcp.json'),
    JSON.stringify({
      mcpServers: {
        [`overwrite\r${FORGED}`]: wrapped,
        [`two\n${FORGED}`]: { command: 'node', args: ['a.js'] },
        script: { command: 'sh', args: ['-c', `node a.js\n${FORGED}\necho \u009b31m`] },
      },
    }),
  );
  // A folder whose name holds a line feed, with a dangling link named like a config: a warning.
  const odd = path.join(dir, `odd\n${FORGED}`);
  mkdirSync(odd);
  symlinkSync(path.join(odd, 'gone.json'), path.join(odd, '.mcp.json'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the text report', () => {
  const run = () =>
    spawnSync(process.execPath, [CLI, 'scan', '--no-home', '--fail-on', 'never', '.'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });

  it('escapes carriage returns, line feeds and C1 controls in names and messages', () => {
    const out = run();
    expect(out.status).toBe(0);
    expect(out.stdout).not.toMatch(/[\r\u0080-\u009f]/);
    // The only line that starts a summary is the real one, at the end.
    const lines = out.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('No findings') || l.includes(`\n${FORGED}`))).toEqual([]);
    expect(lines.at(-1)).toMatch(/^\d+ findings .* — 1 MCP config file scanned\.$/);
    expect(out.stdout).toContain(`  overwrite<U+000D>${FORGED}  line 1`);
    expect(out.stdout).toContain(`  two\\n${FORGED}  line 1`);
    expect(out.stdout).toContain(`sh runs an inline script: node a.js\\n${FORGED}\\necho <U+009B>31m`);
  });

  it('reports a carriage return in a server name as MCP-NAME-002', () => {
    const out = run();
    expect(out.stdout).toContain('MCP-NAME-002  hidden characters U+000D in name');
    // A line feed is ordinary (multi-line scripts): escaped, not a finding.
    expect(out.stdout).not.toContain('U+000A');
  });

  it('escapes file names in warnings', () => {
    const out = run();
    expect(out.stderr).toBe(
      `mcp-guard scan: warning: skipped odd\\n${FORGED}/.mcp.json: no such file or folder\n`,
    );
  });
});
