/**
 * Recognises a server that is already started through mcp-guard's stdio front (`mcp-guard serve`),
 * however it is launched: the installed binary, a package runner (`npx -y mcp-guard@0.1.0 serve`) or
 * node running the built entry point (`node …/mcp-guard/dist/cli/main.js serve`).
 */
import { programName } from './argv.js';
import { packageRun } from './runners.js';

/** The first argument that is not a flag. */
function firstPositional(args: readonly string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

const isGatewayPackage = (spec: string) => /^mcp-guard(?:@|$)/.test(spec);

/** True when the command line runs `mcp-guard serve`. */
export function isWrappedByGateway(argv: readonly string[]): boolean {
  const [command, ...args] = argv;
  if (command === undefined) return false;
  const name = programName(command);
  if (name === 'mcp-guard') return firstPositional(args) === 'serve';

  const run = packageRun(argv);
  if (run) {
    if (!isGatewayPackage(run.spec)) return false;
    // `npx -p mcp-guard@1.0.0 mcp-guard serve`: the rest starts with the binary's name.
    const rest = run.rest[0] === 'mcp-guard' ? run.rest.slice(1) : run.rest;
    return firstPositional(rest) === 'serve';
  }

  if (name === 'node' || name === 'nodejs' || name === 'bun') {
    const at = args.findIndex((a) => !a.startsWith('-'));
    const script = (args[at] ?? '').split('\\').join('/');
    const isEntry =
      /(?:^|\/)mcp-guard\//.test(script) && /\/main\.[cm]?js$/.test(script)
        ? true
        : /(?:^|\/)(?:node_modules\/\.bin\/)?mcp-guard$/.test(script);
    return isEntry && firstPositional(args.slice(at + 1)) === 'serve';
  }
  return false;
}
