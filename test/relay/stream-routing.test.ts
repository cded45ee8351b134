/**
 * Which stream a backend's messages ride, seen with plain fetch (no SDK client, so no standalone GET
 * stream exists). A message not tied to a request is dropped when no GET stream is open, so everything
 * here arrives only if the gateway sends it on the response of the request that caused it: progress
 * (with the agent's own token), logging and a sampling request all come there, before its result. A
 * request that needs nothing streamed is answered as plain JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { RawSession } from '../helpers/sse.js';

describe('backend messages on the POST stream of the request that caused them', () => {
  let gw: TestGateway;
  let session: RawSession;
  beforeAll(async () => {
    gw = await startGateway(`servers:\n${stdioTestServer('t')}`);
    session = new RawSession(gw.url);
    await session.initialize({ sampling: {} });
  });
  afterAll(async () => {
    await session?.close();
    await gw?.close();
  });

  it('carries progress with the agent token and log messages before the result', async () => {
    const stream = await session.request(41, 'tools/call', {
      name: 'progress',
      arguments: { steps: 3, delay_ms: 5, log: true },
      _meta: { progressToken: 'tok-A' },
    });
    const messages = await stream.untilResponse(41);
    const result = messages.at(-1);
    expect(result).toMatchObject({ id: 41, result: { content: [{ type: 'text', text: 'done' }] } });
    const before = messages.slice(0, -1);
    expect(before.filter((m) => m.method === 'notifications/progress').map((m) => m['params'])).toEqual([
      { progressToken: 'tok-A', progress: 1, total: 3 },
      { progressToken: 'tok-A', progress: 2, total: 3 },
      { progressToken: 'tok-A', progress: 3, total: 3 },
    ]);
    expect(before.filter((m) => m.method === 'notifications/message').map((m) => m['params'])).toEqual([
      { level: 'info', logger: 't', data: 'step 1' },
      { level: 'info', logger: 't', data: 'step 2' },
      { level: 'info', logger: 't', data: 'step 3' },
    ]);
    // Nothing else rode this stream.
    expect(before).toHaveLength(6);
    // The answer waited for nothing else, then had to stream: the response switched to SSE.
    expect(stream.mode).toBe('sse');
  });

  it('answers a call that streams nothing as one application/json response', async () => {
    const response = await session.post({
      jsonrpc: '2.0',
      id: 'plain',
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'json please' } },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('mcp-session-id')).toBe(session.id);
    expect(await response.json()).toEqual({
      jsonrpc: '2.0',
      id: 'plain',
      result: { content: [{ type: 'text', text: 'json please' }] },
    });
  });

  it('answers a request reusing an id in flight on its own response; the first still gets its result', async () => {
    const first = session.request('dup', 'tools/call', { name: 'slow', arguments: { ms: 300 } });
    await new Promise((r) => setTimeout(r, 50));
    const second = await session.request('dup', 'tools/call', { name: 'echo', arguments: { message: 'x' } });
    expect(await second.next()).toMatchObject({
      id: 'dup',
      error: { code: -32600, message: expect.stringContaining('already in use') },
    });
    const answer = await (await first).next(5_000);
    expect(answer).toMatchObject({ id: 'dup', result: { content: [{ type: 'text' }] } });
    expect(answer['error']).toBeUndefined();
  });

  it('carries a sampling request on the POST stream; the POSTed answer completes the call', async () => {
    const stream = await session.request('call-s', 'tools/call', {
      name: 'sample',
      arguments: { prompt: 'say hi' },
    });
    const request = await stream.next();
    expect(request).toMatchObject({
      method: 'sampling/createMessage',
      params: { messages: [{ role: 'user', content: { type: 'text', text: 'say hi' } }], maxTokens: 50 },
    });
    expect(request.id).toBeDefined();
    const answered = await session.post({
      jsonrpc: '2.0',
      id: request.id,
      result: { role: 'assistant', content: { type: 'text', text: 'hi from raw fetch' }, model: 'raw' },
    });
    expect(answered.status).toBe(202);
    await answered.body?.cancel();
    const rest = await stream.untilResponse('call-s');
    expect(rest).toEqual([
      {
        jsonrpc: '2.0',
        id: 'call-s',
        result: { content: [{ type: 'text', text: 'hi from raw fetch' }] },
      },
    ]);
  });
});
