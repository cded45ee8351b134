/**
 * The rules of tool pinning as pure functions, shared by every store so that SQLite, Redis and
 * PostgreSQL cannot disagree: each store reads the current record, applies one of these, and writes the
 * result back atomically (a transaction, or a compare-and-set on a version).
 *
 * - First sight, no poisoning markers: the definition is pinned (trust on first use, `first-sight`).
 * - First sight with markers: nothing is approved; the definition waits as pending (`flagged`).
 * - The approved definition again: fine; a pending one recorded meanwhile is dropped (the server went back).
 * - A new definition: it becomes the pending one (`changed`, or `flagged` when nothing was ever approved).
 * - The pending definition again, or a rejected one: nothing changes and nobody is told twice.
 */
import { GatewayError } from '../core/errors.js';
import type { PinDecideResult, PinKey, PinObservation, PinObserved, PinRecord } from './state-store.js';

const SHA256 = /^[0-9a-f]{64}$/;
const KINDS = new Set(['tool', 'prompt', 'resource_template']);
/** A definition larger than this is kept for diffing as a note, not in full (its hash covers it all). */
export const MAX_STORED_DEFINITION = 256 * 1024;

function invalid(message: string): never {
  throw new GatewayError('INTERNAL', `state store: ${message}`);
}

/** Throws unless the key names a pin. */
export function checkPinKey(key: PinKey): void {
  if (typeof key.server !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(key.server))
    invalid(`pin server must be a server name, got ${JSON.stringify(key.server)}`);
  if (!KINDS.has(key.kind)) invalid(`pin kind must be tool, prompt or resource_template, got ${key.kind}`);
  if (typeof key.name !== 'string' || key.name.length === 0 || key.name.length > 2048)
    invalid('pin name must be a non-empty string of at most 2048 characters');
}

/** Throws unless an observation is well formed. */
export function checkObservation(o: PinObservation): void {
  checkPinKey(o);
  if (!SHA256.test(o.sha256)) invalid('pin sha256 must be 64 lower-case hex characters');
  if (typeof o.definition !== 'string') invalid('pin definition must be a string');
  if (!Array.isArray(o.markers) || o.markers.some((m) => typeof m !== 'string'))
    invalid('pin markers must be strings');
}

/** One string per pin: the key stores use (server and kind cannot contain ':'; the name is the rest). */
export function pinId(key: PinKey): string {
  return `${key.server}:${key.kind}:${key.name}`;
}

function stored(definition: string): string {
  return definition.length <= MAX_STORED_DEFINITION
    ? definition
    : JSON.stringify({ note: `definition of ${definition.length} characters not kept; its hash covers it` });
}

/** Applies one observation to the current record (undefined: never seen). `write` is false when nothing changes. */
export function observePin(
  current: PinRecord | undefined,
  o: PinObservation,
  nowMs: number,
): PinObserved & { write: boolean } {
  const key = { server: o.server, kind: o.kind, name: o.name };
  if (!current) {
    const flagged = o.markers.length > 0;
    const record: PinRecord = {
      ...key,
      approvedSha256: flagged ? null : o.sha256,
      approvedDefinition: flagged ? null : stored(o.definition),
      approvedAt: flagged ? null : nowMs,
      approvedBy: flagged ? null : 'first-sight',
      pendingSha256: flagged ? o.sha256 : null,
      pendingDefinition: flagged ? stored(o.definition) : null,
      pendingMarkers: flagged ? [...o.markers] : [],
      pendingSince: flagged ? nowMs : null,
      rejectedSha256: null,
      rejectedBy: null,
      firstSeenAt: nowMs,
      updatedAt: nowMs,
    };
    return { record, event: flagged ? 'flagged' : 'pinned', write: true };
  }
  if (o.sha256 === current.approvedSha256) {
    if (current.pendingSha256 === null) return { record: current, event: null, write: false };
    const record: PinRecord = {
      ...current,
      pendingSha256: null,
      pendingDefinition: null,
      pendingMarkers: [],
      pendingSince: null,
      updatedAt: nowMs,
    };
    return { record, event: null, write: true };
  }
  if (o.sha256 === current.pendingSha256) return { record: current, event: null, write: false };
  const record: PinRecord = {
    ...current,
    pendingSha256: o.sha256,
    pendingDefinition: stored(o.definition),
    pendingMarkers: [...o.markers],
    pendingSince: nowMs,
    updatedAt: nowMs,
  };
  const rejected = o.sha256 === current.rejectedSha256;
  return {
    record,
    event: rejected ? null : current.approvedSha256 === null ? 'flagged' : 'changed',
    write: true,
  };
}

/** Applies an operator's decision to the pending definition. */
export function decidePin(
  current: PinRecord | undefined,
  input: { decision: 'approved' | 'rejected'; sha256?: string; by: string; nowMs: number },
): PinDecideResult & { write: boolean } {
  if (!current) return { ok: false, reason: 'not_found', write: false };
  if (current.pendingSha256 === null)
    return { ok: false, reason: 'nothing_pending', record: current, write: false };
  if (input.sha256 !== undefined && input.sha256 !== current.pendingSha256)
    return { ok: false, reason: 'stale', record: current, write: false };
  const record: PinRecord =
    input.decision === 'approved'
      ? {
          ...current,
          approvedSha256: current.pendingSha256,
          approvedDefinition: current.pendingDefinition,
          approvedAt: input.nowMs,
          approvedBy: input.by,
          pendingSha256: null,
          pendingDefinition: null,
          pendingMarkers: [],
          pendingSince: null,
          rejectedSha256: current.rejectedSha256 === current.pendingSha256 ? null : current.rejectedSha256,
          rejectedBy: current.rejectedSha256 === current.pendingSha256 ? null : current.rejectedBy,
          updatedAt: input.nowMs,
        }
      : { ...current, rejectedSha256: current.pendingSha256, rejectedBy: input.by, updatedAt: input.nowMs };
  return { ok: true, record, write: true };
}

/** A record as JSON text (what the stores keep). */
export function encodePin(record: PinRecord): string {
  return JSON.stringify(record);
}

/** The record back from encodePin's text. */
export function decodePin(text: string): PinRecord {
  return JSON.parse(text) as PinRecord;
}

/** Sorts records by server, kind and name (what listPins promises). */
export function sortPins(records: PinRecord[]): PinRecord[] {
  return records.sort(
    (a, b) =>
      a.server.localeCompare(b.server) ||
      a.kind.localeCompare(b.kind) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}
