#!/usr/bin/env node
/**
 * mcp-guard's command line (SPEC §1). Each command is a plain async function in its own module,
 * imported only when that command runs, so `mcp-guard scan` never loads the gateway and vice versa.
 * Exit codes: 0 ok; 1 the command ran and found a problem; 2 usage error.
 */
import { Command, CommanderError, Option } from 'commander';
import { ExitError } from '../core/errors.js';
import { tuneHeap } from '../core/heap-tuning.js';
import { VERSION } from '../core/version.js';

function buildProgram(): Command {
  const program = new Command('mcp-guard')
    .description('Security gateway for MCP servers')
    .version(VERSION)
    // SPEC §1: an error is one readable line on stderr (commander's own form takes two).
    .configureOutput({
      outputError: (text, write) =>
        write(
          `mcp-guard: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`,
        ),
    })
    .exitOverride();

  program
    .command('serve')
    .description('stdio front: an agent launches this as its MCP server')
    .option('-c, --config <file>', 'config file (default: $MCP_GUARD_CONFIG or ./mcp-guard.yaml)')
    .action(async (opts: { config?: string }) => {
      tuneHeap(); // before the gateway's modules load, so the young generation never grows past its cap
      const { serveStdio } = await import('./serve.js');
      await serveStdio({ config: opts.config, cwd: process.cwd() });
    });

  program
    .command('serve-http')
    .description('Streamable HTTP front at /mcp')
    .option('-c, --config <file>', 'config file (default: $MCP_GUARD_CONFIG or ./mcp-guard.yaml)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default 8080)', parsePort)
    .action(async (opts: { config?: string; host?: string; port?: number }) => {
      tuneHeap();
      const { serveHttp } = await import('./serve-http.js');
      await serveHttp({ config: opts.config, host: opts.host, port: opts.port, cwd: process.cwd() });
    });

  program
    .command('scan')
    .description('audit the MCP configs of AI clients (static: never starts a server)')
    .argument('[paths...]', 'files or folders to scan besides the clients’ home locations')
    .addOption(
      new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'),
    )
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 on findings at or above this severity')
        .choices(['high', 'medium', 'low', 'never'])
        .default('high'),
    )
    .option('--no-home', 'scan only the given paths, not the home-folder client configs')
    .option('--pins <file>', 'also check a pin file written by `mcp-guard tools pin --out`')
    .action(
      async (
        paths: string[],
        opts: { format: 'text' | 'json' | 'sarif'; failOn: string; home: boolean; pins?: string },
      ) => {
        const { runScanCommand } = await import('./scan.js');
        await runScanCommand({
          paths,
          format: opts.format,
          failOn: opts.failOn as 'high' | 'medium' | 'low' | 'never',
          home: opts.home,
          cwd: process.cwd(),
          ...(opts.pins === undefined ? {} : { pins: opts.pins }),
        });
      },
    );

  const approvals = program.command('approvals').description('the approval queue (held calls)');
  const configOption = () =>
    new Option('-c, --config <file>', 'config file (default: $MCP_GUARD_CONFIG or ./mcp-guard.yaml)');
  const urlOption = () =>
    new Option(
      '--url <url>',
      "a gateway's URL: work through its admin API (admin key from $MCP_GUARD_ADMIN_KEY)",
    ).conflicts('config');
  approvals
    .command('list')
    .description('list approvals (pending by default)')
    .addOption(
      new Option('--status <status>', 'which ones')
        .choices(['pending', 'approved', 'denied', 'expired', 'consumed', 'all'])
        .default('pending'),
    )
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (opts: { status: string; json?: boolean; config?: string; url?: string }) => {
      const { approvalsList } = await import('./approvals.js');
      await approvalsList({ ...opts, cwd: process.cwd() });
    });
  approvals
    .command('show')
    .description('show one approval with its (redacted) arguments')
    .argument('<id>', 'approval id (or a unique prefix)')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (id: string, opts: { json?: boolean; config?: string; url?: string }) => {
      const { approvalsShow } = await import('./approvals.js');
      await approvalsShow({ ...opts, id, cwd: process.cwd() });
    });
  approvals
    .command('approve')
    .description("approve a held call: the agent's next identical call runs once")
    .argument('<id>', 'approval id (or a unique prefix)')
    .option('--note <text>', 'why')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (id: string, opts: { note?: string; json?: boolean; config?: string; url?: string }) => {
      const { approvalsDecide } = await import('./approvals.js');
      await approvalsDecide({ ...opts, id, decision: 'approved', cwd: process.cwd() });
    });
  approvals
    .command('deny')
    .description('deny a held call')
    .argument('<id>', 'approval id (or a unique prefix)')
    .option('--reason <text>', 'why (the agent sees it)')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (id: string, opts: { reason?: string; json?: boolean; config?: string; url?: string }) => {
      const { approvalsDecide } = await import('./approvals.js');
      await approvalsDecide({ ...opts, note: opts.reason, id, decision: 'denied', cwd: process.cwd() });
    });

  const tools = program.command('tools').description('pinned tool definitions and the quarantine');
  const kindOption = () =>
    new Option('--kind <kind>', 'when a tool, prompt or resource template share the name').choices([
      'tool',
      'prompt',
      'resource_template',
    ]);
  tools
    .command('list')
    .description('list pinned tools, prompts and resource templates')
    .addOption(
      new Option('--status <status>', 'which ones')
        .choices(['pinned', 'changed', 'flagged', 'rejected', 'quarantined', 'all'])
        .default('all'),
    )
    .option('--server <name>', 'only this server')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (opts: { status: string; server?: string; json?: boolean; config?: string }) => {
      const { toolsList } = await import('./tools.js');
      await toolsList({ ...opts, cwd: process.cwd() });
    });
  tools
    .command('diff')
    .description('show how a definition differs from its pin')
    .argument('<server.name>', 'e.g. filesystem.read_file')
    .addOption(kindOption())
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (target: string, opts: { kind?: string; json?: boolean; config?: string }) => {
      const { toolsDiff } = await import('./tools.js');
      await toolsDiff({ ...opts, target, cwd: process.cwd() });
    });
  for (const [command, decision, description] of [
    ['approve', 'approved', 'approve the changed (or flagged) definition: it becomes the pin'],
    ['reject', 'rejected', 'reject it: it stays quarantined and is not announced again'],
  ] as const) {
    tools
      .command(command)
      .description(description)
      .argument('<server.name>', 'e.g. filesystem.read_file')
      .addOption(kindOption())
      .option('--sha256 <hex>', 'only if this is still the definition waiting (as shown by tools diff)')
      .option('--json', 'print JSON')
      .addOption(configOption())
      .action(
        async (target: string, opts: { kind?: string; sha256?: string; json?: boolean; config?: string }) => {
          const { toolsDecide } = await import('./tools.js');
          await toolsDecide({ ...opts, target, decision, cwd: process.cwd() });
        },
      );
  }
  tools
    .command('pin')
    .description('export every pin to a file (for a repository; scan --pins checks it in CI)')
    .requiredOption('--out <file>', 'where to write (- for stdout)')
    .option('--server <name>', 'only this server')
    .addOption(configOption())
    .action(async (opts: { out: string; server?: string; config?: string }) => {
      const { toolsPin } = await import('./tools.js');
      await toolsPin({ ...opts, cwd: process.cwd() });
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain; exit 1 and name the first bad line on tampering')
    .addOption(configOption())
    .option('--file <audit.jsonl>', 'the audit file (instead of the one in the config)')
    .action(async (opts: { config?: string; file?: string }) => {
      const { auditVerify } = await import('./audit.js');
      await auditVerify({ file: await auditFile(opts) });
    });
  audit
    .command('tail')
    .description('pretty-print the last records; --follow streams new ones')
    .option('-n, --lines <n>', 'how many', (v) => Number(v), 20)
    .option('-f, --follow', 'keep printing new records')
    .option('--json', 'print the raw JSON lines')
    .addOption(configOption())
    .option('--file <audit.jsonl>', 'the audit file (instead of the one in the config)')
    .action(
      async (opts: { lines: number; follow?: boolean; json?: boolean; config?: string; file?: string }) => {
        const { auditTail } = await import('./audit.js');
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        process.once('SIGTERM', () => stop.abort());
        await auditTail({
          file: await auditFile(opts),
          lines: opts.lines,
          follow: opts.follow ?? false,
          json: opts.json,
          signal: stop.signal,
        });
      },
    );

  program
    .command('keys')
    .description('API keys')
    .command('new')
    .description('print a fresh API key and the config entry that accepts it')
    .option('--agent <name>', 'the agent id the key stands for')
    .action(async (opts: { agent?: string }) => {
      const { keysNew } = await import('./keys.js');
      await keysNew(opts);
    });

  const backends = program.command('backends').description('remote backends and their upstream OAuth');
  backends
    .command('list')
    .description('list the backends and the state of their OAuth tokens')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (opts: { json?: boolean; config?: string }) => {
      const { backendsList } = await import('./backends.js');
      await backendsList({ ...opts, cwd: process.cwd() });
    });
  backends
    .command('login')
    .description('authorize mcp-guard at a remote backend once (prints a URL; listens on loopback)')
    .argument('<name>', 'the server (servers.NAME with oauth:)')
    .option('--device', 'use the device flow (enter a code on another device) where the server offers it')
    .option('--user <name>', 'for tokens: per_user, the gateway user the token is for')
    .addOption(configOption())
    .action(async (name: string, opts: { device?: boolean; user?: string; config?: string }) => {
      const { backendsLogin } = await import('./backends.js');
      await backendsLogin({ ...opts, name, cwd: process.cwd() });
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('validate a config and print the effective config with secrets masked')
    .option('-c, --config <file>', 'config file (default: $MCP_GUARD_CONFIG or ./mcp-guard.yaml)')
    .action(async (opts: { config?: string }) => {
      const { configCheck } = await import('./config-check.js');
      await configCheck({ config: opts.config, cwd: process.cwd() });
    });
  config
    .command('schema')
    .description("print the config file's JSON Schema (for editors: yaml-language-server, VS Code)")
    .action(async () => {
      const { configSchema } = await import('./config-schema.js');
      await configSchema();
    });

  return program;
}

/** The audit file of `--file`, or the one `policies.audit_log` of the config names. */
async function auditFile(opts: { config?: string; file?: string }): Promise<string> {
  if (opts.file) return opts.file;
  const { loadConfigForCommand } = await import('./config-source.js');
  const config = await loadConfigForCommand(opts.config, process.cwd(), { keepUnsetVariables: true });
  if (!config.policies.audit)
    throw new ExitError(2, `${config.source} has no policies.audit_log; pass --file AUDIT.jsonl`);
  return config.policies.audit.path;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ExitError(2, `--port must be an integer between 0 and 65535, got "${value}"`);
  }
  return port;
}

async function main(argv: string[]): Promise<void> {
  // A reader that went away (`mcp-guard scan | head`, an agent that closed our stdout) ends the command
  // quietly instead of with an EPIPE stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and exit 0; anything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof ExitError) {
      if (err.message) process.stderr.write(`mcp-guard: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    // Anything else: one line saying what failed and what to do (exit 1), or, for a bug, exit 70 (SPEC
    // §3a; failure.ts). The stack trace only when asked for.
    const { describeFailure } = await import('./failure.js');
    const failure = describeFailure(err);
    process.stderr.write(`mcp-guard: ${failure.line}\n`);
    if (/^(debug|trace)$/.test(process.env['MCP_GUARD_LOG_LEVEL'] ?? '') && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    process.exitCode = failure.exitCode;
  }
}

await main(process.argv);
