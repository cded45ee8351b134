/**
 * Checks of a stdio server's command line: shells and download-and-run (MCP-EXEC-*), unpinned
 * packages (MCP-SUP-001), over-broad filesystem roots and credential paths (MCP-FS-*), and whether
 * mcp-guard sits in front of it (MCP-GW-001).
 */
import { hasShellSyntax, interpreterCode, programName, shellScript, shellScriptFile } from './argv.js';
import { containerRun } from './check-docker.js';
import type { Issue } from './issue.js';
import { broadRoot, isSensitivePath } from './paths.js';
import { packageRun, pinOf } from './runners.js';
import { excerpt } from './secrets.js';
import type { ServerEntry } from './types.js';
import { gatewayVerdict } from './wrapper.js';

const DOWNLOAD = /\b(?:curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod)\b/i;
const RUN_DOWNLOADED =
  /\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b|\|\s*(?:python[0-9.]*|node|perl|ruby|php)\b|\|\s*(?:iex|invoke-expression)\b|\b(?:iex|invoke-expression)\b|<\(\s*(?:curl|wget)|\$\(\s*(?:curl|wget)|`\s*(?:curl|wget)/i;

/**
 * `rm -rf` (in any flag spelling), `chmod [-R] 777|a+rwx`, `mkfs…`, `dd if=`. Read word by word rather
 * than with one regex: patterns like /rm\s+-[a-z]*(?:rf|fr)[a-z]*\b/ backtrack quadratically on a long
 * flag word.
 */
function isDestructive(text: string): boolean {
  const words = text.split(/[\s;&|()`'"]+/);
  for (let i = 0; i < words.length; i++) {
    const word = programName(words[i] ?? '');
    if (word === 'rm') {
      let recursive = false;
      let force = false;
      for (let j = i + 1; j < words.length && (words[j] ?? '').startsWith('-'); j++) {
        const flag = words[j] as string;
        if (flag === '--recursive') recursive = true;
        else if (flag === '--force') force = true;
        else if (/^-[a-z]+$/i.test(flag)) {
          recursive ||= /r/i.test(flag);
          force ||= flag.includes('f');
        }
      }
      if (recursive && force) return true;
    }
    if (word === 'chmod') {
      const mode = words[i + 1] === '-R' ? words[i + 2] : words[i + 1];
      if (mode === '777' || mode?.toLowerCase() === 'a+rwx') return true;
    }
    if (word === 'mkfs' || word.startsWith('mkfs.')) return true;
    if (word === 'dd' && (words[i + 1] ?? '').startsWith('if=')) return true;
  }
  return false;
}
const PRIVILEGE = /(?:^|[\s;&|(])(?:sudo|doas|runas)\s/i;

/** Env variables that load code into the server before it runs. */
function injectsCode(name: string, value: string): boolean {
  const n = name.toUpperCase();
  if (['LD_PRELOAD', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'BASH_ENV', 'ENV', 'PERL5OPT'].includes(n)) {
    return value.trim() !== '';
  }
  if (n === 'NODE_OPTIONS')
    return /(?:^|\s)(?:--require|-r|--import|--loader|--experimental-loader)\b/.test(value);
  if (n === 'RUBYOPT') return /(?:^|\s)-r/.test(value);
  if (n === 'JAVA_TOOL_OPTIONS' || n === '_JAVA_OPTIONS') return value.includes('-javaagent');
  return false;
}

const FILESYSTEM_SERVER =
  /(?:^|\/)(?:@modelcontextprotocol\/)?(?:mcp-)?server-filesystem(?:@|$)|^mcp-server-filesystem$/;

/** Checks a stdio server. `argv` is the effective command line (shell wrappers unwrapped). */
export function checkCommand(entry: ServerEntry, argv: readonly string[], home: string): Issue[] {
  if (entry.command === undefined) return [];
  const issues: Issue[] = [];
  const original = [entry.command, ...entry.args];
  const text = original.join(' ');
  const script = shellScript(original);

  if (DOWNLOAD.test(text) && RUN_DOWNLOADED.test(text)) {
    issues.push({
      rule: 'MCP-EXEC-002',
      message: `downloads code and runs it: ${excerpt(text)}`,
      subject: 'command',
    });
  } else if (script?.encoded) {
    issues.push({
      rule: 'MCP-EXEC-001',
      message: `${script.shell} runs an encoded (base64) command that cannot be reviewed`,
      subject: 'command',
    });
  } else if (script && hasShellSyntax(script.script)) {
    issues.push({
      rule: 'MCP-EXEC-001',
      message: `${script.shell} runs an inline script: ${excerpt(script.script)}`,
      subject: 'command',
    });
  } else if (script) {
    // Looked through (argv is the command it runs), but still a shell deciding what starts.
    issues.push({
      rule: 'MCP-EXEC-005',
      message: `${script.shell} wraps the command: ${excerpt(script.script)}`,
      subject: 'shell',
    });
  }
  const scriptFile = shellScriptFile(original);
  if (scriptFile) {
    issues.push({
      rule: 'MCP-EXEC-005',
      message: `${scriptFile.shell} runs the script ${excerpt(scriptFile.file)}, whose contents the config does not show`,
      subject: 'shell',
    });
  }
  // On the effective command line: `sh -c "python -c '…'"` and `sudo node -e …` count too.
  const code = interpreterCode(argv);
  if (code) {
    issues.push({
      rule: 'MCP-EXEC-001',
      message: `${code.program} runs inline code: ${excerpt(code.code)}`,
      subject: 'inline-code',
    });
  }

  const first = programName(entry.command);
  if (first === 'sudo' || first === 'doas' || PRIVILEGE.test(script?.script ?? '') || isDestructive(text)) {
    issues.push({ rule: 'MCP-EXEC-003', message: `dangerous command: ${excerpt(text)}`, subject: 'command' });
  }

  for (const [name, value] of Object.entries(entry.env)) {
    if (injectsCode(name, value)) {
      issues.push({
        rule: 'MCP-EXEC-004',
        message: `env ${excerpt(name)} loads code into the server: ${excerpt(value)}`,
        subject: `env.${name}`,
      });
    }
  }

  const run = packageRun(argv);
  if (run) {
    const pin = pinOf(run);
    if (!pin.pinned) {
      issues.push({
        rule: 'MCP-SUP-001',
        message: `${run.runner} starts ${excerpt(pin.name)} with ${excerpt(pin.why)}: every start runs whatever the registry serves`,
        subject: pin.name,
      });
    }
  }

  const isContainer = containerRun(argv) !== undefined;
  const program = argv[0] === undefined ? '' : programName(argv[0]);
  const fsAt = argv.findIndex((a, i) => FILESYSTEM_SERVER.test(i === 0 ? programName(a) : a));
  if (fsAt >= 0 && !isContainer) {
    for (const arg of argv.slice(fsAt + 1)) {
      if (arg.startsWith('-')) continue;
      const what = broadRoot(arg, home);
      if (what) {
        issues.push({
          rule: 'MCP-FS-001',
          message: `filesystem server is given ${excerpt(arg)} (${what})`,
          subject: arg,
        });
      }
    }
  }
  if (!isContainer) {
    for (const arg of argv.slice(1)) {
      const value = arg.includes('=') && arg.startsWith('-') ? arg.slice(arg.indexOf('=') + 1) : arg;
      if (isSensitivePath(value)) {
        issues.push({
          rule: 'MCP-FS-002',
          message: `argument ${excerpt(arg)} points at credentials`,
          subject: arg,
        });
      }
    }
  }

  // The servers of mcp-guard's own config are behind it by definition.
  const gateway =
    entry.client === 'mcp-guard'
      ? { wrapped: true as const }
      : gatewayVerdict(argv, { original, env: entry.env });
  if (!gateway.wrapped) {
    issues.push({
      rule: 'MCP-GW-001',
      message:
        'lookalike' in gateway
          ? `runs ${excerpt(gateway.lookalike)}, named like mcp-guard but ${gateway.why}: not counted as the gateway`
          : `stdio server started directly (${excerpt(program || entry.command)}), not through mcp-guard serve`,
      subject: 'wrapper',
    });
  }
  return issues;
}
