/**
 * A scripted session of allowed, denied, rate-limited, held and approved calls through a gateway process;
 * then the audit file, the logs and /metrics are checked: one correct line per event with every SPEC §5
 * field, a verifiable chain, no secret anywhere, and counters that moved as expected.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpError } from '@modelcontextprotocol/sdk/types.js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, writeConfig } from '../helpers/gateway.js';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.js';
import { TEST_SERVER } from '../helpers/paths.js';
import { runCli, waitFor } from '../helpers/processes.js';
import { codeOf } from '../helpers/results.js';

const KEY = 'obs-key-0123456789abcdefghijklmnopqrstuvwxyz';
const SECRETS = [
  'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
  'ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ',
  'hunter2-password-value',
];
const SPEC_FIELDS = [
  'ts',
  'event',
  'agent',
  'session',
  'server',
  'tool',
  'method',
  'request_id',
  'args_sha256',
  'args',
  'amount_usd',
  'decision',
  'reason',
  'approval_id',
  'outcome',
  'error_code',
  'latency_ms',
  'prev_hash',
  'hash',
];

describe('audit log and metrics after a scripted session', () => {
  let configFile: string;
  let gw: GatewayProcess;
  let client: Client;
  let audit: Array<Record<string, unknown>>;
  let metricsText: string;

  beforeAll(async () => {
    configFile = writeConfig(`
auth:
  mode: api_key
  keys: [{ agent: ops-bot, key: "${KEY}" }]
rate_limit:
  per_tool: { add: 1 }
policies:
  require_approval_above: 5
  deny: [delete_file]
  audit_log: ./audit.jsonl
  audit:
    fsync: always
servers:
${stdioTestServer('wallet')}`);
    gw = await startGatewayProcess(configFile);
    client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEY}` } });

    // allowed, with secrets in the arguments
    await client.callTool({
      name: 'echo',
      arguments: {
        message: `token ${SECRETS[0]} and Bearer ${SECRETS[2]}`,
        password: SECRETS[3],
        nested: { gh: SECRETS[1] },
      },
    });
    expect(await codeOf(client.callTool({ name: 'delete_file', arguments: { path: '/etc' } }))).toBe(-32011); // denied
    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    expect(await codeOf(client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe(-32012); // rate-limited
    const held = await client
      .callTool({ name: 'pay', arguments: { amount_usd: 10, to: 'x' } })
      .catch((e: McpError) => e);
    const approvalId = ((held as McpError).data as { approval_id: string }).approval_id;
    expect((await runCli(['approvals', 'approve', approvalId, '--config', configFile])).code).toBe(0);
    await client.callTool({ name: 'pay', arguments: { amount_usd: 10, to: 'x' } }); // approved
    await fetch(gw.url, { method: 'POST', headers: { authorization: `Bearer ${SECRETS[1]}` }, body: '{}' }); // auth failure

    const auditFile = path.join(path.dirname(configFile), 'audit.jsonl');
    await waitFor(
      () => readFileSync(auditFile, 'utf8').includes('auth_failed'),
      5_000,
      'the auth failure in the audit log',
    );
    audit = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const res = await fetch(gw.url.replace(/\/mcp$/, '/metrics'), {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    metricsText = await res.text();
  });

  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it('writes one line per decision and outcome, each with every SPEC §5 field', () => {
    for (const line of audit) expect(Object.keys(line)).toEqual(expect.arrayContaining(SPEC_FIELDS));
    const summary = audit.map((l) => [l['event'], l['tool'], l['decision'], l['outcome'], l['error_code']]);
    expect(summary).toEqual([
      ['call', 'echo', 'allowed', null, null],
      ['result', 'echo', 'allowed', 'ok', null],
      ['call', 'delete_file', 'denied', 'error', -32011],
      ['call', 'add', 'allowed', null, null],
      ['result', 'add', 'allowed', 'ok', null],
      ['call', 'add', 'rate_limited', 'error', -32012],
      ['approval_created', 'pay', 'held', null, null],
      ['call', 'pay', 'held', 'error', -32004],
      // The decision (made with the CLI) is recorded before the call it lets through.
      ['approval_decided', 'pay', 'approved', null, null],
      ['call', 'pay', 'approved', null, null],
      ['result', 'pay', 'approved', 'ok', null],
      ['auth_failed', null, null, null, null],
    ]);
    const result = audit[1] as Record<string, unknown>;
    expect(result).toMatchObject({
      agent: 'ops-bot',
      server: 'wallet',
      method: 'tools/call',
      args_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(typeof result['latency_ms']).toBe('number');
    const paid = audit.find((l) => l['event'] === 'result' && l['tool'] === 'pay') as Record<string, unknown>;
    expect(paid).toMatchObject({ amount_usd: 10, approval_id: expect.stringMatching(/^apr_/) });
  });

  it('keeps a chain that `audit verify` accepts', async () => {
    const verified = await runCli(['audit', 'verify', '--config', configFile]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^ok: 12 lines verified/);
  });

  it('never writes a secret to the audit file, the logs or the metrics', () => {
    const auditText = readFileSync(path.join(path.dirname(configFile), 'audit.jsonl'), 'utf8');
    for (const secret of [...SECRETS, KEY]) {
      expect(auditText).not.toContain(secret);
      expect(gw.stderr()).not.toContain(secret);
      expect(metricsText).not.toContain(secret);
    }
  });

  it('serves Prometheus text that a real parser reads, with counters that moved', () => {
    const metrics = parsePrometheusTextFormat(metricsText);
    const find = (name: string) => metrics.find((m) => m.name === name)?.metrics ?? [];
    const value = (name: string, labels: Record<string, string>) =>
      Number(
        find(name).find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ??
          Number.NaN,
      );
    expect(value('mcp_guard_requests_total', { server: 'wallet', tool: 'echo', decision: 'allowed' })).toBe(
      1,
    );
    expect(
      value('mcp_guard_requests_total', { server: 'wallet', tool: 'delete_file', decision: 'denied' }),
    ).toBe(1);
    expect(
      value('mcp_guard_requests_total', { server: 'wallet', tool: 'add', decision: 'rate_limited' }),
    ).toBe(1);
    expect(value('mcp_guard_requests_total', { server: 'wallet', tool: 'pay', decision: 'held' })).toBe(1);
    expect(value('mcp_guard_requests_total', { server: 'wallet', tool: 'pay', decision: 'approved' })).toBe(
      1,
    );
    expect(value('mcp_guard_rate_limited_total', { scope: 'tool' })).toBe(1);
    expect(value('mcp_guard_auth_failures_total', { mode: 'api_key' })).toBe(1);
    expect(value('mcp_guard_backend_up', { server: 'wallet' })).toBe(1);
    expect(value('mcp_guard_spend_usd_total', { agent: 'ops-bot' })).toBe(10);
    expect(value('mcp_guard_approvals_pending', {})).toBe(0);
    const histogram = metrics.find((m) => m.name === 'mcp_guard_request_duration_seconds');
    expect(histogram?.type).toBe('HISTOGRAM');
    // The parser drops the labels of histogram series, so their counts are read from the text itself.
    expect(metricsText).toContain('mcp_guard_request_duration_seconds_count{server="wallet",tool="echo"} 1');
    expect(metricsText).toContain('mcp_guard_request_duration_seconds_count{server="wallet",tool="pay"} 2');
  });

  it('refuses /metrics without a credential when auth is on', async () => {
    expect((await fetch(gw.url.replace(/\/mcp$/, '/metrics'))).status).toBe(401);
  });
});

describe('backend stderr in the logs', () => {
  it('is logged with its secrets masked', async () => {
    const configFile = writeConfig(`
servers:
  chatty:
    command: ${process.execPath}
    args: ["${TEST_SERVER}", "--stdio", "--stderr-line", "connecting with api_key=${SECRETS[3]} as ${SECRETS[0]}"]
`);
    const gw = await startGatewayProcess(configFile);
    try {
      const client = await connectHttp(gw.url);
      await client.listTools();
      await waitFor(() => gw.stderr().includes('backend stderr'), 5_000, 'the backend stderr line');
      await client.close();
    } finally {
      await gw.stop();
    }
    const logged = gw.stderr();
    expect(logged).toContain('connecting with api_key=');
    expect(logged).not.toContain(SECRETS[3]);
    expect(logged).not.toContain(SECRETS[0]);
  });
});

describe('durability', () => {
  it('kill -9 of the gateway right after a call returns: that call is in the audit file and the chain verifies', async () => {
    const configFile = writeConfig(
      `policies:\n  audit_log: ./audit.jsonl\n  audit:\n    fsync: never\nservers:\n${stdioTestServer('t')}`,
    );
    const gw = await startGatewayProcess(configFile);
    const client = await connectHttp(gw.url);
    await client.callTool({ name: 'echo', arguments: { message: 'the last words' } });
    gw.child.kill('SIGKILL');
    await gw.stop();
    const lines = readFileSync(path.join(path.dirname(configFile), 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ event: 'result', tool: 'echo', outcome: 'ok' });
    expect(JSON.stringify(lines.at(-1))).toContain('the last words');
    // verify needs no lock: it reads what the killed gateway left.
    expect(
      (await runCli(['audit', 'verify', '--file', path.join(path.dirname(configFile), 'audit.jsonl')])).code,
    ).toBe(0);
  });
});
