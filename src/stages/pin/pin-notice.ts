/**
 * What humans are told when a pinned definition changes or a new one is flagged: the `tool_changed`
 * audit event, and the Slack message and webhook body sent through the notifier.
 */
import type { AuditEvent } from '../../audit/record.js';
import type { PinKind, PinRecord } from '../../stores/state-store.js';

export interface PinChange {
  readonly server: string;
  readonly kind: PinKind;
  readonly name: string;
  readonly event: 'changed' | 'flagged';
  readonly pinnedSha256: string | null;
  readonly currentSha256: string;
  readonly markers: readonly string[];
  readonly mode: 'warn' | 'enforce';
}

/** `server.name`, and `--kind` when it is not a tool: what the `mcp-guard tools` commands take. */
export function pinCommandTarget(server: string, kind: PinKind, name: string): string {
  return `${server}.${name}${kind === 'tool' ? '' : ` --kind ${kind}`}`;
}

export function approveCommand(change: Pick<PinChange, 'server' | 'kind' | 'name'>): string {
  return `mcp-guard tools approve ${pinCommandTarget(change.server, change.kind, change.name)}`;
}

function describe(change: PinChange): string {
  const what = change.kind === 'resource_template' ? 'resource template' : change.kind;
  return change.event === 'flagged'
    ? `${what} ${change.server}.${change.name} carries poisoning markers (${change.markers.join('; ')})`
    : `${what} ${change.server}.${change.name} changed since it was pinned${
        change.markers.length > 0 ? `, and carries poisoning markers (${change.markers.join('; ')})` : ''
      }`;
}

/** The reason written to the audit log and logs. */
export function changeReason(change: PinChange): string {
  return `${describe(change)}; ${change.mode === 'enforce' ? 'quarantined until approved' : 'relayed (pinning: warn)'}`;
}

/** The `tool_changed` audit event. */
export function changeAuditEvent(
  change: PinChange,
  context: {
    agent?: string | null;
    session?: string | null;
    method?: string | null;
    requestId?: string | number | null;
  },
): AuditEvent {
  return {
    event: 'tool_changed',
    agent: context.agent ?? null,
    session: context.session ?? null,
    server: change.server,
    tool: change.name,
    method: context.method ?? null,
    request_id: context.requestId ?? null,
    decision: change.mode === 'enforce' ? 'denied' : 'allowed',
    reason: changeReason(change),
    detail: {
      kind: change.kind,
      change: change.event,
      pinned_sha256: change.pinnedSha256,
      current_sha256: change.currentSha256,
      markers: change.markers,
      mode: change.mode,
      approve_command: approveCommand(change),
    },
  };
}

/** Slack reads `<…>` and `&` as markup; names and markers come from a backend, so they are escaped. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The Slack message and webhook body for a change. */
export function changeNotification(change: PinChange): {
  slack: Record<string, unknown>;
  webhook: Record<string, unknown>;
} {
  const target = pinCommandTarget(change.server, change.kind, change.name);
  const text = `mcp-guard: ${changeReason(change)}. Review: mcp-guard tools diff ${target} — approve: mcp-guard tools approve ${target}`;
  return {
    slack: {
      text: slackEscape(text),
      blocks: [
        {
          type: 'section',
          text: { type: 'mrkdwn', text: `:warning: ${slackEscape(changeReason(change))}` },
        },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `Review: \`mcp-guard tools diff ${slackEscape(target)}\`\nApprove: \`mcp-guard tools approve ${slackEscape(target)}\`\nReject: \`mcp-guard tools reject ${slackEscape(target)}\``,
          },
        },
      ],
    },
    webhook: {
      event: 'tool_changed',
      tool: {
        server: change.server,
        kind: change.kind,
        name: change.name,
        change: change.event,
        pinned_sha256: change.pinnedSha256,
        current_sha256: change.currentSha256,
        markers: change.markers,
        mode: change.mode,
      },
      diff_command: `mcp-guard tools diff ${target}`,
      approve_command: `mcp-guard tools approve ${target}`,
      reject_command: `mcp-guard tools reject ${target}`,
    },
  };
}

/** A record's state in one word (for `tools list` and exports). */
export function pinStatus(record: PinRecord): 'pinned' | 'changed' | 'flagged' | 'rejected' {
  if (record.pendingSha256 === null) return 'pinned';
  if (record.pendingSha256 === record.rejectedSha256) return 'rejected';
  return record.approvedSha256 === null ? 'flagged' : 'changed';
}
