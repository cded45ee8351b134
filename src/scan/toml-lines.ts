/**
 * Line numbers for TOML keys. smol-toml has no position API, so this walks the text once for table
 * headers (`[mcp_servers.github]`) and `key = value` lines, and lets smol-toml itself decode each key
 * (quoted keys, dotted keys, escapes) by parsing it alone: no second TOML grammar lives here.
 */
import { parse as parseToml } from 'smol-toml';

export type KeyPath = ReadonlyArray<string | number>;

/** Maps each table header and key path to the 1-based line where it first appears. */
export function tomlKeyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table: string[] = [];
  let inMultiline: '"""' | "'''" | undefined;
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const raw = all[i] ?? '';
    if (inMultiline) {
      if (countOf(raw, inMultiline) % 2 === 1) inMultiline = undefined;
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const header = keyPathOf(line.startsWith('[[') ? line.replace('[[', '[').replace(']]', ']') : line);
      if (header) {
        table = header;
        remember(lines, header, i + 1);
      }
      continue;
    }
    const eq = equalsOutsideQuotes(line);
    if (eq <= 0) continue;
    const key = keyPathOf(`${line.slice(0, eq)}= 0`);
    if (key) remember(lines, [...table, ...key], i + 1);
    for (const quote of ['"""', "'''"] as const) {
      if (countOf(line.slice(eq), quote) % 2 === 1) inMultiline = quote;
    }
  }
  return lines;
}

/** The line of `path`, or of its closest ancestor that has one; 1 when none does. */
export function tomlLineOf(lines: Map<string, number>, path: KeyPath): number {
  for (let n = path.length; n > 0; n--) {
    const found = lines.get(pathKey(path.slice(0, n)));
    if (found !== undefined) return found;
  }
  return 1;
}

function pathKey(path: KeyPath): string {
  return JSON.stringify(path.map(String));
}

function remember(lines: Map<string, number>, path: readonly string[], line: number): void {
  const key = pathKey(path);
  if (!lines.has(key)) lines.set(key, line);
}

/** Decodes a header or `key = 0` snippet with smol-toml and follows the single-key chain it yields. */
function keyPathOf(snippet: string): string[] | undefined {
  let value: unknown;
  try {
    value = parseToml(snippet);
  } catch {
    return undefined;
  }
  const path: string[] = [];
  while (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1) break;
    const key = keys[0] as string;
    path.push(key);
    value = (value as Record<string, unknown>)[key];
  }
  return path.length > 0 ? path : undefined;
}

function equalsOutsideQuotes(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '=') return i;
    else if (c === '#') return -1;
  }
  return -1;
}

function countOf(s: string, needle: string): number {
  let n = 0;
  for (let i = s.indexOf(needle); i !== -1; i = s.indexOf(needle, i + needle.length)) n++;
  return n;
}
