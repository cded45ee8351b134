/**
 * The approval queue (SPEC §3). A tools/call whose amount is ≥ the applicable `require_approval_above`
 * (the strictest of global, per tool and per agent) is held: the agent gets -32004 with an approval_id,
 * and a human decides with `mcp-guard approvals approve|deny ID`. Then:
 * - while pending, the same call (same agent, server, tool and canonical arguments) gets the same id;
 * - once approved, exactly one retry of that same call runs (the approval is consumed atomically in the
 *   store, so two replicas or two racing retries cannot both run it); changed arguments need a new one;
 * - denied → -32014 (for `approval_ttl` after the decision, then the call may be asked for again);
 * - expired → -32015, once; the next identical call starts a new approval;
 * - a client may name the approval in `params._meta["mcp-guard/approval_id"]`.
 * Every check-and-update is one atomic store operation; the store is shared with the CLI, so a decision
 * made from a shell is seen by the very next retry.
 *
 * `policies.approval_mode: wait` keeps the held call open instead (up to `approval_wait`): the agent gets
 * progress notifications while it waits (when it sent a progress token) and, when it declared URL-mode
 * elicitation, an `elicitation/create` with the approval's page. The stage watches the store, so a
 * decision from the CLI, the dashboard or another replica is seen within a poll: an approval consumes
 * the approval and runs the call (once), a denial answers -32014, and running out of time answers
 * -32004 with the id — the approval stays pending, and the retry path above still works.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { argsSha256 } from '../../audit/canonical-json.js';
import type { GuardConfig } from '../../config/types.js';
import { WireError } from '../../core/errors.js';
import { metaOf } from '../../mcp/messages.js';
import { namedStage, type Stage } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Approval, ApprovalKey, StateStore } from '../../stores/state-store.js';

export const APPROVAL_META_KEY = 'mcp-guard/approval_id';

export interface ApprovalEvents {
  /** A new approval was created (audit it before the agent hears -32004; notify humans). */
  created(approval: Approval, ctx: RequestContext): Promise<void>;
  /** A decision is about to take effect: recorded before the call it decides (once, however often seen). */
  decided?(approval: Approval): Promise<void>;
  /** The approval's page on the dashboard, when the gateway serves one (for URL elicitation). */
  link?(id: string): string | undefined;
}

export interface ApprovalDeps {
  readonly config: GuardConfig;
  readonly store: StateStore;
  readonly events: ApprovalEvents;
  /** Redacts arguments before they are stored for the human deciding. */
  readonly redact: (value: unknown) => unknown;
  readonly now?: () => number;
  /** Wait mode: how often the store is asked for a decision, and how often progress is sent. */
  readonly waitPollMs?: number;
  readonly progressEveryMs?: number;
}

/** The threshold that applies to `agent` calling `server.tool` (the strictest one), or undefined. */
export function approvalThreshold(
  config: GuardConfig,
  agent: string,
  server: string,
  tool: string,
): number | undefined {
  const candidates = [
    config.policies.requireApprovalAbove,
    config.policies.tools[`${server}.${tool}`]?.requireApprovalAbove ??
      config.policies.tools[tool]?.requireApprovalAbove,
    config.agents[agent]?.requireApprovalAbove,
  ].filter((v): v is number => v !== undefined);
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

export function approvalStage(deps: ApprovalDeps): Stage<RequestContext> | undefined {
  const { config, store, events } = deps;
  const anyThreshold =
    config.policies.requireApprovalAbove !== undefined ||
    Object.values(config.policies.tools).some((t) => t.requireApprovalAbove !== undefined) ||
    Object.values(config.agents).some((a) => a.requireApprovalAbove !== undefined);
  if (!anyThreshold) return undefined;
  const now = deps.now ?? Date.now;

  const held = (approval: Approval, ctx: RequestContext): never => {
    ctx.decision.decision = 'held';
    ctx.decision.approvalId = approval.id;
    const amount = approval.amountUsd ?? 0;
    throw new WireError(
      'approval_pending',
      `Approval required: this call ($${amount.toFixed(2)}) is held until an operator approves it (mcp-guard approvals approve ${approval.id}); then send the same call again`,
      {
        approval_id: approval.id,
        tool: ctx.target?.exposed ?? approval.tool,
        amount_usd: amount,
        expires_at: Math.floor(approval.expiresAt / 1000),
      },
    );
  };

  const denied = async (approval: Approval, ctx: RequestContext): Promise<never> => {
    await events.decided?.(approval);
    ctx.decision.decision = 'denied';
    ctx.decision.approvalId = approval.id;
    ctx.decision.reason = 'approval denied';
    throw new WireError(
      'approval_denied',
      `Approval ${approval.id} was denied${approval.note ? `: ${approval.note}` : ''}`,
      {
        approval_id: approval.id,
        reason: approval.note ?? 'denied',
      },
    );
  };

  const expired = (approval: Approval, ctx: RequestContext): never => {
    ctx.decision.decision = 'denied';
    ctx.decision.approvalId = approval.id;
    ctx.decision.reason = 'approval expired';
    throw new WireError(
      'approval_expired',
      `Approval ${approval.id} has expired; send the call again to ask for a new one`,
      { approval_id: approval.id },
    );
  };

  /** Creates (or finds) the pending approval for this call. */
  const hold = async (key: ApprovalKey, amountUsd: number, ctx: RequestContext): Promise<Approval> => {
    const t = now();
    const { approval, created } = await store.createOrGetPending(
      {
        ...key,
        id: `apr_${randomBytes(10).toString('hex')}`,
        args: JSON.stringify(deps.redact(ctx.params['arguments'] ?? {})),
        amountUsd,
        createdAt: t,
        expiresAt: t + config.policies.approvalTtlMs,
      },
      t,
    );
    if (created) await events.created(approval, ctx);
    return approval;
  };

  /** Runs the call on an approved approval: consume it atomically, or tell why not. */
  const useApproved = async (approval: Approval, key: ApprovalKey, ctx: RequestContext): Promise<boolean> => {
    await events.decided?.(approval);
    const consumed = await store.consumeApproval({ ...key, id: approval.id, nowMs: now() });
    if (!consumed) return false;
    ctx.decision.decision = 'approved';
    ctx.decision.approvalId = consumed.id;
    return true;
  };

  const waitMode = config.policies.approvalMode === 'wait';
  const pollMs = deps.waitPollMs ?? 500;
  const progressEveryMs = deps.progressEveryMs ?? 5_000;

  /**
   * Wait mode: keeps the call open until the approval is decided, expires, or `approval_wait` passes.
   * Resolves when the call may run (the approval was consumed for it); throws the agent's answer otherwise.
   */
  const waitForDecision = async (
    approval: Approval,
    key: ApprovalKey,
    ctx: RequestContext,
  ): Promise<void> => {
    const deadline = Math.min(now() + config.policies.approvalWaitMs, approval.expiresAt);
    const amount = `$${(approval.amountUsd ?? 0).toFixed(2)}`;
    const link = events.link?.(approval.id);
    const client = ctx.client;
    const token = metaOf(ctx.params)?.['progressToken'];
    let step = 0;
    const progress = (message: string) => {
      if (client && (typeof token === 'string' || typeof token === 'number'))
        client.notify('notifications/progress', { progressToken: token, progress: ++step, message });
    };
    progress(
      `Held for approval ${approval.id} (${amount}): waiting for an operator${link ? ` — ${link}` : ''}`,
    );
    // A client that can open URLs is shown the approval's page (the person at the agent may be the
    // one who decides, or can pass it on). Its answer changes nothing: the decision is made there.
    const elicitation = new AbortController();
    const endElicitation = () => elicitation.abort();
    ctx.signal.addEventListener('abort', endElicitation, { once: true });
    const elicitationId = `${approval.id}.${randomBytes(4).toString('hex')}`;
    const canOpenUrls = client && asObject(asObject(client.capabilities)['elicitation'])['url'] !== undefined;
    if (client && link && canOpenUrls) {
      client
        .request(
          'elicitation/create',
          {
            mode: 'url',
            elicitationId,
            url: link,
            message: `mcp-guard holds this call (${approval.server}.${approval.tool}, ${amount}) until an operator approves it. Open the page to review it.`,
          },
          elicitation.signal,
        )
        .catch(() => {});
    }
    let decided = false;
    try {
      let lastProgress = now();
      for (;;) {
        const left = deadline - now();
        if (left <= 0) break;
        // Rejects when the agent cancels the call (or its session ends): nothing more to wait for.
        await delay(Math.min(pollMs, left), undefined, { signal: ctx.signal });
        const current = await store.getApproval(approval.id, now());
        if (!current) break;
        if (current.status === 'approved') {
          decided = true;
          if (await useApproved(current, key, ctx)) return;
          // Another identical call took this approval first: this one needs its own.
          return held(await hold(key, approval.amountUsd ?? 0, ctx), ctx);
        }
        if (current.status === 'denied') {
          decided = true;
          return await denied(current, ctx);
        }
        if (current.status === 'expired') {
          await store.expireApproval(current.id, now());
          return expired(current, ctx);
        }
        if (current.status === 'consumed') {
          decided = true;
          return held(await hold(key, approval.amountUsd ?? 0, ctx), ctx);
        }
        if (now() - lastProgress >= progressEveryMs) {
          lastProgress = now();
          progress(`Still waiting for approval ${approval.id} (${amount})`);
        }
      }
      // The approval itself ran out (approval_ttl shorter than approval_wait): -32015, as on a retry.
      if (now() >= approval.expiresAt && (await store.expireApproval(approval.id, now())))
        return expired(approval, ctx);
      // Out of time: the answer of error mode; the approval stays pending for a retry.
      return held(approval, ctx);
    } finally {
      ctx.signal.removeEventListener('abort', endElicitation);
      elicitation.abort();
      if (decided && client && canOpenUrls && link)
        client.notify('notifications/elicitation/complete', { elicitationId });
    }
  };

  /** A pending approval: -32004 at once (error mode), or wait for the decision (wait mode). */
  const pending = async (approval: Approval, key: ApprovalKey, ctx: RequestContext): Promise<void> => {
    if (!waitMode) held(approval, ctx);
    await waitForDecision(approval, key, ctx);
  };

  return namedStage('approval', async (ctx, next) => {
    const target = ctx.target;
    const amount = ctx.decision.amountUsd;
    if (ctx.method !== 'tools/call' || target?.kind !== 'tool' || amount === undefined) return next();
    const agent = ctx.principal?.agent ?? 'anonymous';
    const threshold = approvalThreshold(config, agent, target.server, target.name);
    if (threshold === undefined || amount < threshold) return next();

    const key: ApprovalKey = {
      agent,
      server: target.server,
      tool: target.name,
      argsHash: argsSha256(ctx.params['arguments'] ?? {}),
    };
    const named = metaOf(ctx.params)?.[APPROVAL_META_KEY];

    if (typeof named === 'string' && named.length > 0) {
      const approval = await store.getApproval(named, now());
      const matches =
        approval &&
        approval.agent === key.agent &&
        approval.server === key.server &&
        approval.tool === key.tool &&
        approval.argsHash === key.argsHash;
      // An id that is unknown or names another call (other arguments, other agent) approves nothing here,
      // and must not hide this call's own approval either: the call is then looked up like an unnamed one
      // (creating a new entry here would shadow an approved one for the identical call — bug B4).
      if (approval && matches) {
        if (approval.status === 'approved' && (await useApproved(approval, key, ctx))) return next();
        if (approval.status === 'pending') {
          await pending(approval, key, ctx);
          return next();
        }
        if (approval.status === 'denied') return denied(approval, ctx);
        if (approval.status === 'expired') return expired(approval, ctx);
      }
    }

    const latest = await store.findLatestApproval(key, now());
    if (latest) {
      if (latest.status === 'approved' && (await useApproved(latest, key, ctx))) return next();
      if (latest.status === 'pending') {
        await pending(latest, key, ctx);
        return next();
      }
      if (latest.status === 'denied' && (latest.decidedAt ?? 0) + config.policies.approvalTtlMs > now())
        return denied(latest, ctx);
      // Reported once: the first retry after expiry hears -32015, the next one asks anew.
      if (latest.status === 'expired' && (await store.expireApproval(latest.id, now())))
        return expired(latest, ctx);
    }
    await pending(await hold(key, amount, ctx), key, ctx);
    return next();
  });
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
