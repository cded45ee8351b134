import { stringify } from 'yaml';
import { Authenticator } from '../auth/authenticator.js';
import { maskedConfig } from '../config/mask.js';
import { silentLogger } from '../core/logger.js';
import { GatewayMetrics } from '../metrics/metrics.js';
import { buildStages, describePipeline } from '../pipeline/pipeline.js';
import type { StateStore } from '../stores/state-store.js';
import { loadConfigForCommand } from './config-source.js';

/** `mcp-guard config check`: validates and prints the effective config, secrets masked. */
export async function configCheck(options: { config?: string; cwd: string }): Promise<void> {
  const config = await loadConfigForCommand(options.config, options.cwd);
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
  process.stdout.write(stringify(maskedConfig(config), { lineWidth: 0 }));
  process.stdout.write(`# pipeline: ${describePipeline(stages).join(' → ')}\n`);
}
