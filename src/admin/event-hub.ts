/**
 * Approval events for `/admin/events` (SSE): an approval was created or decided — by this process, another
 * replica or the CLI. They all share the state store, so the hub watches the store (createdSince and
 * decisionsSince) while at least one listener is connected, and not at all otherwise. Decisions made
 * through this process's admin API are also published at once. Each event is delivered once per hub
 * (a bounded memory of what was sent), however often the overlapping polls see it.
 *
 * The polls look back `slackMs` before the newest time seen, so an approval written a moment late (a
 * slow transaction, a replica's clock a little behind) is still announced.
 */
import type { Logger } from '../core/logger.js';
import type { Approval, StateStore } from '../stores/state-store.js';
import { type ApprovalJson, approvalToJson } from './approval-json.js';

export type AdminEventType = 'approval_created' | 'approval_decided';

export interface AdminEvent {
  readonly type: AdminEventType;
  readonly approval: ApprovalJson;
}

export interface EventHubOptions {
  readonly pollMs?: number;
  readonly slackMs?: number;
}

const MAX_REMEMBERED = 20_000;
const BATCH = 200;

export class ApprovalEventHub {
  private readonly listeners = new Set<(event: AdminEvent) => void>();
  private readonly sent = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private createdMark = 0;
  private decidedMark = 0;
  private readonly pollMs: number;
  private readonly slackMs: number;
  private closed = false;

  constructor(
    private readonly store: StateStore,
    private readonly logger: Logger,
    options: EventHubOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.slackMs = options.slackMs ?? 5_000;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Adds a listener; the store is watched while there is one. Returns the unsubscribe function. */
  subscribe(listener: (event: AdminEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer && !this.closed) {
      const now = Date.now();
      // Only what happens from now on (the page loads the current list itself, after subscribing).
      this.createdMark = Math.max(this.createdMark, now);
      this.decidedMark = Math.max(this.decidedMark, now);
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Announces an event seen in this process (delivered once, even when a poll sees it again). */
  publish(type: AdminEventType, approval: Approval): void {
    const key = `${type}:${approval.id}`;
    if (this.sent.has(key)) return;
    this.remember(key);
    const event: AdminEvent = { type, approval: approvalToJson(approval) };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.debug({ err: (err as Error).message }, 'admin event listener failed');
      }
    }
  }

  private remember(key: string): void {
    this.sent.add(key);
    if (this.sent.size > MAX_REMEMBERED) {
      const oldest = this.sent.values().next().value;
      if (oldest !== undefined) this.sent.delete(oldest);
    }
  }

  /** One look at the store (exposed for tests). */
  async poll(): Promise<void> {
    if (this.polling || this.listeners.size === 0) return;
    this.polling = true;
    try {
      const now = Date.now();
      const created = await this.store.createdSince(this.createdMark - this.slackMs, BATCH, now);
      for (const a of created) {
        // Approvals created before anyone listened are not news.
        if (a.createdAt < this.createdMark - this.slackMs) continue;
        this.publish('approval_created', a);
        this.createdMark = Math.max(this.createdMark, a.createdAt);
      }
      const decided = await this.store.decisionsSince(this.decidedMark - this.slackMs, BATCH, now);
      for (const a of decided) {
        this.publish('approval_decided', a);
        this.decidedMark = Math.max(this.decidedMark, a.decidedAt ?? 0);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'admin events: could not read the state store');
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
