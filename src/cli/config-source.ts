import { loadConfig, resolveConfigPath } from '../config/load.js';
import { ConfigError, type ReadOptions } from '../config/source.js';
import type { GuardConfig } from '../config/types.js';
import { ExitError } from '../core/errors.js';

/** Finds and loads the config for a command; a missing or invalid config ends the command with exit 1. */
export async function loadConfigForCommand(
  option: string | undefined,
  cwd: string,
  options: ReadOptions = {},
): Promise<GuardConfig> {
  const file = resolveConfigPath(option, cwd);
  if (!file) {
    throw new ExitError(
      2,
      'no config file: pass --config FILE, set MCP_GUARD_CONFIG, or create ./mcp-guard.yaml',
    );
  }
  try {
    return await loadConfig(file, process.env, options);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(1, `invalid config:\n${err.message}`);
    throw err;
  }
}
