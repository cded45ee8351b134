/**
 * What the gateway says about itself, in one place for both eras: the legacy `initialize` answer and the
 * modern `server/discover` result are built from the same merge of what the backends offer.
 */
import { VERSION } from '../core/version.js';
import type { Params } from './messages.js';
import { LATEST_LEGACY_VERSION, LEGACY_VERSIONS } from './protocol-versions.js';

export const GATEWAY_INFO = Object.freeze({
  name: 'mcp-guard',
  title: 'mcp-guard security gateway',
  version: VERSION,
});

/** The legacy revision to answer `initialize` with: the client's when we speak it, else our latest. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === 'string' && LEGACY_VERSIONS.includes(requested)
    ? requested
    : LATEST_LEGACY_VERSION;
}

export interface BackendOffer {
  readonly server: string;
  readonly info?: { readonly capabilities: Params; readonly instructions?: string };
  readonly error?: string;
}

function asObject(value: unknown): Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : {};
}

/** What the gateway offers: the union of its backends, with list_changed always on (it relays them). */
export function mergeCapabilities(all: ReadonlyArray<Params | undefined>, someUnknown: boolean): Params {
  const caps: Params = {};
  const has = (key: string) => someUnknown || all.some((c) => c?.[key] !== undefined);
  if (has('tools')) caps['tools'] = { listChanged: true };
  if (has('prompts')) caps['prompts'] = { listChanged: true };
  if (has('resources')) {
    const subscribe = all.some((c) => asObject(c?.['resources'])['subscribe'] === true);
    caps['resources'] = { listChanged: true, ...(subscribe ? { subscribe: true } : {}) };
  }
  if (all.some((c) => c?.['logging'] !== undefined)) caps['logging'] = {};
  if (all.some((c) => c?.['completions'] !== undefined)) caps['completions'] = {};
  const tasks = all.map((c) => c?.['tasks']).filter((t) => t !== undefined);
  if (tasks.length > 0) caps['tasks'] = Object.assign({}, ...tasks);
  return caps;
}

export function mergeInstructions(
  backends: ReadonlyArray<{ server: string; info?: { instructions?: string } }>,
): {
  instructions?: string;
} {
  const parts = backends
    .filter((b) => b.info?.instructions)
    .map((b) => ({ server: b.server, text: b.info?.instructions as string }));
  if (parts.length === 0) return {};
  if (backends.length === 1) return { instructions: parts[0]?.text };
  return { instructions: parts.map((p) => `## ${p.server}\n${p.text}`).join('\n\n') };
}
