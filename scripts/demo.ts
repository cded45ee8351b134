/**
 * `npm run demo`: mcp-guard in front of two real MCP servers (the reference server-everything and a small
 * wallet server), with SQLite state, an API key, a deny rule, a spend cap and an approval round trip you
 * can watch: a $25 payment is held, approved from the CLI in another process, and the retry goes through
 * exactly once. Everything runs on 127.0.0.1 in a temporary folder. It prints the approvals dashboard's
 * URL and an admin key to sign in with; run in a terminal, it leaves the gateway running (with a held
 * call to decide) until Ctrl+C.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');
const WALLET = path.join(ROOT, 'dist/tools/scripts/demo-wallet-server.js');
const EVERYTHING = path.join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const color = process.stdout.isTTY && !process.env['NO_COLOR'];
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);

let stepNo = 0;
const step = (title: string) => process.stdout.write(`\n${bold(`${++stepNo}. ${title}`)}\n`);
const show = (label: string, value: string) => process.stdout.write(`   ${label}: ${value}\n`);
/** A command's output, indented under its step. */
const indent = (text: string) => `${text.replace(/\n$/, '').replace(/^/gm, '   ')}\n`;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn', ...env } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`mcp-guard ${args.join(' ')} failed:\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

const text = (result: unknown) => (result as { content: Array<{ text?: string }> }).content[0]?.text ?? '';

async function expectError(label: string, call: Promise<unknown>): Promise<McpError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof McpError) {
      show(label, `${err.code} ${err.message.replace(/^MCP error -?\d+: /, '')}`);
      return err;
    }
    throw err;
  }
  throw new Error(`${label}: expected an error`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcp-guard-demo-'));
  const key = `mcpg_${randomBytes(24).toString('base64url')}`;
  const adminKey = `mcpg_admin_${randomBytes(24).toString('base64url')}`;
  const configFile = path.join(dir, 'mcp-guard.yaml');
  writeFileSync(
    configFile,
    `# The demo's gateway config (see docs/config.md)
auth:
  mode: api_key
  keys:
    - { agent: demo-agent, key_sha256: "${createHash('sha256').update(key).digest('hex')}" }
admin:
  keys:
    - { agent: demo-admin, key_sha256: "${createHash('sha256').update(adminKey).digest('hex')}" }
rate_limit:
  requests_per_minute: 30
policies:
  spend_cap_usd: 100.0
  require_approval_above: 5.0
  deny:
    - wallet.bulk_transfer
  audit_log: ./audit.jsonl
state:
  store: sqlite
  path: ./mcp-guard.db
servers:
  everything:
    command: ${process.execPath}
    args: ["${EVERYTHING}", "stdio"]
  wallet:
    command: ${process.execPath}
    args: ["${WALLET}"]
`,
  );
  process.stdout.write(
    `${bold('mcp-guard demo')} ${dim(`(config, SQLite state and audit log in ${dir})`)}\n`,
  );

  step('Start the gateway: mcp-guard serve-http (127.0.0.1, random port)');
  const gateway = spawn(process.execPath, [CLI, 'serve-http', '--config', configFile, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn' },
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    gateway.stderr.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /listening on (\S+)/.exec(log);
      if (m) resolve(m[1] as string);
    });
    gateway.once('exit', (code) => reject(new Error(`the gateway exited with ${code}:\n${log}`)));
  });
  show('listening on', url);
  const dashboard = `${url.replace(/\/mcp$/, '')}/ui/`;
  show('approvals dashboard', dashboard);
  show('admin key to sign in', adminKey);

  try {
    step('An agent without the key is refused (HTTP 401)');
    const refused = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    show('status', `${refused.status}, WWW-Authenticate: ${refused.headers.get('www-authenticate')}`);

    step('An agent with the key connects and lists the tools of both servers');
    const client = new Client({ name: 'demo-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
      }),
    );
    const tools = (await client.listTools()).tools.map((t) => t.name);
    show(`${tools.length} tools`, `${tools.slice(0, 8).join(', ')}, …`);
    show(
      'bulk_transfer listed?',
      tools.includes('bulk_transfer') ? 'yes' : 'no (denied by policy, so hidden)',
    );

    step('Calls go through to the real servers');
    show(
      'everything.echo',
      text(await client.callTool({ name: 'echo', arguments: { message: 'hello through mcp-guard' } })),
    );
    show('everything.get-sum', text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })));
    show(
      'wallet.pay $2.00',
      text(await client.callTool({ name: 'pay', arguments: { amount_usd: 2, to: 'alice' } })),
    );
    await expectError(
      'wallet.bulk_transfer',
      client.callTool({ name: 'bulk_transfer', arguments: { to: 'mallory' } }),
    );

    step('A $25.00 payment is at or above require_approval_above ($5): it is held');
    const held = await expectError(
      'wallet.pay $25.00',
      client.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } }),
    );
    const approvalId = (held.data as { approval_id: string }).approval_id;
    show('approval_id', approvalId);

    step('An operator looks at the queue from another process: mcp-guard approvals list');
    process.stdout.write(dim(indent(await cli(['approvals', 'list', '--config', configFile]))));
    show('the same through the admin API', `mcp-guard approvals list --url ${url.replace(/\/mcp$/, '')}`);
    process.stdout.write(
      dim(
        indent(
          await cli(['approvals', 'list', '--url', url.replace(/\/mcp$/, '')], {
            MCP_GUARD_ADMIN_KEY: adminKey,
          }),
        ),
      ),
    );

    step(`The operator approves it: mcp-guard approvals approve ${approvalId}`);
    process.stdout.write(
      dim(
        indent(
          await cli(['approvals', 'approve', approvalId, '--note', 'known payee', '--config', configFile]),
        ),
      ),
    );

    step('The agent sends the same call again: it runs, exactly once');
    show(
      'wallet.pay $25.00',
      text(await client.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } })),
    );
    await expectError(
      'wallet.pay $25.00 again',
      client.callTool({ name: 'pay', arguments: { amount_usd: 25, to: 'bob' } }),
    );

    step('Everything was recorded: mcp-guard audit tail, then audit verify (the hash chain)');
    await new Promise((r) => setTimeout(r, 1_200)); // the gateway audits the CLI's decision within a second
    process.stdout.write(dim(indent(await cli(['audit', 'tail', '-n', '14', '--config', configFile]))));
    process.stdout.write(indent(await cli(['audit', 'verify', '--config', configFile])));

    if (process.stdout.isTTY && !process.argv.includes('--no-wait')) {
      step('Your turn: decide a held call on the dashboard (it works on a phone too)');
      await expectError(
        'wallet.pay $12.00',
        client.callTool({ name: 'pay', arguments: { amount_usd: 12, to: 'carol' } }),
      );
      show('open', dashboard);
      show('sign in with', adminKey);
      process.stdout.write(`   ${dim('The gateway keeps running; press Ctrl+C to stop it.')}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        gateway.once('exit', () => resolve());
      });
    }
    await client.close();
  } finally {
    gateway.kill('SIGTERM');
    if (gateway.exitCode === null) await new Promise((r) => gateway.once('exit', r));
  }
  process.stdout.write(
    `\n${bold('Done.')} Try it yourself: node dist/cli/main.js serve-http --config ${configFile}\n` +
      `   then open ${dashboard.replace(/:\d+\/ui\/$/, ':8080/ui/')} and sign in with ${adminKey}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
