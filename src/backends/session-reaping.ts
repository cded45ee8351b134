/**
 * When an idle HTTP session should be ended. Sessions are cheap except where they hold processes: a
 * session with `per_session` stdio children that has no standalone GET stream open and has been idle
 * for a minute is treated as abandoned (a one-shot client — the Inspector CLI, a script — never sends
 * DELETE, and an agent that is still there either listens on its GET stream or calls again), so its
 * children exit long before the idle TTL. Every other session lives until `http.session_idle_ttl`.
 * A session with requests in flight is never idle.
 */

/** A session idle this long without a GET stream, holding per-session children, is ended. */
export const ABANDONED_AFTER_MS = 60_000;

export interface ReapInput {
  /** The session holds per_session stdio children (ending it frees processes). */
  readonly holdsChildren: boolean;
  /** The agent has its standalone GET stream open (it is listening). */
  readonly hasGetStream: boolean;
  /** Requests of the session still running. */
  readonly inflight: number;
  /** Time since the agent's last message. */
  readonly idleMs: number;
  /** `http.session_idle_ttl`. */
  readonly idleTtlMs: number;
}

/** Whether to end the session now. */
export function shouldReap(session: ReapInput): boolean {
  if (session.inflight > 0) return false;
  if (session.idleMs >= session.idleTtlMs) return true;
  return (
    session.holdsChildren &&
    !session.hasGetStream &&
    session.idleMs >= Math.min(ABANDONED_AFTER_MS, session.idleTtlMs)
  );
}
