/**
 * Canonical JSON and SHA-256 helpers shared by the audit log (`args_sha256`) and the approval queue
 * (matching a retried call to its approval): the same arguments must give the same hash whatever the
 * key order the agent sent.
 *
 * The form is RFC 8785 (JCS) for the values JSON.parse produces: object keys sorted by UTF-16 code
 * units, no whitespace, numbers and strings serialised exactly as JSON.stringify does (which is what
 * JCS specifies). Written by hand because the packages that do this (canonicalize,
 * safe-stable-stringify) are not dependencies of mcp-guard, and the function is twenty lines.
 */
import crypto, { createHash } from 'node:crypto';

function serialize(value: unknown, ancestors: Set<object>): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // Non-finite numbers become null, as in JSON.stringify; -0 prints as 0.
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt values cannot be serialised');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  const obj = value as object;
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return serialize(toJSON.call(obj), ancestors);
  if (ancestors.has(obj)) throw new TypeError('canonicalJson: circular structure');
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item) => serialize(item, ancestors) ?? 'null').join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const parts: string[] = [];
    // Default sort compares UTF-16 code units, which is the order JCS requires.
    for (const key of Object.keys(record).sort()) {
      const v = serialize(record[key], ancestors);
      if (v !== undefined) parts.push(`${JSON.stringify(key)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}

/** Canonical JSON of a value: sorted keys, no whitespace (RFC 8785 for JSON data). Throws TypeError on cycles, BigInt or undefined. */
export function canonicalJson(value: unknown): string {
  const out = serialize(value, new Set());
  if (out === undefined) throw new TypeError(`canonicalJson: ${typeof value} is not a JSON value`);
  return out;
}

/**
 * `crypto.hash` (Node ≥ 20.12): one call, no Hash object per digest. Three digests per audited call
 * (the arguments and two sealed lines) made Hash objects 4% of the gateway's CPU profile under load.
 */
const oneShotHash = (
  crypto as {
    hash?: {
      (algorithm: string, data: string | Uint8Array, encoding: 'hex'): string;
      (algorithm: string, data: string | Uint8Array, encoding: 'buffer'): Buffer;
    };
  }
).hash;

/** Lower-case hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShotHash ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a string (UTF-8) or bytes, as 32 bytes (API keys are compared as digests). */
export function sha256Bytes(data: string | Uint8Array): Buffer {
  return oneShotHash ? oneShotHash('sha256', data, 'buffer') : createHash('sha256').update(data).digest();
}

/** The `args_sha256` of tool arguments: SHA-256 of their canonical JSON (before any redaction). */
export function argsSha256(args: unknown): string {
  return sha256Hex(canonicalJson(args));
}
