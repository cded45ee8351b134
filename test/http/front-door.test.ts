/**
 * HTTP front door cases of research/security.md §6.1 that need raw sockets or crafted headers: request
 * smuggling shapes (Content-Length with Transfer-Encoding, two different Content-Lengths), oversized
 * headers, wrong Accept / Content-Type, another principal's session id, and CORS from a foreign origin.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/mcp/json-limits.js';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const ALICE = 'alice-key-0123456789abcdefghijklmnopqrstuvwxyz';
const BOB = 'bob-key-0123456789abcdefghijklmnopqrstuvwxyz01';

/** Sends raw bytes and resolves with the status line's code (or 0 when the server just closed). */
function raw(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (c: Buffer) => {
      data += c.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    setTimeout(() => socket.destroy(), 5_000).unref();
  });
}

describe('HTTP front door', () => {
  let gw: TestGateway;
  let port: number;
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
  });
  const post = (key: string, extra: Record<string, string> = {}, body = init) =>
    fetch(gw.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...extra,
      },
      body,
    });

  beforeAll(async () => {
    gw = await startGateway(
      `auth:\n  mode: api_key\n  keys:\n    - {agent: alice, key: ${ALICE}}\n    - {agent: bob, key: ${BOB}}\nservers:\n${stdioTestServer('t')}`,
    );
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('refuses Content-Length with Transfer-Encoding, and two different Content-Lengths (request smuggling)', async () => {
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${ALICE}\r\nContent-Type: application/json\r\n`;
    expect(await raw(port, `${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)).toBe(
      400,
    );
    expect(await raw(port, `${head}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`)).toBe(400);
    expect(await raw(port, `${head}X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}`)).toBe(400);
  });

  it('refuses JSON nested past the limit with 400 and -32600 naming it, before anything walks it (B3)', async () => {
    const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const body = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":${deep(6_000)}}}`;
    const refused = await post(ALICE, {}, body);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      jsonrpc: '2.0',
      id: 9,
      error: { code: -32600, message: `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels` },
    });
    // At the limit it is a message like any other (here: no session yet, so 400 for that reason).
    const atLimit = await post(
      ALICE,
      {},
      `{"jsonrpc":"2.0","id":10,"method":"ping","params":{"_meta":${deep(MAX_JSON_DEPTH - 3)}}}`,
    );
    expect(((await atLimit.json()) as { error: { message: string } }).error.message).toContain(
      'Mcp-Session-Id',
    );
  });

  it('answers 431 to headers over 16 KiB', async () => {
    const big = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    expect(await raw(port, big)).toBe(431);
  });

  it('refuses an Accept or Content-Type that Streamable HTTP cannot serve', async () => {
    expect((await post(ALICE, { accept: 'text/html' })).status).toBe(406);
    expect((await post(ALICE, { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('answers 404 to a session id opened by another principal, and never runs the request', async () => {
    const opened = await post(ALICE);
    const session = opened.headers.get('mcp-session-id') ?? '';
    await opened.text();
    expect(session).not.toBe('');
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const foreign = await post(
      BOB,
      { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
      list,
    );
    expect(foreign.status).toBe(404);
    await foreign.text();
    const own = await post(ALICE, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }, list);
    expect(own.status).toBe(200);
    await own.text();
  });

  it('never allows a foreign origin through CORS (no wildcard, no echo)', async () => {
    const preflight = await fetch(gw.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    await preflight.text();
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await post(ALICE, { origin: 'https://evil.example' });
    expect(simple.status).toBe(403);
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
  });
});
