/**
 * What a 2026-07-28 result carries that a legacy backend never sends: `resultType`, the caching hints on
 * lists, reads and discover, and the gateway's identity in `_meta`. Added on the way out, on copies (the
 * backend's objects are cached and shared), never on an `input_required` result's caching fields.
 */
import { GATEWAY_INFO } from '../../mcp/lifecycle.js';
import type { Params } from '../../mcp/messages.js';
import { META } from '../../mcp/protocol-versions.js';

/** Methods whose complete results carry `ttlMs` and `cacheScope`. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/**
 * Lists are filtered per agent by policy and reads may be too, so nothing the gateway answers may be
 * shared between agents, and a list can change at any time (backends announce it): private, no caching.
 */
const CACHE_HINT = { ttlMs: 0, cacheScope: 'private' } as const;

export function stampResult(method: string, result: Params): Params {
  const out: Params = { ...result };
  if (typeof out['resultType'] !== 'string') out['resultType'] = 'complete';
  if (out['resultType'] === 'complete' && CACHEABLE.has(method)) {
    if (!(Number.isInteger(out['ttlMs']) && (out['ttlMs'] as number) >= 0)) out['ttlMs'] = CACHE_HINT.ttlMs;
    if (out['cacheScope'] !== 'public' && out['cacheScope'] !== 'private')
      out['cacheScope'] = CACHE_HINT.cacheScope;
  }
  if (method === 'tools/list' && Array.isArray(out['tools']))
    // `execution` (the task support of 2025-11-25) is not part of the 2026-07-28 Tool.
    out['tools'] = (out['tools'] as Params[]).map((tool) => {
      if (tool === null || typeof tool !== 'object' || !('execution' in tool)) return tool;
      const { execution: _execution, ...rest } = tool;
      return rest;
    });
  const meta = out['_meta'];
  const metaObject =
    meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Params) : {};
  if (metaObject[META.serverInfo] === undefined)
    out['_meta'] = {
      ...metaObject,
      [META.serverInfo]: { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version },
    };
  return out;
}
