/**
 * The admin API's errors (docs/admin-api.md): `{"error": {"code": "...", "message": "..."}}` with a stable
 * string code and the HTTP status it always comes with. A code is never reused for another meaning.
 */
import type { ServerResponse } from 'node:http';

export const ADMIN_ERRORS = {
  bad_request: 400,
  invalid_parameter: 400,
  unauthorized: 401,
  insufficient_scope: 403,
  origin_refused: 403,
  csrf_failed: 403,
  not_found: 404,
  approval_not_found: 404,
  audit_log_off: 404,
  method_not_allowed: 405,
  approval_not_pending: 409,
  approval_expired: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  store_unavailable: 503,
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** An expected refusal of an admin request; turned into its JSON error by the router. */
export class AdminError extends Error {
  readonly status: number;

  constructor(
    readonly code: AdminErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AdminError';
    this.status = ADMIN_ERRORS[code];
  }
}

/** Headers every admin response carries: nothing cached, nothing sniffed, never framed. */
export const NO_STORE = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendAdminJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...NO_STORE, ...headers });
  res.end(JSON.stringify(body));
}

export function sendAdminError(res: ServerResponse, err: AdminError): void {
  sendAdminJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}
