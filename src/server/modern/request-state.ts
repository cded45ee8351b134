/**
 * `requestState` for the 2026-07-28 era's input_required round trips. The spec makes it attacker-controlled
 * input, so ours is sealed: `<payload>.<HMAC-SHA256>` (base64url), with an expiry and bound to the principal
 * and to the call it continues. It names a call parked in this process (its backend request is waiting for
 * the agent's answers), so the key is per process: a state from another replica or an earlier run is
 * rejected like a forged one, and the agent starts the call afresh.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface StatePayload {
  /** The parked call. */
  readonly call: string;
  /** Which round of that call this state answers (each round gets a new state). */
  readonly round: number;
  /** Agent the state was issued to. */
  readonly agent: string;
  /** Method and name (tool, prompt, URI) of the call. */
  readonly method: string;
  readonly name: string;
  /** Expiry, unix ms. */
  readonly exp: number;
}

export class RequestStateSealer {
  private readonly key: Buffer;

  constructor(key: Buffer = randomBytes(32)) {
    this.key = key;
  }

  seal(payload: StatePayload): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The payload of a state we issued, unexpired; undefined for anything else (tampered, foreign, old). */
  open(state: unknown, now = Date.now()): StatePayload | undefined {
    if (typeof state !== 'string' || state.length > 4096) return undefined;
    const dot = state.indexOf('.');
    if (dot <= 0) return undefined;
    const body = state.slice(0, dot);
    const given = Buffer.from(state.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as StatePayload;
      return typeof payload.exp === 'number' && payload.exp > now ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
