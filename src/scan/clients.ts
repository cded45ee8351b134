/**
 * Where each AI client keeps its MCP config (research/security.md §4): the user and system locations
 * for a platform, and which client a file found under a scanned folder belongs to.
 */
import path from 'node:path';
import type { ClientId, Format } from './types.js';

/** Everything home discovery depends on, passed in so tests can point it at a fixture home. */
export interface HomeEnvironment {
  readonly home: string;
  readonly platform: NodeJS.Platform;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Root of the system-wide locations (managed-mcp.json under /etc or /Library, C:\Program Files):
   * `/` (or `C:\` on Windows) on a real machine, a fixture folder in tests.
   */
  readonly systemRoot: string;
}

/**
 * A config location. `file` may hold one `*` in a single path segment (Windows store packages put
 * Claude Desktop under `Packages/Claude_<publisher id>`; Continue keeps one file per server).
 */
export interface HomeLocation {
  readonly client: ClientId;
  readonly file: string;
  readonly format: Format;
}

/** Every place a client keeps its user-level or system-level MCP config on this platform. */
export function homeLocations(e: HomeEnvironment): HomeLocation[] {
  const home = (...p: string[]) => path.join(e.home, ...p);
  const system = (...p: string[]) => path.join(e.systemRoot, ...p);
  const xdg = e.env['XDG_CONFIG_HOME'] || home('.config');
  const appData = e.env['APPDATA'] || home('AppData', 'Roaming');
  const localAppData = e.env['LOCALAPPDATA'] || home('AppData', 'Local');
  const claudeDir = e.env['CLAUDE_CONFIG_DIR'];
  const codexHome = e.env['CODEX_HOME'] || home('.codex');
  const out: HomeLocation[] = [];
  const add = (client: ClientId, file: string, format: Format = 'json') => out.push({ client, file, format });

  // Folders of the VS Code family: VS Code's own user settings, and Cline's global storage in both
  // VS Code and Cursor.
  let codeUserDirs: string[];
  if (e.platform === 'darwin') {
    const support = home('Library', 'Application Support');
    add('claude-desktop', path.join(support, 'Claude', 'claude_desktop_config.json'));
    add('claude-code', system('Library', 'Application Support', 'ClaudeCode', 'managed-mcp.json'));
    add('zed', path.join(support, 'Zed', 'settings.json'));
    codeUserDirs = [path.join(support, 'Code', 'User'), path.join(support, 'Cursor', 'User')];
  } else if (e.platform === 'win32') {
    add('claude-desktop', path.join(appData, 'Claude', 'claude_desktop_config.json'));
    // The Microsoft Store (MSIX) build keeps its config inside the package's virtualised AppData.
    add(
      'claude-desktop',
      path.join(
        localAppData,
        'Packages',
        'Claude_*',
        'LocalCache',
        'Roaming',
        'Claude',
        'claude_desktop_config.json',
      ),
    );
    const programFiles = e.env['ProgramFiles'] || system('Program Files');
    const programData = e.env['ProgramData'] || system('ProgramData');
    add('claude-code', path.join(programFiles, 'ClaudeCode', 'managed-mcp.json'));
    add('claude-code', path.join(programData, 'ClaudeCode', 'managed-mcp.json'));
    add('zed', path.join(appData, 'Zed', 'settings.json'));
    add('goose', path.join(appData, 'Block', 'goose', 'config', 'config.yaml'), 'yaml');
    codeUserDirs = [path.join(appData, 'Code', 'User'), path.join(appData, 'Cursor', 'User')];
  } else {
    // Linux has no official Claude Desktop; community builds use either spelling.
    add('claude-desktop', path.join(xdg, 'Claude', 'claude_desktop_config.json'));
    add('claude-desktop', path.join(xdg, 'claude', 'claude_desktop_config.json'));
    add('claude-code', system('etc', 'claude-code', 'managed-mcp.json'));
    codeUserDirs = [path.join(xdg, 'Code', 'User'), path.join(xdg, 'Cursor', 'User')];
  }
  if (e.platform !== 'win32') add('goose', path.join(xdg, 'goose', 'config.yaml'), 'yaml');

  add('claude-code', claudeDir ? path.join(claudeDir, '.claude.json') : home('.claude.json'));
  add('claude-code', claudeDir ? path.join(claudeDir, 'settings.json') : home('.claude', 'settings.json'));
  add('cursor', home('.cursor', 'mcp.json'));
  const [vscodeUser] = codeUserDirs;
  if (vscodeUser) {
    add('vscode', path.join(vscodeUser, 'mcp.json'));
    add('vscode', path.join(vscodeUser, 'settings.json'));
  }
  add('vscode', home('.vscode', 'mcp.json'));
  for (const dir of codeUserDirs) {
    add(
      'cline',
      path.join(dir, 'globalStorage', 'saoudrizwan.claude-dev', 'settings', 'cline_mcp_settings.json'),
    );
  }
  add('windsurf', home('.codeium', 'windsurf', 'mcp_config.json'));
  add('windsurf', home('.codeium', 'mcp_config.json'));
  add('gemini', home('.gemini', 'settings.json'));
  add('codex', path.join(codexHome, 'config.toml'), 'toml');
  add('zed', path.join(xdg, 'zed', 'settings.json'));
  add('continue', home('.continue', 'config.yaml'), 'yaml');
  add('continue', home('.continue', 'config.json'));
  add('continue', home('.continue', 'mcpServers', '*.yaml'), 'yaml');
  add('continue', home('.continue', 'mcpServers', '*.yml'), 'yaml');
  add('continue', home('.continue', 'mcpServers', '*.json'));
  add('kiro', home('.kiro', 'settings', 'mcp.json'));
  add('lm-studio', home('.lmstudio', 'mcp.json'));
  return out;
}

/**
 * The client a file found while walking a folder belongs to, from the end of its path (so repo
 * layouts like `.cursor/mcp.json` and home layouts like `.config/Code/User/mcp.json` both match);
 * undefined for files that are not MCP client configs.
 */
export function classifyFile(filePath: string): { client: ClientId; format: Format } | undefined {
  const p = filePath.split(path.sep).join('/');
  const base = p.slice(p.lastIndexOf('/') + 1);
  const ends = (suffix: string) => p === suffix || p.endsWith(`/${suffix}`);
  const gateway = /^mcp-guard\.(ya?ml|json)$/.exec(base);
  if (gateway) return { client: 'mcp-guard', format: gateway[1] === 'json' ? 'json' : 'yaml' };
  switch (base) {
    case '.mcp.json':
    case '.claude.json':
    case 'managed-mcp.json':
      return { client: 'claude-code', format: 'json' };
    case 'claude_desktop_config.json':
      return { client: 'claude-desktop', format: 'json' };
    case 'cline_mcp_settings.json':
      return { client: 'cline', format: 'json' };
    case 'mcp_config.json':
      return { client: 'windsurf', format: 'json' };
    case 'mcp.json':
      if (ends('.cursor/mcp.json')) return { client: 'cursor', format: 'json' };
      if (ends('.vscode/mcp.json') || ends('Code/User/mcp.json')) return { client: 'vscode', format: 'json' };
      if (ends('.kiro/settings/mcp.json')) return { client: 'kiro', format: 'json' };
      if (ends('.lmstudio/mcp.json')) return { client: 'lm-studio', format: 'json' };
      return { client: 'mcp-json', format: 'json' };
    case 'settings.json':
    case 'settings.local.json':
      if (ends(`.claude/${base}`)) return { client: 'claude-code', format: 'json' };
      if (base !== 'settings.json') return undefined;
      if (ends('.gemini/settings.json')) return { client: 'gemini', format: 'json' };
      if (ends('.zed/settings.json') || ends('zed/settings.json') || ends('Zed/settings.json')) {
        return { client: 'zed', format: 'json' };
      }
      if (ends('.vscode/settings.json') || ends('Code/User/settings.json'))
        return { client: 'vscode', format: 'json' };
      return undefined;
    case 'config.toml':
      return ends('.codex/config.toml') ? { client: 'codex', format: 'toml' } : undefined;
    case 'config.yaml':
      if (ends('.continue/config.yaml')) return { client: 'continue', format: 'yaml' };
      if (ends('goose/config.yaml') || ends('goose/config/config.yaml'))
        return { client: 'goose', format: 'yaml' };
      return undefined;
    case 'config.json':
      return ends('.continue/config.json') ? { client: 'continue', format: 'json' } : undefined;
  }
  if (p.includes('.continue/mcpServers/')) {
    if (/\.ya?ml$/.test(base)) return { client: 'continue', format: 'yaml' };
    if (base.endsWith('.json')) return { client: 'continue', format: 'json' };
  }
  return undefined;
}

/** For a file named explicitly on the command line: its client if known, else a generic config. */
export function classifyGivenFile(filePath: string): { client: ClientId; format: Format } {
  const known = classifyFile(filePath);
  if (known) return known;
  if (filePath.endsWith('.toml')) return { client: 'mcp-json', format: 'toml' };
  if (/\.ya?ml$/.test(filePath)) return { client: 'mcp-json', format: 'yaml' };
  return { client: 'mcp-json', format: 'json' };
}
