/**
 * An OTLP/HTTP trace receiver on loopback, standing in for a collector: it keeps every POST to
 * /v1/traces and decodes the JSON ones (OTLP/JSON: ids as hex, attributes as typed values).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Span kinds as OTLP numbers them. */
export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
/** Status codes as OTLP numbers them. */
export const STATUS = { unset: 0, ok: 1, error: 2 } as const;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status: { readonly code?: number; readonly message?: string };
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>;
  /** The resource of the batch the span came in. */
  readonly resource: Readonly<Record<string, unknown>>;
}

export interface OtlpReceiver {
  /** The traces endpoint (`…/v1/traces`). */
  readonly url: string;
  /** Every POST received, decoded or not. */
  readonly requests: Array<{ path: string; contentType: string; body: Buffer }>;
  /** Every span of the JSON requests so far. */
  spans(): ReceivedSpan[];
  /** Waits until `ready` holds for the spans of `traceId`, and returns them. */
  trace(
    traceId: string,
    ready: (spans: ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
type OtlpAttributes = Array<{ key: string; value: OtlpValue }> | undefined;

function attributesOf(list: OtlpAttributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? [])
    out[key] =
      value.stringValue ??
      (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value.doubleValue ??
      value.boolValue;
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpReceiver['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: Buffer.concat(chunks),
      });
      // An empty ExportTraceServiceResponse: everything accepted.
      const json = (req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const spans = (): ReceivedSpan[] =>
    requests
      .filter((r) => r.contentType.includes('json'))
      .flatMap((r) => {
        const body = JSON.parse(r.body.toString('utf8')) as {
          resourceSpans?: Array<{
            resource?: { attributes?: OtlpAttributes };
            scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }>;
          }>;
        };
        return (body.resourceSpans ?? []).flatMap((rs) =>
          (rs.scopeSpans ?? []).flatMap((ss) =>
            (ss.spans ?? []).map(
              (s): ReceivedSpan => ({
                traceId: String(s['traceId']),
                spanId: String(s['spanId']),
                parentSpanId: String(s['parentSpanId'] ?? ''),
                name: String(s['name']),
                kind: Number(s['kind']),
                attributes: attributesOf(s['attributes'] as OtlpAttributes),
                status: (s['status'] ?? {}) as ReceivedSpan['status'],
                links: ((s['links'] ?? []) as Array<{ traceId: string; spanId: string }>).map((l) => ({
                  traceId: l.traceId,
                  spanId: l.spanId,
                })),
                resource: attributesOf(rs.resource?.attributes),
              }),
            ),
          ),
        );
      });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    requests,
    spans,
    async trace(traceId, ready, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = spans().filter((s) => s.traceId === traceId);
        if (ready(found)) return found;
        if (Date.now() > deadline)
          throw new Error(`trace ${traceId} not complete within ${timeoutMs} ms: ${JSON.stringify(found)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
