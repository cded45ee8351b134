/**
 * Human-readable rendering of audit lines for `audit tail`. Everything printed is passed through
 * escapeControl(): audit lines carry agent-supplied text, and a terminal must never receive an
 * escape sequence (ANSI colours, cursor moves, title changes) or a bidi override from them.
 */
import type { AuditRecord } from './record.js';

/** C0/C1 control characters, DEL, and the Unicode bidi/line controls that can disguise text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Replaces control characters with visible `\u{…}` escapes. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

const MAX_FIELD = 160;

function field(value: unknown): string {
  const s = escapeControl(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}

function quoted(value: unknown): string {
  const s = field(value);
  return /[\s"]/.test(s) || s.length === 0 ? JSON.stringify(s) : s;
}

function money(n: number): string {
  return Number.isInteger(n * 100) ? `$${n.toFixed(2)}` : `$${n}`;
}

/** One line per record: time, event, agent, server.tool, decision/outcome, amount, latency, then details. */
export function formatRecord(rec: Partial<AuditRecord>): string {
  const parts: string[] = [];
  parts.push(field(rec.ts ?? '-'));
  parts.push(field(rec.event ?? '-').padEnd(16));
  parts.push(`agent=${quoted(rec.agent ?? '-')}`);
  const target =
    rec.server && rec.tool ? `${rec.server}.${rec.tool}` : (rec.tool ?? rec.server ?? rec.method ?? '-');
  parts.push(field(target));
  const verdict = [rec.decision, rec.outcome].filter((v) => typeof v === 'string' && v.length > 0).join('/');
  parts.push(field(verdict || '-'));
  if (typeof rec.amount_usd === 'number') parts.push(money(rec.amount_usd));
  if (typeof rec.latency_ms === 'number') parts.push(`${rec.latency_ms}ms`);
  if (rec.error_code !== null && rec.error_code !== undefined) parts.push(`code=${quoted(rec.error_code)}`);
  if (rec.approval_id) parts.push(`approval=${quoted(rec.approval_id)}`);
  if (rec.reason) parts.push(`reason=${quoted(rec.reason)}`);
  return parts.join('  ');
}

/** Renders a raw line: pretty when it parses as a record, else a marked, escaped excerpt. */
export function formatLine(text: string): string {
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    return `! unparseable line: ${field(text)}`;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `! not a record: ${field(text)}`;
  return formatRecord(rec as Partial<AuditRecord>);
}
