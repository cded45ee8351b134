/**
 * A raw MCP Streamable HTTP client for tests that must see which stream a message rides: plain fetch,
 * no SDK client (so no standalone GET stream unless a test opens one), SSE bodies read event by event.
 */

export type RawMessage = Record<string, unknown> & { id?: string | number; method?: string };

/**
 * Reads the JSON-RPC messages of one response body, in order, as they arrive: an SSE stream event by
 * event, or a single `application/json` message (the gateway answers in JSON when nothing else had to be
 * sent for the request first). `mode` says which it was.
 */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  readonly mode: 'sse' | 'json';

  constructor(response: Response) {
    if (!response.body) throw new Error(`no body (status ${response.status})`);
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream')) this.mode = 'sse';
    else if (type.startsWith('application/json')) this.mode = 'json';
    else throw new Error(`neither an event stream nor JSON: ${type}`);
    this.reader = response.body.getReader();
  }

  /** The next message (events without data, such as priming events, are skipped). */
  async next(timeoutMs = 5_000): Promise<RawMessage> {
    if (this.mode === 'json') return this.nextJson(timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.search(/\r?\n\r?\n/);
      if (end >= 0) {
        const event = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data) return JSON.parse(data) as RawMessage;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message on the stream within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no message on the stream within ${timeoutMs} ms`)),
            left,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('the stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  private jsonRead = false;

  private async nextJson(timeoutMs: number): Promise<RawMessage> {
    if (this.jsonRead) throw new Error('the JSON response carried one message only');
    this.jsonRead = true;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const chunk = await this.reader.read();
      if (chunk.done) return JSON.parse(this.buffer) as RawMessage;
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      if (Date.now() > deadline) throw new Error(`no complete JSON body within ${timeoutMs} ms`);
    }
  }

  /** Messages up to and including the response to `id`. */
  async untilResponse(id: string | number, timeoutMs = 5_000): Promise<RawMessage[]> {
    const out: RawMessage[] = [];
    for (;;) {
      const message = await this.next(timeoutMs);
      out.push(message);
      if (message.id === id && message.method === undefined) return out;
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/** One MCP session over plain fetch. */
export class RawSession {
  private sessionId: string | undefined;

  constructor(
    readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  get id(): string | undefined {
    return this.sessionId;
  }

  /** initialize + notifications/initialized; resolves with the InitializeResult. */
  async initialize(capabilities: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const response = await this.post({
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities,
        clientInfo: { name: 'raw-fetch', version: '1' },
      },
    });
    this.sessionId = response.headers.get('mcp-session-id') ?? undefined;
    if (!this.sessionId) throw new Error(`initialize gave no session id (status ${response.status})`);
    const [result] = await new SseReader(response).untilResponse('init');
    const accepted = await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    if (accepted.status !== 202) throw new Error(`initialized was answered ${accepted.status}`);
    return (result as { result: Record<string, unknown> }).result;
  }

  /** POSTs one message with the session's headers (and `extra` ones). */
  post(message: unknown, extra: Record<string, string> = {}): Promise<Response> {
    return fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(this.sessionId ? { 'mcp-session-id': this.sessionId, 'mcp-protocol-version': '2025-11-25' } : {}),
        ...this.headers,
        ...extra,
      },
      body: JSON.stringify(message),
    });
  }

  /** POSTs a request and returns a reader on its response (JSON or SSE). */
  async request(
    id: string | number,
    method: string,
    params: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<SseReader> {
    const response = await this.post({ jsonrpc: '2.0', id, method, params }, headers);
    if (response.status !== 200)
      throw new Error(`${method} was answered ${response.status}: ${await response.text()}`);
    return new SseReader(response);
  }

  async close(): Promise<void> {
    if (!this.sessionId) return;
    await fetch(this.url, {
      method: 'DELETE',
      headers: { 'mcp-session-id': this.sessionId, 'mcp-protocol-version': '2025-11-25', ...this.headers },
    }).then((r) => r.body?.cancel());
  }
}
