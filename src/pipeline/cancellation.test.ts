import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RequestCancellation } from './cancellation.js';

describe('RequestCancellation', () => {
  it('aborts once: the reason is kept, listeners and onabort fire one time', () => {
    const cancellation = new RequestCancellation();
    const signal = cancellation.signal;
    const heard: string[] = [];
    signal.addEventListener('abort', () => heard.push('listener'), { once: true });
    signal.onabort = () => heard.push('onabort');
    expect(signal.aborted).toBe(false);
    expect(() => signal.throwIfAborted()).not.toThrow();

    const reason = new Error('cancelled by the client');
    cancellation.abort(reason);
    cancellation.abort(new Error('a second abort changes nothing'));
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(heard.sort()).toEqual(['listener', 'onabort']);
    expect(() => signal.throwIfAborted()).toThrow(reason);
  });

  it('defaults its reason to an AbortError, as AbortController does', () => {
    const cancellation = new RequestCancellation();
    cancellation.abort();
    expect((cancellation.signal.reason as DOMException).name).toBe('AbortError');
  });

  it("stops Node's own timers/promises delay (what the approval stage waits with)", async () => {
    const cancellation = new RequestCancellation();
    const waiting = delay(60_000, undefined, { signal: cancellation.signal });
    cancellation.abort(new Error('gone'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    // Already aborted: refused at once.
    await expect(delay(60_000, undefined, { signal: cancellation.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('a removed listener is not called', () => {
    const cancellation = new RequestCancellation();
    let called = false;
    const listener = () => {
      called = true;
    };
    cancellation.signal.addEventListener('abort', listener);
    cancellation.signal.removeEventListener('abort', listener);
    cancellation.abort();
    expect(called).toBe(false);
  });
});
