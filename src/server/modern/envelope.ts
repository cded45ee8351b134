/**
 * The door of the 2026-07-28 era: which sessionless requests belong to it, the `_meta` envelope every
 * request carries, and the HTTP headers that mirror the body for intermediaries (`MCP-Protocol-Version`,
 * `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`). Headers are only ever checked against the body, never believed:
 * policy always reads the body, so a mismatch is refused (400, -32020) rather than trusted.
 *
 * Order of the checks (the conformance suite and the SDK agree on it): a missing envelope key (-32602), then
 * a header that disagrees with the body (-32020), then an unsupported version (-32022), then the remaining
 * header rules (-32020).
 */
import type { IncomingMessage } from 'node:http';
import type { WireReason } from '../../core/errors.js';
import { metaOf, type Params, paramsOf } from '../../mcp/messages.js';
import { ALL_VERSIONS, isModernVersion, META, MODERN_VERSIONS } from '../../mcp/protocol-versions.js';

export interface Envelope {
  readonly protocolVersion: string;
  readonly clientCapabilities: Params;
  readonly clientInfo: Params | undefined;
  /** Log messages at or above this level reach the agent; none without it. */
  readonly logLevel: string | undefined;
}

export interface Refusal {
  readonly status: number;
  readonly reason: WireReason;
  readonly message: string;
  readonly data?: Record<string, unknown>;
}

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** Where `Mcp-Name` comes from, per method. */
const NAME_SOURCE: Readonly<Record<string, string>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

/** A version string of the modern era or later (the SDK compares revisions as strings, so does the spec). */
export function isModernOrLater(version: string | undefined): boolean {
  return version !== undefined && version >= (MODERN_VERSIONS[0] as string);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const one = Array.isArray(value) ? value[0] : value;
  return one?.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Whether `message` carries the era's claim: `_meta["io.modelcontextprotocol/protocolVersion"]`. */
export function hasClaim(message: { params?: unknown }): boolean {
  const meta = metaOf(paramsOf(message));
  return meta !== undefined && Object.hasOwn(meta, META.protocolVersion);
}

/** A sessionless message belongs to the modern era when it claims it, or its version header names it. */
export function claimsModern(req: IncomingMessage, message: { params?: unknown }): boolean {
  return hasClaim(message) || isModernOrLater(header(req, 'mcp-protocol-version'));
}

function refuse(
  status: number,
  reason: WireReason,
  message: string,
  data?: Record<string, unknown>,
): Refusal {
  return data === undefined ? { status, reason, message } : { status, reason, message, data };
}

/** Validates the envelope and the headers of a modern request; the envelope, or why it is refused. */
export function checkRequest(
  req: IncomingMessage,
  message: { method: string; params?: unknown },
): Envelope | Refusal {
  const params = paramsOf(message);
  const headerVersion = header(req, 'mcp-protocol-version');
  if (message.method === 'initialize' && !hasClaim(message))
    return refuse(
      400,
      'header_mismatch',
      'Bad Request: initialize is a 2025-11-25 request; the header names 2026-07-28',
    );

  const meta = metaOf(params);
  const envelope = `Invalid _meta envelope for protocol revision ${MODERN_VERSIONS[0]}`;
  if (!meta)
    return refuse(400, 'invalid_params', `${envelope}: _meta is required`, {
      envelope: { missing: ['_meta'] },
    });
  const version = meta[META.protocolVersion];
  if (typeof version !== 'string')
    return refuse(400, 'invalid_params', `${envelope}: ${META.protocolVersion} is required (a string)`, {
      envelope: { missing: [META.protocolVersion] },
    });
  const capabilities = meta[META.clientCapabilities];
  if (capabilities === null || typeof capabilities !== 'object' || Array.isArray(capabilities))
    return refuse(400, 'invalid_params', `${envelope}: ${META.clientCapabilities} is required (an object)`, {
      envelope: { missing: [META.clientCapabilities] },
    });
  const clientInfo = meta[META.clientInfo];
  if (
    clientInfo !== undefined &&
    (clientInfo === null || typeof clientInfo !== 'object' || Array.isArray(clientInfo))
  )
    return refuse(400, 'invalid_params', `${envelope}: ${META.clientInfo} must be an object`);
  const logLevel = meta[META.logLevel];
  if (logLevel !== undefined && (typeof logLevel !== 'string' || !LOG_LEVELS.includes(logLevel)))
    return refuse(
      400,
      'invalid_params',
      `${envelope}: ${META.logLevel} must be one of ${LOG_LEVELS.join(', ')}`,
    );

  if (headerVersion !== undefined && headerVersion !== version)
    return refuse(
      400,
      'header_mismatch',
      `Bad Request: MCP-Protocol-Version ${headerVersion} disagrees with the body's ${version}`,
    );
  const methodHeader = header(req, 'mcp-method');
  if (methodHeader !== undefined && methodHeader !== message.method)
    return refuse(
      400,
      'header_mismatch',
      `Bad Request: Mcp-Method ${methodHeader} disagrees with the body's ${message.method}`,
    );

  if (!isModernVersion(version))
    return refuse(
      400,
      'unsupported_protocol_version',
      `Unsupported protocol version: ${version} (supported: ${ALL_VERSIONS.join(', ')})`,
      {
        supported: [...MODERN_VERSIONS],
        requested: version,
      },
    );

  if (headerVersion === undefined)
    return refuse(400, 'header_mismatch', 'Bad Request: the MCP-Protocol-Version header is required');
  if (methodHeader === undefined)
    return refuse(400, 'header_mismatch', 'Bad Request: the Mcp-Method header is required');
  const source = NAME_SOURCE[message.method];
  if (source !== undefined) {
    const bodyValue = params[source];
    const nameHeader = header(req, 'mcp-name');
    if (typeof bodyValue === 'string') {
      if (nameHeader === undefined)
        return refuse(
          400,
          'header_mismatch',
          `Bad Request: the Mcp-Name header is required for ${message.method}`,
        );
      const decoded = decodeHeaderValue(nameHeader);
      if (decoded === undefined)
        return refuse(400, 'header_mismatch', 'Bad Request: Mcp-Name is not valid =?base64?…?= encoding');
      if (decoded !== bodyValue)
        return refuse(400, 'header_mismatch', `Bad Request: Mcp-Name disagrees with the body's ${source}`);
    }
  }
  return {
    protocolVersion: version,
    clientCapabilities: capabilities as Params,
    clientInfo: clientInfo as Params | undefined,
    logLevel: logLevel as string | undefined,
  };
}

export function isRefusal(value: Envelope | Refusal): value is Refusal {
  return 'status' in value;
}

const SENTINEL = /^=\?base64\?(.*)\?=$/s;
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A header value as the body would hold it: `=?base64?…?=` is decoded (canonical base64 of UTF-8 only;
 * anything else is invalid: undefined), any other value is taken literally.
 */
export function decodeHeaderValue(value: string): string | undefined {
  const sentinel = SENTINEL.exec(value);
  if (!sentinel) return value;
  const payload = sentinel[1] as string;
  if (!CANONICAL_BASE64.test(payload)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(payload, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * `Mcp-Param-{Name}` headers of a tools/call, checked against the arguments they mirror: the tool's input
 * schema marks an argument with `x-mcp-header: Name`; when the call carries that argument, the header must
 * be present and equal to it.
 */
export function checkParamHeaders(
  req: IncomingMessage,
  inputSchema: unknown,
  args: Params,
): Refusal | undefined {
  const properties = (inputSchema as { properties?: unknown } | undefined)?.properties;
  if (properties === null || typeof properties !== 'object') return undefined;
  for (const [arg, schema] of Object.entries(properties as Record<string, unknown>)) {
    const name = (schema as { 'x-mcp-header'?: unknown } | null)?.['x-mcp-header'];
    if (typeof name !== 'string') continue;
    const value = args[arg];
    if (value === undefined || value === null) continue;
    const raw = header(req, `mcp-param-${name.toLowerCase()}`);
    if (raw === undefined)
      return refuse(
        400,
        'header_mismatch',
        `Bad Request: the Mcp-Param-${name} header is required (argument ${arg})`,
      );
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined)
      return refuse(
        400,
        'header_mismatch',
        `Bad Request: Mcp-Param-${name} is not valid =?base64?…?= encoding`,
      );
    const same =
      typeof value === 'number'
        ? Number(decoded) === value
        : decoded === (typeof value === 'string' ? value : JSON.stringify(value));
    if (!same)
      return refuse(400, 'header_mismatch', `Bad Request: Mcp-Param-${name} disagrees with argument ${arg}`);
  }
  return undefined;
}
