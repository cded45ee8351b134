/**
 * The state store going away mid-service (Redis behind a TCP proxy the test cuts): governed calls are
 * refused with -32016 naming the state store — never let through without their rate limit or spend
 * check, never an anonymous -32603 — and the gateway recovers by itself when the store is back.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

/** A TCP proxy to the local Redis that can be cut (every connection dropped, the port closed) and restored. */
async function redisProxy(): Promise<{
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = tcpConnect(6379, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server?.listen(port, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  };
  const cut = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

const prefix = `mcpg-outage-${randomUUID().slice(0, 8)}:`;
afterAll(async () => {
  const r = new Redis('redis://127.0.0.1:6379');
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
});

describe('the state store going away', () => {
  it('refuses governed calls with -32016 naming the store while it is gone, and recovers when it is back', async () => {
    const proxy = await redisProxy();
    const gw = await startGateway(`
rate_limit:
  requests_per_minute: 1000
policies:
  spend_cap_usd: 100
  audit_log: ./audit.jsonl
state:
  store: redis
  url: redis://127.0.0.1:${proxy.port}
  prefix: "${prefix}"
servers:
${stdioTestServer('t')}`);
    const client = await connectHttp(gw.url);
    try {
      expect(textOf(await client.callTool({ name: 'pay', arguments: { amount_usd: 1 } }))).toBe('paid 1');
      await proxy.cut();
      for (const call of [
        () => client.callTool({ name: 'echo', arguments: { message: 'x' } }), // rate limit needs the store
        () => client.callTool({ name: 'pay', arguments: { amount_usd: 2 } }), // so does spend
      ]) {
        const err = await failure(call());
        expect(err.code).toBe(-32016);
        expect(err.message).toContain('state store (redis) is unreachable');
        expect(err.data).toMatchObject({ reason: 'backend_unavailable', server: 'state_store' });
      }
      // Housekeeping that needs no store still works; nothing governed reached the backend meanwhile.
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await proxy.restore();
      await waitFor(
        async () => {
          try {
            return textOf(await client.callTool({ name: 'echo', arguments: { message: 'back' } })) === 'back';
          } catch {
            return false;
          }
        },
        20_000,
        'calls to work again once the store is back',
      );
      const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as {
        paid_usd: number;
      };
      expect(stats.paid_usd).toBe(1);
    } finally {
      await client.close();
      await gw.close();
      await proxy.close();
    }
  });
});
