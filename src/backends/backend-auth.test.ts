import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendAuth, fetchWithBackendAuth } from './backend-auth.js';

describe('fetchWithBackendAuth', () => {
  let server: Server;
  let url: string;
  const seen: Array<string | undefined> = [];
  beforeAll(async () => {
    // Accepts only "Bearer good"; 403 insufficient_scope for "Bearer narrow"; 401 otherwise.
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      if (req.headers.authorization === 'Bearer good') return res.writeHead(200).end('ok');
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

  it('adds the headers, and retries once with fresh ones when onUnauthorized says so', async () => {
    seen.length = 0;
    const { a, calls } = auth(['stale', 'good'], true);
    const res = await fetchWithBackendAuth(a, fetch, url, {
      method: 'POST',
      body: '{}',
      headers: { 'x-keep': '1' },
    });
    expect(await res.text()).toBe('ok');
    expect(seen).toEqual(['Bearer stale', 'Bearer good']);
    expect(calls).toEqual([[401, 'Bearer resource_metadata="x"']]);
  });

  it('throws the refusal when onUnauthorized says no, and retries at most once', async () => {
    seen.length = 0;
    const no = auth(['bad'], false, 'backend x needs an OAuth login');
    await expect(fetchWithBackendAuth(no.a, fetch, url)).rejects.toThrow('backend x needs an OAuth login');
    expect(seen).toHaveLength(1);
    seen.length = 0;
    const always = auth(['bad'], true, 'still refused');
    await expect(fetchWithBackendAuth(always.a, fetch, url)).rejects.toThrow('still refused');
    expect(seen).toHaveLength(2);
    expect(always.calls).toHaveLength(2);
    const scope = auth(['narrow'], false, 'needs a wider scope');
    await expect(fetchWithBackendAuth(scope.a, fetch, url)).rejects.toThrow('needs a wider scope');
    expect(scope.calls[0]?.[0]).toBe(403);
  });
});
