/**
 * An incremental parser of `text/event-stream` bodies (the WHATWG "event stream interpretation"):
 * chunks in, whole events out, with no per-message stream plumbing. Lines end with CRLF, LF or CR (a CR
 * at the end of a chunk waits for the next one, in case an LF follows); `data` lines of one event are
 * joined with LF; comment lines are skipped; an event is dispatched at a blank line, and only if it
 * carried data. `id` sets the last event id (kept across events, as the spec says; one containing NUL
 * is ignored); `retry` gives the reconnection delay.
 */

export interface SseEvent {
  /** The `event` field, `message` when absent. */
  readonly event: string;
  readonly data: string;
  /** The last event id in effect when this event was dispatched (undefined if none yet). */
  readonly id: string | undefined;
}

export class SseParser {
  private buffer = '';
  /** The previous chunk ended in CR: an LF at the start of the next one belongs to that line ending. */
  private pendingCr = false;
  private data: string[] = [];
  private event = '';
  /** The last event id seen (SSE keeps it across events). */
  lastEventId: string | undefined;
  /** Reconnection delay the server asked for (`retry:`), in ms. */
  retryMs: number | undefined;
  /** Bytes of the event being assembled: a stream that never ends an event cannot grow without limit. */
  private pendingChars = 0;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxEventChars = 16 * 1024 * 1024,
  ) {}

  /** Feeds decoded text; calls onEvent for each complete event. Throws when an event outgrows the limit. */
  push(text: string): void {
    if (text.length === 0) return;
    let start = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    const length = text.length;
    for (let i = start; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.length > 0 ? this.buffer + text.slice(start, i) : text.slice(start, i);
      this.buffer = '';
      this.line(line);
      if (c === 13) {
        if (i + 1 < length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
    }
    if (start < length) {
      this.buffer += text.slice(start);
      if (this.buffer.length + this.pendingChars > this.maxEventChars)
        throw new Error(`an event stream event exceeds ${this.maxEventChars} characters`);
    }
  }

  /** The stream ended: an event not closed by a blank line is dropped (as the spec says). */
  end(): void {
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.pendingChars = 0;
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.pendingChars += value.length;
        if (this.pendingChars > this.maxEventChars)
          throw new Error(`an event stream event exceeds ${this.maxEventChars} characters`);
        return;
      case 'event':
        this.event = value;
        return;
      case 'id':
        if (!value.includes('\u0000')) this.lastEventId = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        return;
      default:
        return;
    }
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.event;
    this.data = [];
    this.event = '';
    this.pendingChars = 0;
    if (data.length === 0) return;
    this.onEvent({
      event: event || 'message',
      data: data.length === 1 ? (data[0] as string) : data.join('\n'),
      id: this.lastEventId,
    });
  }
}
