import { Authenticator } from '../auth/authenticator.js';
import { printConfig } from '../config/print-config.js';
import { silentLogger } from '../core/logger.js';
import { GatewayMetrics } from '../metrics/metrics.js';
import { buildStages, describePipeline } from '../pipeline/pipeline.js';
import type { StateStore } from '../stores/state-store.js';
import { loadConfigAndText } from './config-source.js';

/**
 * `mcp-guard config check`: validates and prints the effective config in config syntax, secrets masked
 * (the output, fed back, loads to the same config: see print-config.ts).
 */
export async function configCheck(options: { config?: string; cwd: string }): Promise<void> {
  const { config, text } = await loadConfigAndText(options.config, options.cwd);
  // Building the stages checks what only a compiled pipeline can (keys, algorithms). Nothing is opened
  // or started: the store below refuses every call, and config check makes none.
  const notForUse = new Proxy(
    {},
    { get: () => () => Promise.reject(new Error('config check does not run requests')) },
  ) as StateStore;
  const stages = buildStages({
    config,
    authenticator: new Authenticator(config),
    store: notForUse,
    env: {},
    logger: silentLogger,
    // As in the gateway, which always keeps metrics: the record stages are part of the pipeline shown.
    metrics: new GatewayMetrics(config, { approvalsPending: async () => 0 }),
    redact: (v) => v,
    approvals: { created: async () => {} },
  });
  process.stdout.write(`# ${config.source}: ok\n`);
  process.stdout.write(printConfig(config, text));
  process.stdout.write(`# pipeline: ${describePipeline(stages).join(' → ')}\n`);
}
