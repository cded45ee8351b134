import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../core/errors.js';
import type { JSONRPCMessage } from '../mcp/messages.js';
import type { BackendAuth } from './backend-auth.js';
import { SseBackendTransport, StreamableHttpBackendTransport } from './http-transports.js';

/** How the remote transports use BackendAuth (upstream OAuth): headers, one retry, the refusal. */
describe('BackendAuth in the remote transports', () => {
  let server: Server;
  let url: string;
  const seen: Array<string | undefined> = [];
  beforeAll(async () => {
    // Accepts only "Bearer good"; 403 insufficient_scope for "Bearer narrow"; 401 otherwise.
    server = createServer((req, res) => {
      req.resume();
      if (req.method !== 'POST') return res.writeHead(405).end();
      seen.push(req.headers.authorization);
      if (req.headers['x-keep'] !== '1') return res.writeHead(400).end('configured header missing');
      if (req.headers.authorization === 'Bearer good') return res.writeHead(202).end();
      if (req.headers.authorization === 'Bearer narrow')
        return res
          .writeHead(403, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="write"' })
          .end();
      res.writeHead(401, { 'www-authenticate': 'Bearer resource_metadata="x"' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(() => {
    server.close();
  });

  const auth = (tokens: string[], retry: boolean, refusal = 'log in again') => {
    const calls: Array<[number, string | undefined]> = [];
    let i = 0;
    const a: BackendAuth = {
      headers: async () => ({ Authorization: `Bearer ${tokens[Math.min(i++, tokens.length - 1)]}` }),
      onUnauthorized: async (status, www) => {
        calls.push([status, www]);
        return retry;
      },
      refusal: () => refusal,
    };
    return { a, calls };
  };
  const note = { jsonrpc: '2.0', method: 'notifications/roots/list_changed' } as JSONRPCMessage;
  const send = (a: BackendAuth) =>
    new StreamableHttpBackendTransport(new URL(url), { 'x-keep': '1' }, a).send(note);

  it('adds the headers (after the configured ones), and retries once with fresh ones when onUnauthorized says so', async () => {
    seen.length = 0;
    const { a, calls } = auth(['stale', 'good'], true);
    await send(a);
    expect(seen).toEqual(['Bearer stale', 'Bearer good']);
    expect(calls).toEqual([[401, 'Bearer resource_metadata="x"']]);
  });

  it('fails with the refusal when onUnauthorized says no, and retries at most once', async () => {
    seen.length = 0;
    const no = auth(['bad'], false, 'backend x needs an OAuth login');
    const refused = await send(no.a).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: 'UPSTREAM_OAUTH', message: 'backend x needs an OAuth login' });
    expect(seen).toHaveLength(1);
    seen.length = 0;
    const always = auth(['bad'], true, 'still refused');
    await expect(send(always.a)).rejects.toThrow('still refused');
    expect(seen).toHaveLength(2);
    expect(always.calls).toHaveLength(2);
    const scope = auth(['narrow'], false, 'needs a wider scope');
    await expect(send(scope.a)).rejects.toThrow('needs a wider scope');
    expect(scope.calls[0]).toEqual([403, 'Bearer error="insufficient_scope", scope="write"']);
  });

  it('does the same for the legacy SSE transport’s event stream', async () => {
    const { a, calls } = auth(['bad'], false, 'the SSE backend needs an OAuth login');
    // The event stream is a GET; this server answers GET 405 only after credentials, so it refuses first.
    const refusing = createServer((req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="sse"' }).end();
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const sse = new SseBackendTransport(
        new URL(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}/sse`),
        {},
        a,
      );
      await expect(sse.start()).rejects.toThrow('the SSE backend needs an OAuth login');
      expect(calls).toEqual([[401, 'Bearer realm="sse"']]);
    } finally {
      refusing.close();
    }
  });
});
