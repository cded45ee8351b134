/**
 * Reads config text with real parsers — JSON with comments and trailing commas (jsonc-parser), YAML
 * (yaml), TOML (smol-toml) — and keeps positions, so a finding can point at the line of its entry.
 */
import {
  findNodeAtLocation,
  getNodeValue,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { LineIndex } from './line-index.js';
import { type KeyPath, tomlKeyLines, tomlLineOf } from './toml-lines.js';
import type { Format } from './types.js';

export type { KeyPath } from './toml-lines.js';

export interface ParsedConfig {
  /** The document as plain data (JSON objects have no prototype, so `__proto__` is a plain key). */
  readonly value: unknown;
  /** 1-based line of the key at `path` (or of its closest existing ancestor). */
  lineOf(path: KeyPath): number;
}

export type ParseOutcome =
  | { readonly ok: true; readonly config: ParsedConfig }
  | { readonly ok: false; readonly line: number; readonly message: string };

/**
 * Deepest nesting a config may have. Real client configs nest fewer than ten levels; jsonc-parser
 * recurses once per level and overflows the stack at a few thousand, so deeper text is refused before
 * it is parsed.
 */
export const MAX_NESTING = 100;

/** Parses config text in the given format; a syntax error comes back with the parser's line. */
export function parseConfig(text: string, format: Format): ParseOutcome {
  try {
    if (format === 'toml') return parseTomlConfig(text);
    if (format === 'yaml') return parseYamlConfig(text);
    return parseJsonConfig(text);
  } catch (err) {
    // The parsers report syntax errors as values; a throw here is a parser limit (stack, memory).
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, line: 1, message: `cannot parse ${format.toUpperCase()}: ${what.split('\n')[0]}` };
  }
}

/** The first offset where JSON(C) text nests deeper than MAX_NESTING, or -1 (strings and comments skipped). */
function tooDeepAt(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // As in jsonc-parser, a string also ends at a line break (unterminated).
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22 || d === 0x0a || d === 0x0d) break;
        if (d === 0x5c /* \ */) i++;
      }
    } else if (c === 0x2f /* / */ && text.charCodeAt(i + 1) === 0x2f) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a /* * */) {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > MAX_NESTING) return i;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth = Math.max(0, depth - 1);
    }
  }
  return -1;
}

function parseJsonConfig(text: string): ParseOutcome {
  const deep = tooDeepAt(text);
  if (deep >= 0) {
    const line = new LineIndex(text).line(deep);
    return {
      ok: false,
      line,
      message: `invalid JSON at line ${line}: nested more than ${MAX_NESTING} levels deep; not parsed`,
    };
  }
  const errors: ParseError[] = [];
  // VS Code, Zed and the Claude clients accept comments and trailing commas (JSONC).
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const index = new LineIndex(text);
  const first = errors[0];
  if (first || !root) {
    const line = first ? index.line(first.offset) : 1;
    const what = first ? printParseErrorCode(first.error) : 'empty document';
    return { ok: false, line, message: `invalid JSON at line ${line}: ${what}` };
  }
  return {
    ok: true,
    config: {
      value: getNodeValue(root),
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = findNodeAtLocation(root, path.slice(0, n) as (string | number)[]);
          if (node) return index.line(node.parent?.type === 'property' ? node.parent.offset : node.offset);
        }
        return 1;
      },
    },
  };
}

function parseYamlConfig(text: string): ParseOutcome {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line ?? lineCounter.linePos(first.pos[0]).line;
    return { ok: false, line, message: `invalid YAML at line ${line}: ${first.message.split('\n')[0]}` };
  }
  let value: unknown;
  try {
    // The alias cap stops "billion laughs" documents from eating the memory.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, line: 1, message: `invalid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    ok: true,
    config: {
      value,
      lineOf(path) {
        for (let n = path.length; n > 0; n--) {
          const parent = doc.getIn(path.slice(0, n - 1), true);
          const key = path[n - 1];
          if (isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
            if (pair && isScalar(pair.key) && pair.key.range)
              return lineCounter.linePos(pair.key.range[0]).line;
          }
          const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
          if (node?.range) return lineCounter.linePos(node.range[0]).line;
        }
        return 1;
      },
    },
  };
}

function parseTomlConfig(text: string): ParseOutcome {
  let value: unknown;
  try {
    value = parseToml(text);
  } catch (err) {
    const line = typeof (err as { line?: unknown }).line === 'number' ? (err as { line: number }).line : 1;
    const message = ((err as Error).message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    return { ok: false, line, message: `invalid TOML at line ${line}: ${message}` };
  }
  const lines = tomlKeyLines(text);
  return { ok: true, config: { value, lineOf: (path) => tomlLineOf(lines, path) } };
}
