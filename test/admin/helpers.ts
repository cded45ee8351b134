/** Talking to the admin API and its event stream in tests (plain fetch, as a script would). */

export interface AdminEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Reads named server-sent events from `/admin/events`. */
export class AdminEventReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  readonly seen: AdminEvent[] = [];

  constructor(response: Response) {
    if (!response.body) throw new Error(`no body (status ${response.status})`);
    this.reader = response.body.getReader();
  }

  /** The next event matching `match` (comments and other events are skipped, but kept in `seen`). */
  async next(match: (e: AdminEvent) => boolean = () => true, timeoutMs = 5_000): Promise<AdminEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let end = this.buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const lines = block.split('\n');
        const name = lines
          .find((l) => l.startsWith('event:'))
          ?.slice(6)
          .trim();
        const data = lines
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (name) {
          const event = { event: name, data: data ? (JSON.parse(data) as Record<string, unknown>) : {} };
          this.seen.push(event);
          if (match(event)) return event;
        }
        end = this.buffer.indexOf('\n\n');
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms`)), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('the event stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/** fetch() against the gateway's base URL with an optional bearer credential. */
export function adminFetch(
  base: string,
  path: string,
  options: { key?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: options.method ?? 'GET',
    redirect: 'manual',
    headers: {
      connection: 'close',
      ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}
