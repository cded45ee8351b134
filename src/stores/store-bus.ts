/**
 * The channel bookkeeping the three stores share for publish/subscribe: names are checked once here,
 * and handlers are kept per channel so one listening connection serves every subscriber of a process.
 */
import { GatewayError } from '../core/errors.js';

/** The largest message: PostgreSQL NOTIFY payloads stop at 8,000 bytes; leave room for framing. */
export const MAX_BUS_MESSAGE_BYTES = 7_000;
const CHANNEL = /^[A-Za-z0-9:_.-]{1,100}$/;

export function checkChannel(channel: string): void {
  if (!CHANNEL.test(channel))
    throw new GatewayError('INTERNAL', `bus channel ${JSON.stringify(channel)} must match ${CHANNEL}`);
}

export function checkMessage(message: string): void {
  if (Buffer.byteLength(message) > MAX_BUS_MESSAGE_BYTES)
    throw new GatewayError('INTERNAL', `bus message larger than ${MAX_BUS_MESSAGE_BYTES} bytes`);
}

/** Handlers per channel; `first` and `last` tell a store when to start and stop listening to one. */
export class ChannelHandlers {
  private readonly handlers = new Map<string, Set<(message: string) => void>>();

  /** Adds a handler; true when it is the channel's first. */
  add(channel: string, handler: (message: string) => void): boolean {
    const set = this.handlers.get(channel);
    if (set) {
      set.add(handler);
      return false;
    }
    this.handlers.set(channel, new Set([handler]));
    return true;
  }

  /** Removes a handler; true when the channel has none left. */
  remove(channel: string, handler: (message: string) => void): boolean {
    const set = this.handlers.get(channel);
    if (!set?.delete(handler) || set.size > 0) return false;
    this.handlers.delete(channel);
    return true;
  }

  deliver(channel: string, message: string): void {
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(message);
      } catch {
        // One subscriber's failure is its own; the others still hear the message.
      }
    }
  }

  get channels(): string[] {
    return [...this.handlers.keys()];
  }
}
