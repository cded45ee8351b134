/**
 * The fixture tree (test/fixtures/scan): one realistic config per client, in a repo layout and a home
 * layout, scanned end to end. Lists are exact, so a false positive fails as surely as a miss.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scan } from '../../src/scan/scan.js';
import { compact, FIXTURES, fixtureHome } from './helpers.js';

describe('the repo fixture (project configs, --no-home)', () => {
  it('yields exactly the expected findings, each at its server entry line', async () => {
    const result = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'repo') });
    expect(compact(result.findings)).toEqual([
      '.claude/settings.json:2 (file) MCP-APPR-002',
      '.codex/config.toml:2 github MCP-SEC-001',
      '.codex/config.toml:2 github MCP-GW-001',
      '.codex/config.toml:2 github MCP-SUP-002',
      '.codex/config.toml:9 ops MCP-APPR-001',
      '.continue/mcpServers/postgres.yaml:5 pg MCP-GW-001',
      '.continue/mcpServers/postgres.yaml:5 pg MCP-SUP-001',
      '.cursor/mcp.json:3 remote-token MCP-SEC-003',
      '.cursor/mcp.json:4 oauth-app MCP-SEC-002',
      '.gemini/settings.json:3 db MCP-SEC-002',
      '.gemini/settings.json:3 db MCP-GW-001',
      '.gemini/settings.json:3 db MCP-SUP-001',
      '.mcp.json:14 win-cmd MCP-GW-001',
      '.mcp.json:14 win-cmd MCP-SUP-001',
      '.mcp.json:14 win-cmd MCP-EXEC-005',
      '.mcp.json:15 script MCP-EXEC-001',
      '.mcp.json:15 script MCP-GW-001',
      '.mcp.json:16 metadata MCP-NET-001',
      '.mcp.json:16 metadata MCP-NET-002',
      '.mcp.json:16 metadata MCP-NET-004',
      '.mcp.json:17 hidden MCP-NAME-002',
      '.mcp.json:17 hidden MCP-GW-001',
      '.vscode/mcp.json:7 fs MCP-FS-001',
      '.vscode/mcp.json:7 fs MCP-GW-001',
      '.vscode/mcp.json:12 ssh MCP-FS-002',
      '.vscode/mcp.json:12 ssh MCP-GW-001',
      '.vscode/mcp.json:13 preload MCP-EXEC-004',
      '.vscode/mcp.json:13 preload MCP-GW-001',
      '.zed/settings.json:3 shell MCP-EXEC-001',
      '.zed/settings.json:3 shell MCP-GW-001',
      '.zed/settings.json:8 aws MCP-DOCK-003',
      '.zed/settings.json:8 aws MCP-DOCK-004',
      '.zed/settings.json:8 aws MCP-GW-001',
      'tools/mcp.json:3 tls-off MCP-NET-005',
      'tools/mcp.json:3 tls-off MCP-NET-005',
      'tools/mcp.json:3 tls-off MCP-GW-001',
    ]);
    expect(result.summary).toEqual({ high: 16, medium: 19, low: 1, files: 9 });
    expect(result.warnings).toEqual([]);
  });

  it('names each file’s client', async () => {
    const result = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'repo') });
    const clients = Object.fromEntries(result.findings.map((f) => [f.file, f.client]));
    expect(clients).toEqual({
      '.claude/settings.json': 'claude-code',
      '.codex/config.toml': 'codex',
      '.continue/mcpServers/postgres.yaml': 'continue',
      '.cursor/mcp.json': 'cursor',
      '.gemini/settings.json': 'gemini',
      '.mcp.json': 'claude-code',
      '.vscode/mcp.json': 'vscode',
      '.zed/settings.json': 'zed',
      'tools/mcp.json': 'mcp-json',
    });
  });

  it('gives no finding to pinned, wrapped or authenticated servers (lowercase authorization included)', async () => {
    const result = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'repo') });
    const servers = new Set(result.findings.map((f) => f.server));
    // guarded: npx -y mcp-guard@0.1.0 serve; api: https + lowercase `authorization`; local-dev: loopback;
    // guarded-node: node /opt/mcp-guard/dist/cli/main.js serve (an absolute path).
    for (const clean of ['guarded', 'api', 'local-dev', 'guarded-node']) expect(servers).not.toContain(clean);
  });
});

describe('the clean fixture', () => {
  it('has no finding at all', async () => {
    const result = await scan({ paths: ['.'], cwd: path.join(FIXTURES, 'clean') });
    expect(result.findings).toEqual([]);
    expect(result.summary).toEqual({ high: 0, medium: 0, low: 0, files: 2 });
  });
});

describe('home discovery (fixture home, no paths)', () => {
  const common = [
    'home/.claude.json:4 linear MCP-NET-004',
    'home/.claude.json:10 postgres MCP-SEC-003',
    'home/.claude.json:10 postgres MCP-GW-001',
    'home/.claude/settings.json:2 (file) MCP-APPR-002',
    'home/.codeium/windsurf/mcp_config.json:3 brave MCP-SEC-002',
    'home/.codeium/windsurf/mcp_config.json:3 brave MCP-GW-001',
    'home/.codeium/windsurf/mcp_config.json:3 brave MCP-SUP-001',
    'home/.codex/config.toml:3 installer MCP-EXEC-002',
    'home/.codex/config.toml:3 installer MCP-GW-001',
    'home/.codex/config.toml:11 guarded MCP-APPR-001',
  ];
  const linuxOnly = [
    'home/.config/Claude/claude_desktop_config.json:3 filesystem MCP-FS-001',
    'home/.config/Claude/claude_desktop_config.json:3 filesystem MCP-GW-001',
    'home/.config/Claude/claude_desktop_config.json:3 filesystem MCP-SUP-001',
    'home/.config/Claude/claude_desktop_config.json:7 github MCP-SEC-001',
    'home/.config/Claude/claude_desktop_config.json:7 github MCP-GW-001',
    'home/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json:3 git MCP-APPR-001',
    'home/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json:3 git MCP-GW-001',
    'home/.config/Code/User/mcp.json:6 fetch MCP-GW-001',
    'home/.config/Code/User/mcp.json:6 fetch MCP-SUP-001',
    'home/.config/Code/User/settings.json:6 time MCP-GW-001',
    'home/.config/Code/User/settings.json:6 time MCP-SUP-002',
  ];
  const goose = [
    'home/.config/goose/config.yaml:2 (file) MCP-APPR-002',
    'home/.config/goose/config.yaml:7 github MCP-DOCK-001',
    'home/.config/goose/config.yaml:7 github MCP-DOCK-002',
    'home/.config/goose/config.yaml:7 github MCP-GW-001',
  ];
  const rest = [
    'home/.config/zed/settings.json:5 postgres-old MCP-EXEC-003',
    'home/.config/zed/settings.json:5 postgres-old MCP-GW-001',
    'home/.config/zed/settings.json:8 lan MCP-NET-001',
    'home/.config/zed/settings.json:8 lan MCP-NET-004',
    'home/.continue/config.yaml:5 sqlite MCP-GW-001',
    'home/.continue/config.yaml:5 sqlite MCP-SUP-001',
    'home/.continue/config.yaml:8 remote MCP-NET-005',
    'home/.cursor/mcp.json:3 remote-docs MCP-NET-001',
    'home/.cursor/mcp.json:3 remote-docs MCP-NET-004',
    'home/.gemini/settings.json:4 trusted MCP-APPR-001',
    'home/.gemini/settings.json:4 trusted MCP-GW-001',
  ];
  const managed = (dir: string, name: string) => [
    `system/${dir}/managed-mcp.json:3 ${name} MCP-NET-001`,
    `system/${dir}/managed-mcp.json:3 ${name} MCP-NET-004`,
  ];

  it('finds every Linux client location, including /etc/claude-code/managed-mcp.json', async () => {
    const result = await scan({ paths: [], cwd: FIXTURES, home: fixtureHome('linux') });
    expect(compact(result.findings)).toEqual([
      ...common,
      ...linuxOnly,
      ...goose,
      ...rest,
      ...managed('etc/claude-code', 'managed-linux'),
    ]);
    expect(result.summary.files).toBe(14);
  });

  it('finds the macOS locations under ~/Library/Application Support', async () => {
    const result = await scan({ paths: [], cwd: FIXTURES, home: fixtureHome('darwin') });
    const lines = compact(result.findings);
    expect(lines).toContain(
      'home/Library/Application Support/Claude/claude_desktop_config.json:3 mac-time MCP-SUP-001',
    );
    expect(lines).toContain(
      'system/Library/Application Support/ClaudeCode/managed-mcp.json:3 managed-mac MCP-NET-001',
    );
    expect(lines.some((l) => l.startsWith('home/.config/Claude/'))).toBe(false);
    expect(lines).toEqual(expect.arrayContaining([...common, ...goose, ...rest]));
  });

  it('finds the Windows locations, the Microsoft Store package path and %APPDATA% from the environment', async () => {
    const home = fixtureHome('win32', {
      APPDATA: path.join(FIXTURES, 'home', 'AppData', 'Roaming'),
      LOCALAPPDATA: path.join(FIXTURES, 'home', 'AppData', 'Local'),
    });
    const result = await scan({ paths: [], cwd: FIXTURES, home });
    const lines = compact(result.findings);
    expect(lines).toContain('home/AppData/Roaming/Claude/claude_desktop_config.json:3 win-time MCP-SUP-001');
    expect(lines).toContain(
      'home/AppData/Local/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json:3 store-time MCP-SUP-001',
    );
    expect(lines).toContain('system/Program Files/ClaudeCode/managed-mcp.json:3 managed-win MCP-NET-001');
    expect(lines.some((l) => l.includes('goose'))).toBe(false);
  });

  it('follows CODEX_HOME, CLAUDE_CONFIG_DIR and XDG_CONFIG_HOME', async () => {
    const home = fixtureHome('linux', {
      CODEX_HOME: path.join(FIXTURES, 'repo', '.codex'),
      CLAUDE_CONFIG_DIR: path.join(FIXTURES, 'repo', '.claude'),
      XDG_CONFIG_HOME: path.join(FIXTURES, 'nowhere'),
    });
    const files = new Set((await scan({ paths: [], cwd: FIXTURES, home })).findings.map((f) => f.file));
    expect(files).toContain('repo/.codex/config.toml');
    expect(files).not.toContain('home/.codex/config.toml');
    expect(files).toContain('repo/.claude/settings.json');
    expect(files).not.toContain('home/.claude.json');
    expect([...files].some((f) => f.startsWith('home/.config/'))).toBe(false);
  });

  it('adds the given paths to the home configs without reading a file twice', async () => {
    const result = await scan({
      paths: ['home/.cursor', 'home/.cursor/mcp.json'],
      cwd: FIXTURES,
      home: fixtureHome('linux'),
    });
    expect(
      result.findings.filter((f) => f.file === 'home/.cursor/mcp.json' && f.rule === 'MCP-NET-001'),
    ).toHaveLength(1);
    expect(result.summary.files).toBe(14);
  });
});
