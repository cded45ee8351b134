/**
 * JSON-RPC errors answered at the HTTP level (before or instead of a session), built from the wire error
 * registry so that every code on the wire has one name and one documented meaning (docs/errors.md).
 */
import type { ServerResponse } from 'node:http';
import { WIRE_ERRORS, type WireReason } from '../core/errors.js';
import type { RequestId } from '../mcp/messages.js';

/** Sends `{jsonrpc, id, error}` with an HTTP status. The id is the request's where it could be read. */
export function sendWireError(
  res: ServerResponse,
  status: number,
  reason: WireReason,
  message: string,
  options: {
    readonly headers?: Readonly<Record<string, string>>;
    readonly id?: RequestId | null;
    readonly data?: Readonly<Record<string, unknown>>;
  } = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const error =
    options.data === undefined
      ? { code: WIRE_ERRORS[reason].code, message }
      : { code: WIRE_ERRORS[reason].code, message, data: options.data };
  const body = JSON.stringify({ jsonrpc: '2.0', id: options.id ?? null, error });
  res.writeHead(status, {
    ...options.headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
