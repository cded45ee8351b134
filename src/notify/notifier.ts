/**
 * Tells humans about approvals (SPEC §2 `notify`): a Slack incoming-webhook message and/or a JSON POST to a
 * webhook when an approval is created and when it is decided. Delivery never blocks a call: it runs in the
 * background, is retried with backoff on network errors, 429 and 5xx, and failures are logged — without the
 * webhook URL, which is itself a secret for Slack.
 *
 * Messages lead somewhere: they carry the approval's dashboard link (`<public url>/ui/approvals/<id>`).
 * With `notify.webhook_secret`, a webhook body is signed (HMAC-SHA256 over `<timestamp>.<body>`, headers
 * X-MCP-Guard-Timestamp and X-MCP-Guard-Signature: sha256=<hex>), so a receiver can refuse forged or
 * replayed posts; X-MCP-Guard-Delivery stays the same across retries of one delivery.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { approvalToJson } from '../admin/approval-json.js';
import type { NotifyConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { Approval } from '../stores/state-store.js';

export type ApprovalEvent = 'approval_created' | 'approval_decided';

export interface NotifierOptions {
  readonly retryDelaysMs?: readonly number[];
  readonly fetch?: typeof fetch;
  /** The gateway's public base URL (`http.public_url`), for links to the dashboard. */
  readonly publicUrl?: string;
}

/** The dashboard page of one approval, under the gateway's base URL. */
export function approvalLink(baseUrl: string, id: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/ui/approvals/${encodeURIComponent(id)}`;
}

/** The signature headers of a webhook body (see the module comment; docs/admin-api.md shows a check). */
export function webhookSignature(secret: string, body: string, timestampS: number): Record<string, string> {
  const mac = createHmac('sha256', secret).update(`${timestampS}.${body}`, 'utf8').digest('hex');
  return { 'x-mcp-guard-timestamp': String(timestampS), 'x-mcp-guard-signature': `sha256=${mac}` };
}

export class Notifier {
  private readonly inflight = new Set<Promise<void>>();
  private readonly retryDelaysMs: readonly number[];
  private readonly fetchFn: typeof fetch;
  private publicUrl: string | undefined;
  /** Where the gateway listens, for links when no public URL is configured (set once listening). */
  private listenUrl: string | undefined;

  constructor(
    private config: NotifyConfig | undefined,
    private readonly logger: Logger,
    options: NotifierOptions = {},
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? [1_000, 4_000];
    this.fetchFn = options.fetch ?? fetch;
    this.publicUrl = options.publicUrl;
  }

  /** Takes the `notify` settings of a reloaded config (deliveries under way finish as they started). */
  update(config: NotifyConfig | undefined, publicUrl?: string): void {
    this.config = config;
    this.publicUrl = publicUrl;
  }

  /** The address `serve-http` listens on: links use it when `http.public_url` is not set. */
  setListenUrl(url: string | undefined): void {
    this.listenUrl = url;
  }

  /** The dashboard link of an approval, when the gateway serves one (serve-http). */
  linkTo(id: string): string | undefined {
    const base = this.publicUrl ?? this.listenUrl;
    return base === undefined ? undefined : approvalLink(base, id);
  }

  get enabled(): boolean {
    return Boolean(this.config?.slackWebhookUrl || this.config?.webhookUrl);
  }

  /** Queues the notifications for an approval event (with the approval's dashboard link); returns at once. */
  notify(event: ApprovalEvent, approval: Approval): void {
    const link = this.linkTo(approval.id);
    this.notifyMessage(slackMessage(event, approval, link), webhookBody(event, approval, link));
  }

  /**
   * Queues a notification whose Slack message and webhook body were built elsewhere (e.g. a changed
   * tool definition, src/stages/pin/pin-notice.ts); returns at once. Webhook bodies are signed when
   * `notify.webhook_secret` is set.
   */
  notifyMessage(slack: Record<string, unknown>, webhook: Record<string, unknown>): void {
    if (!this.config) return;
    const deliveries: Array<Promise<void>> = [];
    if (this.config.slackWebhookUrl)
      deliveries.push(this.deliver('slack', this.config.slackWebhookUrl, slack, undefined));
    if (this.config.webhookUrl)
      deliveries.push(this.deliver('webhook', this.config.webhookUrl, webhook, this.config.webhookSecret));
    for (const d of deliveries) {
      this.inflight.add(d);
      void d.finally(() => this.inflight.delete(d));
    }
  }

  /** Resolves when every queued delivery has finished (succeeded or given up). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async deliver(
    kind: 'slack' | 'webhook',
    url: string,
    body: unknown,
    secret: string | undefined,
  ): Promise<void> {
    const attempts = this.retryDelaysMs.length + 1;
    const text = JSON.stringify(body);
    const delivery = randomUUID();
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let problem: string;
      try {
        // Signed at each attempt: the timestamp says when this post was sent (receivers bound its age).
        const signed = secret ? webhookSignature(secret, text, Math.floor(Date.now() / 1000)) : {};
        const res = await this.fetchFn(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'mcp-guard',
            ...(kind === 'webhook' ? { 'x-mcp-guard-delivery': delivery } : {}),
            ...signed,
          },
          body: text,
          signal: AbortSignal.timeout(this.config?.timeoutMs ?? 5_000),
          redirect: 'error',
        });
        await res.body?.cancel();
        if (res.ok) return;
        problem = `HTTP ${res.status}`;
        // A 4xx other than 429 will not get better by retrying (bad URL, revoked webhook).
        if (res.status < 500 && res.status !== 429) attempt = attempts;
      } catch (err) {
        problem = (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message;
      }
      if (attempt >= attempts) {
        this.logger.warn({ kind, problem, attempts: attempt }, `${kind} notification failed; giving up`);
        return;
      }
      this.logger.debug({ kind, problem, attempt }, `${kind} notification failed; retrying`);
      await new Promise((r) => setTimeout(r, this.retryDelaysMs[attempt - 1]).unref());
    }
  }
}

function money(amount: number | null): string {
  return amount === null ? 'no amount' : `$${amount.toFixed(2)}`;
}

/**
 * Slack reads `<…>` as links and mentions (`<!channel>`) and `&` as an entity, so values an agent chose
 * (its arguments, names) are escaped the way Slack asks: &amp; &lt; &gt;.
 */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack incoming-webhook message: `text` for notifications, `blocks` for the rich view. */
export function slackMessage(
  event: ApprovalEvent,
  approval: Approval,
  link?: string,
): Record<string, unknown> {
  const a: Approval = {
    ...approval,
    agent: slackEscape(approval.agent),
    server: slackEscape(approval.server),
    tool: slackEscape(approval.tool),
    args: slackEscape(approval.args),
    note: approval.note === null ? null : slackEscape(approval.note),
    decidedBy: approval.decidedBy === null ? null : slackEscape(approval.decidedBy),
  };
  const what = `*${a.agent}* wants to call \`${a.server}.${a.tool}\` for *${money(a.amountUsd)}*`;
  // A link button leads to the approval's page (Slack opens it; the decision is made there, signed in).
  const open = link
    ? [
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              text: { type: 'plain_text', text: event === 'approval_created' ? 'Review' : 'Open' },
              url: link,
              ...(event === 'approval_created' ? { style: 'primary' } : {}),
            },
          ],
        },
      ]
    : [];
  if (event === 'approval_created') {
    const text = `mcp-guard: approval ${a.id} needed — ${a.agent} wants to call ${a.server}.${a.tool} for ${money(a.amountUsd)}. Approve with: mcp-guard approvals approve ${a.id}${link ? ` — or review it at ${link}` : ''}`;
    return {
      text,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `:hourglass: Approval needed (${a.id})\n${what}` } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: `Arguments (redacted):\n\`\`\`${a.args.slice(0, 2_500)}\`\`\`` },
        },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `Approve: \`mcp-guard approvals approve ${a.id}\`\nDeny: \`mcp-guard approvals deny ${a.id} --reason "…"\`\nExpires <!date^${Math.floor(a.expiresAt / 1000)}^{date_short_pretty} {time}|${new Date(a.expiresAt).toISOString()}>`,
          },
        },
        ...open,
      ],
    };
  }
  const verdict = a.status === 'denied' ? 'denied' : 'approved';
  const text = `mcp-guard: approval ${a.id} ${verdict} by ${a.decidedBy ?? 'unknown'} — ${a.agent} → ${a.server}.${a.tool} (${money(a.amountUsd)})${a.note ? `: ${a.note}` : ''}`;
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `${verdict === 'approved' ? ':white_check_mark:' : ':no_entry:'} ${text.replace(/^mcp-guard: /, '')}`,
        },
      },
      ...open,
    ],
  };
}

/** The generic webhook's JSON body: the approval as `approvals show --json` prints it, and its link. */
export function webhookBody(event: ApprovalEvent, a: Approval, link?: string): Record<string, unknown> {
  return {
    event,
    approval: approvalToJson(a),
    url: link ?? null,
    approve_command: `mcp-guard approvals approve ${a.id}`,
    deny_command: `mcp-guard approvals deny ${a.id}`,
  };
}
