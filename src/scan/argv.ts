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
