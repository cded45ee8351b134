/**
 * The two error families of mcp-guard (see docs/errors.md).
 *
 * - `WireError`: an outcome the agent sees as a JSON-RPC error with a stable code from SPEC §3.
 *   Every code lives in `WIRE_ERRORS`; a retired code is never reused.
 * - `GatewayError`: an internal failure with a string code (config, store, backend plumbing). It never
 *   reaches the wire as-is: `toWireError` turns anything that is not a WireError into a logged -32603.
 */

/** The JSON-RPC error codes mcp-guard puts on the wire, with the reason names of SPEC §3. */
export const WIRE_ERRORS = {
  parse_error: { code: -32700, httpStatus: 400 },
  invalid_request: { code: -32600, httpStatus: 400 },
  method_not_found: { code: -32601, httpStatus: 200 },
  invalid_params: { code: -32602, httpStatus: 200 },
  internal_error: { code: -32603, httpStatus: 200 },
  /** The SDK's meaning, kept: a forwarded request got no answer in time. */
  request_timeout: { code: -32001, httpStatus: 200 },
  approval_pending: { code: -32004, httpStatus: 200 },
  unauthenticated: { code: -32010, httpStatus: 401 },
  forbidden: { code: -32011, httpStatus: 200 },
  rate_limited: { code: -32012, httpStatus: 200 },
  spend_cap_exceeded: { code: -32013, httpStatus: 200 },
  approval_denied: { code: -32014, httpStatus: 200 },
  approval_expired: { code: -32015, httpStatus: 200 },
  backend_unavailable: { code: -32016, httpStatus: 200 },
  /** Tool pinning under enforce: the definition changed since it was pinned, or is flagged as poisoned. */
  tool_quarantined: { code: -32017, httpStatus: 200 },
  /** The spec's own codes (2026-07-28), with the spec's meaning; never used for policy. */
  header_mismatch: { code: -32020, httpStatus: 400 },
  missing_client_capability: { code: -32021, httpStatus: 400 },
  unsupported_protocol_version: { code: -32022, httpStatus: 400 },
} as const;

export type WireReason = keyof typeof WIRE_ERRORS;

/**
 * Codes other parties put on the wire that the gateway recognises but never sends itself (so they are not
 * in WIRE_ERRORS): a legacy server's "resource not found" (the SDK's -32002).
 */
export const FOREIGN_CODES = {
  resource_not_found: -32002,
} as const;

/** Reasons whose `error.data.reason` is set (the policy outcomes of SPEC §3). */
const POLICY_REASONS: ReadonlySet<WireReason> = new Set([
  'approval_pending',
  'unauthenticated',
  'forbidden',
  'rate_limited',
  'spend_cap_exceeded',
  'approval_denied',
  'approval_expired',
  'backend_unavailable',
  'tool_quarantined',
]);

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

/** An error meant for the agent: a JSON-RPC error with a stable code. */
export class WireError extends Error {
  readonly reason: WireReason;
  readonly code: number;
  readonly data: Record<string, unknown> | undefined;

  constructor(reason: WireReason, message: string, data?: Record<string, unknown>) {
    super(message);
    this.name = 'WireError';
    this.reason = reason;
    this.code = WIRE_ERRORS[reason].code;
    this.data = POLICY_REASONS.has(reason) ? { reason, ...data } : data;
  }

  toJsonRpc(): JsonRpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/**
 * A JSON-RPC error answered by the other side (a backend; or the agent, to a request a backend sent through
 * us): relayed unchanged, its code only passed through, but for one thing: the MCP SDK's McpError writes
 * its display prefix ("MCP error -32602: ") into the wire message, and the agent's SDK adds it again when
 * it shows the error, so that prefix is taken off (code and data stay).
 */
export class BackendRpcError extends Error {
  readonly error: JsonRpcErrorObject;

  constructor(error: JsonRpcErrorObject) {
    const relayed = withoutSdkPrefix(error);
    super(relayed.message);
    this.name = 'BackendRpcError';
    this.error = relayed;
  }
}

function withoutSdkPrefix(error: JsonRpcErrorObject): JsonRpcErrorObject {
  const prefix = `MCP error ${error.code}: `;
  if (typeof error.message !== 'string' || !error.message.startsWith(prefix)) return error;
  let message = error.message;
  while (message.startsWith(prefix)) message = message.slice(prefix.length);
  return { ...error, message };
}

/**
 * The JSON-RPC error object of an error that may reach the wire as it is (a WireError, a relayed
 * BackendRpcError); undefined for anything else, which the caller logs and answers with internal_error.
 */
export function wireErrorObject(err: unknown): JsonRpcErrorObject | undefined {
  if (err instanceof WireError) return err.toJsonRpc();
  if (err instanceof BackendRpcError) return err.error;
  return undefined;
}

/** Internal error codes: stable strings for logs and tests, never sent to an agent. */
export type GatewayErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'BACKEND_SPAWN_FAILED'
  | 'BACKEND_CLOSED'
  | 'BACKEND_PROTOCOL'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CONFLICT'
  | 'UNSAFE_URL'
  | 'UPSTREAM_OAUTH'
  | 'INTERNAL';

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/**
 * Maps any thrown value to what may go on the wire. A WireError passes as it is; anything else becomes
 * a generic -32603 so that no stack trace or internal detail leaks to an agent. The caller logs the original.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  return new WireError('internal_error', 'Internal gateway error');
}

const NEVER_SENT = Symbol('mcp-guard.neverSent');

/**
 * Marks an error as raised before its request left the gateway (the connection was closed, the caller had
 * already cancelled, the message could not even be serialised): the backend cannot have acted on it, so
 * what was reserved for the call (spend) may be given back. Returns the same error.
 */
export function markNeverSent<E>(err: E): E {
  if (err !== null && typeof err === 'object' && Object.isExtensible(err))
    Object.defineProperty(err, NEVER_SENT, { value: true });
  return err;
}

/** True for an error marked by markNeverSent. */
export function wasNeverSent(err: unknown): boolean {
  return err !== null && typeof err === 'object' && (err as { [NEVER_SENT]?: true })[NEVER_SENT] === true;
}

/** An expected end of a CLI command with an exit code (1: a problem found, 2: usage). */
export class ExitError extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message: string) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}
