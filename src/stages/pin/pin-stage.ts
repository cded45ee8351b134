/**
 * Tool pinning (`policies.pinning`, docs/pinning.md): the first time the gateway sees a tool, prompt or
 * resource template it pins the SHA-256 of its canonical definition in the state store; a definition
 * that differs later (the rug pull) or that carries poisoning markers on first sight is recorded once
 * (`tool_changed` audit event, a notification) and, under `enforce`, quarantined: removed from the
 * agent's lists and refused with -32017 until an operator approves it (`mcp-guard tools approve`).
 * `warn` records and relays.
 *
 * Lists arrive as `ctx.listing` after `next()`; a call is checked before `next()` against the definition
 * it was resolved to (`ctx.target.definition`). Verdicts are cached per process for a second, so the hot
 * path is a map lookup; an approval made from the CLI (or on another replica) applies within that second.
 * Misses of one request go to the store in one batch. Under `enforce` a store failure refuses (fail
 * closed); under `warn` it is logged and the request goes on.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import type { GuardConfig } from '../../config/types.js';
import { WireError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Params } from '../../mcp/messages.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { ListingItem, RequestContext } from '../../pipeline/context.js';
import type { PinKind, PinObservation, PinRecord, StateStore } from '../../stores/state-store.js';
import { fingerprint } from './definition.js';
import {
  approveCommand,
  changeAuditEvent,
  changeNotification,
  changeReason,
  type PinChange,
} from './pin-notice.js';

/** How long a verdict is trusted before the store is asked again. */
export const PIN_VERDICT_TTL_MS = 1_000;
const MAX_CACHED = 20_000;

/** Where the stage reports a change besides the audit log (the notifier, a small interface for tests). */
export interface PinNotifier {
  notifyMessage(slack: Record<string, unknown>, webhook: Record<string, unknown>): void;
}

export interface PinDeps {
  readonly config: GuardConfig;
  readonly store: StateStore;
  readonly logger: Logger;
  readonly audit?: AuditLog;
  readonly notifier?: PinNotifier;
  readonly now?: () => number;
}

interface Item {
  readonly server: string;
  readonly kind: PinKind;
  readonly name: string;
  readonly definition: Params;
}

interface Verdict {
  readonly allowed: boolean;
  readonly pinnedSha256: string | null;
  readonly currentSha256: string;
  readonly markers: readonly string[];
}

const LIST_KIND: Partial<Record<string, PinKind>> = {
  tools: 'tool',
  prompts: 'prompt',
  resourceTemplates: 'resource_template',
};

/** Requests that use one definition: what a quarantine refuses. */
const USES_DEFINITION = new Set([
  'tools/call',
  'prompts/get',
  'resources/read',
  'resources/subscribe',
  'completion/complete',
]);

function itemOfTarget(ctx: RequestContext): Item | undefined {
  const t = ctx.target;
  if (!t?.definition || !USES_DEFINITION.has(ctx.method)) return undefined;
  if (t.kind === 'tool') return { server: t.server, kind: 'tool', name: t.name, definition: t.definition };
  if (t.kind === 'prompt')
    return { server: t.server, kind: 'prompt', name: t.name, definition: t.definition };
  return t.template === undefined
    ? undefined
    : { server: t.server, kind: 'resource_template', name: t.template, definition: t.definition };
}

function itemOfListing(kind: PinKind, item: ListingItem): Item {
  return { server: item.server, kind, name: item.name, definition: item.definition };
}

export function pinStage(deps: PinDeps): Stage<RequestContext> | undefined {
  const mode = deps.config.policies.pinning;
  if (mode === 'off') return undefined;
  const enforce = mode === 'enforce';
  const { store, logger } = deps;
  const now = deps.now ?? Date.now;
  const verdicts = new Map<string, { sha256: string; record: PinRecord; until: number }>();

  const verdictOf = (record: PinRecord, sha256: string, markers: readonly string[]): Verdict => ({
    allowed: record.approvedSha256 === sha256,
    pinnedSha256: record.approvedSha256,
    currentSha256: sha256,
    markers: record.pendingSha256 === sha256 ? record.pendingMarkers : markers,
  });

  const report = async (change: PinChange, ctx: RequestContext): Promise<void> => {
    logger.warn(
      { server: change.server, kind: change.kind, name: change.name, markers: change.markers },
      changeReason(change),
    );
    deps.notifier?.notifyMessage(changeNotification(change).slack, changeNotification(change).webhook);
    await deps.audit
      ?.append(
        changeAuditEvent(change, {
          agent: ctx.principal?.agent ?? null,
          session: ctx.session.id,
          method: ctx.method,
          requestId: ctx.request.id,
        }),
      )
      .catch((err: Error) => logger.error({ err: err.message }, 'audit log write failed (tool_changed)'));
  };

  /** The verdict for each item: from the cache, or from one batch of store observations. */
  const check = async (items: readonly Item[], ctx: RequestContext): Promise<Verdict[]> => {
    const t = now();
    const out: Array<Verdict | undefined> = [];
    const misses: Array<{ index: number; observation: PinObservation }> = [];
    items.forEach((item, index) => {
      const fp = fingerprint(item.kind, item.name, item.definition);
      const id = `${item.server}:${item.kind}:${item.name}`;
      const cached = verdicts.get(id);
      if (cached && cached.sha256 === fp.sha256 && cached.until > t) {
        out[index] = verdictOf(cached.record, fp.sha256, fp.markers);
        return;
      }
      misses.push({
        index,
        observation: {
          server: item.server,
          kind: item.kind,
          name: item.name,
          sha256: fp.sha256,
          definition: fp.canonical,
          markers: fp.markers,
        },
      });
    });
    if (misses.length > 0) {
      const observed = await store.observePins(
        misses.map((m) => m.observation),
        t,
      );
      for (let i = 0; i < misses.length; i++) {
        const { index, observation: o } = misses[i]!;
        const { record, event } = observed[i]!;
        const id = `${o.server}:${o.kind}:${o.name}`;
        verdicts.delete(id);
        verdicts.set(id, { sha256: o.sha256, record, until: t + PIN_VERDICT_TTL_MS });
        out[index] = verdictOf(record, o.sha256, o.markers);
        if (event === 'changed' || event === 'flagged') {
          await report(
            {
              server: o.server,
              kind: o.kind,
              name: o.name,
              event,
              pinnedSha256: record.approvedSha256,
              currentSha256: o.sha256,
              markers: o.markers,
              mode: enforce ? 'enforce' : 'warn',
            },
            ctx,
          );
        }
      }
      while (verdicts.size > MAX_CACHED) {
        const oldest = verdicts.keys().next().value;
        if (oldest === undefined) break;
        verdicts.delete(oldest);
      }
    }
    return out as Verdict[];
  };

  /** check(), with the failure policy of the mode: enforce refuses, warn logs and lets everything through. */
  const checked = async (items: readonly Item[], ctx: RequestContext): Promise<Verdict[] | undefined> => {
    try {
      return await check(items, ctx);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'tool pinning: the state store could not be reached');
      if (!enforce) return undefined;
      throw new WireError(
        'backend_unavailable',
        'The state store is unreachable, so tool definitions cannot be checked against their pins',
        { server: 'state_store' },
      );
    }
  };

  return namedStage('pin', async (ctx, next) => {
    const item = itemOfTarget(ctx);
    if (item) {
      const verdict = (await checked([item], ctx))?.[0];
      if (verdict && !verdict.allowed && enforce) {
        const exposed = ctx.target?.exposed ?? item.name;
        ctx.decision.decision = 'denied';
        ctx.decision.reason = `${item.kind} quarantined: ${verdict.pinnedSha256 === null ? 'poisoning markers' : 'definition changed since it was pinned'}`;
        throw new WireError(
          'tool_quarantined',
          `Quarantined: the definition of ${item.kind === 'resource_template' ? 'resource template' : item.kind} "${exposed}" ${
            verdict.pinnedSha256 === null ? 'is flagged as possibly poisoned' : 'changed since it was pinned'
          }; an operator must review and approve it (${approveCommand(item)})`,
          {
            tool: exposed,
            kind: item.kind,
            pinned_sha256: verdict.pinnedSha256,
            current_sha256: verdict.currentSha256,
            markers: verdict.markers,
            approve_command: approveCommand(item),
          },
        );
      }
    }
    await next();
    const listing = ctx.listing;
    const kind = listing ? LIST_KIND[listing.kind] : undefined;
    if (!listing || !kind || listing.items.length === 0) return;
    const items = listing.items;
    const results = await checked(
      items.map((i) => itemOfListing(kind, i)),
      ctx,
    );
    if (enforce && results) listing.items = items.filter((_, i) => results[i]?.allowed === true);
  });
}
