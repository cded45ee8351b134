/**
 * `subscriptions/listen` (2026-07-28): the one place change notifications travel in the stateless era. A
 * listen request opens an SSE response that first acknowledges what it will carry (the requested kinds
 * that the gateway offers), then carries `notifications/{tools,prompts,resources}/list_changed` and
 * `notifications/resources/updated` for the URIs it subscribed to, each tagged with the subscription id
 * (the listen request's id). The bus is fed by every backend connection the modern era uses.
 */
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, Params, RequestId } from '../../mcp/messages.js';
import { META } from '../../mcp/protocol-versions.js';
import { sseEvent } from '../reply.js';

export interface SubscriptionFilter {
  readonly toolsListChanged?: boolean;
  readonly promptsListChanged?: boolean;
  readonly resourcesListChanged?: boolean;
  readonly resourceSubscriptions?: readonly string[];
}

/** The filter of a listen request, or undefined when it is not a valid SubscriptionFilter. */
export function parseFilter(value: unknown): SubscriptionFilter | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const f = value as Record<string, unknown>;
  for (const key of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'])
    if (f[key] !== undefined && typeof f[key] !== 'boolean') return undefined;
  const subs = f['resourceSubscriptions'];
  if (subs !== undefined && !(Array.isArray(subs) && subs.every((u) => typeof u === 'string')))
    return undefined;
  return f as SubscriptionFilter;
}

type Kind = 'tools' | 'prompts' | 'resources';
const KIND_FLAG: Readonly<Record<Kind, keyof SubscriptionFilter>> = {
  tools: 'toolsListChanged',
  prompts: 'promptsListChanged',
  resources: 'resourcesListChanged',
};

const DEBOUNCE_MS = 50;
const KEEPALIVE_MS = 15_000;

class ListenStream {
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    readonly id: RequestId,
    readonly honored: SubscriptionFilter,
    private readonly onClose: () => void,
  ) {
    res.once('close', () => {
      this.closed = true;
      this.onClose();
    });
  }

  get open(): boolean {
    return !this.closed;
  }

  notify(method: string, params: Params = {}): void {
    if (this.closed) return;
    const meta = { ...((params['_meta'] as Params | undefined) ?? {}), [META.subscriptionId]: this.id };
    this.res.write(
      sseEvent({ jsonrpc: '2.0', method, params: { ...params, _meta: meta } } as JSONRPCMessage),
    );
  }

  keepAlive(): void {
    if (!this.closed) this.res.write(': keepalive\n\n');
  }

  /** Ends the stream the graceful way: a final result that names the subscription. */
  finish(serverInfo: Params): void {
    if (this.closed) return;
    this.closed = true;
    const result = {
      resultType: 'complete',
      _meta: { [META.subscriptionId]: this.id, [META.serverInfo]: serverInfo },
    };
    this.res.end(sseEvent({ jsonrpc: '2.0', id: this.id, result } as JSONRPCMessage));
    this.onClose();
  }
}

export class ListenBus {
  private readonly streams = new Set<ListenStream>();
  private readonly pending = new Map<Kind, NodeJS.Timeout>();
  private readonly keepAlive: NodeJS.Timeout;

  constructor() {
    this.keepAlive = setInterval(() => {
      for (const s of this.streams) s.keepAlive();
    }, KEEPALIVE_MS);
    this.keepAlive.unref();
  }

  get size(): number {
    return this.streams.size;
  }

  /**
   * Opens a listen stream on `res`: acknowledges `honored` at once. With nothing honored it ends right
   * after the acknowledgement. `onClose` runs once when the agent goes away or the stream ends.
   */
  open(
    res: ServerResponse,
    id: RequestId,
    honored: SubscriptionFilter,
    serverInfo: Params,
    onClose: () => void,
  ): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    const stream = new ListenStream(res, id, honored, () => {
      this.streams.delete(stream);
      onClose();
    });
    this.streams.add(stream);
    stream.notify('notifications/subscriptions/acknowledged', { notifications: honored });
    const empty =
      !honored.toolsListChanged &&
      !honored.promptsListChanged &&
      !honored.resourcesListChanged &&
      (honored.resourceSubscriptions?.length ?? 0) === 0;
    if (empty) stream.finish(serverInfo);
  }

  /** A backend's list changed: every stream that asked for the kind hears of it once (bursts coalesce). */
  listChanged(kind: Kind): void {
    if (this.pending.has(kind)) return;
    const timer = setTimeout(() => {
      this.pending.delete(kind);
      for (const s of this.streams)
        if (s.honored[KIND_FLAG[kind]] === true) s.notify(`notifications/${kind}/list_changed`);
    }, DEBOUNCE_MS);
    timer.unref();
    this.pending.set(kind, timer);
  }

  resourceUpdated(uri: string, params: Params): void {
    for (const s of this.streams)
      if (s.honored.resourceSubscriptions?.includes(uri))
        s.notify('notifications/resources/updated', { ...params, uri });
  }

  /** URIs some open stream is subscribed to. */
  subscribedUris(): Set<string> {
    const out = new Set<string>();
    for (const s of this.streams) for (const uri of s.honored.resourceSubscriptions ?? []) out.add(uri);
    return out;
  }

  close(serverInfo: Params): void {
    clearInterval(this.keepAlive);
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    for (const s of [...this.streams]) s.finish(serverInfo);
  }
}
