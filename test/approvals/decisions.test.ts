/**
 * What happens around a decision: the gateway (not the CLI) records it in its audit log and tells the
 * humans — once, even when the decision was made while the gateway was down; notifications are retried
 * and never hold a call up; the approvals CLI works in a shell without the gateway's secrets.
 */

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpGateway } from '../../src/gateway/http-gateway.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGatewayOn, writeConfig } from '../helpers/gateway.js';
import { runCli, waitFor } from '../helpers/processes.js';

interface Post {
  readonly path: string;
  readonly body: Record<string, unknown>;
}

/** A webhook receiver that answers each request with the next status of `statuses` (then 200), or hangs. */
async function receiver(behaviour: { statuses?: number[]; hang?: boolean } = {}) {
  const posts: Post[] = [];
  const statuses = [...(behaviour.statuses ?? [])];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body: JSON.parse(text) });
      if (behaviour.hang) return; // never answers
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const running: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
});

async function startOn(configFile: string): Promise<HttpGateway> {
  const gw = await startGatewayOn(configFile);
  running.push(gw);
  return gw;
}

async function heldId(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof McpError && err.code === -32004)
      return (err.data as { approval_id: string }).approval_id;
    throw err;
  }
  throw new Error('expected the call to be held');
}

const auditLines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('decisions', () => {
  it('a decision made while the gateway is down is audited and announced when it starts again, once', async () => {
    const hooks = await receiver();
    running.push(hooks);
    const configFile = writeConfig(`
policies:
  require_approval_above: 5
  audit_log: ./audit.jsonl
notify:
  webhook_url: ${hooks.url}/hook
servers:
${stdioTestServer('wallet')}`);
    const auditFile = path.join(path.dirname(configFile), 'audit.jsonl');
    let gw = await startOn(configFile);
    let client = await connectHttp(gw.url);
    const id = await heldId(client.callTool({ name: 'pay', arguments: { amount_usd: 9 } }));
    await client.close();
    await gw.close();

    expect((await runCli(['approvals', 'approve', id, '--config', configFile])).code).toBe(0);
    expect(hooks.posts.map((p) => p.body['event'])).toEqual(['approval_created']); // the CLI sends nothing

    gw = await startOn(configFile);
    await waitFor(() => hooks.posts.length === 2, 10_000, 'the decision notification');
    expect(hooks.posts[1]?.body).toMatchObject({
      event: 'approval_decided',
      approval: { id, status: 'approved' },
    });
    const decided = auditLines(auditFile).filter((l) => l['event'] === 'approval_decided');
    expect(decided).toEqual([expect.objectContaining({ approval_id: id, decision: 'approved' })]);

    // The retry runs; the decision is not recorded or announced a second time, not even after a restart.
    client = await connectHttp(gw.url);
    await client.callTool({ name: 'pay', arguments: { amount_usd: 9 } });
    await client.close();
    await gw.close();
    gw = await startOn(configFile);
    await new Promise((r) => setTimeout(r, 1_500)); // more than one poll
    expect(auditLines(auditFile).filter((l) => l['event'] === 'approval_decided')).toHaveLength(1);
    expect(hooks.posts).toHaveLength(2);
  });

  it('retries a failing webhook, and a receiver that never answers does not hold up the call', async () => {
    const flaky = await receiver({ statuses: [503] });
    const stuck = await receiver({ hang: true });
    running.push(flaky, stuck);
    const gw = await startOn(
      writeConfig(`
policies:
  require_approval_above: 5
notify:
  webhook_url: ${flaky.url}/hook
  slack_webhook_url: ${stuck.url}/slack
  timeout: 30s
servers:
${stdioTestServer('wallet')}`),
    );
    const client = await connectHttp(gw.url);
    const started = Date.now();
    await heldId(client.callTool({ name: 'pay', arguments: { amount_usd: 7 } }));
    expect(Date.now() - started).toBeLessThan(5_000); // the slack post is still waiting for an answer
    await waitFor(() => stuck.posts.length === 1, 5_000, 'the slack post');
    // 503 is retried (after 1 s by default): the same event arrives twice.
    await waitFor(() => flaky.posts.length === 2, 10_000, 'the retried webhook post');
    expect(flaky.posts.map((p) => p.body['event'])).toEqual(['approval_created', 'approval_created']);
    await client.close();
  });

  it('the approvals CLI needs no webhook or backend variables, but does need the state store', async () => {
    const configFile = writeConfig(`
notify:
  slack_webhook_url: \${MCPG_TEST_UNSET_SLACK_URL}
servers:
  remote:
    url: \${MCPG_TEST_UNSET_BACKEND_URL}
`);
    const listed = await runCli(['approvals', 'list', '--config', configFile]);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('no pending approvals');

    const needsState = writeConfig(
      `state:\n  store: sqlite\n  path: \${MCPG_TEST_UNSET_STATE}\nservers:\n${stdioTestServer('w')}`,
    );
    const refused = await runCli(['approvals', 'list', '--config', needsState]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('MCPG_TEST_UNSET_STATE');
  });
});
