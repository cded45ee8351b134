import { createLogger } from '../core/logger.js';
import { startHttpGateway } from '../gateway/http-gateway.js';
import { openStateStore } from '../stores/open-store.js';
import { loadConfigForCommand } from './config-source.js';

/** `mcp-guard serve-http`: the Streamable HTTP front. Runs until SIGINT/SIGTERM. */
export async function serveHttp(options: {
  config?: string;
  host?: string;
  port?: number;
  cwd: string;
}): Promise<void> {
  const config = await loadConfigForCommand(options.config, options.cwd);
  const logger = createLogger();
  const store = await openStateStore(config.state);
  const running = await startHttpGateway(config, {
    host: options.host,
    port: options.port,
    logger,
    store,
    watchConfig: true,
    probeBackends: true,
  });
  process.stderr.write(`mcp-guard: listening on ${running.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      void running.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
