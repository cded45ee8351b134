/**
 * Runs the official conformance CLI (`server` command) and reads back its per-scenario checks. Shared by
 * the 2025-11-25 run (0.1.16) and the 2026-07-28 run (0.2.0-alpha.12); on Node 20 both load through the
 * fs.globSync shim (node20-register.mjs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/gateway.js';
import { ROOT } from '../helpers/paths.js';

const REGISTER = path.join(ROOT, 'test/conformance/node20-register.mjs');

export interface Check {
  readonly id: string;
  readonly status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  readonly errorMessage?: string;
}

export interface SuiteRun {
  readonly exitCode: number | null;
  readonly output: string;
  /** Scenario name → its checks. */
  readonly scenarios: Map<string, Check[]>;
}

/** Suite runs still going (killed in afterAll should a test end another way). */
export const running = new Set<ChildProcess>();

/**
 * Runs `conformance server ARGS -o DIR` with the CLI at `cli`. A run that outlives `timeoutMs` (kept shorter
 * than the test's own timeout) is killed, and the run fails with everything the CLI printed so far.
 */
export async function runConformance(
  cli: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<SuiteRun> {
  const outDir = tempDir('mcpg-conformance-');
  const child = spawn(process.execPath, ['--import', REGISTER, cli, 'server', ...args, '-o', outDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the conformance run (${args.join(' ')}) did not finish within ${timeoutMs} ms and was killed; its output:\n${output}`,
        ),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve(code);
    });
  });
  const scenarios = new Map<string, Check[]>();
  for (const dir of readdirSync(outDir)) {
    // server-<scenario>-<ISO timestamp with dashes>
    const name = dir.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    scenarios.set(name, JSON.parse(readFileSync(path.join(outDir, dir, 'checks.json'), 'utf8')));
  }
  return { exitCode, output, scenarios };
}

/** `scenario/check: message` of every FAILURE, for assertions that print what went wrong. */
export function failuresOf(run: SuiteRun, scenarios?: ReadonlySet<string>): string[] {
  return [...run.scenarios]
    .filter(([name]) => !scenarios || scenarios.has(name))
    .flatMap(([name, checks]) =>
      checks.filter((c) => c.status === 'FAILURE').map((c) => `${name}/${c.id}: ${c.errorMessage ?? ''}`),
    );
}
