/**
 * The cancellation signal of one agent request (`ctx.signal`): what an AbortController gives, for the
 * hot path.
 *
 * Why not AbortController: on Node 20 every `controller.signal` outlives the young generation (it is
 * promoted even when dropped at once; a plain EventTarget is not), and with it whatever listens on it:
 * one per request made the gateway's old generation fill with garbage under load (RSS), and creating it
 * was 1% of the CPU profile. This is an EventTarget with the AbortSignal members stages and Node's own
 * APIs use (`aborted`, `reason`, `throwIfAborted`, `onabort`, the `abort` event), so `timers/promises`
 * and listeners treat it as a signal.
 */
class RequestSignal extends EventTarget {
  aborted = false;
  reason: unknown = undefined;
  onabort: ((event: Event) => void) | null = null;

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }
}

export class RequestCancellation {
  private readonly requestSignal = new RequestSignal();

  /** Typed as AbortSignal: it has every member of one that a stage or a Node API reads. */
  get signal(): AbortSignal {
    return this.requestSignal as unknown as AbortSignal;
  }

  /** Aborts once: sets the reason (AbortError by default) and fires `abort` to the listeners. */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    const signal = this.requestSignal;
    if (signal.aborted) return;
    signal.aborted = true;
    signal.reason = reason;
    const event = new Event('abort');
    signal.dispatchEvent(event);
    signal.onabort?.(event);
  }
}
