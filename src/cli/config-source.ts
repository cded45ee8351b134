import { resolveConfigPath, validateSource } from '../config/load.js';
import { ConfigError, parseConfigText, type ReadOptions, readConfigText } from '../config/source.js';
import type { GuardConfig } from '../config/types.js';
import { ExitError } from '../core/errors.js';

/** Finds and loads the config for a command; a missing or invalid config ends the command with exit 1. */
export async function loadConfigForCommand(
  option: string | undefined,
  cwd: string,
  options: ReadOptions = {},
): Promise<GuardConfig> {
  return (await loadConfigAndText(option, cwd, options)).config;
}

/** loadConfigForCommand, with the file's text as it was read (for `config check`, which quotes it). */
export async function loadConfigAndText(
  option: string | undefined,
  cwd: string,
  options: ReadOptions = {},
): Promise<{ config: GuardConfig; text: string }> {
  const file = resolveConfigPath(option, cwd);
  if (!file) {
    throw new ExitError(
      2,
      'no config file: pass --config FILE, set MCP_GUARD_CONFIG, or create ./mcp-guard.yaml',
    );
  }
  try {
    const text = await readConfigText(file);
    return { config: validateSource(parseConfigText(file, text, process.env, options)), text };
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(1, `invalid config:\n${err.message}`);
    throw err;
  }
}
