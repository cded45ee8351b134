/**
 * JSON-RPC message shapes as the relay sees them. Transports have already validated every message
 * against the SDK's JSONRPCMessageSchema, so classification here is by shape only (the SDK's
 * `isJSONRPC*` guards re-run a full zod parse, which the hot path does not need twice).
 */
import type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcErrorObject, WireError } from '../core/errors.js';

export type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  RequestId,
};
export type JSONRPCResponse = JSONRPCResultResponse | JSONRPCErrorResponse;
export type Params = Record<string, unknown>;

export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

export function isNotification(message: JSONRPCMessage): message is JSONRPCNotification {
  return 'method' in message && !('id' in message);
}

export function isResponse(message: JSONRPCMessage): message is JSONRPCResponse {
  return !('method' in message) && ('result' in message || 'error' in message);
}

export function resultResponse(id: RequestId, result: Record<string, unknown>): JSONRPCResultResponse {
  return { jsonrpc: '2.0', id, result } as JSONRPCResultResponse;
}

export function errorResponse(
  id: RequestId | undefined,
  error: WireError | JsonRpcErrorObject,
): JSONRPCErrorResponse {
  const body = 'toJsonRpc' in error ? error.toJsonRpc() : error;
  return (
    id === undefined ? { jsonrpc: '2.0', error: body } : { jsonrpc: '2.0', id, error: body }
  ) as JSONRPCErrorResponse;
}

export function notification(method: string, params?: Params): JSONRPCNotification {
  return (
    params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }
  ) as JSONRPCNotification;
}

/** `params` as a plain object (JSON-RPC allows omitting it). */
export function paramsOf(message: { params?: unknown }): Params {
  const p = message.params;
  return p !== null && typeof p === 'object' && !Array.isArray(p) ? (p as Params) : {};
}

/** `params._meta` as a plain object, if present. */
export function metaOf(params: Params): Params | undefined {
  const meta = params['_meta'];
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Params) : undefined;
}

/** A copy of `params` with `_meta.progressToken` replaced (or removed when `token` is undefined). */
export function withProgressToken(params: Params, token: string | number | undefined): Params {
  const meta = { ...metaOf(params) };
  if (token === undefined) delete meta['progressToken'];
  else meta['progressToken'] = token;
  const out: Params = { ...params };
  if (Object.keys(meta).length > 0) out['_meta'] = meta;
  else delete out['_meta'];
  return out;
}

/** A cheap structural check of one JSON-RPC message (ids: string or integer; never null, bool or float). */
export function invalidMessage(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return 'a message must be a JSON object';
  if (Array.isArray(body)) return 'JSON-RPC batches are not supported (removed in MCP 2025-06-18)';
  const m = body as Record<string, unknown>;
  if (m['jsonrpc'] !== '2.0') return 'jsonrpc must be "2.0"';
  if ('id' in m && !(typeof m['id'] === 'string' || Number.isSafeInteger(m['id'])))
    return 'id must be a string or an integer';
  if ('method' in m) {
    if (typeof m['method'] !== 'string' || m['method'].length === 0)
      return 'method must be a non-empty string';
    if (
      'params' in m &&
      (m['params'] === null || typeof m['params'] !== 'object' || Array.isArray(m['params']))
    )
      return 'params must be an object';
    return undefined;
  }
  if (!('id' in m)) return 'a message needs a method or an id';
  if ('result' in m === 'error' in m) return 'a response has exactly one of result and error';
  return undefined;
}
