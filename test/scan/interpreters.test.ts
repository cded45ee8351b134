/**
 * SPEC §7 "shell interpreters": inline code run by an interpreter is a finding even without shell
 * metacharacters (MCP-EXEC-001, high), and so is a shell that merely wraps one command or runs a script
 * file (MCP-EXEC-005, low: the wrapped command is still checked as if run directly). On real files.
 */
import { describe, expect, it } from 'vitest';
import { scanFiles } from './helpers.js';

async function execFindings(server: Record<string, unknown>): Promise<string[]> {
  const result = await scanFiles({ '.mcp.json': { mcpServers: { s: server } } });
  return result.findings
    .filter((f) => f.rule.startsWith('MCP-EXEC'))
    .map((f) => `${f.rule} ${f.severity} ${f.message}`);
}

describe('interpreters running inline code (MCP-EXEC-001)', () => {
  it('flags -c / -e / eval code of python, node, bun, deno, perl, ruby and php', async () => {
    for (const [command, args, program, code] of [
      ['python', ['-c', 'import server; server.main()'], 'python', 'import server; server.main()'],
      ['python3', ['-Ic', 'import server'], 'python3', 'import server'],
      ['/usr/bin/python3.12', ['-u', '-c', 'import server'], 'python3.12', 'import server'],
      ['node', ['-e', "require('./server')"], 'node', "require('./server')"],
      ['node', ['--eval=require("./server")'], 'node', 'require("./server")'],
      ['node', ['-p', 'process.version'], 'node', 'process.version'],
      ['bun', ['--eval', 'await import("./s.ts")'], 'bun', 'await import("./s.ts")'],
      ['deno', ['eval', 'import "./s.ts"'], 'deno eval', 'import "./s.ts"'],
      ['perl', ['-le', 'print 1'], 'perl', 'print 1'],
      ['ruby', ['-e', 'require "./server"'], 'ruby', 'require "./server"'],
      ['php', ['-r', 'include "server.php";'], 'php', 'include "server.php";'],
    ] as const) {
      expect(await execFindings({ command, args: [...args] }), `${command} ${args.join(' ')}`).toEqual([
        `MCP-EXEC-001 high ${program} runs inline code: ${code}`,
      ]);
    }
  });

  it('looks through a shell and sudo to the interpreter', async () => {
    expect(await execFindings({ command: 'sh', args: ['-c', "python3 -c 'import server'"] })).toEqual([
      'MCP-EXEC-001 high python3 runs inline code: import server',
      "MCP-EXEC-005 low sh wraps the command: python3 -c 'import server'",
    ]);
    expect(
      (await execFindings({ command: 'sudo', args: ['node', '-e', 'x()'] })).map((f) => f.slice(0, 17)),
    ).toEqual(['MCP-EXEC-001 high', 'MCP-EXEC-003 high']);
  });

  it('leaves scripts and modules alone, and flags that belong to the script', async () => {
    for (const [command, args] of [
      ['python', ['server.py', '-c', 'config.yaml']],
      ['python', ['-m', 'mcp_server_fetch']],
      ['node', ['--inspect', 'server.js', '-e', 'prod']],
      ['node', ['dist/index.js']],
      ['ruby', ['server.rb', '-e', 'x']],
    ] as const) {
      expect(await execFindings({ command, args: [...args] }), `${command} ${args.join(' ')}`).toEqual([]);
    }
  });
});

describe('shells that wrap a command or run a script file (MCP-EXEC-005)', () => {
  it('flags sh -c / bash -c / cmd /c around one plain command, as low', async () => {
    expect(await execFindings({ command: 'sh', args: ['-c', 'node server.js'] })).toEqual([
      'MCP-EXEC-005 low sh wraps the command: node server.js',
    ]);
    expect(await execFindings({ command: 'bash', args: ['-lc', 'npx -y pkg@1.0.0'] })).toEqual([
      'MCP-EXEC-005 low bash wraps the command: npx -y pkg@1.0.0',
    ]);
    expect(await execFindings({ command: 'cmd', args: ['/c', 'npx', '-y', 'pkg@1.0.0'] })).toEqual([
      'MCP-EXEC-005 low cmd wraps the command: npx -y pkg@1.0.0',
    ]);
  });

  it('flags a shell running a script file', async () => {
    for (const [command, args, file] of [
      ['bash', ['start.sh'], 'start.sh'],
      ['sh', ['-e', './scripts/run.sh', '--port', '3000'], './scripts/run.sh'],
      ['/bin/zsh', ['-o', 'errexit', 'run.zsh'], 'run.zsh'],
      ['pwsh', ['-NoProfile', '-File', 'start.ps1'], 'start.ps1'],
    ] as const) {
      expect(await execFindings({ command, args: [...args] }), `${command} ${args.join(' ')}`).toEqual([
        `MCP-EXEC-005 low ${command.split('/').pop()} runs the script ${file}, whose contents the config does not show`,
      ]);
    }
  });

  it('keeps inline scripts with shell syntax high (MCP-EXEC-001), without a second, low finding', async () => {
    expect(await execFindings({ command: 'bash', args: ['-c', 'cd /srv && node a.js'] })).toEqual([
      'MCP-EXEC-001 high bash runs an inline script: cd /srv && node a.js',
    ]);
  });
});
