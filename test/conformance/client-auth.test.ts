/**
 * The official client auth scenarios (@modelcontextprotocol/conformance 0.2.0-alpha.12, installed as
 * conformance-next) with the gateway as the client: test/conformance/auth-client.ts puts the gateway
 * in front of each scenario's server (`backends login`, then an agent's calls through serve-http).
 *
 * - The `auth` suite (metadata-*, basic-cimd, scope-*, token-endpoint-auth-*, pre-registration) runs at
 *   its own spec version (2025-11-25).
 * - The draft-era scenarios (resource-mismatch, offline-access-*, iss-*, metadata-issuer-mismatch,
 *   authorization-server-migration) are run with `--spec-version 2025-11-25 --force`: at 2026-07-28 the
 *   scenario's MCP server is stateless, which the gateway's backend connection does not speak yet (it
 *   initializes, 2025-11-25), so the calls after the login could not go through. Their checks are about
 *   the authorization flow and are the same at either version, except SEP-837's application_type check,
 *   which is only made at 2026-07-28 (the gateway sends application_type: native anyway).
 * Not run: the back-compat 2025-03-26 scenarios and the extension scenarios (client credentials, DPoP,
 * enterprise-managed authorization, workload identity), which the issue does not ask for.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/gateway.js';
import { CONFORMANCE_NEXT_CLI, ROOT } from '../helpers/paths.js';

const REGISTER = path.join(ROOT, 'test/conformance/node20-register.mjs');
const COMMAND = `${process.execPath} ${path.join(ROOT, 'dist/tools/test/conformance/auth-client.js')}`;

const SUITE = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
];

const DRAFT = [
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  'auth/iss-supported',
  'auth/iss-not-advertised',
  'auth/iss-supported-missing',
  'auth/iss-wrong-issuer',
  'auth/iss-unexpected',
  'auth/iss-normalized',
  'auth/metadata-issuer-mismatch',
  'auth/authorization-server-migration',
];

interface Check {
  readonly id: string;
  readonly status: string;
  readonly description?: string;
}

interface Run {
  readonly exitCode: number | null;
  readonly output: string;
  readonly scenarios: Map<string, Check[]>;
}

const children = new Set<ReturnType<typeof spawn>>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

function runClient(args: string[], timeoutMs: number): Promise<Run> {
  const outDir = tempDir('mcpg-client-auth-');
  const child = spawn(
    process.execPath,
    ['--import', REGISTER, CONFORMANCE_NEXT_CLI, 'client', '--command', COMMAND, ...args, '-o', outDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`conformance client ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      children.delete(child);
      // Results: <outDir>/auth/<scenario>-<timestamp>/checks.json
      const scenarios = new Map<string, Check[]>();
      const authDir = path.join(outDir, 'auth');
      for (const dir of statSync(authDir, { throwIfNoEntry: false }) ? readdirSync(authDir) : []) {
        const name = `auth/${dir.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '')}`;
        scenarios.set(
          name,
          JSON.parse(readFileSync(path.join(authDir, dir, 'checks.json'), 'utf8')) as Check[],
        );
      }
      resolve({ exitCode, output, scenarios });
    });
  });
}

/** Every check of every scenario passed (no failure, no warning), and the run said so. */
function expectPassed(run: Run, names: readonly string[]): void {
  expect([...run.scenarios.keys()].sort(), run.output).toEqual([...names].sort());
  for (const [name, checks] of run.scenarios) {
    const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    expect(bad, `${name}\n${run.output.slice(-4000)}`).toEqual([]);
    expect(checks.filter((c) => c.status === 'SUCCESS').length, name).toBeGreaterThan(0);
  }
  expect(run.exitCode, run.output.slice(-4000)).toBe(0);
}

describe('official client auth scenarios, the gateway as the client', () => {
  it('passes the auth suite', { timeout: 150_000 }, async () => {
    const run = await runClient(['--suite', 'auth'], 120_000);
    expectPassed(run, SUITE);
    // The checks that name what the gateway did, by name.
    const ids = (name: string) =>
      (run.scenarios.get(name) ?? []).filter((c) => c.status === 'SUCCESS').map((c) => c.id);
    expect(ids('auth/basic-cimd')).toContain('cimd-client-id-used');
    expect(ids('auth/scope-step-up')).toEqual(
      expect.arrayContaining(['scope-step-up-initial', 'scope-step-up-escalation']),
    );
    expect(ids('auth/scope-retry-limit')).toContain('scope-retry-limit');
    expect(ids('auth/pre-registration')).toContain('pre-registration-auth');
    expect(ids('auth/token-endpoint-auth-basic')).toContain('token-endpoint-auth-method');
  });

  it('passes the draft-era scenarios (run at 2025-11-25: see the file comment)', {
    timeout: 150_000,
  }, async () => {
    // A few at a time: each run starts the CLI, the scenario's servers, and a gateway.
    const runs: Run[] = [];
    for (let i = 0; i < DRAFT.length; i += 4) {
      runs.push(
        ...(await Promise.all(
          DRAFT.slice(i, i + 4).map((name) =>
            runClient(['--scenario', name, '--spec-version', '2025-11-25', '--force'], 60_000),
          ),
        )),
      );
    }
    runs.forEach((run, i) => {
      expectPassed(run, [DRAFT[i] as string]);
    });
    const ids = (i: number) => (runs[i]?.scenarios.get(DRAFT[i] as string) ?? []).map((c) => c.id);
    expect(ids(DRAFT.indexOf('auth/resource-mismatch'))).toContain('resource-mismatch-rejected');
    expect(ids(DRAFT.indexOf('auth/iss-normalized'))).toContain('sep-2468-client-no-normalization');
    expect(ids(DRAFT.indexOf('auth/metadata-issuer-mismatch'))).toContain(
      'sep-2468-client-validate-metadata-issuer',
    );
    expect(ids(DRAFT.indexOf('auth/authorization-server-migration'))).toContain(
      'sep-2352-reregister-on-as-change',
    );
    expect(ids(DRAFT.indexOf('auth/offline-access-scope'))).toContain('sep-2207-offline-access-requested');
  });
});
