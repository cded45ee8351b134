import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();
const CHILD = fileURLToPath(new URL('./fixtures/append-child.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/audit/audit-log.js', import.meta.url));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

beforeAll(() => {
  // npm test builds first (pretest); when running this file alone, run `npm run build` before.
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run "npm run build" first`);
});

/** Starts the child and calls onLine for each stdout line; resolves with the child's exit. */
function startChild(path: string, mode: string, onLine: (line: string, child: ChildProcess) => void) {
  const child = spawn(process.execPath, [CHILD, path, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let buffered = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl = buffered.indexOf('\n');
    while (nl !== -1) {
      onLine(buffered.slice(0, nl), child);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<{ signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (_code, signal) => resolve({ signal, stderr })),
  );
  return { child, exited };
}

describe('durability under kill -9', () => {
  test('a line whose append() resolved survives SIGKILL sent right after, and the chain verifies', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const { exited } = startChild(path, 'once', (line, child) => {
      if (line === 'written') child.kill('SIGKILL');
    });
    const { signal, stderr } = await exited;
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    const lines = await readLines(path);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ agent: 'child', tool: 'pay', request_id: 1 });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 1 });
  });

  test('killed mid-stream: every acknowledged line is there, and a restart takes over the lock and the chain', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    let acknowledged = 0;
    const { exited } = startChild(path, 'loop', (line, child) => {
      const m = /^written (\d+)$/.exec(line);
      if (!m) return;
      acknowledged = Number(m[1]);
      if (acknowledged === 300) child.kill('SIGKILL');
    });
    expect((await exited).signal).toBe('SIGKILL');
    // A new writer (the restarted gateway) finds the dead child's lock and takes it over.
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call', agent: 'restarted' });
    await log.close();
    const ids = (await readLines(path)).map((l) => JSON.parse(l).request_id as number | null);
    expect(ids.length).toBeGreaterThanOrEqual(acknowledged + 1);
    expect(ids.slice(0, acknowledged)).toEqual(Array.from({ length: acknowledged }, (_, i) => i + 1));
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
  });

  test('a second process cannot open a log another live process writes', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    let ready!: () => void;
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    const { child, exited } = startChild(path, 'idle', (line) => {
      if (line === 'ready') ready();
    });
    await isReady;
    const err = await AuditLog.open({ path }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUDIT_LOCKED' });
    expect((err as Error).message).toContain(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await exited;
    const log = await AuditLog.open({ path });
    await log.append({ event: 'call' });
    await log.close();
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 1 });
  });
});
