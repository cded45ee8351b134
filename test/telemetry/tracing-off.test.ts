/**
 * Free when off: a `serve-http` process with telemetry off never loads OpenTelemetry (a module hook
 * records what the process resolves), exports nothing, and passes a caller's trace context on untouched.
 * The same process with telemetry on is the control: the hook sees the SDK (and only the exporter in use),
 * and the spans, held back by a long batch delay, are exported when the gateway stops.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBackend, startHttpTestServer, stdioTestServer } from '../helpers/backends.js';
import { tempDir, writeConfig } from '../helpers/gateway.js';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.js';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { ROOT } from '../helpers/paths.js';
import { textOf } from '../helpers/results.js';
import { RawSession } from '../helpers/sse.js';

const HOOK = pathToFileURL(path.join(ROOT, 'test/telemetry/module-log.mjs')).href;
const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('telemetry off and on, in a gateway process', () => {
  let receiver: OtlpReceiver;
  let remote: HttpBackend;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    remote = await startHttpTestServer(['--name', 'remote']);
  });
  afterAll(async () => {
    await remote?.stop();
    await receiver?.close();
  });

  /** Starts the gateway with the module hook; returns it and the file the hook writes. */
  async function start(telemetry: string): Promise<{ gw: GatewayProcess; moduleLog: string }> {
    const dir = tempDir('mcp-guard-otel-');
    const moduleLog = path.join(dir, 'modules.log');
    const config = writeConfig(
      `servers:
  remote:
    url: ${remote.url}
    prefix: true
${stdioTestServer('local', '    prefix: true\n')}
${telemetry}`,
      dir,
    );
    const gw = await startGatewayProcess(config, {
      NODE_OPTIONS: `--import=${HOOK}`,
      MODULE_LOG: moduleLog,
      MODULE_LOG_MATCH: '@opentelemetry|/telemetry/otel-tracing',
    });
    return { gw, moduleLog };
  }

  /** Two calls carrying the caller's context (HTTP header and _meta); what each backend saw. */
  async function calls(
    url: string,
  ): Promise<{ meta: Record<string, unknown>; headers: Record<string, string> }> {
    const session = new RawSession(url);
    await session.initialize();
    const callTool = async (id: number, name: string, meta?: Record<string, unknown>) => {
      const reader = await session.request(
        id,
        'tools/call',
        { name, arguments: {}, ...(meta ? { _meta: meta } : {}) },
        { traceparent: CALLER },
      );
      const messages = await reader.untilResponse(id);
      return JSON.parse(textOf(messages.at(-1)?.['result'])) as Record<string, unknown>;
    };
    const meta = await callTool(1, 'local__get_meta', { traceparent: CALLER, 'example.com/k': 1 });
    const headers = (await callTool(2, 'remote__get_headers')) as Record<string, string>;
    await session.close();
    return { meta, headers };
  }

  it('off: loads no OpenTelemetry module, exports nothing, and relays the caller’s context as it came', async () => {
    const { gw, moduleLog } = await start('');
    const seen = await calls(gw.url);
    expect(await gw.stop()).toBe(0);

    expect(existsSync(moduleLog) ? readFileSync(moduleLog, 'utf8') : '').toBe('');
    expect(receiver.requests).toEqual([]);
    // Protocol-transparent: the agent's own _meta, unchanged; no trace header added toward HTTP backends.
    expect(seen.meta).toEqual({ traceparent: CALLER, 'example.com/k': 1 });
    expect(seen.headers['traceparent']).toBeUndefined();
  });

  it('on (the control): loads the SDK and the one exporter in use, and exports on shutdown', async () => {
    const { gw, moduleLog } = await start(`telemetry:
  enabled: true
  service_name: control-gateway
  batch_delay: 1h
  otlp:
    endpoint: ${receiver.url}
    protocol: http/protobuf
`);
    const seen = await calls(gw.url);
    // The backends joined the caller's trace, through the gateway's own spans.
    expect(seen.meta['traceparent']).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(seen.meta['traceparent']).not.toBe(CALLER);
    expect(seen.headers['traceparent']).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
    expect(receiver.requests).toEqual([]); // held back by batch_delay…
    expect(await gw.stop()).toBe(0);

    // …and sent when the gateway stopped.
    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const r of receiver.requests) {
      expect(r.path).toBe('/v1/traces');
      expect(r.contentType).toBe('application/x-protobuf');
    }
    const body = Buffer.concat(receiver.requests.map((r) => r.body));
    expect(body.includes('control-gateway')).toBe(true);
    expect(body.includes('tools/call get_meta')).toBe(true);

    const loaded = readFileSync(moduleLog, 'utf8');
    expect(loaded).toContain('/node_modules/@opentelemetry/sdk-trace-base/');
    expect(loaded).toContain('/node_modules/@opentelemetry/exporter-trace-otlp-proto/');
    expect(loaded).not.toContain('/node_modules/@opentelemetry/exporter-trace-otlp-http/');
  });
});
