/**
 * The client command for the official client auth scenarios (`conformance client --command …`): it puts
 * the gateway in front of the scenario's server and makes the calls through it, as an operator and an
 * agent would.
 *
 * 1. A config with the scenario's server as `servers.upstream` (`url`, `oauth`: the gateway's CIMD URL,
 *    and the pre-registered client of MCP_CONFORMANCE_CONTEXT when the scenario gives one).
 * 2. `backends login upstream` (the code the CLI runs); the scenario's authorization server approves at
 *    once, so "the person" only follows the redirect back to the login's loopback listener.
 * 3. The gateway (serve-http, in this process) and an agent with an API key: tools/list, then tools/call
 *    of the first tool. A refusal that asks for a login or a wider scope is what an operator would act
 *    on: log in again (at most twice, the retry limit of MCP scope step-up), then call again.
 * Exit 0 when the calls went through (at least one tool listed and called); 1 when the login or the
 * calls failed (scenarios that expect a client to refuse allow that).
 *
 *   node dist/tools/test/conformance/auth-client.js <server url>     (after npm run build)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/**
 * The gateway's own modules, from the build (dist/) this command is compiled beside
 * (dist/tools/test/conformance/): the CLI's login and serve-http's start, as they ship.
 */
const dist = (module: string) => new URL(`../../../${module}`, import.meta.url).href;
interface Gateway {
  readonly url: string;
  close(): Promise<void>;
}
const { backendsLogin } = (await import(dist('cli/backends.js'))) as {
  backendsLogin(options: {
    config: string;
    cwd: string;
    name: string;
    open: (url: string) => Promise<void>;
    out: (line: string) => void;
    timeoutMs: number;
  }): Promise<void>;
};
const { loadConfig } = (await import(dist('config/load.js'))) as {
  loadConfig(file: string): Promise<{ state: unknown }>;
};
const { silentLogger } = (await import(dist('core/logger.js'))) as { silentLogger: unknown };
const { startHttpGateway } = (await import(dist('gateway/http-gateway.js'))) as {
  startHttpGateway(
    config: unknown,
    options: { port: number; logger: unknown; store: unknown },
  ): Promise<Gateway>;
};
const { openStateStore } = (await import(dist('stores/open-store.js'))) as {
  openStateStore(state: unknown): Promise<unknown>;
};

/** The CIMD URL the conformance scenarios expect a client to use where the server supports CIMD. */
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
const AGENT_KEY = 'conformance-agent-key-0123456789abcdef';
const MAX_STEP_UPS = 2;

const log = (line: string) => process.stderr.write(`[auth-client] ${line}\n`);

async function followConsent(url: string): Promise<void> {
  log(`authorization URL: ${url}`);
  const authorize = await fetch(url, { redirect: 'manual' });
  await authorize.text();
  const location = authorize.headers.get('location');
  if (!location)
    throw new Error(`the authorization endpoint answered ${authorize.status} without a redirect`);
  const back = await fetch(location);
  log(`callback answered ${back.status}: ${(await back.text()).replace(/<[^>]*>/g, '').slice(0, 200)}`);
}

async function main(): Promise<number> {
  const serverUrl = process.argv.at(-1) as string;
  const context = JSON.parse(process.env['MCP_CONFORMANCE_CONTEXT'] ?? '{}') as {
    client_id?: string;
    client_secret?: string;
  };
  log(`scenario ${process.env['MCP_CONFORMANCE_SCENARIO'] ?? '?'} against ${serverUrl}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpg-auth-client-'));
  const file = path.join(dir, 'mcp-guard.yaml');
  const q = (s: string) => JSON.stringify(s);
  writeFileSync(
    file,
    `auth:
  mode: api_key
  keys: [{ agent: conformance, key: ${AGENT_KEY} }]
state:
  store: sqlite
  path: ${q(path.join(dir, 'state.db'))}
  encryption_key: ${q(`conformance-${Math.random().toString(36).repeat(4)}`.padEnd(40, 'x'))}
servers:
  upstream:
    url: ${q(serverUrl)}
    isolation: shared
    oauth:
      client_metadata_url: ${CLIENT_METADATA_URL}
${context.client_id ? `      client_id: ${q(context.client_id)}\n` : ''}${context.client_secret ? `      client_secret: ${q(context.client_secret)}\n` : ''}`,
  );
  const login = () =>
    backendsLogin({
      config: file,
      cwd: dir,
      name: 'upstream',
      open: followConsent,
      out: log,
      timeoutMs: 15_000,
    });
  try {
    await login();
  } catch (err) {
    log(`login refused: ${(err as Error).message}`);
    return 1;
  }

  const config = await loadConfig(file);
  const store = await openStateStore(config.state);
  const gateway = await startHttpGateway(config, { port: 0, logger: silentLogger, store });
  const agent = new Client({ name: 'conformance-agent', version: '1.0.0' }, { capabilities: {} });
  try {
    await agent.connect(
      new StreamableHTTPClientTransport(new URL(gateway.url), {
        requestInit: { headers: { Authorization: `Bearer ${AGENT_KEY}` } },
      }),
    );
    for (let stepUps = 0; ; stepUps++) {
      try {
        const tools = (await agent.listTools()).tools;
        log(`tools through the gateway: ${tools.map((t) => t.name).join(', ')}`);
        const first = tools[0];
        // Every scenario's server offers a tool: none means the backend was not reached.
        if (!first) {
          log('no tools through the gateway: the backend was not reached');
          return 1;
        }
        const result = await agent.callTool({ name: first.name, arguments: {} });
        log(`called ${first.name}: ${JSON.stringify(result.content)}`);
        return result.isError ? 1 : 0;
      } catch (err) {
        const message = (err as Error).message;
        log(`call refused: ${message}`);
        // What an operator does when the gateway says so: log in again (bounded, like any step-up).
        if (!/backends login upstream/.test(message) || stepUps >= MAX_STEP_UPS) return 1;
        await login();
      }
    }
  } finally {
    await agent.close().catch(() => {});
    await gateway.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
