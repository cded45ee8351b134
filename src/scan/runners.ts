/**
 * Package runners (npx, pnpm dlx, yarn dlx, bunx, uvx, pipx run) download and start a package by
 * name. This module finds which package a command line starts and whether it is pinned to an exact
 * version (OWASP MCP04: "latest" or floating versions let one bad release reach every machine).
 */
import { programName } from './argv.js';

export interface PackageRun {
  /** The runner as written in messages, e.g. `npx -y` or `uvx`. */
  readonly runner: string;
  readonly ecosystem: 'npm' | 'python';
  /** The package spec as given (`@scope/pkg@1.2.3`, `pkg==1.0`, `pkg`). */
  readonly spec: string;
  /** Arguments after the package (what the started program receives). */
  readonly rest: readonly string[];
}

export interface Pin {
  readonly name: string;
  readonly pinned: boolean;
  /** Why it is not pinned, for the message ("no version", "@latest", "range ^1.2.0"…). */
  readonly why: string;
}

const NPM_VALUE_FLAGS = new Set([
  '-p',
  '--package',
  '-c',
  '--call',
  '--registry',
  '--cache',
  '--userconfig',
  '--prefix',
  '-w',
  '--workspace',
]);
const UV_VALUE_FLAGS = new Set([
  '--from',
  '--with',
  '--with-requirements',
  '--with-editable',
  '--python',
  '-p',
  '--index',
  '--index-url',
  '--extra-index-url',
  '--default-index',
  '--find-links',
  '-f',
  '--constraints',
]);
const PIPX_VALUE_FLAGS = new Set(['--spec', '--python', '--index-url', '--pip-args', '--suffix']);

/** The package a command line starts through a runner, or undefined when it starts none. */
export function packageRun(argv: readonly string[]): PackageRun | undefined {
  const name = programName(argv[0] ?? '');
  const sub = argv[1];
  if (name === 'npx' || name === 'pnpx' || name === 'bunx') return npmLike(name, argv.slice(1));
  if ((name === 'npm' && (sub === 'exec' || sub === 'x')) || (name === 'bun' && sub === 'x')) {
    return npmLike(`${name} ${sub}`, argv.slice(2));
  }
  if ((name === 'pnpm' || name === 'yarn') && sub === 'dlx') return npmLike(`${name} dlx`, argv.slice(2));
  if (name === 'uvx') return options('uvx', 'python', argv.slice(1), UV_VALUE_FLAGS, '--from');
  if (name === 'uv' && sub === 'tool' && argv[2] === 'run') {
    return options('uv tool run', 'python', argv.slice(3), UV_VALUE_FLAGS, '--from');
  }
  if (name === 'pipx' && sub === 'run')
    return options('pipx run', 'python', argv.slice(2), PIPX_VALUE_FLAGS, '--spec');
  return undefined;
}

function npmLike(runner: string, args: readonly string[]): PackageRun | undefined {
  const yes = args.some((a) => a === '-y' || a === '--yes');
  const run = options(runner, 'npm', args, NPM_VALUE_FLAGS, '--package', '-p');
  return run && yes && runner === 'npx' ? { ...run, runner: 'npx -y' } : run;
}

/** Parses runner options; the package is the named option's value, else the first positional. */
function options(
  runner: string,
  ecosystem: 'npm' | 'python',
  args: readonly string[],
  valueFlags: ReadonlySet<string>,
  ...packageFlags: string[]
): PackageRun | undefined {
  let fromFlag: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      const spec = fromFlag ?? args[i + 1];
      return spec === undefined
        ? undefined
        : { runner, ecosystem, spec, rest: args.slice(i + (fromFlag ? 1 : 2)) };
    }
    if (arg.startsWith('-')) {
      const eq = arg.indexOf('=');
      const flag = eq > 0 ? arg.slice(0, eq) : arg;
      const value = eq > 0 ? arg.slice(eq + 1) : args[i + 1];
      if (packageFlags.includes(flag) && fromFlag === undefined) fromFlag = value;
      if (eq < 0 && valueFlags.has(flag)) i++;
      continue;
    }
    // With --package/--from the first positional is the program to run, not a package.
    return { runner, ecosystem, spec: fromFlag ?? arg, rest: args.slice(i + 1) };
  }
  return fromFlag === undefined ? undefined : { runner, ecosystem, spec: fromFlag, rest: [] };
}

const EXACT_SEMVER = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const COMMIT = /#[0-9a-f]{40}$|@[0-9a-f]{40}$/;

/** Whether a package spec names one exact, immutable version. Local paths count as pinned. */
export function pinOf(run: PackageRun): Pin {
  const spec = run.spec.trim();
  if (/^(?:\.|\/|~|file:|[A-Za-z]:[\\/])/.test(spec)) return { name: spec, pinned: true, why: '' };
  if (/^(?:git\+|git:|github:|gitlab:|bitbucket:)/.test(spec) || /^[\w.-]+\/[\w.-]+(?:#.*)?$/.test(spec)) {
    const pinned = COMMIT.test(spec);
    return {
      name: spec.includes('#') ? spec.slice(0, spec.indexOf('#')) : spec,
      pinned,
      why: pinned ? '' : 'a git reference without a commit hash',
    };
  }
  if (/^https?:/.test(spec)) return { name: spec, pinned: true, why: '' };
  return run.ecosystem === 'npm' ? npmPin(spec) : pythonPin(spec);
}

function npmPin(spec: string): Pin {
  const at = spec.startsWith('@') ? spec.indexOf('@', 1) : spec.indexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : '';
  if (version === '') return { name, pinned: false, why: 'no version' };
  if (EXACT_SEMVER.test(version)) return { name, pinned: true, why: '' };
  if (/^[A-Za-z][\w.-]*$/.test(version)) return { name, pinned: false, why: `the floating tag @${version}` };
  return { name, pinned: false, why: `the version range @${version}` };
}

function pythonPin(spec: string): Pin {
  // `s`: without it a line break makes (.*)$ fail and backtrack through the name (quadratic).
  const m = /^([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(.*)$/s.exec(spec);
  const name = m?.[1] ?? spec;
  const constraint = (m?.[3] ?? '').trim();
  if (constraint === '') return { name, pinned: false, why: 'no version' };
  if (/^===?\s*[0-9][0-9A-Za-z.+!-]*$/.test(constraint) || /^@\s*v?[0-9][0-9A-Za-z.+!-]*$/.test(constraint)) {
    return { name, pinned: true, why: '' };
  }
  if (/^@\s*latest$/i.test(constraint)) return { name, pinned: false, why: 'the floating tag @latest' };
  return { name, pinned: false, why: `the version range ${constraint}` };
}
