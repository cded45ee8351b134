import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AppendLock } from '../../src/audit/append-lock.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();
const CHILD = fileURLToPath(new URL('./fixtures/append-child.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/audit/audit-log.js', import.meta.url));
const HOLDER = fileURLToPath(new URL('./fixtures/lock-holder.mjs', import.meta.url));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

beforeAll(() => {
  // npm test builds first (pretest); when running this file alone, run `npm run build` before.
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run "npm run build" first`);
});

/** Starts the child and calls onLine for each stdout line; resolves with the child's exit. */
function startChild(
  path: string,
  mode: string,
  onLine: (line: string, child: ChildProcess) => void,
  tag = 'child',
) {
  const child = spawn(process.execPath, [CHILD, path, mode, tag], { stdio: ['ignore', 'pipe', 'pipe'] });
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

  test('killed mid-stream: every acknowledged line is there, and a restart continues the chain', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    let acknowledged = 0;
    const { exited } = startChild(path, 'loop', (line, child) => {
      const m = /^written (\d+)$/.exec(line);
      if (!m) return;
      acknowledged = Number(m[1]);
      if (acknowledged === 300) child.kill('SIGKILL');
    });
    expect((await exited).signal).toBe('SIGKILL');
    // A new writer (the restarted gateway): the dead child's lock went with it (the kernel's fcntl lock).
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call', agent: 'restarted' });
    await log.close();
    const ids = (await readLines(path)).map((l) => JSON.parse(l).request_id as number | null);
    expect(ids.length).toBeGreaterThanOrEqual(acknowledged + 1);
    expect(ids.slice(0, acknowledged)).toEqual(Array.from({ length: acknowledged }, (_, i) => i + 1));
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
  });

  test('a writer that finds the lock held by a process that never idles gets in quickly, every time', async () => {
    // The busy writer keeps the lock across its appends (a tenure); it is never idle for 5 ms, so it lets
    // go only because it looks for waiters in <file>.wait.db every 50 ms. If it did not, these appends
    // would wait out the 5 s busy timeout and fail with AUDIT_LOCKED.
    const path = join(await makeTempDir(), 'audit.jsonl');
    let busyWrote = 0;
    let started!: () => void;
    const busyRunning = new Promise<void>((r) => {
      started = r;
    });
    const busy = startChild(
      path,
      'loop',
      (line) => {
        const m = /^written (\d+)$/.exec(line);
        if (!m) return;
        busyWrote = Number(m[1]);
        if (busyWrote === 50) started();
      },
      'busy',
    );
    await busyRunning;
    const log = await AuditLog.open({ path, fsync: 'never' });
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      await log.append({ event: 'call', agent: 'latecomer', request_id: i });
      waits.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 30)); // long enough for the busy writer to take it back
    }
    await log.close();
    const before = busyWrote;
    await new Promise((r) => setTimeout(r, 300));
    expect(busyWrote).toBeGreaterThan(before); // it kept writing throughout
    busy.child.kill('SIGKILL');
    await busy.exited;
    expect(Math.max(...waits)).toBeLessThan(1_000);
    const records = (await readLines(path)).map((l) => JSON.parse(l) as { agent: string });
    expect(records.filter((r) => r.agent === 'latecomer')).toHaveLength(20);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
  });

  test('a waiter is handed the lock by a holder whose batches follow each other without a pause', async () => {
    // SQLite's busy handler polls every few to 100 ms; between back-to-back batches the lock is free for
    // microseconds. The holder, once it saw the waiter, takes the lock through <file>.wait.db, which the
    // waiter holds until it has the lock: so the waiter gets it instead of timing out with AUDIT_LOCKED.
    const path = join(await makeTempDir(), 'audit.jsonl');
    const holder = spawn(process.execPath, [HOLDER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(holder);
    let batches = 0;
    holder.stdout!.on('data', (d: Buffer) => {
      const last = [...d.toString().matchAll(/batches (\d+)/g)].at(-1);
      if (last) batches = Number(last[1]);
    });
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (batches >= 20) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    const lock = AppendLock.open(path);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      lock.run({}, () => {});
      waits.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    lock.close();
    const before = batches;
    await new Promise((r) => setTimeout(r, 300));
    expect(batches).toBeGreaterThan(before); // the holder went on
    holder.kill('SIGKILL');
    expect(Math.max(...waits)).toBeLessThan(1_000);
  });

  test('two processes write one chain; kill -9 of one mid-stream loses no acknowledged line of either', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const acknowledged = [0, 0];
    let bothRunning!: () => void;
    const running = new Promise<void>((r) => {
      bothRunning = r;
    });
    const writers = [0, 1].map((w) =>
      startChild(
        path,
        'loop',
        (line, child) => {
          const m = /^written (\d+)$/.exec(line);
          if (!m) return;
          acknowledged[w] = Number(m[1]);
          if (acknowledged[0]! >= 100 && acknowledged[1]! >= 100) bothRunning();
          if (w === 0 && acknowledged[0]! >= 300 && acknowledged[1]! >= 100) child.kill('SIGKILL');
        },
        `writer-${w}`,
      ),
    );
    await running;
    expect((await writers[0]!.exited).signal).toBe('SIGKILL');
    // The survivor goes on after its partner died (no stale lock: the kernel released it).
    const after = acknowledged[1]!;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (acknowledged[1]! >= after + 100) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    writers[1]!.child.kill('SIGKILL');
    await writers[1]!.exited;
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call', agent: 'restarted' });
    await log.close();
    const records = (await readLines(path)).map(
      (l) => JSON.parse(l) as { request_id: number | null; agent: string },
    );
    expect(records.at(-1)?.agent).toBe('restarted');
    for (const w of [0, 1]) {
      // Each writer counts from 1: its acknowledged lines are all there, in order (its last, unacknowledged
      // append may be there too).
      const ids = records.filter((r) => r.agent === `writer-${w}`).map((r) => r.request_id);
      expect(ids.slice(0, acknowledged[w])).toEqual(
        Array.from({ length: acknowledged[w]! }, (_, i) => i + 1),
      );
      expect(ids.length - acknowledged[w]!).toBeLessThanOrEqual(1);
    }
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true });
  });
});
