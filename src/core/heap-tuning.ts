/**
 * V8 heap sizing for the long-running gateway (`serve`, `serve-http`), applied by the process itself so
 * it holds however the gateway is started (the bin, `node dist/cli/main.js`, npx, a container).
 *
 * Why: under load the gateway's live heap stays near 20 MB, but with V8's defaults its RSS climbs to
 * about 125 MB (bench, gw→pooled+all+untuned). Two defaults are made for throughput-bound batch work, not
 * for a proxy in the path:
 * - the young generation grows to 16 MB semi-spaces (32 MB committed) as soon as a burst of calls
 *   keeps objects alive across scavenges;
 * - the old generation may grow up to 4× its live size before a full GC, and the objects of the calls
 *   that were in flight during two scavenges end up there as garbage.
 *
 * What: the young generation stops growing at YOUNG_SEMI_SPACE_MB (the effect of
 * `--max-semi-space-size`, which only takes effect at start-up, obtained by switching
 * `--semi-space-growth-factor` to 1 once it is reached; both flags are read by V8 at each resize), and
 * the old generation's limit is set HEAP_GROWING_PERCENT above what the last full GC kept. Measured with
 * `npm run bench` (gw→pooled+all beside gw→pooled+all+untuned): see docs/deploy.md#memory.
 *
 * An operator's own V8 flags win: a flag given on the command line or in NODE_OPTIONS is left alone, and
 * MCP_GUARD_HEAP_TUNING=off turns all of this off.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const YOUNG_SEMI_SPACE_MB = 4;
const HEAP_GROWING_PERCENT = 30;
/** V8's own growth factor for the young generation (its default). */
const DEFAULT_GROWTH_FACTOR = 2;

export interface HeapTuningResult {
  /** The young generation's cap in MB per semi-space, or why it was not applied. */
  readonly youngSemiSpaceMb: number | 'flag given' | 'off';
  readonly heapGrowingPercent: number | 'flag given' | 'off';
}

/** Whether `flag` (e.g. `--max-semi-space-size`) was given to this process, in either spelling. */
function flagGiven(flag: string, execArgv: readonly string[], nodeOptions: string): boolean {
  const names = [flag, flag.replace(/-/g, '_').replace(/^__/, '--')];
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return given.some((arg) => names.some((name) => arg === name || arg.startsWith(`${name}=`)));
}

let observer: PerformanceObserver | undefined;

export function tuneHeap(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): HeapTuningResult {
  if (env['MCP_GUARD_HEAP_TUNING'] === 'off') return { youngSemiSpaceMb: 'off', heapGrowingPercent: 'off' };
  const nodeOptions = env['NODE_OPTIONS'] ?? '';
  const youngGiven =
    flagGiven('--max-semi-space-size', execArgv, nodeOptions) ||
    flagGiven('--semi-space-growth-factor', execArgv, nodeOptions);
  const growingGiven = flagGiven('--heap-growing-percent', execArgv, nodeOptions);
  if (!growingGiven) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!youngGiven && !observer) capYoungGeneration(YOUNG_SEMI_SPACE_MB);
  return {
    youngSemiSpaceMb: youngGiven ? 'flag given' : YOUNG_SEMI_SPACE_MB,
    heapGrowingPercent: growingGiven ? 'flag given' : HEAP_GROWING_PERCENT,
  };
}

/**
 * After every GC, the young generation may grow (V8's factor) while both semi-spaces together are under
 * 2 × `semiSpaceMb`, and no further once they reach it. V8 grows it at most by its factor per scavenge
 * and this runs after each GC, so it settles at the cap. It can shrink when idle and grows back to it.
 */
function capYoungGeneration(semiSpaceMb: number): void {
  const capBytes = 2 * semiSpaceMb * 1024 * 1024;
  let capped: boolean | undefined;
  const check = () => {
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (!young) return;
    const atCap = young.space_size >= capBytes;
    if (atCap === capped) return;
    capped = atCap;
    v8.setFlagsFromString(`--semi-space-growth-factor=${atCap ? 1 : DEFAULT_GROWTH_FACTOR}`);
  };
  check();
  observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
}
