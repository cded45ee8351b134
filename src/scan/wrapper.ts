/**
 * Recognises a server that is already started through mcp-guard's stdio front (`mcp-guard serve`).
 * Only launches a repository cannot redirect count: `mcp-guard` found on PATH (with PATH not
 * overridden by the entry), an absolute path to it, a package runner of `mcp-guard` from the default
 * registry (`npx -y mcp-guard@0.1.0 serve`; without an exact version it is still the gateway, and
 * MCP-SUP-001 reports the missing pin), or node running the built entry point by absolute path. A relative path to something named mcp-guard (`./tools/mcp-guard`,
 * `node ./x/mcp-guard/dist/cli/main.js`) is a file a pull request can commit, so it is not the gateway.
 */
import { programName } from './argv.js';
import { packageRun } from './runners.js';

/** What the scan concluded about the gateway in front of a stdio server. */
export type GatewayVerdict =
  | { readonly wrapped: true }
  | { readonly wrapped: false }
  /** Named like mcp-guard but launched from a path a commit can change (or with PATH redirected). */
  | { readonly wrapped: false; readonly lookalike: string; readonly why: string };

/** The first argument that is not a flag. */
function firstPositional(args: readonly string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

/** `/usr/local/bin/x`, `C:\tools\x`, `C:/tools/x`, `\\server\share\x`. */
export function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

const hasSeparator = (p: string) => p.includes('/') || p.includes('\\');

/** The node entry point of an mcp-guard install: `…/mcp-guard/dist/cli/main.js`, `…/.bin/mcp-guard`. */
function isEntryScript(script: string): boolean {
  const s = script.split('\\').join('/');
  if (/(?:^|\/)mcp-guard\//.test(s) && /\/main\.[cm]?js$/.test(s)) return true;
  return /(?:^|\/)(?:node_modules\/\.bin\/)?mcp-guard$/.test(s);
}

export interface LaunchContext {
  /** The command line as written (before shell wrappers and `env` prefixes were looked through). */
  readonly original: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Whether the (effective) command line runs `mcp-guard serve` in a way a repository cannot redirect. */
export function gatewayVerdict(argv: readonly string[], context: LaunchContext): GatewayVerdict {
  const [command, ...args] = argv;
  if (command === undefined) return { wrapped: false };
  const name = programName(command);
  if (name === 'mcp-guard') {
    if (firstPositional(args) !== 'serve') return { wrapped: false };
    if (hasSeparator(command) && !isAbsolutePath(command)) {
      return { wrapped: false, lookalike: command, why: 'a relative path a commit can replace' };
    }
    if (!hasSeparator(command) && overridesPath(context)) {
      return { wrapped: false, lookalike: command, why: 'found through a PATH the entry overrides' };
    }
    return { wrapped: true };
  }

  const run = packageRun(argv);
  if (run) {
    if (!/^mcp-guard(?:@|$)/.test(run.spec)) return { wrapped: false };
    // A registry (or npm config) other than the default could serve any package under that name.
    if (argv.some((a) => /^--(?:registry|userconfig)(?:=|$)/.test(a)))
      return { wrapped: false, lookalike: run.spec, why: 'from a registry the entry chooses' };
    // `npx -p mcp-guard@1.0.0 mcp-guard serve`: the rest starts with the binary's name.
    const rest = run.rest[0] === 'mcp-guard' ? run.rest.slice(1) : run.rest;
    return firstPositional(rest) === 'serve' ? { wrapped: true } : { wrapped: false };
  }

  if (name === 'node' || name === 'nodejs' || name === 'bun') {
    const at = args.findIndex((a) => !a.startsWith('-'));
    const script = args[at] ?? '';
    if (!isEntryScript(script) || firstPositional(args.slice(at + 1)) !== 'serve') return { wrapped: false };
    if (!isAbsolutePath(script)) {
      return { wrapped: false, lookalike: script, why: 'a relative path a commit can replace' };
    }
    return { wrapped: true };
  }
  return { wrapped: false };
}

/** True when the entry sets PATH (in `env`, or with an `env PATH=…` prefix), so a bare name may resolve anywhere. */
function overridesPath(context: LaunchContext): boolean {
  if (Object.keys(context.env).some((k) => k.toUpperCase() === 'PATH')) return true;
  return context.original.some((word) => /^PATH=/i.test(word));
}
