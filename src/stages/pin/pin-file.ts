/**
 * The pin file: what `mcp-guard tools pin --out pins.json` writes and `mcp-guard scan --pins pins.json`
 * checks in CI. Deterministic (sorted, no export time), so a pull request that changes a pin shows as a
 * readable diff of the definition itself.
 */
import { sha256Hex } from '../../audit/canonical-json.js';
import type { PinKind, PinRecord } from '../../stores/state-store.js';
import { pinStatus } from './pin-notice.js';

export const PIN_FILE_VERSION = 1;

export interface PinFileEntry {
  readonly server: string;
  readonly kind: PinKind;
  readonly name: string;
  readonly status: 'pinned' | 'changed' | 'flagged' | 'rejected';
  /** SHA-256 of the canonical approved definition (null: none approved yet). */
  readonly sha256: string | null;
  /** The approved definition (null when none, or when it was too large to keep: see definition_note). */
  readonly definition: Record<string, unknown> | null;
  readonly definition_note?: string;
  readonly approved_by: string | null;
  readonly approved_at: string | null;
  readonly pending: {
    readonly sha256: string;
    readonly definition: Record<string, unknown> | null;
    readonly markers: readonly string[];
    readonly since: string | null;
    readonly rejected: boolean;
  } | null;
}

export interface PinFile {
  readonly mcp_guard_pins: number;
  readonly pins: readonly PinFileEntry[];
}

/** The stored definition text as an object, if it is the one its hash names (large ones are not kept). */
function definitionOf(text: string | null, sha256: string | null): Record<string, unknown> | null {
  if (text === null || sha256 === null || sha256Hex(text) !== sha256) return null;
  return JSON.parse(text) as Record<string, unknown>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The pin file for a set of records. */
export function pinFileOf(records: readonly PinRecord[]): PinFile {
  return {
    mcp_guard_pins: PIN_FILE_VERSION,
    pins: records.map((r) => {
      const definition = definitionOf(r.approvedDefinition, r.approvedSha256);
      return {
        server: r.server,
        kind: r.kind,
        name: r.name,
        status: pinStatus(r),
        sha256: r.approvedSha256,
        definition,
        ...(definition === null && r.approvedSha256 !== null
          ? { definition_note: 'too large to keep; only its hash is pinned' }
          : {}),
        approved_by: r.approvedBy,
        approved_at: iso(r.approvedAt),
        pending:
          r.pendingSha256 === null
            ? null
            : {
                sha256: r.pendingSha256,
                definition: definitionOf(r.pendingDefinition, r.pendingSha256),
                markers: r.pendingMarkers,
                since: iso(r.pendingSince),
                rejected: r.pendingSha256 === r.rejectedSha256,
              },
      };
    }),
  };
}
