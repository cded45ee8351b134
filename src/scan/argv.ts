/**
 * Reading a server's command line the way the OS will run it: the program's name, the script of a
 * shell wrapper (`sh -c "…"`, `cmd /c …`, `powershell -Command …`) and, when that script is a plain
 * command, the command it runs — so `cmd /c npx -y pkg` is checked like `npx -y pkg`.
 */

/** The program's name: basename, lower-case, without a Windows extension (`C:\…\npx.cmd` → `npx`). */
export function programName(command: string): string {
  const trimmed = command.trim();
  const base = trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
  return base.toLowerCase().replace(/\.(?:exe|cmd|bat|ps1|com)$/, '');
}

const POSIX_SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'fish', 'ash', 'busybox']);
const POWERSHELLS = new Set(['powershell', 'pwsh']);

export interface ShellScript {
  readonly shell: string;
  readonly script: string;
  /** PowerShell's -EncodedCommand: the script is base64, unreadable in review. */
  readonly encoded: boolean;
}

/** The inline script a shell is asked to run, or undefined when the command is not a shell with one. */
export function shellScript(argv: readonly string[]): ShellScript | undefined {
  const [command, ...args] = argv;
  if (command === undefined) return undefined;
  const shell = programName(command);
  if (POSIX_SHELLS.has(shell)) {
    // -c, -lc, -ec…: a bundle of one-letter flags with c in it (two tests: /^-[a-z]*c[a-z]*$/ backtracks).
    const at = args.findIndex((a) => /^-[a-z]+$/i.test(a) && /c/i.test(a));
    const script = at >= 0 ? args[at + 1] : undefined;
    return script === undefined ? undefined : { shell, script, encoded: false };
  }
  if (shell === 'cmd') {
    const at = args.findIndex((a) => /^\/[ck]$/i.test(a));
    return at >= 0 ? { shell, script: args.slice(at + 1).join(' '), encoded: false } : undefined;
  }
  if (POWERSHELLS.has(shell)) {
    const at = args.findIndex((a) => /^-(?:c|command|e|ec|enc|encodedcommand)$/i.test(a));
    if (at < 0) return undefined;
    const encoded = /^-(?:e|ec|enc|encodedcommand)$/i.test(args[at] ?? '');
    return { shell, script: args.slice(at + 1).join(' '), encoded };
  }
  return undefined;
}

/** A script file a shell is asked to run (`bash start.sh`, `pwsh -File start.ps1`), or undefined. */
export function shellScriptFile(argv: readonly string[]): { shell: string; file: string } | undefined {
  const [command, ...args] = argv;
  if (command === undefined) return undefined;
  const shell = programName(command);
  if (POSIX_SHELLS.has(shell)) {
    if (shellScript(argv)) return undefined;
    // Options up to the script; `-o name` takes a value.
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      if (arg === '--') return args[i + 1] === undefined ? undefined : { shell, file: args[i + 1] as string };
      if (arg === '-o' || arg === '+o' || arg === '-O' || arg === '+O') i++;
      else if (!arg.startsWith('-') && !arg.startsWith('+')) return { shell, file: arg };
    }
    return undefined;
  }
  if (POWERSHELLS.has(shell)) {
    const at = args.findIndex((a) => /^-(?:f|file)$/i.test(a));
    const file = at >= 0 ? args[at + 1] : undefined;
    return file === undefined ? undefined : { shell, file };
  }
  return undefined;
}

/** Interpreters and the flags that hand them code on the command line. */
const INLINE_CODE_FLAGS: ReadonlyArray<{ readonly program: RegExp; readonly flag: RegExp }> = [
  // python -c "…" (also bundled after other one-letter flags: -Ic, -uc).
  { program: /^(?:python[0-9.]*|py|pypy[0-9.]*)$/, flag: /^-[A-Za-z]*c$/ },
  { program: /^(?:node|nodejs|bun)$/, flag: /^(?:-e|-p|-pe|--eval|--print)(?:=|$)/ },
  // perl -e / -E, also bundled (-ne, -le, -pie).
  { program: /^perl[0-9.]*$/, flag: /^-[A-Za-z]*[eE]$/ },
  { program: /^ruby[0-9.]*$/, flag: /^-[A-Za-z]*e$/ },
  { program: /^php[0-9.]*$/, flag: /^-r$/ },
  { program: /^(?:rscript|lua[0-9.]*|luajit|osascript|tclsh[0-9.]*)$/, flag: /^-e$/ },
];

/** Inline code an interpreter is asked to run (`python -c`, `node -e`, `deno eval`…), or undefined. */
export function interpreterCode(argv: readonly string[]): { program: string; code: string } | undefined {
  const [command, ...args] = argv;
  if (command === undefined) return undefined;
  const program = programName(command);
  if (program === 'deno' && args[0] === 'eval') {
    const code = args.slice(1).find((a) => !a.startsWith('-'));
    return code === undefined ? undefined : { program: 'deno eval', code };
  }
  const known = INLINE_CODE_FLAGS.find((k) => k.program.test(program));
  if (!known) return undefined;
  // Only options before the script count: after it, flags belong to the script.
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '--') return undefined;
    if (known.flag.test(arg)) {
      const eq = arg.indexOf('=');
      const code = eq > 0 ? arg.slice(eq + 1) : args[i + 1];
      return code === undefined ? undefined : { program, code };
    }
  }
  return undefined;
}

/** Shell syntax that makes a script more than one plain command: chains, pipes, substitution, redirection. */
const SHELL_SYNTAX = /[;&|<>`]|\$\(|\$\{|\r|\n/;

/** True when the script runs more than one plain command (or anything the shell must interpret). */
export function hasShellSyntax(script: string): boolean {
  return SHELL_SYNTAX.test(script.replace(/"[^"]*"|'[^']*'/g, '""'));
}

/** Splits a plain command line into words, honouring single and double quotes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | undefined;
  let inWord = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/**
 * The command line that actually does the work: a shell wrapper around one plain command is
 * unwrapped, and so are `sudo`/`doas` and `env VAR=x` prefixes.
 */
export function effectiveArgv(command: string | undefined, args: readonly string[]): string[] {
  if (command === undefined) return [];
  let argv = [command, ...args];
  for (let depth = 0; depth < 4; depth++) {
    const script = shellScript(argv);
    if (script && !script.encoded && !hasShellSyntax(script.script)) {
      argv = splitWords(script.script);
      continue;
    }
    const name = programName(argv[0] ?? '');
    if (name === 'sudo' || name === 'doas' || name === 'env') {
      let i = 1;
      while (
        i < argv.length &&
        (/^-/.test(argv[i] ?? '') || (name === 'env' && /^\w+=/.test(argv[i] ?? '')))
      ) {
        // sudo -u USER takes a value; other flags do not.
        i += /^-[ugCDhpRT]$/.test(argv[i] ?? '') ? 2 : 1;
      }
      if (i >= argv.length) break;
      argv = argv.slice(i);
      continue;
    }
    break;
  }
  return argv;
}
