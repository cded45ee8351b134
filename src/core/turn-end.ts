/**
 * Work deferred to the end of this turn of the event loop, shared by the writers that batch per turn:
 * the audit log (one write(2) for the lines of every call that completed in the turn) and the stdio
 * backends (one pipe write for the messages of the turn).
 *
 * Why one queue and two immediates: a governed call's `call` line is written from the check phase, and
 * the call is forwarded from the microtasks that follow that write. A stdio flush scheduled with its own
 * setImmediate there would wait for the next loop iteration, i.e. one more epoll_wait (strace at one call
 * at a time: 3.19 epoll_pwait per call before, 2.20 after; the latency saved was within the bench's noise). Each batch here is run by a pair of immediates queued
 * together: the first runs what is queued; the second runs what the first one's microtasks queued, in the
 * same check phase. A task queued later (from the second's microtasks, or outside the check phase) starts
 * a new pair.
 */

type Task = () => void;

let queue: Task[] = [];
/** A pair is queued and its second immediate has not started: a new task joins it. */
let pairPending = false;

/** Runs `task` at the end of this turn of the event loop (before the next poll for I/O). */
export function atTurnEnd(task: Task): void {
  queue.push(task);
  if (pairPending) return;
  pairPending = true;
  setImmediate(runQueued);
  setImmediate(runQueuedAndClose);
}

function runQueuedAndClose(): void {
  pairPending = false;
  runQueued();
}

function runQueued(): void {
  if (queue.length === 0) return;
  const tasks = queue;
  queue = [];
  for (const task of tasks) {
    try {
      task();
    } catch (err) {
      // As from a setImmediate callback of its own: an uncaught exception, and the other tasks still run.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
