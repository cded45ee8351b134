/**
 * OpenTelemetry tracing end to end: a real gateway (serve-http, telemetry on, OTLP/HTTP JSON) in front of
 * a real HTTP backend and a real stdio backend, an OTLP receiver on loopback, and raw MCP requests that
 * carry W3C trace context in HTTP headers and in `params._meta` (SEP-414).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type HttpBackend, startHttpTestServer, stdioTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  STATUS,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.js';
import { ROOT } from '../helpers/paths.js';
import { textOf } from '../helpers/results.js';
import { type RawMessage, RawSession } from '../helpers/sse.js';
import { startStdioGateway } from '../helpers/stdio-gateway.js';

const KEY = 'tracing-key-0123456789abcdefghijklmnop';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A caller's context: a trace id and the caller's own span id. */
function callerContext() {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const rootOf = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === SPAN_KIND.server);
const resultOf = (messages: RawMessage[]) => messages.at(-1) as RawMessage;

describe('tracing (telemetry on)', () => {
  let receiver: OtlpReceiver;
  let remote: HttpBackend;
  let gw: TestGateway;
  let session: RawSession;
  let stages: string[];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    remote = await startHttpTestServer(['--name', 'remote']);
    gw = await startGateway(`
auth:
  mode: api_key
  keys: [{ agent: alice, key: ${KEY} }]
policies:
  deny: [remote.delete_file]
  audit_log: ./audit.jsonl
servers:
  remote:
    url: ${remote.url}
    prefix: true
${stdioTestServer('local', '    prefix: true\n')}
telemetry:
  enabled: true
  service_name: guard-under-test
  batch_delay: 20ms
  otlp:
    endpoint: ${receiver.url}
    protocol: http/json
`);
    stages = gw.gateway.current().describe();
    session = new RawSession(gw.url, { authorization: `Bearer ${KEY}` });
    await session.initialize();
  });
  afterAll(async () => {
    await session?.close();
    await gw?.close();
    await remote?.stop();
    await receiver?.close();
  });

  /** Calls a tool with extra HTTP headers; resolves with the response. */
  async function call(
    id: number,
    name: string,
    args: Record<string, unknown>,
    headers: Record<string, string> = {},
    meta?: Record<string, unknown>,
  ): Promise<RawMessage> {
    const reader = await session.request(
      id,
      'tools/call',
      { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
      headers,
    );
    return resultOf(await reader.untilResponse(id));
  }

  it('makes one trace per call: the caller’s trace, a span per stage, a client span, and the backend joins it', async () => {
    const caller = callerContext();
    const response = await call(
      7,
      'remote__get_headers',
      {},
      {
        traceparent: caller.traceparent,
        tracestate: 'vendor=abc',
      },
    );
    const seenByBackend = JSON.parse(textOf(response['result'])) as Record<string, string>;

    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    // One root: the request as the gateway served it, a child of the caller's span.
    const [root, ...otherRoots] = rootOf(spans);
    expect(otherRoots).toEqual([]);
    expect(root?.parentSpanId).toBe(caller.spanId);
    expect(root?.name).toBe('tools/call remote__get_headers');
    expect(root?.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'remote__get_headers',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': '7',
      'network.transport': 'tcp',
      'mcp_guard.agent': 'alice',
      'mcp_guard.server': 'remote',
      'mcp_guard.tool': 'get_headers',
      'mcp_guard.decision': 'allowed',
      'mcp_guard.outcome': 'ok',
    });
    expect(root?.status.code ?? STATUS.unset).toBe(STATUS.unset);
    expect(root?.resource).toMatchObject({ 'service.name': 'guard-under-test' });

    // A span per stage, in pipeline order, each the child of the one before (stages nest).
    const stageSpans = spans.filter((s) => s.name.startsWith('stage '));
    expect(stageSpans.map((s) => s.name).sort()).toEqual(stages.map((n) => `stage ${n}`).sort());
    let parent = root as ReceivedSpan;
    for (const name of stages) {
      const span = stageSpans.find((s) => s.name === `stage ${name}`) as ReceivedSpan;
      expect(span.parentSpanId, name).toBe(parent.spanId);
      expect(span.kind).toBe(SPAN_KIND.internal);
      expect(span.attributes['mcp_guard.stage']).toBe(name);
      parent = span;
    }
    expect(parent.name).toBe('stage forward');

    // The call to the backend: a client span under forward, named with the backend's own tool name.
    const [client, ...otherClients] = spans.filter((s) => s.kind === SPAN_KIND.client);
    expect(otherClients).toEqual([]);
    expect(client?.parentSpanId).toBe(parent.spanId);
    expect(client?.name).toBe('tools/call get_headers');
    expect(client?.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'get_headers',
      'mcp_guard.server': 'remote',
      'network.transport': 'tcp',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(remote.url).port),
    });
    // Nothing else is in the trace.
    expect(spans).toHaveLength(1 + stages.length + 1);

    // The HTTP backend was sent the client span's context, the caller's tracestate carried along.
    expect(seenByBackend['traceparent']).toBe(`00-${caller.traceId}-${client?.spanId}-01`);
    expect(seenByBackend['tracestate']).toBe('vendor=abc');
  });

  it('keeps calls apart: each call is its own trace', async () => {
    const first = callerContext();
    const second = callerContext();
    await Promise.all([
      call(8, 'remote__echo', { message: 'one' }, { traceparent: first.traceparent }),
      call(9, 'local__echo', { message: 'two' }, { traceparent: second.traceparent }),
    ]);
    const a = await receiver.trace(first.traceId, (s) => rootOf(s).length > 0);
    const b = await receiver.trace(second.traceId, (s) => rootOf(s).length > 0);
    for (const [spans, server] of [
      [a, 'remote'],
      [b, 'local'],
    ] as const) {
      expect(rootOf(spans)).toHaveLength(1);
      expect(spans).toHaveLength(1 + stages.length + 1);
      const client = spans.find((s) => s.kind === SPAN_KIND.client);
      expect(client?.attributes['mcp_guard.server']).toBe(server);
      expect(client?.attributes['network.transport']).toBe(server === 'local' ? 'pipe' : 'tcp');
    }
  });

  it('records a denied call: the decision and error on the root, the refusing stage marked, nothing sent', async () => {
    const caller = callerContext();
    const response = await call(
      10,
      'remote__delete_file',
      { path: '/x' },
      { traceparent: caller.traceparent },
    );
    expect((response['error'] as { code: number }).code).toBe(-32011);

    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.attributes).toMatchObject({
      'mcp_guard.decision': 'denied',
      'mcp_guard.outcome': 'error',
      'mcp_guard.reason': 'policies.deny: remote.delete_file',
      'error.type': '-32011',
      'rpc.response.status_code': '-32011',
    });
    expect(root?.status.code).toBe(STATUS.error);
    expect(root?.status.message).toMatch(/delete_file/);
    // The stage that refused carries the error; the stages it passed through on the way out do not.
    const authorize = spans.find((s) => s.name === 'stage authorize');
    expect(authorize?.status.code).toBe(STATUS.error);
    expect(authorize?.attributes['error.type']).toBe('-32011');
    expect(spans.find((s) => s.name === 'stage route')?.status.code ?? STATUS.unset).toBe(STATUS.unset);
    // Refused before forward: no forward stage, no backend call.
    expect(spans.find((s) => s.name === 'stage forward')).toBeUndefined();
    expect(spans.filter((s) => s.kind === SPAN_KIND.client)).toEqual([]);
  });

  it('takes the caller’s context from params._meta (SEP-414) before the HTTP header, and passes it to a stdio backend in _meta', async () => {
    const inMeta = callerContext();
    const inHeader = callerContext();
    const response = await call(
      11,
      'local__get_meta',
      {},
      { traceparent: inHeader.traceparent },
      { traceparent: inMeta.traceparent, tracestate: 'meta=1', 'example.com/keep': 'me' },
    );
    const metaSeen = JSON.parse(textOf(response['result'])) as Record<string, unknown>;

    const spans = await receiver.trace(inMeta.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.parentSpanId).toBe(inMeta.spanId);
    // The transport's context is linked, as the MCP conventions ask.
    expect(root?.links).toEqual([{ traceId: inHeader.traceId, spanId: inHeader.spanId }]);
    expect(receiver.spans().filter((s) => s.traceId === inHeader.traceId)).toEqual([]);

    const client = spans.find((s) => s.kind === SPAN_KIND.client) as ReceivedSpan;
    expect(client.attributes['network.transport']).toBe('pipe');
    // The backend's _meta: the client span's context; the agent's own keys kept.
    expect(metaSeen).toMatchObject({
      traceparent: `00-${inMeta.traceId}-${client.spanId}-01`,
      tracestate: 'meta=1',
      'example.com/keep': 'me',
    });
  });

  it('starts a trace of its own for a caller without context, and still tells the backend', async () => {
    const response = await call(12, 'remote__get_headers', {});
    const seen = JSON.parse(textOf(response['result'])) as Record<string, string>;
    const traceparent = seen['traceparent'] as string;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, spanId] = traceparent.split('-') as [string, string, string];
    const spans = await receiver.trace(traceId, (s) => rootOf(s).length > 0);
    expect(rootOf(spans)[0]?.parentSpanId).toBe('');
    expect(spans.find((s) => s.kind === SPAN_KIND.client)?.spanId).toBe(spanId);
  });

  it('traces a 2026-07-28 request from its _meta', async () => {
    const caller = callerContext();
    const response = await fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${KEY}`,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'local__echo',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'modern-1',
        method: 'tools/call',
        params: {
          name: 'local__echo',
          arguments: { message: 'hi' },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
            traceparent: caller.traceparent,
          },
        },
      }),
    });
    expect(response.status).toBe(200);
    expect(textOf(((await response.json()) as { result: unknown }).result)).toBe('hi');
    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.parentSpanId).toBe(caller.spanId);
    expect(root?.attributes).toMatchObject({ 'mcp_guard.decision': 'allowed', 'mcp_guard.agent': 'alice' });
    expect(spans.filter((s) => s.kind === SPAN_KIND.client)).toHaveLength(1);
  });

  it('redacts an error message on the span as the audit log does (it may quote what the agent sent)', async () => {
    const caller = callerContext();
    const secret = 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB';
    const answer = await call(14, `local__${secret}`, {}, { traceparent: caller.traceparent });
    // The agent sees its own words back; the trace does not keep them.
    expect(JSON.stringify(answer)).toContain(secret);
    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.status.code).toBe(STATUS.error);
    expect(root?.status.message).toContain('[redacted]');
    expect(JSON.stringify(spans)).not.toContain(secret);
  });

  it('marks a tool’s own error (isError) as tool_error', async () => {
    const caller = callerContext();
    // test-server's echo requires `message`: the SDK server answers a bad call with isError: true.
    await call(13, 'local__echo', {}, { traceparent: caller.traceparent });
    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.attributes).toMatchObject({ 'mcp_guard.outcome': 'tool_error', 'error.type': 'tool_error' });
    expect(root?.status.code).toBe(STATUS.error);
  });
});

describe('tracing over the stdio front', () => {
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('takes the caller’s context from params._meta, and exports what is left when the agent leaves', async () => {
    const gw = startStdioGateway(
      writeConfig(`servers:
${stdioTestServer('local')}
telemetry:
  enabled: true
  batch_delay: 1h
  otlp:
    endpoint: ${receiver.url}
    protocol: http/json
`),
    );
    await gw.initialize();
    const caller = callerContext();
    const response = await gw.request(3, 'tools/call', {
      name: 'get_meta',
      arguments: {},
      _meta: { traceparent: caller.traceparent },
    });
    const metaSeen = JSON.parse(textOf(response['result'])) as Record<string, unknown>;
    expect(await gw.close()).toBe(0);

    const spans = await receiver.trace(caller.traceId, (s) => rootOf(s).length > 0);
    const [root] = rootOf(spans);
    expect(root?.parentSpanId).toBe(caller.spanId);
    expect(root?.attributes).toMatchObject({ 'network.transport': 'pipe', 'mcp_guard.outcome': 'ok' });
    const client = spans.find((s) => s.kind === SPAN_KIND.client);
    expect(metaSeen['traceparent']).toBe(`00-${caller.traceId}-${client?.spanId}-01`);
  });
});

describe('docs/telemetry.md', () => {
  it('has an example config that loads', async () => {
    const doc = readFileSync(`${ROOT}docs/telemetry.md`, 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = await loadConfig(writeConfig(yaml), { OTLP_TOKEN: 'example-token' });
    expect(config.telemetry).toEqual({
      enabled: true,
      serviceName: 'mcp-guard',
      sampleRatio: 1,
      batchDelayMs: 5_000,
      otlp: {
        endpoint: 'http://otel-collector:4318/v1/traces',
        protocol: 'http/protobuf',
        headers: { Authorization: 'Bearer example-token' },
        timeoutMs: 10_000,
      },
    });
  });
});
