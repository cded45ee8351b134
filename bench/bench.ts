/**
 * `npm run bench`: an echo tool called directly over HTTP and through the gateway, measured in the same
 * run, alternating, with a light raw-HTTP load client (the SDK client costs more than the proxy does).
 *
 * Targets, all on 127.0.0.1:
 *   direct           load client → test-server (Streamable HTTP)
 *   gw→stdio         load client → mcp-guard serve-http → test-server over stdio, isolation: per_session
 *   gw→stdio+policy  the same with API-key auth and a (never reached) rate limit
 *   gw→stdio+audit   the same with the audit log on
 *   gw→stdio+all     API-key auth, a rate limit and the audit log, all on
 *   gw→pooled        stdio with isolation: pooled (pool_size 4, pool_calls_per_child 16: the serve-http
 *                    default; the bench's sessions declare no capabilities, so their calls share children)
 *   gw→pooled+all    the same with API-key auth, a rate limit and the audit log
 *   gw→pooled+policy, gw→pooled+audit
 *                    the same with API-key auth and a rate limit only, or the audit log only (what each costs)
 *   gw→shared+all    stdio with isolation: shared (one child), API-key auth, a rate limit and the audit log
 *   gw→pooled+all+untuned
 *                    gw→pooled+all with V8's default heap sizing (MCP_GUARD_HEAP_TUNING=off): what the
 *                    gateway's own heap tuning (src/core/heap-tuning.ts) saves in RSS and costs in CPU
 *   gw→http          load client → mcp-guard serve-http → test-server over HTTP
 *   gw→http+all      the same with API-key auth, a rate limit and the audit log
 *   gw→http+policy, gw→http+audit
 *                    the same with API-key auth and a rate limit only, or the audit log only
 *   gw→pooled+all+otel, gw→http+all+otel
 *                    the +all rows with OpenTelemetry tracing on (default settings: every call sampled,
 *                    batches of spans exported over OTLP/HTTP protobuf to a sink process that discards them)
 * For each: p50/p99 latency and calls/s at concurrency 1 and 32, CPU ms per call and RSS of the serving
 * process and of every process doing the work (stdio children, the HTTP backend), and ratios to direct.
 * Each target runs ROUNDS (5) times after one unreported warm-up round, interleaved with direct; the
 * median round is reported, and the ratios are the median of each round's ratio to direct. The
 * per_session rows run as a second group, after the others have stopped (their 128 idle children would
 * otherwise take CPU from the rows measured beside them).
 *
 * Then a footprint table: FOOTPRINT_SESSIONS (100) sessions over raw HTTP, 20 at a time, each
 * calling one tool on each of two stdio servers, for isolation per_session, shared and pooled (pool_size
 * 4), and `default`, with no isolation setting at all (serve-http pools them): the
 * children started, the RSS of the gateway and its children, and the initialize time. per_session
 * starts a child per session and server (about 70 MB each): BENCH_FOOTPRINT_ISOLATIONS picks which run.
 *
 * The HTTP rows come with floors (bare-proxy.ts), pass-throughs with no MCP, policy or audit in them:
 *   bare proxy→http  node:http in, undici out, bodies copied as bytes: what a Node.js HTTP hop costs here
 *   tcp pipe→http    a Node.js TCP pipe, no HTTP at all: the least a Node.js process in the path can cost
 *   socat→http       the same pipe in C, when socat is installed: the least any process in the path costs
 *
 * BENCH_ONLY (comma-separated names) runs a subset of the first table; BENCH_GATEWAY_NODE_ARGS passes
 * node flags to the gateways (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`); BENCH_REWARM_CALLS (6000) sets
 * the unmeasured calls before each target's phases in a round; BENCH_VERBOSE=1 prints every
 * round's figures; BENCH_COMPARE_CLI (the dist/cli/main.js of another build, e.g. a worktree of the previous
 * commit) adds every chosen gateway row a second time, started from that build and named `NAME (compare)`:
 * a before/after measured in one run, alternating.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');
const SERVER = path.join(ROOT, 'dist/test-servers/test-server.js');
const BARE_PROXY = path.join(ROOT, 'dist/tools/bench/bare-proxy.js');
/**
 * Five: on a shared 2-core machine a phase now and then runs at half speed (the process's own CPU per
 * call doubles for a second, whatever the target), so a median of three rounds was often decided by one.
 */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const CALLS_C1 = Number(process.env['BENCH_CALLS_C1'] ?? 1_000);
const CALLS_C32 = Number(process.env['BENCH_CALLS_C32'] ?? 4_000);
const WARM_UP_CALLS = 2_000;
/**
 * Unmeasured calls (at C=8) just before a target's measured phases in every round, direct's included.
 * Each target idles while the others of its group are measured, and on the 2-core VM a process that
 * idled for 45 s needs about 3000 calls to get back to its steady cost (docs/deploy.md, "After an idle
 * minute"). Without them a row's figures said more about how many rows its group had than about the
 * row: gw→pooled+all measured 1.10× direct beside 4 rows and 1.37× beside 11. 6000, not the 2000 of
 * before: 2000 calls at C=8 is fewer than the 3000 a process needs after idling, and on a noisier day
 * of the same VM the 11 rows measured gw→pooled+all at 1.38× and 1.40× direct with 2000, 1.01×, 1.23×
 * and 1.10× with 6000 (0.97–1.11× beside 1–4 rows). BENCH_REWARM_CALLS=0 measures cold.
 */
const REWARM_CALLS = Number(process.env['BENCH_REWARM_CALLS'] ?? 6_000);
/** BENCH_VERBOSE=1: every round's figures on stderr, to see the spread behind the medians. */
const VERBOSE = process.env['BENCH_VERBOSE'] === '1';
/** Comma-separated target names to run (direct always runs: it is the yardstick). */
const ONLY = process.env['BENCH_ONLY']?.split(',').map((t) => t.trim());
/** Extra node flags for the gateways, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const GATEWAY_NODE_ARGS = process.env['BENCH_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
/** Another build's CLI: each chosen gateway row runs a second time from it (a same-run before/after). */
const COMPARE_CLI = process.env['BENCH_COMPARE_CLI'];
if (COMPARE_CLI !== undefined && !existsSync(COMPARE_CLI))
  throw new Error(
    `BENCH_COMPARE_CLI: ${COMPARE_CLI} does not exist (give the dist/cli/main.js of a built checkout)`,
  );
const FOOTPRINT_SESSIONS = Number(process.env['BENCH_FOOTPRINT_SESSIONS'] ?? 100);
const FOOTPRINT_ISOLATIONS = (
  process.env['BENCH_FOOTPRINT_ISOLATIONS'] ?? 'per_session,shared,pooled,default'
)
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);
/** `default`: no isolation setting at all, i.e. what serve-http chooses (pooled, pool_size 4). */
const ISOLATIONS = ['per_session', 'shared', 'pooled', 'default'];
for (const isolation of FOOTPRINT_ISOLATIONS)
  if (!ISOLATIONS.includes(isolation))
    throw new Error(
      `BENCH_FOOTPRINT_ISOLATIONS: "${isolation}" is not one of ${ISOLATIONS.join(', ')} (BENCH_FOOTPRINT_SESSIONS=0 skips the footprint)`,
    );
const KEY = 'bench-key-0123456789abcdefghijklmnopqrstuvwxyz';
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface Target {
  readonly name: string;
  readonly url: string;
  /** The process serving the target (the gateway, or the server for direct). */
  readonly pid: number;
  /** Other processes doing the target's work: the HTTP backend behind a gateway (stdio children are found). */
  readonly helpers?: readonly number[];
  readonly headers: Record<string, string>;
}

interface Sample {
  p50: number;
  p99: number;
  rps: number;
  /** CPU of the serving process alone. */
  cpuMsPerCall: number;
  /** CPU of everything doing the work: the serving process, its children and helpers. */
  totalCpuMsPerCall: number;
  rssMb: number;
  totalRssMb: number;
}

const children: ChildProcess[] = [];
/** Children the bench itself stopped: their exit is expected. */
const stopped = new Set<ChildProcess>();
const work = mkdtempSync(path.join(tmpdir(), 'mcpg-bench-'));

function startProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn', ...env },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let started = false;
    const onData = (chunk: Buffer) => {
      // What a process says after it started is kept short: its last lines tell why it died.
      out = (out + chunk.toString()).slice(-20_000);
      const match = started ? null : /(LISTENING \d+|listening on \S+)/.exec(out);
      if (match) {
        started = true;
        resolve({ child, line: match[1] as string });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      const why = `${args.join(' ')} exited with ${code ?? signal}:\n${out}`;
      if (!started) reject(new Error(why));
      else if (!stopped.has(child)) process.stderr.write(`bench: ${why}\n`);
    });
  });
}

/** A process that prints "LISTENING <port>" and serves MCP at /mcp. */
async function startListener(args: string[]): Promise<{ url: string; pid: number }> {
  const { child, line } = await startProcess(args);
  return { url: `http://127.0.0.1:${line.split(' ')[1]}/mcp`, pid: child.pid as number };
}

/** A floor row: bare-proxy.ts in `mode` in front of the HTTP backend. */
const floorPlan = (
  name: string,
  backend: { url: string; pid: number },
  mode?: Plan['bareProxyMode'],
): Plan => ({
  name,
  yaml: '',
  headers: {},
  helpers: [backend.pid],
  bareProxyTo: backend.url,
  ...(mode ? { bareProxyMode: mode } : {}),
});

/** socat(1) is on the PATH: the bench then adds the `socat→http` floor. */
const hasSocat = () => spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;

const startServerHttp = () => startListener([SERVER, '--http', '--port', '0', '--tools', 'echo']);

async function startGateway(
  name: string,
  yaml: string,
  nodeArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
  cli = CLI,
): Promise<{ url: string; pid: number; child: ChildProcess }> {
  const dir = path.join(work, name);
  const file = path.join(dir, 'mcp-guard.yaml');
  await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
  writeFileSync(file, yaml);
  const { child, line } = await startProcess(
    [...GATEWAY_NODE_ARGS, ...nodeArgs, cli, 'serve-http', '--config', file, '--port', '0'],
    { BENCH_KEY: KEY, ...env },
  );
  return { url: line.replace('listening on ', ''), pid: child.pid as number, child };
}

/** A stand-in collector: its own process, answering every OTLP export with an empty success. */
const OTLP_SINK = `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'application/x-protobuf' }); s.end(); }); }).listen(0, '127.0.0.1', function () { console.log('LISTENING ' + this.address().port); });`;

async function startOtlpSink(): Promise<string> {
  const { line } = await startProcess(['-e', OTLP_SINK]);
  return `http://127.0.0.1:${line.split(' ')[1]}/v1/traces`;
}

/** Tracing on with its defaults, exporting to `endpoint`. */
const telemetry = (endpoint: string) => `telemetry:\n  enabled: true\n  otlp:\n    endpoint: ${endpoint}\n`;

/** A stdio echo server; isolation `default` writes no isolation key (serve-http then pools it). */
const stdioBackend = (isolation = 'per_session', name = 'echo') =>
  `  ${name}:\n    command: ${process.execPath}\n    args: ["${SERVER}", "--stdio", "--tools", "echo"]\n` +
  (isolation === 'default' ? '' : `    isolation: ${isolation}\n`);
/** API-key auth and a rate limit that is never reached. */
const AUTH_AND_LIMIT = `auth:\n  mode: api_key\n  keys: ["\${BENCH_KEY}"]\nrate_limit:\n  requests_per_minute: 10000000\n`;
/** API-key auth, a rate limit that is never reached, and the audit log: what a deployment turns on. */
const ALL_POLICIES = `${AUTH_AND_LIMIT}policies:\n  audit_log: ./audit.jsonl\n`;

/** One raw HTTP agent with keep-alive sockets: the load client. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  retried = false,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed as this request went out (its idle timeout): the
      // request never reached it; sent again once on a fresh socket (as Node's docs advise).
      if (err.code === 'ECONNRESET' && req.reusedSocket && !retried)
        post(url, body, headers, true).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

/** Opens an MCP session with raw HTTP; returns the headers every later call carries. */
async function openSession(target: Target): Promise<Record<string, string>> {
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  });
  const res = await post(target.url, init, target.headers);
  if (res.status !== 200) throw new Error(`${target.name}: initialize answered ${res.status}: ${res.body}`);
  const headers = {
    ...target.headers,
    'mcp-session-id': String(res.headers['mcp-session-id']),
    'mcp-protocol-version': '2025-11-25',
  };
  await post(target.url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
  return headers;
}

async function callEcho(
  target: Target,
  headers: Record<string, string>,
  id: number,
  tool = 'echo',
): Promise<void> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: tool, arguments: { message: `m${id}` } },
  });
  const res = await post(target.url, body, headers);
  if (res.status !== 200 || !res.body.includes(`"text":"m${id}"`))
    throw new Error(`${target.name}: unexpected answer ${res.status}: ${res.body.slice(0, 300)}`);
}

/** `pid` and all its live descendants, from /proc (the stdio backends a gateway spawned). */
function withDescendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []));
  return out;
}

const workers = (target: Target) => [...withDescendants(target.pid), ...(target.helpers ?? [])];
const sum = (pids: number[], f: (pid: number) => number) =>
  pids.reduce((total, pid) => {
    try {
      return total + f(pid);
    } catch {
      return total; // exited
    }
  }, 0);

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

async function measure(
  target: Target,
  sessions: Array<Record<string, string>>,
  concurrency: number,
  calls: number,
): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  const pids = workers(target);
  const cpuBefore = cpuTicks(target.pid);
  const totalBefore = sum(pids, cpuTicks);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, vu) => {
      const headers = sessions[vu] as Record<string, string>;
      for (;;) {
        const id = ++next;
        if (id > calls) return;
        const t0 = process.hrtime.bigint();
        await callEcho(target, headers, id);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuMs = ((cpuTicks(target.pid) - cpuBefore) / TICKS_PER_SECOND) * 1000;
  const totalCpuMs = ((sum(pids, cpuTicks) - totalBefore) / TICKS_PER_SECOND) * 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    p50: pick(0.5),
    p99: pick(0.99),
    rps: calls / seconds,
    cpuMsPerCall: cpuMs / calls,
    totalCpuMsPerCall: totalCpuMs / calls,
    rssMb: rssMb(target.pid),
    totalRssMb: sum(pids, rssMb),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const direct = await startServerHttp();
  const httpBackend = await startServerHttp();
  const auth = { authorization: `Bearer ${KEY}` };
  const wantsOtel = !ONLY || ONLY.some((name) => name.endsWith('+otel'));
  const sink = wantsOtel ? await startOtlpSink() : '';
  const plans: Plan[] = [
    { name: 'gw→stdio', yaml: `servers:\n${stdioBackend()}`, headers: {}, perSession: true },
    {
      name: 'gw→stdio+policy',
      yaml: `${AUTH_AND_LIMIT}policies:\n  deny: [nothing_here]\nservers:\n${stdioBackend()}`,
      headers: auth,
      perSession: true,
    },
    {
      name: 'gw→stdio+audit',
      yaml: `policies:\n  audit_log: ./audit.jsonl\nservers:\n${stdioBackend()}`,
      headers: {},
      perSession: true,
    },
    // The front-door issue's yardstick: every per-call policy a real deployment turns on, at once.
    {
      name: 'gw→stdio+all',
      yaml: `${ALL_POLICIES}servers:\n${stdioBackend()}`,
      headers: auth,
      perSession: true,
    },
    { name: 'gw→pooled', yaml: `servers:\n${stdioBackend('pooled')}`, headers: {} },
    { name: 'gw→pooled+all', yaml: `${ALL_POLICIES}servers:\n${stdioBackend('pooled')}`, headers: auth },
    {
      name: 'gw→pooled+policy',
      yaml: `${AUTH_AND_LIMIT}servers:\n${stdioBackend('pooled')}`,
      headers: auth,
    },
    {
      name: 'gw→pooled+audit',
      yaml: `policies:\n  audit_log: ./audit.jsonl\nservers:\n${stdioBackend('pooled')}`,
      headers: {},
    },
    { name: 'gw→shared+all', yaml: `${ALL_POLICIES}servers:\n${stdioBackend('shared')}`, headers: auth },
    // The same with V8's default heap sizing (src/core/heap-tuning.ts off): what the tuning saves and costs.
    {
      name: 'gw→pooled+all+untuned',
      yaml: `${ALL_POLICIES}servers:\n${stdioBackend('pooled')}`,
      headers: auth,
      env: { MCP_GUARD_HEAP_TUNING: 'off' },
    },
    {
      name: 'gw→http',
      yaml: `servers:\n  echo:\n    url: ${httpBackend.url}\n`,
      headers: {},
      helpers: [httpBackend.pid],
    },
    // Floors of the HTTP rows, without MCP, policy or audit (bare-proxy.ts): a Node.js HTTP pass-through,
    // a Node.js TCP pipe (no HTTP), and the same pipe in C when socat is installed.
    floorPlan('bare proxy→http', httpBackend),
    floorPlan('tcp pipe→http', httpBackend, '--bytes'),
    ...(hasSocat() ? [floorPlan('socat→http', httpBackend, '--socat')] : []),
    {
      name: 'gw→http+all',
      yaml: `${ALL_POLICIES}servers:\n  echo:\n    url: ${httpBackend.url}\n`,
      headers: auth,
      helpers: [httpBackend.pid],
    },
    {
      name: 'gw→pooled+all+otel',
      yaml: `${ALL_POLICIES}${telemetry(sink)}servers:\n${stdioBackend('pooled')}`,
      headers: auth,
    },
    // What each part of +all costs on the HTTP path, as the pooled rows show it for stdio.
    {
      name: 'gw→http+policy',
      yaml: `${AUTH_AND_LIMIT}servers:\n  echo:\n    url: ${httpBackend.url}\n`,
      headers: auth,
      helpers: [httpBackend.pid],
    },
    {
      name: 'gw→http+audit',
      yaml: `policies:\n  audit_log: ./audit.jsonl\nservers:\n  echo:\n    url: ${httpBackend.url}\n`,
      headers: {},
      helpers: [httpBackend.pid],
    },
    {
      name: 'gw→http+all+otel',
      yaml: `${ALL_POLICIES}${telemetry(sink)}servers:\n  echo:\n    url: ${httpBackend.url}\n`,
      headers: auth,
      helpers: [httpBackend.pid],
    },
  ];
  // Two groups, each measured alternating with direct and then stopped: the per_session rows keep 32
  // idle children each, and idle children still do V8 housekeeping (GCs of 40–60 ms each, seen in
  // /proc while other targets were measured). Alive beside the other rows, 128 of them took up to
  // 70% of a core away from whichever target was being measured, so the pooled and HTTP rows came out
  // slower the more per_session rows ran before them.
  const directTarget: Target = { name: 'direct', ...direct, headers: {} };
  const unknown = ONLY?.filter((name) => name !== 'direct' && !plans.some((plan) => plan.name === name));
  if (unknown?.length)
    throw new Error(
      `BENCH_ONLY: no target named ${unknown.map((n) => `"${n}"`).join(', ')}; the targets are ${plans.map((p) => p.name).join(', ')}`,
    );
  const chosen = plans
    .filter((plan) => !ONLY || ONLY.includes(plan.name))
    .flatMap((plan) =>
      COMPARE_CLI && !plan.bareProxyTo
        ? [plan, { ...plan, name: `${plan.name} (compare)`, cli: COMPARE_CLI }]
        : [plan],
    );
  const groups = [
    {
      title: 'backends shared by the sessions: pooled, shared and HTTP',
      plans: chosen.filter((plan) => !plan.perSession),
    },
    {
      title: 'isolation: per_session (a stdio child per session)',
      plans: chosen.filter((plan) => plan.perSession),
    },
  ];
  process.stdout.write(
    `\nmcp-guard bench — ${ROUNDS} rounds × (${CALLS_C1} calls at C=1, ${CALLS_C32} at C=32), median round; node ${process.version}\n`,
  );
  process.stdout.write(
    '(CPU ms/call and RSS: the serving process, i.e. the gateway (or the server for direct); "all": with\n' +
      ' every process doing the work: its stdio children (per_session: one per session, 32 here; pooled:\n' +
      " up to 4) or the HTTP backend. ×direct: the median over the rounds of each round's ratio to direct\n" +
      " measured in the same round; a group's gateways are stopped before the next group starts)\n",
  );
  for (const group of groups)
    if (group.plans.length > 0) await runGroup(group.title, group.plans, directTarget);
  await footprint();
}

interface Plan {
  readonly name: string;
  readonly yaml: string;
  readonly headers: Record<string, string>;
  readonly helpers?: number[];
  readonly nodeArgs?: string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Holds a stdio child per session (32 here): measured in a group of its own, see main(). */
  readonly perSession?: boolean;
  /** Not a gateway: bare-proxy.ts in front of this URL. */
  readonly bareProxyTo?: string;
  /** bare-proxy.ts's mode: an HTTP hop (default), `--bytes` (a Node.js TCP pipe) or `--socat`. */
  readonly bareProxyMode?: '--bytes' | '--socat';
  /** The gateway's CLI, when not this build's (BENCH_COMPARE_CLI). */
  readonly cli?: string;
}

/** Starts the group's gateways, measures them alternating with direct, prints the table, stops them. */
async function runGroup(title: string, plans: readonly Plan[], directTarget: Target): Promise<void> {
  const targets: Target[] = [directTarget];
  for (const plan of plans) {
    const dir = plan.name.replace(/[^a-z0-9]+/gi, '-');
    targets.push({
      name: plan.name,
      ...(plan.bareProxyTo
        ? await startListener([
            BARE_PROXY,
            ...(plan.bareProxyMode ? [plan.bareProxyMode] : []),
            plan.bareProxyTo,
          ])
        : await startGateway(dir, plan.yaml, plan.nodeArgs, plan.env, plan.cli)),
      headers: plan.headers,
      helpers: plan.helpers,
    });
  }

  const sessions = new Map<string, Array<Record<string, string>>>();
  // A round outlasts the minute after which a gateway ends an idle session that holds per_session
  // children and no GET stream (an abandoned one-shot client): the sessions of the other targets ping
  // now and then, as a live agent would. The pings go out between measurements, never during one: 32
  // sessions × every target is a burst of several hundred requests, which on a 2-core machine would
  // land in whichever target happened to be measured at that moment.
  const KEEP_ALIVE_MS = 20_000;
  const lastPing = new Map<string, number>();
  const keepOthersAlive = async (measuring: Target) => {
    const now = Date.now();
    const due = targets.filter(
      (t) => t !== measuring && now - (lastPing.get(t.name) ?? now) >= KEEP_ALIVE_MS,
    );
    await Promise.all(
      due.flatMap((t) => {
        lastPing.set(t.name, now);
        return (sessions.get(t.name) ?? []).map((headers) =>
          post(t.url, JSON.stringify({ jsonrpc: '2.0', id: 'keep-alive', method: 'ping' }), headers),
        );
      }),
    );
  };
  for (const t of targets) {
    sessions.set(t.name, await Promise.all(Array.from({ length: 32 }, () => openSession(t))));
    lastPing.set(t.name, Date.now());
    // Warm-up (sockets, JIT): a first round after only a few hundred calls still paid for optimising
    // compilation (about twice the CPU per call of later rounds), in both phases.
    await measure(t, sessions.get(t.name) as Array<Record<string, string>>, 32, WARM_UP_CALLS);
    await measure(t, sessions.get(t.name) as Array<Record<string, string>>, 1, WARM_UP_CALLS / 4);
  }

  const results = new Map<string, { c1: Sample[]; c32: Sample[] }>(
    targets.map((t) => [t.name, { c1: [], c32: [] }]),
  );
  // Round 0 is a warm-up round, run like the others and not reported: in the first two rounds after
  // start nearly every gateway used 1.5-2.5× the CPU per call at C=1 of its later rounds (BENCH_VERBOSE),
  // while the per-target warm-up above was already done.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const t of targets) {
      const r = results.get(t.name) as { c1: Sample[]; c32: Sample[] };
      const s = sessions.get(t.name) as Array<Record<string, string>>;
      await keepOthersAlive(t);
      if (REWARM_CALLS > 0) await measure(t, s, 8, REWARM_CALLS);
      const c1 = await measure(t, s, 1, CALLS_C1);
      await keepOthersAlive(t);
      const c32 = await measure(t, s, 32, CALLS_C32);
      if (round > 0) {
        r.c1.push(c1);
        r.c32.push(c32);
      }
      if (VERBOSE) {
        process.stderr.write(
          `  ${round === 0 ? '(warm-up) ' : ''}${t.name}: C=1 p50 ${c1.p50.toFixed(3)} ms, ` +
            `${c1.cpuMsPerCall.toFixed(3)} CPU ms/call; C=32 ${c32.rps.toFixed(0)} calls/s, ` +
            `${c32.cpuMsPerCall.toFixed(3)} CPU ms/call\n`,
        );
      }
    }
    process.stderr.write(`${title}: ${round === 0 ? 'warm-up round' : `round ${round}/${ROUNDS}`} done\n`);
  }

  const directRuns = results.get(directTarget.name) as { c1: Sample[]; c32: Sample[] };
  /** The median over the rounds of the ratio to direct in the same round: a round that ran slow for
   * everything (the machine was busy) does not count against one target. */
  const ratio = (list: Sample[], base: Sample[], key: 'p50' | 'rps') =>
    median(list.map((s, i) => s[key] / (base[i] as Sample)[key]));
  const summary = targets.map((t) => {
    const r = results.get(t.name) as { c1: Sample[]; c32: Sample[] };
    const m = (list: Sample[], key: keyof Sample) => median(list.map((s) => s[key]));
    return {
      p50Ratio: ratio(r.c1, directRuns.c1, 'p50'),
      rpsRatio: ratio(r.c32, directRuns.c32, 'rps'),
      name: t.name,
      p50: m(r.c1, 'p50'),
      p99: m(r.c1, 'p99'),
      rps1: m(r.c1, 'rps'),
      p50x32: m(r.c32, 'p50'),
      p99x32: m(r.c32, 'p99'),
      rps32: m(r.c32, 'rps'),
      cpu: m(r.c32, 'cpuMsPerCall'),
      totalCpu: m(r.c32, 'totalCpuMsPerCall'),
      rss: Math.max(...r.c32.map((s) => s.rssMb)),
      totalRss: Math.max(...r.c32.map((s) => s.totalRssMb)),
    };
  });
  const f = (n: number, d = 2) => n.toFixed(d);
  const rows = [
    [
      'target',
      'C=1 p50 ms',
      'C=1 p99 ms',
      'C=1 calls/s',
      'C=32 p50 ms',
      'C=32 p99 ms',
      'C=32 calls/s',
      'CPU ms/call',
      'all CPU ms/call',
      'RSS MB',
      'all RSS MB',
      'p50 ×direct',
      'calls/s ×direct (C=32)',
    ],
    ...summary.map((s) => [
      s.name,
      f(s.p50, 3),
      f(s.p99, 3),
      f(s.rps1, 0),
      f(s.p50x32, 3),
      f(s.p99x32, 3),
      f(s.rps32, 0),
      f(s.cpu, 3),
      f(s.totalCpu, 3),
      f(s.rss, 1),
      f(s.totalRss, 1),
      f(s.p50Ratio),
      f(s.rpsRatio),
    ]),
  ];
  process.stdout.write(`\n${title}\n\n`);
  printTable(rows);
  await Promise.all(targets.filter((t) => t !== directTarget).map(stopTarget));
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  for (const r of rows)
    process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] as number)).join('  ')}\n`);
}

/** Stops a gateway and waits for it to exit (its children go with it). */
async function stopTarget(target: Target): Promise<void> {
  const child = children.find((c) => c.pid === target.pid);
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  stopped.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * The issue's footprint scenario for each isolation: FOOTPRINT_SESSIONS sessions over raw HTTP, 20
 * at a time, each initializing and calling echo on each of two stdio servers; the sessions stay open
 * (one-shot clients never send DELETE). Reports the children started, the RSS of the gateway plus its
 * children at the end, the initialize time (median and p90) and the wall time.
 */
async function footprint(): Promise<void> {
  if (FOOTPRINT_SESSIONS <= 0 || FOOTPRINT_ISOLATIONS.length === 0) return;
  const rows: string[][] = [
    [
      'isolation',
      'sessions',
      'children',
      'gateway RSS MB',
      'all RSS MB',
      'init p50 ms',
      'init p90 ms',
      'wall s',
    ],
  ];
  for (const isolation of FOOTPRINT_ISOLATIONS) {
    const extra = isolation === 'pooled' ? '    pool_size: 4\n' : '';
    const gw = await startGateway(
      `footprint-${isolation}`,
      `http:\n  max_sessions: ${FOOTPRINT_SESSIONS + 20}\nservers:\n${stdioBackend(isolation, 'a')}${extra}${stdioBackend(isolation, 'b')}${extra}`,
    );
    const target: Target = { name: `footprint-${isolation}`, url: gw.url, pid: gw.pid, headers: {} };
    // As an operator would: wait until /readyz says the backends start (pooled: the probe's child stays).
    const readyz = gw.url.replace(/\/mcp$/, '/readyz');
    for (let i = 0; i < 100 && (await fetch(readyz)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    const inits: number[] = [];
    const seen = new Set<number>();
    const sample = setInterval(() => {
      for (const pid of withDescendants(gw.pid)) if (pid !== gw.pid) seen.add(pid);
    }, 100);
    const started = process.hrtime.bigint();
    let id = 0;
    for (let done = 0; done < FOOTPRINT_SESSIONS; done += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, FOOTPRINT_SESSIONS - done) }, async () => {
          const t0 = process.hrtime.bigint();
          const headers = await openSession(target);
          inits.push(Number(process.hrtime.bigint() - t0) / 1e6);
          await Promise.all(['a', 'b'].map((server) => callEcho(target, headers, ++id, `${server}__echo`)));
        }),
      );
    }
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sample);
    const pids = withDescendants(gw.pid);
    for (const pid of pids) if (pid !== gw.pid) seen.add(pid);
    inits.sort((x, y) => x - y);
    const q = (p: number) => inits[Math.min(inits.length - 1, Math.floor(p * inits.length))] ?? 0;
    rows.push([
      isolation,
      String(FOOTPRINT_SESSIONS),
      String(seen.size),
      rssMb(gw.pid).toFixed(0),
      sum(pids, rssMb).toFixed(0),
      q(0.5).toFixed(1),
      q(0.9).toFixed(1),
      wall.toFixed(1),
    ]);
    stopped.add(gw.child);
    gw.child.kill('SIGTERM');
    await new Promise((resolve) => gw.child.once('exit', resolve));
    process.stderr.write(`footprint ${isolation} done\n`);
  }
  process.stdout.write(
    `\nfootprint — ${FOOTPRINT_SESSIONS} sessions over raw HTTP, 20 at a time, each calling echo on two stdio servers; sessions left open\n` +
      '(children: processes started below the gateway; all RSS: the gateway and its live children at the end;\n' +
      ' init: initialize round trip as the client sees it)\n\n',
  );
  printTable(rows);
}

try {
  await main();
} finally {
  // Wait for them (up to 30 s): a gateway run with --cpu-prof writes its profile as it exits.
  await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve(undefined);
          stopped.add(c);
          c.once('exit', resolve);
          // A second SIGTERM would end a gateway that is already shutting down (stopTarget sent one).
          if (!c.killed) c.kill('SIGTERM');
          setTimeout(resolve, 30_000).unref();
        }),
    ),
  );
  agent.destroy();
  rmSync(work, { recursive: true, force: true });
}
