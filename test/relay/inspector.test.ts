/**
 * A real third-party client, the MCP Inspector CLI, lists and calls tools of server-everything and
 * server-filesystem through `mcp-guard serve` (stdio) and `mcp-guard serve-http`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, tempDir, writeConfig } from '../helpers/gateway.js';
import { CLI, EVERYTHING, FILESYSTEM, INSPECTOR } from '../helpers/paths.js';

const home = tempDir('mcpg-inspector-home-');
const fsRoot = tempDir('mcpg-fsroot-');
writeFileSync(path.join(fsRoot, 'hello.txt'), 'hello from the sandbox\n');
mkdirSync(path.join(fsRoot, 'sub'));

const CONFIG = `
servers:
  everything:
    command: ${process.execPath}
    args: ["${EVERYTHING}", "stdio"]
  filesystem:
    command: ${process.execPath}
    args: ["${FILESYSTEM}", "${fsRoot}"]
`;

/** Runs the Inspector CLI with `args`; resolves with its parsed JSON output. */
function inspector(args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [INSPECTOR, '--cli', '--format', 'json', ...args],
      { env: { ...process.env, HOME: home }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        try {
          // Results go to stdout; a failed call (exit code 4/5) prints its JSON error on stderr.
          resolve({ code, json: JSON.parse(stdout.trim() || stderr.trim().split('\n').pop() || '') });
        } catch {
          reject(new Error(`inspector printed no JSON (code ${code}):\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

const toolNames = (json: Record<string, unknown>) =>
  ((json['result'] as { tools: Array<{ name: string }> }).tools ?? []).map((t) => t.name);
const firstText = (json: Record<string, unknown>) =>
  (json['result'] as { content: Array<{ text: string }> }).content[0]?.text;

describe('MCP Inspector CLI through mcp-guard serve (stdio)', () => {
  const configFile = writeConfig(CONFIG);
  const serve = ['-e', `MCP_GUARD_CONFIG=${configFile}`, process.execPath, CLI, 'serve'];

  it('lists the tools of both servers', async () => {
    const { code, json } = await inspector([...serve, '--method', 'tools/list']);
    expect(code).toBe(0);
    expect(toolNames(json)).toEqual(
      expect.arrayContaining(['get-sum', 'echo', 'read_text_file', 'list_directory']),
    );
  });

  it('calls a server-everything tool and a server-filesystem tool', async () => {
    const sum = await inspector([
      ...serve,
      '--method',
      'tools/call',
      '--tool-name',
      'get-sum',
      '--tool-arg',
      'a=2',
      'b=3',
    ]);
    expect(sum.code).toBe(0);
    expect(firstText(sum.json)).toBe('The sum of 2 and 3 is 5.');
    const read = await inspector([
      ...serve,
      '--method',
      'tools/call',
      '--tool-name',
      'read_text_file',
      '--tool-arg',
      `path=${fsRoot}/hello.txt`,
    ]);
    expect(read.code).toBe(0);
    expect(firstText(read.json)).toBe('hello from the sandbox\n');
  });
});

describe('MCP Inspector CLI through mcp-guard serve-http', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(CONFIG);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('lists and calls tools of both servers; an unknown tool is a tool error (exit 5)', async () => {
    const list = await inspector([gw.url, '--method', 'tools/list']);
    expect(list.code).toBe(0);
    expect(toolNames(list.json)).toEqual(expect.arrayContaining(['get-sum', 'read_text_file']));
    const echo = await inspector([
      gw.url,
      '--method',
      'tools/call',
      '--tool-name',
      'echo',
      '--tool-args-json',
      '{"message":"hi"}',
    ]);
    expect(firstText(echo.json)).toBe('Echo: hi');
    const dir = await inspector([
      gw.url,
      '--method',
      'tools/call',
      '--tool-name',
      'list_directory',
      '--tool-arg',
      `path=${fsRoot}`,
    ]);
    expect(firstText(dir.json)).toContain('[FILE] hello.txt');
    expect(firstText(dir.json)).toContain('[DIR] sub');
    // The agent's roots never widen the sandbox: a path outside the configured root is refused.
    const outside = await inspector([
      gw.url,
      '--method',
      'tools/call',
      '--tool-name',
      'read_text_file',
      '--tool-arg',
      'path=/etc/hostname',
    ]);
    expect(JSON.stringify(outside.json)).toMatch(/denied|outside|not allowed/i);
    const unknown = await inspector([gw.url, '--method', 'tools/call', '--tool-name', 'nope']);
    expect(unknown.code).toBe(5);
  });
});
