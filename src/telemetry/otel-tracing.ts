/**
 * Tracing on the OpenTelemetry SDK; the only module that imports `@opentelemetry/*`, and only when
 * `telemetry.enabled` (tracing.ts imports it lazily).
 *
 * A request's trace (names and attributes after the OpenTelemetry semantic conventions for MCP):
 *   `tools/call echo` (SERVER)        the request as the gateway served it, with policy's verdict
 *     `stage authenticate`            one span per stage, nested as the stages are (a stage's span
 *       `stage record`                includes the stages after it: what it does after `next()` shows
 *         …                           as time of its own after its child ends)
 *           `stage forward`
 *             `tools/call echo` (CLIENT)  the call to the backend, with the backend's own tool name
 * The root's parent is the caller's context: `params._meta.traceparent` (SEP-414), else the HTTP request's
 * `traceparent` header (then linked too when both are there and differ, as the MCP conventions ask). The
 * backend gets the client span's context in `params._meta` and, over HTTP, as `traceparent` headers.
 *
 * Context is passed explicitly (on the request's context) rather than through a global context manager:
 * no AsyncLocalStorage on every async hop of the process, and several gateways in one process (tests)
 * keep their traces apart. Nothing is registered globally but the SDK's diagnostic logger.
 */
import {
  type Attributes,
  type Context,
  type DiagLogger,
  DiagLogLevel,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_TRANSPORT,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';
import type { ServerConfig, TelemetryConfig } from '../config/types.js';
import { wireErrorObject } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { metaOf, type Params } from '../mcp/messages.js';
import { compose, namedStage, type Stage } from '../pipeline/compose.js';
import type { RequestContext } from '../pipeline/context.js';
import { redactText } from '../redact/secret-text.js';
import { callDecision, callOutcome, errorCodeOf, isGoverned } from '../stages/record/record-stage.js';
import type { BackendCallTrace, RequestTrace, Tracing } from './tracing.js';

// Development-status names of the semantic conventions (MCP, GenAI, JSON-RPC, RPC), written out rather
// than imported from the package's `incubating` entry, which may rename them in a minor release.
const MCP_METHOD_NAME = 'mcp.method.name';
const MCP_RESOURCE_URI = 'mcp.resource.uri';
const GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
const GEN_AI_PROMPT_NAME = 'gen_ai.prompt.name';
const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
const JSONRPC_REQUEST_ID = 'jsonrpc.request.id';
const RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
/** The gateway's own attributes: who asked, what policy decided, how it ended. */
const GUARD = {
  agent: 'mcp_guard.agent',
  server: 'mcp_guard.server',
  tool: 'mcp_guard.tool',
  decision: 'mcp_guard.decision',
  reason: 'mcp_guard.reason',
  outcome: 'mcp_guard.outcome',
  amountUsd: 'mcp_guard.amount_usd',
  approvalId: 'mcp_guard.approval_id',
  stage: 'mcp_guard.stage',
} as const;

/** Span names carry a tool or prompt name only when it looks like one (names come from the agent). */
const NAME_IN_SPAN = /^[\w./:-]{1,128}$/;
const SHUTDOWN_TIMEOUT_MS = 5_000;

const propagator = new W3CTraceContextPropagator();

/** SDK-backed tracing; build with `OtelTracing.start`. */
export class OtelTracing implements Tracing {
  private readonly tracer: Tracer;

  private constructor(
    private readonly provider: BasicTracerProvider,
    private readonly logger: Logger,
  ) {
    this.tracer = provider.getTracer('mcp-guard', VERSION);
  }

  static async start(config: TelemetryConfig, logger: Logger): Promise<OtelTracing> {
    forwardDiagnostics(logger);
    const exporterConfig = {
      url: config.otlp.endpoint,
      headers: { ...config.otlp.headers },
      timeoutMillis: config.otlp.timeoutMs,
    };
    // Only the exporter in use is loaded.
    const exporter: SpanExporter =
      config.otlp.protocol === 'http/json'
        ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(exporterConfig)
        : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(exporterConfig);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: config.serviceName,
        [ATTR_SERVICE_VERSION]: VERSION,
      }),
      // The caller's decision stands (its sampled flag); traces that start here keep the configured share.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.batchDelayMs })],
    });
    const url = new URL(config.otlp.endpoint);
    logger.info(
      { endpoint: `${url.origin}${url.pathname}`, protocol: config.otlp.protocol },
      'OpenTelemetry tracing on',
    );
    return new OtelTracing(provider, logger);
  }

  compose(stages: readonly Stage<RequestContext>[]): (ctx: RequestContext) => Promise<void> {
    const tracer = this.tracer;
    const run = compose(stages.map((stage) => tracedStage(tracer, stage)));
    return async function traced(ctx: RequestContext): Promise<void> {
      const call = new CallTrace(tracer, ctx);
      ctx.trace = call;
      try {
        await run(ctx);
      } catch (err) {
        call.finish(ctx, err);
        throw err;
      }
      call.finish(ctx, undefined);
    };
  }

  async shutdown(): Promise<void> {
    // A collector that does not answer must not hold up a stop.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), SHUTDOWN_TIMEOUT_MS);
      timer.unref();
    });
    const done = this.provider.shutdown().then(
      () => false,
      () => false,
    );
    if (await Promise.race([done, timedOut]))
      this.logger.warn('stopping with spans not yet exported (the OTLP endpoint did not answer)');
    clearTimeout(timer);
  }
}

/** A stage wrapped in a span, a child of the span of the stage that called it. */
function tracedStage(tracer: Tracer, stage: Stage<RequestContext>): Stage<RequestContext> {
  const name = stage.stageName ?? 'anonymous';
  const spanName = `stage ${name}`;
  const attributes = { [GUARD.stage]: name };
  const forward = name === 'forward';
  return namedStage<RequestContext>(name, async (ctx, next) => {
    const call = ctx.trace as CallTrace;
    if (forward) call.forwarded = true;
    if (!call.recording) return stage(ctx, next);
    const parent = call.current;
    const span = tracer.startSpan(spanName, { attributes }, parent);
    call.current = trace.setSpan(parent, span);
    try {
      await stage(ctx, next);
    } catch (err) {
      // The stage that threw is marked; the stages it passes through on the way out are not.
      if (call.markedError !== err) {
        call.markedError = err;
        markError(span, err);
      }
      throw err;
    } finally {
      call.current = parent;
      span.end();
    }
  });
}

class CallTrace implements RequestTrace {
  /** The context new spans are children of: the innermost stage running. */
  current: Context;
  readonly recording: boolean;
  /** The request reached the forward stage (it passed every policy). */
  forwarded = false;
  /** The error a stage span already carries. */
  markedError: unknown;
  private readonly root: Span;

  constructor(
    private readonly tracer: Tracer,
    ctx: RequestContext,
  ) {
    const { parent, links } = callerContext(ctx);
    const name = targetName(ctx.method, ctx.params);
    this.root = tracer.startSpan(
      name === undefined ? ctx.method : `${ctx.method} ${name}`,
      { kind: SpanKind.SERVER, attributes: requestAttributes(ctx, name), links },
      parent,
    );
    this.recording = this.root.isRecording();
    this.current = trace.setSpan(parent, this.root);
  }

  backendCall(server: ServerConfig, method: string, params: Params): BackendCallTrace {
    const name = targetName(method, params);
    const attributes: Attributes = { ...targetAttributes(method, params, name), [GUARD.server]: server.name };
    if (server.kind === 'stdio') attributes[ATTR_NETWORK_TRANSPORT] = 'pipe';
    else {
      const url = new URL(server.url);
      attributes[ATTR_NETWORK_TRANSPORT] = 'tcp';
      attributes[ATTR_SERVER_ADDRESS] = url.hostname;
      attributes[ATTR_SERVER_PORT] = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    }
    const span = this.tracer.startSpan(
      name === undefined ? method : `${method} ${name}`,
      { kind: SpanKind.CLIENT, attributes },
      this.current,
    );
    // Even an unsampled span has a context to pass on: the backend learns the trace and the decision.
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(this.current, span), carrier, defaultTextMapSetter);
    return {
      params: withTraceMeta(params, carrier),
      end: (result, error) => {
        if (error !== undefined) markError(span, error);
        else if (result?.['isError'] === true) markToolError(span);
        span.end();
      },
    };
  }

  /** Records how the request ended on the root span and ends it. */
  finish(ctx: RequestContext, failure: unknown): void {
    const span = this.root;
    if (this.recording) {
      const attributes: Attributes = {};
      if (ctx.principal) attributes[GUARD.agent] = ctx.principal.agent;
      const target = ctx.target;
      if (target) {
        attributes[GUARD.server] = target.server;
        attributes[GUARD.tool] = redactText(target.kind === 'resource' ? target.uri : target.name);
      }
      const outcome = callOutcome(ctx, failure);
      attributes[GUARD.outcome] = outcome;
      if (isGoverned(ctx.method)) {
        attributes[GUARD.decision] = callDecision(ctx, failure, this.forwarded);
        const { reason, amountUsd, approvalId } = ctx.decision;
        if (reason !== undefined) attributes[GUARD.reason] = reason;
        if (amountUsd !== undefined) attributes[GUARD.amountUsd] = amountUsd;
        if (approvalId !== undefined) attributes[GUARD.approvalId] = approvalId;
      }
      span.setAttributes(attributes);
      if (failure !== undefined) markError(span, failure);
      else if (outcome === 'tool_error') markToolError(span);
    }
    span.end();
  }
}

/** The caller's trace context: `_meta` first (it belongs to this very message), then the HTTP headers. */
function callerContext(ctx: RequestContext): { parent: Context; links: Link[] | undefined } {
  const meta = metaOf(ctx.params);
  const fromMeta =
    typeof meta?.['traceparent'] === 'string'
      ? propagator.extract(ROOT_CONTEXT, meta, defaultTextMapGetter)
      : undefined;
  const fromHeaders = ctx.traceHeaders
    ? propagator.extract(ROOT_CONTEXT, ctx.traceHeaders, defaultTextMapGetter)
    : undefined;
  const metaSpan = valid(fromMeta && trace.getSpanContext(fromMeta));
  const headerSpan = valid(fromHeaders && trace.getSpanContext(fromHeaders));
  if (metaSpan && fromMeta) {
    const links =
      headerSpan && (headerSpan.traceId !== metaSpan.traceId || headerSpan.spanId !== metaSpan.spanId)
        ? [{ context: headerSpan }]
        : undefined;
    return { parent: fromMeta, links };
  }
  if (headerSpan && fromHeaders) return { parent: fromHeaders, links: undefined };
  return { parent: ROOT_CONTEXT, links: undefined };
}

function valid(span: SpanContext | undefined): SpanContext | undefined {
  return span && isSpanContextValid(span) ? span : undefined;
}

/** The tool or prompt a request names, when it names one that can go in a span name. */
function targetName(method: string, params: Params): string | undefined {
  if (method !== 'tools/call' && method !== 'prompts/get') return undefined;
  const name = params['name'];
  // What the agent sent is redacted as the audit log redacts it: a name that looks like a secret is
  // left out of the span name, and its attribute holds the masked form.
  return typeof name === 'string' && NAME_IN_SPAN.test(name) && redactText(name) === name ? name : undefined;
}

/** The name a request gives, masked as the audit log masks it (for the attributes). */
function maskedName(params: Params, name: string | undefined): string | undefined {
  if (name !== undefined) return name;
  const raw = params['name'];
  return typeof raw === 'string' ? redactText(raw) : undefined;
}

function targetAttributes(method: string, params: Params, name: string | undefined): Attributes {
  const attributes: Attributes = { [MCP_METHOD_NAME]: method };
  name = maskedName(params, name);
  if (method === 'tools/call') {
    attributes[GEN_AI_OPERATION_NAME] = 'execute_tool';
    if (name !== undefined) attributes[GEN_AI_TOOL_NAME] = name;
  } else if (method === 'prompts/get' && name !== undefined) attributes[GEN_AI_PROMPT_NAME] = name;
  // A URI may carry a credential (user:password@, a token in the query): masked as the audit log masks it.
  else if (typeof params['uri'] === 'string' && method.startsWith('resources/'))
    attributes[MCP_RESOURCE_URI] = redactText(params['uri']);
  return attributes;
}

function requestAttributes(ctx: RequestContext, name: string | undefined): Attributes {
  return {
    ...targetAttributes(ctx.method, ctx.params, name),
    [JSONRPC_REQUEST_ID]: redactText(String(ctx.request.id)),
    [ATTR_NETWORK_TRANSPORT]: ctx.session.transport === 'stdio' ? 'pipe' : 'tcp',
  };
}

/** A JSON-RPC error: its code as `error.type` and `rpc.response.status_code`, its message as the status. */
function markError(span: Span, error: unknown): void {
  const code = String(errorCodeOf(error));
  span.setAttributes({ [ATTR_ERROR_TYPE]: code, [RPC_RESPONSE_STATUS_CODE]: code });
  span.setStatus({
    code: SpanStatusCode.ERROR,
    // The agent's own view of the error; an internal one's details stay in the log. A backend's message
    // is redacted as the audit log redacts it (it may quote what the agent sent).
    message: redactText(wireErrorObject(error)?.message ?? 'Internal gateway error'),
  });
}

/** A tool's own error (`isError: true`): a successful JSON-RPC answer that the conventions still count. */
function markToolError(span: Span): void {
  span.setAttribute(ATTR_ERROR_TYPE, 'tool_error');
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** `params` with the W3C keys of `carrier` in `_meta` (a copy; the agent's other `_meta` keys stay). */
function withTraceMeta(params: Params, carrier: Record<string, string>): Params {
  if (carrier['traceparent'] === undefined) return params;
  const meta: Params = { ...metaOf(params), traceparent: carrier['traceparent'] };
  // The agent's tracestate belonged to the agent's traceparent; the span's own (inherited) replaces it.
  if (carrier['tracestate'] === undefined) delete meta['tracestate'];
  else meta['tracestate'] = carrier['tracestate'];
  return { ...params, _meta: meta };
}

/**
 * The SDK reports trouble (an export that failed, a full queue) through its diagnostic logger: into ours,
 * at most once a minute, so an unreachable collector does not flood the log.
 */
function forwardDiagnostics(logger: Logger): void {
  let last = 0;
  let dropped = 0;
  const say =
    (level: 'error' | 'warn') =>
    (message: string, ...args: unknown[]) => {
      const now = Date.now();
      if (now - last < 60_000) {
        dropped++;
        return;
      }
      last = now;
      const detail = args
        .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : ''))
        .filter(Boolean)
        .join('; ');
      logger[level](
        { ...(dropped > 0 ? { suppressed: dropped } : {}) },
        redactText(`OpenTelemetry: ${message}${detail ? ` (${detail})` : ''}`),
      );
      dropped = 0;
    };
  const quiet = () => {};
  const forwarder: DiagLogger = {
    error: say('error'),
    warn: say('warn'),
    info: quiet,
    debug: quiet,
    verbose: quiet,
  };
  diag.setLogger(forwarder, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
