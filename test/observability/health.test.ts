/**
 * /healthz answers while the process lives; /readyz answers 200 only when the store is reachable and
 * every backend has started (serve-http probes each once at start-up), and says which one is not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { type HttpGateway, startHttpGateway } from '../../src/gateway/http-gateway.js';
import { openStateStore } from '../../src/stores/open-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { writeConfig } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

interface Readiness {
  status: string;
  checks: Record<string, string>;
  backends: Record<string, string>;
}

let gw: HttpGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(yaml: string, probeBackends: boolean): Promise<string> {
  const config = await loadConfig(writeConfig(yaml), process.env);
  gw = await startHttpGateway(config, {
    port: 0,
    logger: silentLogger,
    store: await openStateStore(config.state),
    probeBackends,
  });
  return gw.url.replace(/\/mcp$/, '');
}

async function readiness(base: string): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

describe('health endpoints', () => {
  it('/healthz is 200; /readyz waits for the backend probe and then is 200', async () => {
    const base = await start(`servers:\n${stdioTestServer('good')}`, true);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    let ready = await readiness(base);
    await waitFor(
      async () => {
        ready = await readiness(base);
        return ready.body.backends['good'] !== 'starting';
      },
      10_000,
      'the start-up probe',
    );
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      checks: { config: 'loaded', store: 'ok' },
      backends: { good: 'up' },
    });
  });

  it('/readyz is 503 and names the backend that cannot start', async () => {
    const base = await start(
      `servers:\n${stdioTestServer('good')}  broken:\n    command: /nonexistent/mcp-server-binary\n`,
      true,
    );
    let ready = await readiness(base);
    await waitFor(
      async () => {
        ready = await readiness(base);
        return !Object.values(ready.body.backends).includes('starting');
      },
      10_000,
      'the start-up probe',
    );
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('not ready');
    expect(ready.body.backends['good']).toBe('up');
    expect(ready.body.backends['broken']).toMatch(/^down: /);
  });

  it('without the probe, a backend not started yet does not make the gateway unready', async () => {
    const base = await start(`servers:\n${stdioTestServer('lazy')}`, false);
    const ready = await readiness(base);
    expect(ready.status).toBe(200);
    expect(ready.body.backends['lazy']).toMatch(/^not started yet/);
  });
});
