/**
 * What counts as "already behind mcp-guard" (no MCP-GW-001), on real files: only launches a pull
 * request cannot redirect. A relative path to something named mcp-guard is a file the PR can commit, so
 * it keeps the direct-stdio finding, with a message that says why.
 */
import { describe, expect, it } from 'vitest';
import { scanFiles } from './helpers.js';

async function gatewayFindings(server: Record<string, unknown>) {
  const result = await scanFiles({ '.mcp.json': { mcpServers: { s: server } } });
  return result.findings.filter((f) => f.rule === 'MCP-GW-001').map((f) => f.message);
}

describe('the gateway wrapper', () => {
  it('is recognised on PATH, by absolute path, through npx, or as node running the absolute entry point', async () => {
    for (const server of [
      { command: 'mcp-guard', args: ['serve'] },
      { command: 'mcp-guard.cmd', args: ['serve', '--config', 'g.yaml'] },
      { command: '/usr/local/bin/mcp-guard', args: ['serve'] },
      { command: 'C:\\tools\\mcp-guard.exe', args: ['serve'] },
      { command: 'npx', args: ['-y', 'mcp-guard@0.1.0', 'serve'] },
      { command: 'npx', args: ['mcp-guard@0.1.0', 'serve', '--config', 'g.yaml'] },
      { command: 'npx', args: ['--yes', '--package', 'mcp-guard@0.1.0', 'mcp-guard', 'serve'] },
      // Unpinned, it is still mcp-guard (MCP-SUP-001 reports the missing pin, below).
      { command: 'npx', args: ['-y', 'mcp-guard', 'serve'] },
      { command: 'npx', args: ['-y', 'mcp-guard@latest', 'serve', '--config', 'g.yaml'] },
      { command: 'node', args: ['/opt/mcp-guard/dist/cli/main.js', 'serve'] },
      { command: 'node', args: ['D:/mcp-guard/dist/cli/main.js', 'serve'] },
    ]) {
      expect(await gatewayFindings(server), JSON.stringify(server)).toEqual([]);
    }
  });

  it('is not recognised from a relative path a commit can replace, and says so', async () => {
    for (const [server, path] of [
      [{ command: './evil/mcp-guard', args: ['serve'] }, './evil/mcp-guard'],
      [{ command: 'bin/mcp-guard', args: ['serve'] }, 'bin/mcp-guard'],
      [{ command: '${workspaceFolder}/mcp-guard', args: ['serve'] }, '${workspaceFolder}/mcp-guard'],
      [
        { command: 'node', args: ['./x/mcp-guard/dist/cli/main.js', 'serve'] },
        './x/mcp-guard/dist/cli/main.js',
      ],
      [{ command: 'node', args: ['node_modules/.bin/mcp-guard', 'serve'] }, 'node_modules/.bin/mcp-guard'],
      [{ command: 'sh', args: ['-c', './evil/mcp-guard serve'] }, './evil/mcp-guard'],
    ] as const) {
      expect(await gatewayFindings(server), JSON.stringify(server)).toEqual([
        `runs ${path}, named like mcp-guard but a relative path a commit can replace: not counted as the gateway`,
      ]);
    }
  });

  it('is not recognised when the entry redirects PATH', async () => {
    expect(
      await gatewayFindings({ command: 'mcp-guard', args: ['serve'], env: { PATH: './bin:/usr/bin' } }),
    ).toEqual([
      'runs mcp-guard, named like mcp-guard but found through a PATH the entry overrides: not counted as the gateway',
    ]);
    expect(
      await gatewayFindings({ command: 'env', args: ['PATH=./bin', 'mcp-guard', 'serve'] }),
    ).toHaveLength(1);
  });

  it('reports an unpinned wrapper as unpinned, not as missing', async () => {
    const result = await scanFiles({
      '.mcp.json': { mcpServers: { s: { command: 'npx', args: ['-y', 'mcp-guard', 'serve'] } } },
    });
    expect(result.findings.map((f) => f.rule)).toEqual(['MCP-SUP-001']);
  });

  it('is not recognised from another registry or a local path through npx', async () => {
    const direct = (program: string) =>
      `stdio server started directly (${program}), not through mcp-guard serve`;
    expect(
      await gatewayFindings({
        command: 'npx',
        args: ['--registry', 'https://npm.evil.example', '-y', 'mcp-guard@0.1.0', 'serve'],
      }),
    ).toEqual([
      'runs mcp-guard@0.1.0, named like mcp-guard but from a registry the entry chooses: not counted as the gateway',
    ]);
    expect(await gatewayFindings({ command: 'npx', args: ['-y', './evil/mcp-guard', 'serve'] })).toEqual([
      direct('npx'),
    ]);
  });
});
