/**
 * One self-restarting link to a backend (a per-session or shared connection): opened on first use,
 * restarted when its backend dies — at once after a healthy run, then with exponential backoff
 * (0.5 s … 30 s) while it keeps failing — until it is closed.
 */
import type { ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Params } from '../mcp/messages.js';
import { BackendConnection, type ConnectionHandlers, type InitializeInfo } from './connection.js';
import type { BackendTransport } from './transports.js';

/** A run at least this long counts as healthy: the next restart is immediate again. */
export const HEALTHY_RUN_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;

/** The delay before restart attempt number `failures` (0: at once). */
export function backoffMs(failures: number): number {
  return failures === 0 ? 0 : Math.min(500 * 2 ** (failures - 1), MAX_BACKOFF_MS);
}

export type InitProfile = () => { protocolVersion: string; capabilities: Params; clientInfo: Params };

export interface SlotOptions {
  readonly server: ServerConfig;
  readonly logger: Logger;
  /** A fresh, unstarted transport to the backend. */
  readonly transport: () => BackendTransport;
  /** What the gateway declares to the backend at initialize. */
  readonly profile: InitProfile;
  /** Handlers for a connection that just opened (its onClose is the slot's own). */
  readonly handlers: (conn: BackendConnection) => ConnectionHandlers;
  /** Told when the backend went down and when it came back after a restart. */
  readonly onStatus?: (status: 'up' | 'down') => void;
  /** Every connect success and loss (the backend_up metric). */
  readonly report?: (up: boolean) => void;
}

/** The unavailable error every backend path uses (-32016 naming the server). */
export function unavailable(server: string, detail: string): WireError {
  return new WireError('backend_unavailable', `Backend "${server}" is unavailable: ${detail}`, { server });
}

export class BackendSlot {
  private current: BackendConnection | undefined;
  private opening: Promise<BackendConnection> | undefined;
  /** The connection being opened right now. */
  private starting: BackendConnection | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private nextAttemptAt = 0;
  private failures = 0;
  private everUp = false;
  private closed = false;
  /** What the backend said at its last initialize (kept while it restarts). */
  lastInfo: InitializeInfo | undefined;

  constructor(private readonly options: SlotOptions) {}

  get server(): ServerConfig {
    return this.options.server;
  }

  get ready(): BackendConnection | undefined {
    return this.current?.isOpen ? this.current : undefined;
  }

  /** A process or session exists (open or starting): what `children` counts. */
  get live(): boolean {
    return this.ready !== undefined || this.opening !== undefined;
  }

  get(): Promise<BackendConnection> {
    if (this.closed) return Promise.reject(this.unavailable('the session has ended'));
    if (this.current?.isOpen) return Promise.resolve(this.current);
    if (this.opening) return this.opening;
    const wait = this.nextAttemptAt - Date.now();
    if (this.retryTimer && wait > 0) {
      return Promise.reject(this.unavailable(`restarting, next attempt in ${Math.ceil(wait / 1000)} s`));
    }
    return this.open();
  }

  private open(): Promise<BackendConnection> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const { server, logger } = this.options;
    const attempt = (async () => {
      const conn = new BackendConnection({
        server: server.name,
        transport: this.options.transport(),
        logger,
        roots: server.roots,
        agentRoots: server.agentRoots,
      });
      const openedAt = Date.now();
      this.starting = conn;
      try {
        await conn.open(this.options.profile(), server.connectTimeoutMs);
      } finally {
        if (this.starting === conn) this.starting = undefined;
      }
      if (this.closed) {
        await conn.close();
        throw this.unavailable('the session has ended');
      }
      conn.setHandlers({
        ...this.options.handlers(conn),
        onClose: () => this.onConnectionClosed(conn, openedAt),
      });
      this.current = conn;
      this.lastInfo = conn.info;
      this.options.report?.(true);
      const restarted = this.everUp;
      this.everUp = true;
      logger.info(
        { server: server.name, protocolVersion: conn.info?.protocolVersion },
        restarted ? 'backend restarted' : 'backend connected',
      );
      if (restarted) this.options.onStatus?.('up');
      return conn;
    })();
    this.opening = attempt;
    attempt.then(
      () => {
        this.opening = undefined;
      },
      (err: Error) => {
        this.opening = undefined;
        this.options.report?.(false);
        logger.warn({ server: server.name, err: err.message }, 'backend failed to start');
        this.scheduleRetry();
      },
    );
    return attempt;
  }

  private onConnectionClosed(conn: BackendConnection, openedAt: number): void {
    if (this.current === conn) this.current = undefined;
    if (this.closed) return;
    this.options.report?.(false);
    if (Date.now() - openedAt >= HEALTHY_RUN_MS) this.failures = 0;
    this.options.onStatus?.('down');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = backoffMs(this.failures);
    this.failures++;
    this.nextAttemptAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && !this.opening && !this.current?.isOpen) this.open().catch(() => {});
    }, delay);
    this.retryTimer.unref();
  }

  private unavailable(detail: string): WireError {
    return unavailable(this.options.server.name, detail);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const opening = this.opening;
    const current = this.current;
    this.current = undefined;
    // A backend still starting is stopped now, not waited for (its connect timeout may be a minute).
    const starting = this.starting;
    this.starting = undefined;
    await Promise.all([
      current?.close(),
      starting?.close(),
      opening?.then(
        (c) => c.close(),
        () => {},
      ),
    ]);
  }
}
