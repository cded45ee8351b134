import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { startTracing, traceHeadersOf } from './tracing.js';

const SRC = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

describe('tracing is free when off', () => {
  it('keeps OpenTelemetry behind one lazy import', () => {
    const importers = (pattern: RegExp) =>
      sources(SRC)
        .filter((file) => pattern.test(readFileSync(file, 'utf8')))
        .map((file) => path.relative(SRC, file));
    // Only otel-tracing.ts imports the SDK at all (type-only imports included)…
    expect(importers(/from '@opentelemetry\//)).toEqual(['telemetry/otel-tracing.ts']);
    // …and nothing imports otel-tracing.ts but the `await import()` that runs when telemetry is on.
    expect(importers(/otel-tracing\.js/)).toEqual(['telemetry/tracing.ts']);
    expect(readFileSync(path.join(SRC, 'telemetry/tracing.ts'), 'utf8')).toMatch(
      /if \(!config\.enabled\) return undefined;\n\s+const \{ OtelTracing \} = await import\('\.\/otel-tracing\.js'\);/,
    );
  });

  it('starts nothing when telemetry is off', async () => {
    const off = {
      enabled: false,
      serviceName: 'mcp-guard',
      sampleRatio: 1,
      batchDelayMs: 5_000,
      otlp: { endpoint: 'http://127.0.0.1:1/v1/traces', protocol: 'http/json', headers: {}, timeoutMs: 1 },
    } as const;
    expect(await startTracing(off, silentLogger)).toBeUndefined();
  });
});

describe('traceHeadersOf', () => {
  it('takes traceparent and tracestate, and nothing without a traceparent', () => {
    expect(traceHeadersOf({ traceparent: 'tp', tracestate: 'a=1' })).toEqual({
      traceparent: 'tp',
      tracestate: 'a=1',
    });
    expect(traceHeadersOf({ traceparent: 'tp' })).toEqual({ traceparent: 'tp' });
    expect(traceHeadersOf({ tracestate: 'a=1' })).toBeUndefined();
  });
});
