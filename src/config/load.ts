/**
 * Loads a config file: parse (YAML/JSON + ${VAR}) → validate (zod) → normalize → freeze.
 * Every problem names the key path, the file and the line; the gateway never starts on a config it
 * could not read completely (it fails closed).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { NormalizeError, normalize } from './normalize.js';
import { configFileSchema, REMOTE_SERVER_KEYS, STDIO_SERVER_KEYS } from './schema.js';
import {
  ConfigError,
  type ConfigProblem,
  type ConfigSource,
  formatPath,
  type ReadOptions,
  readConfigSource,
} from './source.js';
import type { GuardConfig } from './types.js';

export { ConfigError } from './source.js';

const DEFAULT_NAMES = ['mcp-guard.yaml', 'mcp-guard.yml', 'mcp-guard.json'];

/**
 * Finds the config file: the explicit option, else $MCP_GUARD_CONFIG, else ./mcp-guard.yaml|.yml|.json.
 * Returns undefined when none exists.
 */
export function resolveConfigPath(
  option: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (option) return path.resolve(cwd, option);
  if (env['MCP_GUARD_CONFIG']) return path.resolve(cwd, env['MCP_GUARD_CONFIG']);
  for (const name of DEFAULT_NAMES) {
    const candidate = path.join(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Loads and validates a config file. Throws ConfigError listing every problem with file:line. */
export async function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ReadOptions = {},
): Promise<GuardConfig> {
  const absolute = path.resolve(file);
  const source = await readConfigSource(absolute, env, options);
  return validateSource(source);
}

/** Validates an already-parsed source (used by tests and hot reload). */
export function validateSource(source: ConfigSource): GuardConfig {
  const parsed = configFileSchema.safeParse(source.data);
  if (!parsed.success) {
    throw new ConfigError(
      source.file,
      sortProblems(parsed.error.issues.flatMap((i) => issueToProblems(i, source))),
    );
  }
  try {
    return normalize(parsed.data, source.file);
  } catch (err) {
    if (!(err instanceof NormalizeError)) throw err;
    throw new ConfigError(
      source.file,
      sortProblems(
        err.problems.map((p) => ({
          path: formatPath(p.path),
          line: source.lineOf(p.path),
          message: p.message,
        })),
      ),
    );
  }
}

function issueToProblems(issue: z.core.$ZodIssue, source: ConfigSource): ConfigProblem[] {
  const at = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: formatPath([...at, key]),
      line: source.lineOfKey(at, key),
      message: `unknown key${unknownKeyHint(key, source, at)}`,
    }));
  }
  if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0) {
    // Report the alternative that got furthest rather than "no union member matched".
    const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] ?? [];
    if (best.length > 0 && depth(best) > 0) {
      return best.flatMap((inner) =>
        issueToProblems({ ...inner, path: [...at, ...inner.path] } as z.core.$ZodIssue, source),
      );
    }
  }
  return [{ path: formatPath(at), line: source.lineOf(at), message: describe(issue, source, at) }];
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(
    0,
    ...issues.map((i) => i.path.length + (i.code === 'invalid_type' && i.input === undefined ? 0 : 1)),
  );
}

function describe(issue: z.core.$ZodIssue, source: ConfigSource, at: readonly PropertyKey[]): string {
  if (issue.code === 'invalid_value') {
    const value = valueAt(source.data, at);
    const choices = issue.values.map((v) => String(v)).join(', ');
    if (value === undefined) return `is required (expected one of: ${choices})`;
    return `invalid value ${JSON.stringify(value)} (expected one of: ${choices})${suggest(String(value), issue.values.map(String))}`;
  }
  if (issue.code === 'invalid_type' && valueAt(source.data, at) === undefined) {
    return `is required (expected ${issue.expected})`;
  }
  return issue.message.replace(/^Invalid input: /, '');
}

function valueAt(data: unknown, at: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const key of at) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * What to say after "unknown key": a server entry is stdio or remote by its keys, so a key of the other
 * kind (`headers` next to `command`) is named as such rather than "did you mean" itself.
 */
function unknownKeyHint(key: string, source: ConfigSource, at: readonly PropertyKey[]): string {
  if (at.length === 2 && at[0] === 'servers') {
    const entry = valueAt(source.data, at);
    const remote = entry !== null && typeof entry === 'object' && 'url' in entry && !('command' in entry);
    const own = remote ? REMOTE_SERVER_KEYS : STDIO_SERVER_KEYS;
    const other = remote ? STDIO_SERVER_KEYS : REMOTE_SERVER_KEYS;
    if (other.includes(key) && !own.includes(key))
      return remote
        ? ` (${key} is for stdio servers, which have command:; this one has url:)`
        : ` (${key} is for remote servers, which have url:; a stdio server takes command, args, env and cwd)`;
    return suggest(key, own);
  }
  return suggest(key, knownKeysAt(at));
}

// Known keys per section, for "did you mean" on unknown keys. Derived from the schema's own shapes.
function knownKeysAt(at: readonly PropertyKey[]): string[] {
  let schema: unknown = configFileSchema;
  for (const key of at) {
    const def = (
      schema as {
        def?: { type?: string; shape?: Record<string, unknown>; valueType?: unknown; innerType?: unknown };
      }
    )?.def;
    if (!def) return [];
    if (def.type === 'optional')
      schema = (def.innerType as { def?: { shape?: Record<string, unknown> } }) ?? schema;
    const d = (schema as { def: { type: string; shape?: Record<string, unknown>; valueType?: unknown } }).def;
    if (d.shape && typeof key === 'string') schema = d.shape[key];
    else if (d.valueType) schema = d.valueType;
    else return [];
  }
  const final = (
    schema as { def?: { type?: string; innerType?: { def?: { shape?: object } }; shape?: object } }
  )?.def;
  const shape = final?.type === 'optional' ? final.innerType?.def?.shape : final?.shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * " (did you mean "x"?)" for the closest known key or value, or nothing. Never the word itself, and a
 * word that is a known key cut short at an underscore (`spend_cap` for `spend_cap_usd`) counts as close.
 */
function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    if (c === word) continue;
    const cl = c.toLowerCase();
    const shortened = lower.length >= 4 && (cl.startsWith(`${lower}_`) || lower.startsWith(`${cl}_`));
    const d = shortened ? 1 : editDistance(lower, cl);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? ` (did you mean "${best}"?)`
    : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  // By line; on one line an unknown key comes first, since it usually explains the rest.
  const rank = (p: ConfigProblem) => (p.message.startsWith('unknown key') ? 0 : 1);
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || rank(a) - rank(b));
}
