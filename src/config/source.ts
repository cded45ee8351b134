/**
 * Step 1 of loading a config: read the file, parse YAML or JSON keeping node positions, and expand
 * `${VAR}` in every string value. Positions let every later error name the file and line.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { interpolate, UnsetVariableError } from './interpolate.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `auth.mode` or `servers.fs.args[1]`. Empty for file-level problems. */
  readonly path: string;
  readonly line?: number;
  readonly message: string;
}

/** A config that cannot be used. `problems` are all reported at once, in file order. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === undefined ? file : `${file}:${problem.line}`;
  return problem.path ? `${where}: ${problem.path}: ${problem.message}` : `${where}: ${problem.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

export interface ConfigSource {
  readonly file: string;
  /** The parsed value with `${VAR}` expanded. */
  readonly data: unknown;
  /** Line (1-based) of the value at `path`, or of the closest parent that exists. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
  /** Line of the key `key` inside the mapping at `parent` (for unknown-key errors). */
  lineOfKey(parent: readonly PropertyKey[], key: string): number | undefined;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

/** The tag `config check` puts on a value it had to hide; a config holding one does not load. */
export const MASKED_TAG = '!masked';

/** Reads and parses a config file; throws ConfigError with file and line on any problem. */
export interface ReadOptions {
  /**
   * Tolerate an unset `${VAR}` outside `state` instead of failing. Only for commands that never
   * authenticate, start, or send anything (approvals, audit): an operator's shell need not hold the
   * agents' keys or the webhook URLs. The value becomes a placeholder URL on the reserved `.invalid`
   * domain, which passes validation and can reach nothing. `state` and `policies.audit_log` must expand:
   * these commands open them.
   */
  readonly keepUnsetVariables?: boolean;
}

export async function readConfigSource(
  file: string,
  env: NodeJS.ProcessEnv,
  options: ReadOptions = {},
): Promise<ConfigSource> {
  return parseConfigText(file, await readConfigText(file), env, options);
}

/** The text of a config file (at most 1 MiB); throws ConfigError naming the file when it cannot be read. */
export async function readConfigText(file: string): Promise<string> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_CONFIG_BYTES) {
      throw new ConfigError(file, [{ path: '', message: `file is larger than ${MAX_CONFIG_BYTES} bytes` }]);
    }
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigError(file, [{ path: '', message: `cannot read config: ${reason}` }]);
  }
  return text;
}

/** Parses config text (YAML 1.2, which also reads JSON) and expands variables. */
export function parseConfigText(
  file: string,
  text: string,
  env: NodeJS.ProcessEnv,
  options: ReadOptions = {},
): ConfigSource {
  const lineCounter = new LineCounter();
  // uniqueKeys: a duplicated key is an error, never "last one wins" (a parser differential to avoid).
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;

  const syntaxProblems: ConfigProblem[] = doc.errors.map((e) => ({
    path: '',
    line: e.linePos?.[0]?.line ?? lineAt(e.pos[0]),
    message: e.message.split('\n')[0] ?? e.message,
  }));
  if (syntaxProblems.length > 0) throw new ConfigError(file, syntaxProblems);

  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(_key, node, ancestry) {
      if (node.tag === MASKED_TAG) {
        problems.push({
          path: pathOf(ancestry, node),
          line: node.range ? lineAt(node.range[0]) : undefined,
          message: `was hidden by config check (${MASKED_TAG}): write the value here, best as \${VAR}`,
        });
        return;
      }
      if (typeof node.value !== 'string') return;
      // Only values are expanded; a mapping key stays as written.
      const parent = ancestry[ancestry.length - 1];
      if (parent && 'key' in (parent as object) && (parent as { key: unknown }).key === node) return;
      try {
        node.value = interpolate(node.value, env);
      } catch (err) {
        if (!(err instanceof UnsetVariableError)) throw err;
        const path = pathOf(ancestry, node);
        if (options.keepUnsetVariables && !/^(state(\.|$)|policies\.audit_log$)/.test(path)) {
          node.value = `http://unset-variable.invalid/${err.variable}`;
          return;
        }
        problems.push({
          path,
          line: node.range ? lineAt(node.range[0]) : undefined,
          message: err.message,
        });
      }
    },
  });
  if (problems.length > 0) throw new ConfigError(file, problems);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // The yaml library throws (rather than reports) an alias to a missing anchor and an alias bomb
    // ("billion laughs"); both are errors in the file, not crashes of the command.
    throw new ConfigError(file, [{ path: '', message: `cannot read the YAML: ${(err as Error).message}` }]);
  }

  const nodeAt = (path: readonly PropertyKey[]): Node | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
      if (node && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return node;
    }
    return undefined;
  };

  return {
    file,
    data,
    lineOf(path) {
      const node = nodeAt(path);
      return node?.range ? lineAt(node.range[0]) : undefined;
    },
    lineOfKey(parent, key) {
      const map = doc.getIn(parent as unknown[], true);
      if (isMap(map)) {
        for (const pair of map.items) {
          if (isScalar(pair.key) && pair.key.value === key && pair.key.range)
            return lineAt(pair.key.range[0]);
        }
      }
      const node = nodeAt(parent);
      return node?.range ? lineAt(node.range[0]) : undefined;
    },
  };
}

/** Builds the dotted path of a scalar from the visitor's ancestry (for error messages). */
function pathOf(ancestry: readonly unknown[], target: unknown): string {
  const path: PropertyKey[] = [];
  for (let i = 0; i < ancestry.length; i++) {
    const node = ancestry[i];
    const child = ancestry[i + 1] ?? target;
    if (isMap(node)) {
      const pair = child as { key?: unknown };
      if (pair && isScalar(pair.key)) path.push(String(pair.key.value));
    } else if (isSeq(node)) {
      path.push(node.items.indexOf(child as never));
    }
  }
  return formatPath(path);
}
