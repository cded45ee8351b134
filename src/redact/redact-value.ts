/**
 * Deep redaction of JSON-like values (tool arguments, approval records, error details) before they
 * are written anywhere: secrets masked, configured fields masked, and size bounded, so one hostile
 * 1 MB argument cannot blow up an audit line.
 *
 * The result is a fresh copy built from plain objects and arrays; the input is never modified.
 */
import { isSecretKey } from './secret-keys.js';
import { REDACTED, redactText } from './secret-text.js';

export interface RedactOptions {
  /**
   * Extra fields to mask. A name without a dot (`card_number`) masks that key at any depth; a dotted
   * path (`payment.card.number`, `*` matches any one key) masks that path from the root. Array levels
   * do not count as path segments. Case-insensitive.
   */
  readonly fields?: readonly string[];
  /** Longer strings are cut and end with a `…[truncated N chars]` marker. Default 1024. */
  readonly maxStringLength?: number;
  /** Objects and arrays nested deeper than this become `"[max depth]"`. Default 8. */
  readonly maxDepth?: number;
  /** Keys kept per object; the rest are summarised under the key `"…"`. Default 100. */
  readonly maxKeys?: number;
  /** Items kept per array; the rest are summarised by a last `"[N more items]"` item. Default 100. */
  readonly maxItems?: number;
  /** Values visited in total; past it, values become `"[truncated]"`. Default 1000. */
  readonly maxNodes?: number;
}

/** A compiled redaction function (options checked once, when it is built). */
export type Redactor = (value: unknown) => unknown;

const DEFAULTS = { maxStringLength: 1024, maxDepth: 8, maxKeys: 100, maxItems: 100, maxNodes: 1000 };

/**
 * Characters scanned for secrets past the cap. A secret that starts before the cap and is shorter
 * than this is recognised whole, so cutting never leaves half a key readable; the rest of a huge
 * string is not scanned because it is cut anyway (bounded cost for 1 MB arguments).
 */
const SCAN_MARGIN = 8192;

/** Longest object key kept as it is. */
const MAX_KEY_LENGTH = 256;

/** Cuts `s` to `max` characters with a marker naming how many were cut (never splits a surrogate pair). */
export function capString(s: string, max: number, alreadyCut = 0): string {
  if (s.length <= max && alreadyCut === 0) return s;
  let keep = Math.min(max, s.length);
  const last = s.charCodeAt(keep - 1);
  if (keep > 0 && keep < s.length && last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${s.slice(0, keep)}…[truncated ${s.length - keep + alreadyCut} chars]`;
}

/** Redacts secrets in one string and caps its length. */
function redactString(s: string, max: number): string {
  if (s.length > max + SCAN_MARGIN) {
    const window = s.slice(0, max + SCAN_MARGIN);
    return capString(redactText(window), max, s.length - window.length);
  }
  return capString(redactText(s), max);
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`redact option ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Sets a key without ever triggering the `__proto__` setter (no prototype pollution). */
function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Builds a redaction function for the given options (throws RangeError on bad limits). */
export function createRedactor(options: RedactOptions = {}): Redactor {
  const maxStringLength = positiveInt('maxStringLength', options.maxStringLength, DEFAULTS.maxStringLength);
  const maxDepth = positiveInt('maxDepth', options.maxDepth, DEFAULTS.maxDepth);
  const maxKeys = positiveInt('maxKeys', options.maxKeys, DEFAULTS.maxKeys);
  const maxItems = positiveInt('maxItems', options.maxItems, DEFAULTS.maxItems);
  const maxNodes = positiveInt('maxNodes', options.maxNodes, DEFAULTS.maxNodes);

  const names = new Set<string>();
  const paths: string[][] = [];
  for (const field of options.fields ?? []) {
    if (typeof field !== 'string' || field.length === 0)
      throw new RangeError('redact fields must be non-empty strings');
    if (field.includes('.')) paths.push(field.toLowerCase().split('.'));
    else names.add(field.toLowerCase());
  }
  const trackPaths = paths.length > 0;

  const isConfigured = (key: string, path: readonly string[] | null): boolean => {
    if (names.size > 0 && names.has(key.toLowerCase())) return true;
    if (path === null) return false;
    return paths.some(
      (segments) =>
        segments.length === path.length && segments.every((seg, i) => seg === '*' || seg === path[i]),
    );
  };

  return function redact(input: unknown): unknown {
    // Most values redacted per audit line are single strings (agent, tool, reason…): no walk state for them.
    if (typeof input === 'string') return redactString(input, maxStringLength);
    let nodes = 0;
    const ancestors = new Set<object>();

    const walk = (value: unknown, depth: number, path: string[] | null): unknown => {
      nodes += 1;
      if (nodes > maxNodes) return '[truncated]';
      switch (typeof value) {
        case 'string':
          return redactString(value, maxStringLength);
        case 'number':
        case 'boolean':
          return value;
        case 'bigint':
          return value.toString();
        case 'undefined':
        case 'function':
        case 'symbol':
          return undefined;
      }
      if (value === null) return null;
      const obj = value as object;
      if (ArrayBuffer.isView(obj)) return `[binary ${obj.byteLength} bytes]`;
      if (depth >= maxDepth) return '[max depth]';
      if (ancestors.has(obj)) return '[circular]';
      ancestors.add(obj);
      try {
        if (Array.isArray(obj) || obj instanceof Set) {
          const items = Array.isArray(obj) ? obj : [...obj];
          const out: unknown[] = [];
          const n = Math.min(items.length, maxItems);
          for (let i = 0; i < n; i++) {
            const v = walk(items[i], depth + 1, path);
            out.push(v === undefined ? null : v);
          }
          if (items.length > n) out.push(`[${items.length - n} more items]`);
          return out;
        }
        const toJSON = (obj as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === 'function') {
          let json: unknown;
          try {
            json = toJSON.call(obj);
          } catch {
            return '[unserializable]';
          }
          return walk(json, depth, path);
        }
        const entries: [string, unknown][] =
          obj instanceof Map
            ? [...obj.entries()].map(([k, v]) => [String(k), v])
            : Object.keys(obj).map((k) => [k, (obj as Record<string, unknown>)[k]]);
        const out: Record<string, unknown> = {};
        const n = Math.min(entries.length, maxKeys);
        for (let i = 0; i < n; i++) {
          const [key, child] = entries[i]!;
          const childPath = trackPaths && path !== null ? [...path, key.toLowerCase()] : null;
          let v: unknown;
          if (isSecretKey(key) || isConfigured(key, childPath)) {
            nodes += 1;
            v = child === null || child === undefined ? child : REDACTED;
          } else {
            v = walk(child, depth + 1, childPath);
          }
          if (v === undefined) continue;
          setKey(out, redactString(key, MAX_KEY_LENGTH), v);
        }
        if (entries.length > n) setKey(out, '…', `[${entries.length - n} more keys]`);
        return out;
      } finally {
        ancestors.delete(obj);
      }
    };

    return walk(input, 0, trackPaths ? [] : null);
  };
}

/** Returns a redacted deep copy of `value` (see RedactOptions); for repeated use, build a createRedactor once. */
export function redactValue(value: unknown, options: RedactOptions = {}): unknown {
  return createRedactor(options)(value);
}
