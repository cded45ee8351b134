/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) run against
 * the gateway, with our conformance backend behind it over stdio and over Streamable HTTP. Every active
 * scenario must pass; from the pending suite, json-schema-2020-12 must pass too (the relay must not
 * rewrite tool schemas). server-sse-polling (SEP-1699 resumable streams) is outside what the front offers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBackend, startHttpTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { CONFORMANCE_CLI, CONFORMANCE_SERVER } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';
import { type Check, failuresOf, runConformance, running, type SuiteRun } from './run-suite.js';

/** The active server suite of conformance 0.1.16 (`conformance list --server`, minus the pending two). */
const ACTIVE_SCENARIOS = 30;

const successes = (checks: Check[] | undefined) => (checks ?? []).filter((c) => c.status === 'SUCCESS');

function runSuite(url: string, suite: 'active' | 'pending', timeoutMs: number): Promise<SuiteRun> {
  return runConformance(CONFORMANCE_CLI, ['--url', url, '--suite', suite], timeoutMs);
}

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

// stdio: pooled children (the serve-http default); http: one upstream session per agent session (the
// remote default); http-pooled: a pool of upstream sessions.
describe.each(['stdio', 'http', 'http-pooled'] as const)(
  'conformance suite through the gateway (backend over %s)',
  (kind) => {
    let gw: TestGateway;
    let backend: HttpBackend | undefined;

    beforeAll(async () => {
      let server: string;
      if (kind !== 'stdio') {
        backend = await startHttpTestServer([], CONFORMANCE_SERVER);
        server = `  conformance:\n    url: ${backend.url}\n${kind === 'http-pooled' ? '    isolation: pooled\n' : ''}`;
      } else {
        server = `  conformance:\n    command: ${process.execPath}\n    args: ["${CONFORMANCE_SERVER}", "--stdio"]\n`;
      }
      gw = await startGateway(`servers:\n${server}`);
    });
    afterAll(async () => {
      await gw?.close();
      await backend?.stop();
    });

    it('passes every active server scenario', { timeout: 180_000 }, async () => {
      const run = await runSuite(gw.url, 'active', 150_000);
      expect(failuresOf(run), run.output).toEqual([]);
      expect(run.exitCode, run.output).toBe(0);
      expect(run.scenarios.size).toBe(ACTIVE_SCENARIOS);
      for (const [name, checks] of run.scenarios)
        expect(successes(checks).length, `${name} has no passing check`).toBeGreaterThan(0);
      // The scenarios that cross the relay in both directions, checked by name.
      for (const name of [
        'tools-call-sampling',
        'tools-call-elicitation',
        'tools-call-with-progress',
        'tools-call-with-logging',
        'server-sse-multiple-streams',
        'dns-rebinding-protection',
      ])
        expect(successes(run.scenarios.get(name)).length, name).toBeGreaterThan(0);
    });

    it('keeps JSON Schema 2020-12 keywords of tool schemas (pending suite)', {
      timeout: 60_000,
    }, async () => {
      const run = await runSuite(gw.url, 'pending', 45_000);
      const checks = run.scenarios.get('json-schema-2020-12');
      expect(
        checks?.filter((c) => c.status === 'FAILURE'),
        run.output,
      ).toEqual([]);
      expect(successes(checks).length).toBeGreaterThanOrEqual(4);
    });
  },
);

describe('the conformance harness', () => {
  it('kills a suite run that outlives its time limit and fails with its output', async () => {
    // A server that accepts connections and never answers: the CLI would wait far longer than 2 s.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const failure = await runSuite(`http://127.0.0.1:${port}/mcp`, 'active', 2_000).catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toMatch(/did not finish within 2000 ms and was killed; its output:/);
      expect(Date.now() - started).toBeLessThan(5_000);
      await waitFor(() => running.size === 0, 2_000, 'the killed CLI to exit');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
