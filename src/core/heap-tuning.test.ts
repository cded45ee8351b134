import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const TUNING = path.resolve(fileURLToPath(new URL('../../dist/core/heap-tuning.js', import.meta.url)));

/**
 * A fresh node process applies the tuning, then allocates objects that survive a few scavenges (as calls
 * in flight do), and reports how large the young generation became and what the tuning said.
 */
function run(env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []) {
  const script = `
    const { tuneHeap } = await import(${JSON.stringify(TUNING)});
    const v8 = await import('node:v8');
    const result = tuneHeap();
    let keep = [];
    for (let i = 0; i < 400; i++) {
      keep.push(Array.from({ length: 2000 }, (_, j) => ({ i, j })));
      if (keep.length > 40) keep = keep.slice(20);
      await new Promise((r) => setImmediate(r)); // lets the GC observer run between scavenges
    }
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(JSON.stringify({ result, youngMb: young.space_size / 1048576 }));
  `;
  const out = execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out) as { result: Record<string, unknown>; youngMb: number };
}

describe('heap tuning', () => {
  it('keeps the young generation at its cap under allocation that V8 would grow it for', () => {
    const tuned = run();
    expect(tuned.result).toEqual({ youngSemiSpaceMb: 4, heapGrowingPercent: 30 });
    expect(tuned.youngMb).toBeLessThanOrEqual(8); // two 4 MB semi-spaces
    // The same load without the tuning grows it past the cap: the test would notice a cap that does nothing.
    const untuned = run({ MCP_GUARD_HEAP_TUNING: 'off' });
    expect(untuned.result).toEqual({ youngSemiSpaceMb: 'off', heapGrowingPercent: 'off' });
    expect(untuned.youngMb).toBeGreaterThan(8);
  });

  it("leaves an operator's own V8 flags alone", () => {
    const flagged = run({}, ['--max-semi-space-size=2', '--heap-growing-percent=50']);
    expect(flagged.result).toEqual({ youngSemiSpaceMb: 'flag given', heapGrowingPercent: 'flag given' });
    expect(flagged.youngMb).toBeLessThanOrEqual(4);
    const viaEnv = run({ NODE_OPTIONS: '--max_semi_space_size=8' });
    expect(viaEnv.result).toEqual({ youngSemiSpaceMb: 'flag given', heapGrowingPercent: 30 });
  });
});
