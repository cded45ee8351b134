/**
 * `isolation: shared`: one connection per server for every session. Request ids and progress tokens
 * are namespaced by the connection; a server→client request or log message is delivered to the one
 * session with requests in flight on the backend, and refused (request) or dropped (notification) when
 * two sessions have calls in flight, since nothing on the wire says which call caused it. The
 * connection lives while a session holds it, and a short while after.
 */
import type { ServerConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { Params } from '../mcp/messages.js';
import type { BackendConnection, InitializeInfo } from './connection.js';
import { MultiSessionBackend, sharedProfile, soleOwner } from './multi-session-backend.js';
import type { BackendListener, LeaseRequestOptions } from './pool.js';
import { BackendSlot } from './slot.js';
import type { BackendTransport } from './transports.js';

const LINGER_MS = 2_000;

export class SharedBackend extends MultiSessionBackend {
  readonly isolation = 'shared' as const;
  private readonly slot: BackendSlot;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    server: ServerConfig,
    logger: Logger,
    onIdle: () => void,
    transport: () => BackendTransport,
    report: (up: boolean) => void,
  ) {
    super(server, logger, onIdle);
    this.slot = new BackendSlot({
      server,
      logger,
      transport,
      profile: () => sharedProfile(server),
      handlers: (conn) => {
        // A (re)started connection gets the subscriptions and level the sessions asked for.
        queueMicrotask(() => this.onConnectionOpened(conn));
        return this.handlers(() => soleOwner(conn));
      },
      onStatus: (status) => {
        for (const l of this.holders.keys()) l.onBackendStatus(server.name, status);
      },
      report,
    });
  }

  get up(): boolean {
    return this.slot.ready !== undefined;
  }

  /** One connection, initialized with the gateway's capabilities, whatever the sessions declared. */
  infoFor(): InitializeInfo | undefined {
    return this.slot.ready?.info ?? this.slot.lastInfo;
  }

  get children(): number {
    return this.slot.live ? 1 : 0;
  }

  protected liveConnections(): BackendConnection[] {
    const ready = this.slot.ready;
    return ready ? [ready] : [];
  }

  protected anyConnection(): Promise<BackendConnection> {
    return this.slot.get();
  }

  protected async send(
    listener: BackendListener,
    method: string,
    params: Params,
    options: LeaseRequestOptions,
  ): Promise<{ result: Params; conn: BackendConnection }> {
    const conn = await this.slot.get();
    options.onSent?.();
    const result = await this.requestOn(conn, listener, method, params, options);
    return { result, conn };
  }

  protected unattributed(method: string): string {
    return `mcp-guard cannot tell which agent session ${method} is for: server "${this.server.name}" is shared; set isolation: per_session or pooled for it`;
  }

  protected override attached(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
  }

  protected get idle(): boolean {
    return this.holders.size === 0;
  }

  /** The last session left: the connection closes unless a session comes back soon. */
  protected override becameIdle(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      if (this.holders.size === 0) this.onIdle();
    }, LINGER_MS);
    this.lingerTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.clearTimers();
    await this.slot.close();
  }
}
