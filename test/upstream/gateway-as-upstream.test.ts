/**
 * Upstream OAuth against another mcp-guard whose built-in authorization server wants a person to sign in
 * (auth.mode oauth2): `backends login` with the consent page (sign in, approve), and with the device flow
 * (the person enters the code on the upstream's /device page). The downstream gateway's agent then calls
 * the upstream's tools with the token the downstream holds.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsLogin } from '../../src/cli/backends.js';
import {
  connectHttp,
  startGateway,
  startGatewayOn,
  type TestGateway,
  tempDir,
  writeConfig,
} from '../helpers/gateway.js';
import { approve, oauthConfig, submitDevice } from '../oauth/flow.js';

const AGENT_KEY = 'downstream-agent-key-0123456789abcdef';

describe('upstream OAuth to a gateway with its own authorization server', () => {
  let upstream: TestGateway;
  let downstream: TestGateway | undefined;
  let file: string;
  const lines: string[] = [];
  const cli = { cwd: process.cwd(), out: (l: string) => lines.push(l) };

  beforeAll(async () => {
    upstream = await startGateway(oauthConfig('', 'rate_limit:\n  auth_failures_per_minute: 1000'));
    const dir = tempDir('mcpg-downstream-');
    file = writeConfig(
      `
auth:
  mode: api_key
  keys: [{ agent: ci, key: ${AGENT_KEY} }]
state:
  store: sqlite
  path: ${path.join(dir, 'state.db')}
  encryption_key: another-test-encryption-key-with-32-plus-chars
servers:
  up:
    url: ${upstream.url}
    oauth: auto
`,
      dir,
    );
  });
  afterAll(async () => {
    await downstream?.close();
    await upstream?.close();
  });

  const callEcho = async (text: string) => {
    const agent = await connectHttp((downstream as TestGateway).url, {
      headers: { Authorization: `Bearer ${AGENT_KEY}` },
    });
    try {
      const result = (await agent.callTool({ name: 'echo', arguments: { message: text } })) as {
        content: Array<{ text: string }>;
      };
      return result.content[0]?.text;
    } finally {
      await agent.close();
    }
  };

  it('logs in through the consent page: the person signs in and approves', async () => {
    await backendsLogin({
      ...cli,
      config: file,
      name: 'up',
      open: async (url) => {
        const done = await approve(url);
        expect(done.status, done.body).toBe(302);
        // The browser follows the redirect to the login's loopback listener.
        await (await fetch(done.location)).text();
      },
    });
    expect(lines.at(-1)).toMatch(
      /Logged in to up: issuer http:\/\/127\.0\.0\.1:\d+, client mcpg_client_.* \(dynamic\), scope mcp, .*refreshable\./,
    );
    downstream = await startGatewayOn(file);
    expect(await callEcho('through two gateways')).toBe('through two gateways');
  });

  it('logs in with the device flow: the person enters the code on the upstream', {
    timeout: 40_000,
  }, async () => {
    lines.length = 0;
    const login = backendsLogin({ ...cli, config: file, name: 'up', device: true });
    let code: string | undefined;
    for (let i = 0; i < 100 && !code; i++) {
      code = /enter the code (\S+)\./.exec(lines.join('\n'))?.[1];
      if (!code) await new Promise((r) => setTimeout(r, 50));
    }
    expect(code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    const page = await submitDevice(upstream, { user_code: code as string });
    expect(page.status).toBe(200);
    await login;
    expect(lines.at(-1)).toMatch(/^Logged in to up: .*scope mcp/);
    expect(await callEcho('after the device flow')).toBe('after the device flow');
  });
});
