/**
 * OpenTelemetry tracing (`telemetry:`): a trace per request — a root span, a span per pipeline stage and a
 * client span per backend call — exported over OTLP/HTTP.
 *
 * Free when off: the SDK lives in otel-tracing.ts and is imported only by `startTracing` when the config
 * turns tracing on. Off, the pipeline is composed exactly as without this module, the fronts do not read
 * trace headers, and the one check on the per-call path is `ctx.trace === undefined` where a backend call
 * is sent. This file holds only types and the loader, so importing it loads nothing of OpenTelemetry.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ServerConfig, TelemetryConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { Params } from '../mcp/messages.js';
import type { Stage } from '../pipeline/compose.js';
import type { RequestContext } from '../pipeline/context.js';

/** W3C Trace Context as a transport carried it (HTTP headers; in `_meta` the keys are the same). */
export interface TraceHeaders {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/** One backend call's client span. */
export interface BackendCallTrace {
  /** The request's params with this span's trace context in `_meta` (what the backend is sent). */
  readonly params: Params;
  /** Ends the span with the backend's result, or with the error the call failed with. */
  end(result: Params | undefined, error?: unknown): void;
}

/** A request's trace, on its context while the pipeline runs. */
export interface RequestTrace {
  /** Starts the client span of a call to `server` (a child of the stage running it). */
  backendCall(server: ServerConfig, method: string, params: Params): BackendCallTrace;
}

export interface Tracing {
  /** The pipeline of `stages`, each request traced (the untraced one is `compose(stages)`). */
  compose(stages: readonly Stage<RequestContext>[]): (ctx: RequestContext) => Promise<void>;
  /** Exports what is buffered and stops; spans ended afterwards are dropped. */
  shutdown(): Promise<void>;
}

/** Starts tracing when the config turns it on; undefined (and nothing loaded) when it is off. */
export async function startTracing(config: TelemetryConfig, logger: Logger): Promise<Tracing | undefined> {
  if (!config.enabled) return undefined;
  const { OtelTracing } = await import('./otel-tracing.js');
  return OtelTracing.start(config, logger);
}

/** The W3C trace headers of an HTTP request, if it has a `traceparent`. */
export function traceHeadersOf(headers: IncomingHttpHeaders): TraceHeaders | undefined {
  const traceparent = headers['traceparent'];
  if (typeof traceparent !== 'string') return undefined;
  const tracestate = headers['tracestate'];
  return typeof tracestate === 'string' ? { traceparent, tracestate } : { traceparent };
}
