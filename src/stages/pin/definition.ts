/**
 * What a pin covers: the parts of a tool, prompt or resource template definition that a model reads or
 * that change what a call does — name, title, description, schemas, annotations (and a prompt's
 * arguments, a template's URI template and MIME type) — as RFC 8785 canonical JSON, hashed with SHA-256.
 * Key order, whitespace and fields outside that list (`_meta`, icons) do not change the hash; any change
 * to a description, a schema (nested property descriptions, enums, defaults) or an annotation does.
 */
import { canonicalJson, sha256Hex } from '../../audit/canonical-json.js';
import { exceedsJsonDepth } from '../../mcp/json-limits.js';
import type { Params } from '../../mcp/messages.js';
import type { PinKind } from '../../stores/state-store.js';
import { poisonMarkers } from './poison.js';

const FIELDS: Readonly<Record<PinKind, readonly string[]>> = {
  tool: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'],
  prompt: ['name', 'title', 'description', 'arguments'],
  resource_template: ['uriTemplate', 'name', 'title', 'description', 'mimeType', 'annotations'],
};

/** Deepest definition that is pinned; deeper ones are flagged (legitimate schemas stay far below). */
const MAX_DEFINITION_DEPTH = 100;

export interface Fingerprint {
  /** Canonical JSON of the pinned fields. */
  readonly canonical: string;
  readonly sha256: string;
  /** Poisoning markers found in those fields (poison.ts). */
  readonly markers: readonly string[];
}

/**
 * The pinned fields of a definition, with the name (or URI template) as the backend knows it: lists
 * expose a prefixed name when two servers offer the same one, and that must not change the pin.
 */
export function pinnedFields(
  kind: PinKind,
  backendName: string,
  definition: Params,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of FIELDS[kind]) if (definition[field] !== undefined) out[field] = definition[field];
  out[kind === 'resource_template' ? 'uriTemplate' : 'name'] = backendName;
  return out;
}

/**
 * Definitions are the objects of the router's cached lists, kept until the backend's list changes, so the
 * fingerprint of each is worked out once, not on every call.
 */
const cache = new WeakMap<Params, Map<string, Fingerprint>>();

/** Canonical form, hash and markers of a definition (cached per definition object). */
export function fingerprint(kind: PinKind, backendName: string, definition: Params): Fingerprint {
  const key = `${kind}\u0000${backendName}`;
  let byName = cache.get(definition);
  const hit = byName?.get(key);
  if (hit) return hit;
  const fields = pinnedFields(kind, backendName, definition);
  let result: Fingerprint;
  if (exceedsJsonDepth(fields, MAX_DEFINITION_DEPTH)) {
    // Walking it would overflow the stack; it cannot be pinned, so it is flagged (hidden under enforce).
    const canonical = canonicalJson({
      [kind === 'resource_template' ? 'uriTemplate' : 'name']: backendName,
      unpinnable: true,
    });
    result = {
      canonical,
      sha256: sha256Hex(canonical),
      markers: [`definition nested deeper than ${MAX_DEFINITION_DEPTH} levels`],
    };
  } else {
    const canonical = canonicalJson(fields);
    result = { canonical, sha256: sha256Hex(canonical), markers: poisonMarkers(fields) };
  }
  if (!byName) {
    byName = new Map();
    cache.set(definition, byName);
  }
  byName.set(key, result);
  return result;
}
