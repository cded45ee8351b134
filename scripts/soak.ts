/**
 * `npm run soak`: a long, bounded load on one gateway process, to find slow leaks (memory, file
 * descriptors, child processes) that no short test shows. Not part of `npm test` or CI.
 *
 *   SOAK_MINUTES (default 10)  how long the load runs
 *   SOAK_RATE    (default 40)  calls per second, spread over the sessions (keep it modest: shared machines)
 *   SOAK_SAMPLE_S (default 15) seconds between samples
 *
 * What runs, all on 127.0.0.1: `mcp-guard serve-http` (api_key auth, rate limits, spend cap, approvals
 * threshold, pinning: enforce, an audit log that rotates) in front of our test server over stdio, one
 * child per session (isolation per_session). Four SDK clients call a mix of tools (echo, add, pay, a denied
 * one, an unknown one, tools/list); every 30 s one session is closed and a new one opened, so children
 * start and exit all along. Every sample reads the gateway's RSS and open descriptors (/proc) and counts
 * its child processes.
 *
 * Verdict: after a 2-minute warm-up, RSS may not grow by more than 15 % (and 25 MB), and descriptors and
 * children may not exceed their warm-up maximum by more than a session's worth. Exit 0 when flat.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');
const SERVER = path.join(ROOT, 'dist/test-servers/test-server.js');
const MINUTES = Number(process.env['SOAK_MINUTES'] ?? 10);
const RATE = Number(process.env['SOAK_RATE'] ?? 40);
const SAMPLE_S = Number(process.env['SOAK_SAMPLE_S'] ?? 15);
const WARM_UP_MS = Math.min(120_000, (MINUTES * 60_000) / 4);
const SESSIONS = 4;
const KEY = 'soak-key-0123456789abcdefghijklmnopqrstuvwxyz';

interface Sample {
  readonly atS: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly children: number;
  readonly calls: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Live descendants of `pid` (zombies included: a leak of those is a leak too). */
function descendants(pid: number): number {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone while we looked
    }
  }
  let n = 0;
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      n++;
      walk(c);
    }
  };
  walk(pid);
  return n;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function startGateway(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const config = path.join(dir, 'mcp-guard.yaml');
  writeFileSync(
    config,
    `auth:
  mode: api_key
  keys: ["${KEY}"]
rate_limit:
  requests_per_minute: 100000
policies:
  spend_cap_usd: 1000000
  require_approval_above: 1000
  deny: [t.delete_file]
  pinning: enforce
  audit_log: ${dir}/audit.jsonl
  audit:
    rotate_bytes: 5000000
    keep_files: 3
state:
  store: sqlite
  path: ${dir}/state.db
servers:
  t:
    command: ${process.execPath}
    args: ["${SERVER}", "--stdio", "--name", "t"]
`,
  );
  const child = spawn(process.execPath, [CLI, 'serve-http', '--config', config, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let log = '';
    child.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /listening on (\S+)/.exec(log);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${log}`)));
  });
  // Keep draining stderr (warnings) so the pipe never fills.
  child.stderr?.on('data', () => {});
  return { child, url };
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'soak', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${KEY}` } },
    }),
  );
  return client;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpg-soak-'));
  const { child, url } = await startGateway(dir);
  const pid = child.pid as number;
  const sessions: Client[] = [];
  for (let i = 0; i < SESSIONS; i++) sessions.push(await connect(url));

  let calls = 0;
  let errors = 0;
  let latencies: number[] = [];
  const unexpected = new Map<string, number>();
  const ops: Array<(c: Client, i: number) => Promise<unknown>> = [
    (c, i) => c.callTool({ name: 'echo', arguments: { message: `m${i}` } }),
    (c, i) => c.callTool({ name: 'add', arguments: { a: i, b: 1 } }),
    (c) => c.callTool({ name: 'pay', arguments: { amount_usd: 0.01, to: 'soak' } }),
    (c) => c.callTool({ name: 'delete_file', arguments: { path: '/x' } }), // denied: -32011
    (c) => c.callTool({ name: 'no_such_tool', arguments: {} }), // -32602
    (c) => c.listTools(),
  ];
  const expectedCodes = new Set([-32011, -32602]);

  const started = Date.now();
  const endAt = started + MINUTES * 60_000;
  const samples: Sample[] = [];
  let lastChurn = started;
  let i = 0;
  let inflight = 0;
  const intervalMs = 1000 / RATE;
  let nextAt = Date.now();

  const sample = () => {
    const sorted = [...latencies].sort((a, b) => a - b);
    latencies = [];
    const s: Sample = {
      atS: Math.round((Date.now() - started) / 1000),
      rssMb: rssMb(pid),
      fds: fds(pid),
      children: descendants(pid),
      calls,
      errors,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
    samples.push(s);
    process.stdout.write(
      `${String(s.atS).padStart(5)} s  rss ${s.rssMb.toFixed(1).padStart(6)} MB  fds ${String(s.fds).padStart(4)}  children ${String(s.children).padStart(3)}  calls ${String(s.calls).padStart(7)}  unexpected errors ${s.errors}  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms\n`,
    );
  };
  const sampler = setInterval(sample, SAMPLE_S * 1000);
  sample();

  while (Date.now() < endAt) {
    // Session churn: close one, open a new one (its child starts; the old one's exits).
    if (Date.now() - lastChurn >= 30_000) {
      lastChurn = Date.now();
      const old = sessions.shift();
      // DELETE /mcp: the session (and its child) ends now, as an agent that quits does; a plain close
      // would leave it to the idle TTL (30 min).
      await (old?.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => {});
      await old?.close().catch(() => {});
      sessions.push(await connect(url));
    }
    const n = i++;
    const session = sessions[n % sessions.length] as Client;
    const op = ops[n % ops.length] as (c: Client, i: number) => Promise<unknown>;
    const t0 = performance.now();
    inflight++;
    void op(session, n)
      .then(
        () => undefined,
        (err: { code?: number; message?: string }) => {
          if (err?.code !== undefined && expectedCodes.has(err.code)) return;
          errors++;
          const key = `${err?.code ?? '?'} ${String(err?.message).slice(0, 80)}`;
          unexpected.set(key, (unexpected.get(key) ?? 0) + 1);
        },
      )
      .finally(() => {
        inflight--;
        calls++;
        const ms = performance.now() - t0;
        latencies.push(ms);
        // A slow call is worth a line: on a shared machine it is usually contention, but a hang shows here.
        if (ms > 2_000)
          process.stdout.write(
            `  slow: ${Math.round(ms)} ms (op ${n % ops.length}) at ${Math.round((Date.now() - started) / 1000)} s\n`,
          );
      });
    nextAt += intervalMs;
    const wait = nextAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Bounded: never more than 200 calls outstanding, whatever the gateway's speed.
    while (inflight > 200) await new Promise((r) => setTimeout(r, 5));
  }
  while (inflight > 0) await new Promise((r) => setTimeout(r, 20));
  clearInterval(sampler);
  sample();
  for (const s of sessions) {
    await (s.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => {});
    await s.close().catch(() => {});
  }

  const afterWarmUp = samples.filter((s) => s.atS * 1000 >= WARM_UP_MS);
  const warm = afterWarmUp[0] ?? samples[0];
  const last = samples.at(-1);
  const warmUp = samples.filter((s) => s.atS * 1000 <= WARM_UP_MS);
  const maxOf = (xs: Sample[], f: (s: Sample) => number) => Math.max(...xs.map(f));
  if (!warm || !last) throw new Error('no samples');
  const rssGrowth = last.rssMb - warm.rssMb;
  const flat = {
    rss: rssGrowth <= Math.max(25, warm.rssMb * 0.15),
    fds: last.fds <= maxOf(warmUp, (s) => s.fds) + 4,
    children: last.children <= maxOf(warmUp, (s) => s.children) + 2,
  };
  process.stdout.write(
    `\n${calls} calls in ${MINUTES} min (${(calls / (MINUTES * 60)).toFixed(1)}/s), ${errors} unexpected errors\n` +
      `RSS after warm-up ${warm.rssMb.toFixed(1)} MB → end ${last.rssMb.toFixed(1)} MB (${rssGrowth >= 0 ? '+' : ''}${rssGrowth.toFixed(1)} MB; max ${maxOf(afterWarmUp.length ? afterWarmUp : samples, (s) => s.rssMb).toFixed(1)} MB)\n` +
      `descriptors ${warm.fds} → ${last.fds} (warm-up max ${maxOf(warmUp, (s) => s.fds)}); children ${warm.children} → ${last.children} (warm-up max ${maxOf(warmUp, (s) => s.children)})\n` +
      `verdict: rss ${flat.rss ? 'flat' : 'GROWING'}, descriptors ${flat.fds ? 'flat' : 'GROWING'}, children ${flat.children ? 'flat' : 'GROWING'}\n`,
  );
  for (const [k, v] of unexpected) process.stdout.write(`  unexpected: ${v} × ${k}\n`);

  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const verified = spawn(
    process.execPath,
    [CLI, 'audit', 'verify', '--file', path.join(dir, 'audit.jsonl')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  verified.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  verified.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((r) => verified.once('exit', r));
  process.stdout.write(`audit verify (exit ${code}): ${out.trim().split('\n').join(' | ')}\n`);
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = flat.rss && flat.fds && flat.children && errors === 0 && code === 0 ? 0 : 1;
}

await main();
