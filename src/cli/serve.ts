import { ExitError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { ANONYMOUS } from '../core/principal.js';
import { Gateway } from '../gateway/gateway.js';
import { runStdioFront } from '../server/stdio-front.js';
import { openStateStore } from '../stores/open-store.js';
import { loadConfigForCommand } from './config-source.js';

/** `mcp-guard serve`: the stdio front. The agent launches it; it ends when the agent closes stdin. */
export async function serveStdio(options: { config?: string; cwd: string }): Promise<void> {
  const config = await loadConfigForCommand(options.config, options.cwd);
  if (config.auth.mode === 'oauth2') {
    throw new ExitError(
      1,
      'auth.mode oauth2 needs the HTTP front (serve-http); over stdio use api_key or jwt with MCP_GUARD_API_KEY',
    );
  }
  const logger = createLogger();
  const store = await openStateStore(config.state);
  const gateway = await Gateway.open(config, { logger, store, env: process.env });
  const done = runStdioFront({
    input: process.stdin,
    output: process.stdout,
    runtime: () => gateway.current(),
    // The stdio caller is authenticated per request by the authenticate stage (MCP_GUARD_API_KEY).
    principal: config.auth.mode === 'none' ? ANONYMOUS : undefined,
    logger,
    // One size limit at both doors (the HTTP front refuses larger bodies with 413).
    maxLineBytes: config.http.maxBodyBytes,
  });
  const stop = () => process.stdin.destroy();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.on('SIGHUP', () => void gateway.reload());
  await done;
  await gateway.close();
}
