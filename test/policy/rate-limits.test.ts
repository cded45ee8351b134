/**
 * Rate-limit scopes through one gateway: per agent with a per-agent override, per tool, global; the
 * error data names the scope and when to retry; names from the config that collide with
 * Object.prototype members (an agent called `constructor`) are ordinary names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway, writeConfig } from '../helpers/gateway.js';
import { failure } from '../helpers/results.js';

const KEYS = {
  slow: 'slow-key-0123456789abcdefghijklmnopqrstuvwx',
  fast: 'fast-key-0123456789abcdefghijklmnopqrstuvwx',
  proto: 'constructor-key-0123456789abcdefghijklmnopq',
};

const echo = { name: 'echo', arguments: { message: 'hi' } };

describe('rate-limit scopes', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(`
auth:
  mode: api_key
  keys:
    - { agent: slow, key: "${KEYS.slow}" }
    - { agent: fast, key: "${KEYS.fast}" }
    - { agent: constructor, key: "${KEYS.proto}" }
rate_limit:
  requests_per_minute: 2
  global_requests_per_minute: 7
  per_tool: { add: 1 }
agents:
  fast:
    rate_limit: { requests_per_minute: 4 }
servers:
${stdioTestServer('t')}`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('limits per agent, with the per-agent override, per tool and globally; each refusal names its scope', async () => {
    const slow = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEYS.slow}` } });
    const fast = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEYS.fast}` } });
    const proto = await connectHttp(gw.url, { headers: { Authorization: `Bearer ${KEYS.proto}` } });

    // per tool: `add` once a minute for each agent, before the agent's own limit is used up
    await fast.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    const tool = await failure(fast.callTool({ name: 'add', arguments: { a: 1, b: 2 } }));
    expect(tool.code).toBe(-32012);
    expect(tool.data).toMatchObject({ reason: 'rate_limited', scope: 'tool' });

    // per agent: slow has the default 2 a minute; fast has 4 (one already spent on add)
    await slow.callTool(echo);
    await slow.callTool(echo);
    const agent = await failure(slow.callTool(echo));
    expect(agent.data).toMatchObject({ scope: 'agent', retry_after_s: expect.any(Number) });
    expect((agent.data as { retry_after_s: number }).retry_after_s).toBeGreaterThanOrEqual(1);
    await fast.callTool(echo);
    await fast.callTool(echo);
    await fast.callTool(echo);
    expect((await failure(fast.callTool(echo))).data).toMatchObject({ scope: 'agent' });

    // global: 7 a minute for everyone together; 6 went through above, the agent `constructor` gets the 7th
    await proto.callTool(echo);
    expect((await failure(proto.callTool(echo))).data).toMatchObject({ scope: 'global' });

    await Promise.all([slow.close(), fast.close(), proto.close()]);
  });
});

describe('names that are Object.prototype members', () => {
  it('are plain keys in the loaded config', async () => {
    const file = writeConfig(`
agents:
  constructor: { spend_cap_usd: 1 }
policies:
  tools:
    toString: { cost: { usd: 0.5 } }
servers:
${stdioTestServer('t')}`);
    const config = await loadConfig(file, {});
    expect(config.agents['constructor']?.spendCapUsd).toBe(1);
    expect(config.agents['toString']).toBeUndefined();
    expect(config.policies.tools['hasOwnProperty']).toBeUndefined();
    expect(config.rateLimit.perTool['valueOf']).toBeUndefined();
  });
});
