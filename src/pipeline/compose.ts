/**
 * Chains stages into one handler, onion style: each stage may act before and after `next()`.
 * A stage that calls `next()` twice is a bug (a request forwarded twice); compose refuses it.
 */
export type Next = () => Promise<void>;
export type Stage<C> = ((ctx: C, next: Next) => Promise<void>) & { readonly stageName?: string };

/** Composes stages, in order, into one function that runs them for a context. */
export function compose<C>(stages: readonly Stage<C>[]): (ctx: C) => Promise<void> {
  return function run(ctx: C): Promise<void> {
    let last = -1;
    // Not an async function: each stage's own promise is passed on as it is, without a frame and a
    // promise of ours around it (seven stages, seven of each per call, and as many microtask hops).
    const dispatch = (i: number): Promise<void> => {
      if (i <= last)
        return Promise.reject(
          new Error(`stage "${stages[i - 1]?.stageName ?? i - 1}" called next() more than once`),
        );
      last = i;
      const stage = stages[i];
      if (!stage) return Promise.resolve();
      try {
        return stage(ctx, () => dispatch(i + 1));
      } catch (err) {
        return Promise.reject(err); // a stage that throws before returning its promise
      }
    };
    return dispatch(0);
  };
}

/** Names a stage function (for errors and `describePipeline`). */
export function namedStage<C>(name: string, fn: (ctx: C, next: Next) => Promise<void>): Stage<C> {
  Object.defineProperty(fn, 'stageName', { value: name });
  return fn as Stage<C>;
}
