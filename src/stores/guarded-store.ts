/**
 * The state store as the request pipeline sees it: a store that cannot be reached (Redis or PostgreSQL
 * gone, a SQLite file locked past its busy timeout) refuses the call with -32016 naming the state store
 * (SPEC §3), instead of an anonymous -32603. Nothing is let through on a store failure: rate limits,
 * spend, approvals and pins all fail closed. Bad input (a bug, GatewayError INTERNAL) stays an internal
 * error.
 */
import { GatewayError, WireError } from '../core/errors.js';
import type { StateStore } from './state-store.js';

/** Wraps every method of `store` so that a failure to reach it becomes WireError backend_unavailable. */
export function guardStore(store: StateStore): StateStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (err) {
          throw unreachable(target, err);
        }
        return result instanceof Promise
          ? result.catch((err: unknown) => {
              throw unreachable(target, err);
            })
          : result;
      };
    },
  });
}

function unreachable(store: StateStore, err: unknown): unknown {
  if (err instanceof WireError) return err;
  if (err instanceof GatewayError && err.code === 'INTERNAL') return err;
  return new WireError(
    'backend_unavailable',
    `The state store (${store.kind}) is unreachable; the call was refused`,
    { server: 'state_store' },
  );
}
