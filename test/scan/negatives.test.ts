/**
 * Targeted negatives (and the matching positives) for rules whose false positives would hurt most:
 * MCP-APPR-002 client-wide auto-approval, MCP-EXEC-003 dangerous commands, MCP-DOCK-004 host network.
 * On real files.
 */
import { describe, expect, it } from 'vitest';
import { compact, scanFiles } from './helpers.js';

describe('MCP-APPR-002 client-wide auto-approval', () => {
  it('flags enableAllProjectMcpServers: true and GOOSE_MODE: auto in any case', async () => {
    const result = await scanFiles({
      '.claude/settings.json': { enableAllProjectMcpServers: true },
      'goose/config.yaml': 'GOOSE_MODE: Auto\nextensions: {}\n',
    });
    expect(compact(result.findings)).toEqual([
      '.claude/settings.json:2 (file) MCP-APPR-002',
      'goose/config.yaml:1 (file) MCP-APPR-002',
    ]);
  });

  it('accepts enableAllProjectMcpServers: false (or a string), an explicit server list, and the other Goose modes', async () => {
    const result = await scanFiles({
      '.claude/settings.json': { enableAllProjectMcpServers: false, enabledMcpjsonServers: ['github'] },
      '.claude/settings.local.json': { enableAllProjectMcpServers: 'true' },
      'a/goose/config.yaml': 'GOOSE_MODE: approve\n',
      'b/goose/config.yaml': 'GOOSE_MODE: smart_approve\n',
      'c/goose/config.yaml': 'GOOSE_MODE: chat\n',
      // The flag means something only to Claude Code: elsewhere it is an unknown key.
      '.cursor/mcp.json': { enableAllProjectMcpServers: true, mcpServers: {} },
    });
    expect(result.findings).toEqual([]);
    expect(result.summary.files).toBe(6);
  });
});

describe('MCP-EXEC-003 dangerous commands', () => {
  const exec003 = async (command: string, args: string[]) => {
    const result = await scanFiles({ '.mcp.json': { mcpServers: { s: { command, args } } } });
    return result.findings.some((f) => f.rule === 'MCP-EXEC-003');
  };

  it('flags sudo/doas and rm -rf, chmod 777, mkfs and dd in their usual spellings', async () => {
    for (const [command, args] of [
      ['sudo', ['node', 'a.js']],
      ['/usr/bin/doas', ['node', 'a.js']],
      ['sh', ['-c', 'rm -rf /tmp/cache; node a.js']],
      ['sh', ['-c', 'rm -fr build && node a.js']],
      ['sh', ['-c', 'rm -r -f build; node a.js']],
      ['sh', ['-c', '/bin/rm --recursive --force build; node a.js']],
      ['sh', ['-c', 'chmod -R 777 /srv; node a.js']],
      ['sh', ['-c', 'chmod a+rwx /srv && node a.js']],
      ['sh', ['-c', 'mkfs.ext4 /dev/sdb1; node a.js']],
      ['sh', ['-c', 'dd if=/dev/zero of=/dev/sda; node a.js']],
    ] as const) {
      expect(await exec003(command, [...args]), `${command} ${args.join(' ')}`).toBe(true);
    }
  });

  it('accepts ordinary file commands and look-alike names', async () => {
    for (const [command, args] of [
      ['sh', ['-c', 'rm -f /tmp/server.lock; node a.js']],
      ['sh', ['-c', 'rm -r build/cache && node a.js']],
      ['sh', ['-c', 'rm old.log; node a.js']],
      ['sh', ['-c', 'chmod 644 config.json; chmod -R 755 bin && node a.js']],
      ['sh', ['-c', 'dd --help; node a.js']],
      ['sudoku-mcp', ['--level', 'hard']],
      ['node', ['sudo.js', '--rm-rf-safe']],
      ['mkfs-docs-server', []],
      ['docker', ['run', '--rm', '-i', `mcp/x@sha256:${'a'.repeat(64)}`]],
    ] as const) {
      expect(await exec003(command, [...args]), `${command} ${args.join(' ')}`).toBe(false);
    }
  });
});

describe('MCP-DOCK-004 host network', () => {
  const image = `mcp/x@sha256:${'a'.repeat(64)}`;
  const dock004 = async (...options: string[]) => {
    const result = await scanFiles({
      '.mcp.json': {
        mcpServers: { s: { command: 'docker', args: ['run', '-i', '--rm', ...options, image] } },
      },
    });
    return result.findings.filter((f) => f.rule === 'MCP-DOCK-004').map((f) => f.message);
  };

  it('flags the host network in every spelling', async () => {
    expect(await dock004('--network', 'host')).toEqual(['container uses the host network: --network host']);
    expect(await dock004('--network=host')).toEqual(['container uses the host network: --network host']);
    expect(await dock004('--net', 'host')).toEqual(['container uses the host network: --net host']);
  });

  it('accepts bridge, none and named networks, published ports, and "host" as something else', async () => {
    for (const options of [
      ['--network', 'bridge'],
      ['--network=mcp-net'],
      ['--net=none'],
      ['-p', '127.0.0.1:8080:8080'],
      ['--add-host', 'host.docker.internal:host-gateway'],
      ['--hostname', 'host'],
      ['-e', 'NETWORK=host'],
    ]) {
      expect(await dock004(...options), options.join(' ')).toEqual([]);
    }
    const podman = await scanFiles({
      '.mcp.json': {
        mcpServers: { s: { command: 'podman', args: ['run', '--network', 'slirp4netns', image] } },
      },
    });
    expect(podman.findings.some((f) => f.rule === 'MCP-DOCK-004')).toBe(false);
  });
});
