import { describe, expect, it } from 'vitest';
import { atTurnEnd } from './turn-end.js';

/** Resolves in the next loop iteration's check phase, after everything queued before it ran. */
const nextCheckPhase = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

describe('atTurnEnd', () => {
  it('runs tasks after the I/O callbacks of this turn, in the order they were queued', async () => {
    const seen: string[] = [];
    atTurnEnd(() => seen.push('a'));
    atTurnEnd(() => seen.push('b'));
    queueMicrotask(() => seen.push('microtask'));
    expect(seen).toEqual([]);
    await nextCheckPhase();
    expect(seen).toEqual(['microtask', 'a', 'b']);
  });

  it("runs a task queued by a task's microtasks in the same check phase, before the next poll", async () => {
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      atTurnEnd(() => {
        // Queued from the check phase: runs in the next iteration's check phase.
        setImmediate(() => {
          seen.push('next iteration');
          resolve();
        });
        // What the audit log's resolution leads to: the call goes on in microtasks and queues its forward.
        void Promise.resolve().then(() => atTurnEnd(() => seen.push('forward')));
      });
    });
    expect(seen).toEqual(['forward', 'next iteration']);
  });

  it('a task queued by the second run starts a new pair, and still runs', async () => {
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      atTurnEnd(
        () =>
          void Promise.resolve().then(() =>
            atTurnEnd(
              () =>
                void Promise.resolve().then(() =>
                  atTurnEnd(() => {
                    seen.push(3);
                    resolve();
                  }),
                ),
            ),
          ),
      );
    });
    expect(seen).toEqual([3]);
  });

  it('a task that throws is reported as uncaught, and the tasks after it still run', async () => {
    const seen: string[] = [];
    const uncaught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      atTurnEnd(() => {
        throw new Error('boom');
      });
      atTurnEnd(() => seen.push('after'));
      await nextCheckPhase();
      await nextCheckPhase();
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(seen).toEqual(['after']);
    expect((uncaught[0] as Error).message).toBe('boom');
  });
});
