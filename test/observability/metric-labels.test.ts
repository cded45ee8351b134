/**
 * Metric labels stay bounded whatever agents send: agent ids that the config does not name (JWT subjects)
 * share the label `other`, unknown tools the label `unknown`, and no argument value becomes a label.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { SignJWT } from 'jose';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';

const SECRET = 'metric-labels-shared-secret-0123456789abcdef';

describe('metric labels', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: jwt
  jwt: { secret: "${SECRET}", issuer: https://issuer.test, audience: mcp-guard, algorithms: [HS256] }
agents:
  known-bot: { spend_cap_usd: 100 }
metrics: { public: true }
servers:
${stdioTestServer('wallet')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const token = (sub: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer('https://issuer.test')
      .setAudience('mcp-guard')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));

  it('maps unconfigured agents to `other` and unknown tools to `unknown`', async () => {
    const subjects = ['known-bot', 'random-1f3a', 'random-9c2d', 'random-77aa'];
    for (const sub of subjects) {
      const client = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${await token(sub)}` } });
      await client.callTool({ name: 'pay', arguments: { amount_usd: 1, to: `payee-${sub}` } });
      await client.callTool({ name: `no_such_tool_${sub}`, arguments: {} }).catch((e: unknown) => {
        if (!(e instanceof McpError)) throw e;
      });
      await client.close();
    }
    const text = await (await fetch(gw.url.replace(/\/mcp$/, '/metrics'))).text();
    const metrics = parsePrometheusTextFormat(text);
    const series = (name: string) => metrics.find((m) => m.name === name)?.metrics ?? [];

    const spend = series('mcp_guard_spend_usd_total').map((m) => [m.labels?.['agent'], Number(m.value)]);
    expect(spend.sort()).toEqual([
      ['known-bot', 1],
      ['other', 3],
    ]);
    const tools = new Set(series('mcp_guard_requests_total').map((m) => m.labels?.['tool']));
    expect([...tools].sort()).toEqual(['pay', 'unknown']);
    for (const sub of subjects.slice(1)) expect(text).not.toContain(sub);
    expect(text).not.toContain('payee-');
  });
});
