/**
 * Test harness: a real gateway (in this process, on a loopback port) in front of real backends, with a
 * real SDK client. Configs are written to a temp dir and loaded through the normal loader.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { type HttpGateway, startHttpGateway } from '../../src/gateway/http-gateway.js';
import { openStateStore } from '../../src/stores/open-store.js';

export function tempDir(prefix = 'mcp-guard-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Writes `yaml` as mcp-guard.yaml in a fresh temp dir (SQLite state beside it unless the config says otherwise). */
export function writeConfig(yaml: string, dir = tempDir()): string {
  const file = path.join(dir, 'mcp-guard.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface TestGateway extends HttpGateway {
  readonly dir: string;
  readonly configFile: string;
}

/** Starts `serve-http` in-process on an ephemeral loopback port. */
export async function startGateway(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  return startGatewayOn(writeConfig(yaml), env);
}

/** Starts `serve-http` in-process on an existing config file (a restart on the same state). */
export async function startGatewayOn(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  const config = await loadConfig(configFile, { ...process.env, ...env });
  const store = await openStateStore(config.state);
  const gw = await startHttpGateway(config, { port: 0, logger: silentLogger, store, env });
  return { ...gw, dir: path.dirname(configFile), configFile, close: gw.close };
}

export interface ConnectOptions {
  readonly capabilities?: ClientCapabilities;
  readonly headers?: Record<string, string>;
  readonly name?: string;
}

/** An SDK client connected to `url` over Streamable HTTP. */
export async function connectHttp(url: string, options: ConnectOptions = {}): Promise<Client> {
  const client = new Client(
    { name: options.name ?? 'test-agent', version: '1.0.0' },
    { capabilities: options.capabilities ?? {} },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: options.headers ?? {} },
  });
  await client.connect(transport);
  return client;
}
