/**
 * The official authorization-server scenarios (@modelcontextprotocol/conformance 0.2.0-alpha.12, installed
 * as conformance-next) against the built-in authorization server: the metadata document, and the code
 * grant with a person signing in on the consent page (played here over HTTP, as flow.ts does). Run once
 * with a configured client and once with a Client ID Metadata Document as the client id. Every check must
 * pass, with no warning (the CIMD warning of earlier versions is gone).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, tempDir } from '../helpers/gateway.js';
import { CONFORMANCE_NEXT_CLI, ROOT } from '../helpers/paths.js';
import { approve, base, oauthConfig } from '../oauth/flow.js';

const REGISTER = path.join(ROOT, 'test/conformance/node20-register.mjs');
const SCENARIOS = ['authorization-server-metadata-endpoint', 'authorization-code-grant'];

interface Check {
  readonly id: string;
  readonly status: string;
  readonly errorMessage?: string;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Runs `conformance authorization` against `issuer` for `clientId`, signs the test user in on the consent
 * page it asks a person to open, and returns each scenario's checks.
 */
async function runAuthorizationSuite(
  issuer: string,
  clientId: string,
  port: number,
): Promise<{ output: string; exitCode: number | null; scenarios: Map<string, Check[]> }> {
  const outDir = tempDir('mcpg-as-conformance-');
  const child = spawn(
    process.execPath,
    [
      '--import',
      REGISTER,
      CONFORMANCE_NEXT_CLI,
      'authorization',
      '--url',
      issuer,
      '--client-id',
      clientId,
      '--port',
      String(port),
      '-o',
      outDir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let output = '';
  let signedIn: Promise<void> | undefined;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    const url = /^(http:\/\/\S+\/authorize\?\S+)$/m.exec(output)?.[1];
    if (url && !signedIn && output.includes('Callback server started')) {
      // The person at the browser: consent page, sign in, approve, follow the redirect to the callback.
      signedIn = (async () => {
        const done = await approve(url);
        expect(done.status, done.body).toBe(302);
        const callback = await fetch(done.location);
        await callback.text();
      })();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the authorization suite did not finish in 60 s; its output:\n${output}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve(code);
    });
  });
  await signedIn;
  const scenarios = new Map<string, Check[]>();
  for (const dir of readdirSync(outDir)) {
    const name = dir.replace(/^authorization-server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    scenarios.set(name, JSON.parse(readFileSync(path.join(outDir, dir, 'checks.json'), 'utf8')) as Check[]);
  }
  return { output, exitCode, scenarios };
}

function expectAllPassed(run: Awaited<ReturnType<typeof runAuthorizationSuite>>): void {
  expect([...run.scenarios.keys()].sort(), run.output).toEqual([...SCENARIOS].sort());
  for (const [name, checks] of run.scenarios) {
    const notPassed = checks.filter((c) => c.status !== 'SUCCESS');
    expect(notPassed, `${name}\n${run.output}`).toEqual([]);
    expect(checks.length, name).toBeGreaterThan(0);
  }
  expect(run.scenarios.get('authorization-server-metadata-endpoint')?.map((c) => c.id)).toContain(
    'authorization-server-metadata-cimd',
  );
  expect(run.exitCode, run.output).toBe(0);
}

describe('official authorization-server scenarios against the built-in authorization server', () => {
  let gw: TestGateway;
  let port: number;
  let documents: Server;
  let documentUrl: string;

  beforeAll(async () => {
    port = await freePort();
    const callback = `http://127.0.0.1:${port}/callback`;
    // A client that introduces itself with a metadata document (plain http on loopback: a loopback gateway).
    documents = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          client_id: documentUrl,
          client_name: 'Conformance client (CIMD)',
          redirect_uris: [callback],
          token_endpoint_auth_method: 'none',
        }),
      );
      req.resume();
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    documentUrl = `http://127.0.0.1:${(documents.address() as AddressInfo).port}/client.json`;
    gw = await startGateway(
      oauthConfig(`    clients: [{ client_id: conformance-client, redirect_uris: ["${callback}"] }]`),
    );
  });
  afterAll(async () => {
    await gw?.close();
    documents?.close();
  });

  it('passes both with a configured client', { timeout: 90_000 }, async () => {
    expectAllPassed(await runAuthorizationSuite(base(gw), 'conformance-client', port));
  });

  it('passes both with a Client ID Metadata Document as the client id', { timeout: 90_000 }, async () => {
    expectAllPassed(await runAuthorizationSuite(base(gw), documentUrl, port));
  });
});
