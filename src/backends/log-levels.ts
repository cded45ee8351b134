/**
 * MCP logging levels (RFC 5424 severities, least severe first) and the per-session filter a backend
 * shared by several agent sessions needs: the backend is set to the most verbose level any session asked
 * for, and each session gets only the messages at or above its own level.
 */
import { WireError } from '../core/errors.js';

export const LOG_LEVELS = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: ReadonlyMap<string, number> = new Map(LOG_LEVELS.map((level, i) => [level, i]));

/** The level named in `logging/setLevel` params; -32602 for anything else. */
export function parseLogLevel(value: unknown): LogLevel {
  if (typeof value === 'string' && RANK.has(value)) return value as LogLevel;
  throw new WireError('invalid_params', `logging/setLevel: level must be one of ${LOG_LEVELS.join(', ')}`);
}

/**
 * Whether a `notifications/message` at `messageLevel` reaches a session that asked for `sessionLevel`.
 * A session that never set a level gets what the backend sends; a message with an unknown level is
 * passed on (the backend decided to send it, and dropping it would hide it).
 */
export function passesLevel(messageLevel: unknown, sessionLevel: LogLevel | undefined): boolean {
  if (sessionLevel === undefined) return true;
  const rank = typeof messageLevel === 'string' ? RANK.get(messageLevel) : undefined;
  return rank === undefined || rank >= (RANK.get(sessionLevel) ?? 0);
}

/** The most verbose of `levels` (undefined when none is set). */
export function mostVerbose(levels: Iterable<LogLevel | undefined>): LogLevel | undefined {
  let best: LogLevel | undefined;
  for (const level of levels) {
    if (level !== undefined && (best === undefined || (RANK.get(level) ?? 0) < (RANK.get(best) ?? 0)))
      best = level;
  }
  return best;
}
