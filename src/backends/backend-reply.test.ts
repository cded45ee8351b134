import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchRequest, type Reply, ReplyBody, RequestGroup, readText } from './backend-reply.js';

let server: Server;
let origin: string;
const agent = new Agent();
/** Responses the test holds open, to end or cut them later. */
const held: ServerResponse[] = [];
let bigWritten = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/json') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 's-1', 'X-Twice': 'a' });
      res.end('{"ok":"é"}');
    } else if (req.url === '/big') {
      // 20 MB as fast as the socket takes it; how much went out is counted for the test.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = () => {
        while (bigWritten < 20 * 1024 * 1024) {
          bigWritten += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</x>; rel=preload' });
      res.writeHead(202);
      res.end();
    } else {
      // /hold: the head and a first chunk now, the rest when the test says.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      held.push(res);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  await agent.close();
  await new Promise((resolve) => server.close(resolve));
});

const get = (path: string, stopper: RequestGroup | AbortSignal = new RequestGroup()) =>
  dispatchRequest(agent, { origin, path, method: 'GET', headers: {} }, stopper);

/** Collects a body's chunks as text and how it ended. */
function collect(reply: Reply): Promise<{ text: string; error?: Error }> {
  let text = '';
  return new Promise((resolve) =>
    reply.body.consume({
      data: (chunk) => {
        text += chunk.toString();
      },
      end: (error) => resolve(error ? { text, error } : { text }),
    }),
  );
}

describe('dispatchRequest', () => {
  it('gives the status, any header by its lower-case name, and the body as UTF-8', async () => {
    const reply = await get('/json');
    expect(reply.statusCode).toBe(200);
    expect(reply.header('content-type')).toBe('application/json');
    expect(reply.header('mcp-session-id')).toBe('s-1');
    expect(reply.header('www-authenticate')).toBeUndefined();
    expect(await readText(reply.body, 1_000)).toBe('{"ok":"é"}');
  });

  it('skips a 1xx head and answers with the final one', async () => {
    const reply = await get('/hints');
    expect(reply.statusCode).toBe(202);
    expect(await collect(reply)).toEqual({ text: '' });
  });

  it('refuses a body over the limit, ending it with an error', async () => {
    const reply = await get('/json');
    await expect(readText(reply.body, 5)).rejects.toThrow('oversized body');
  });

  it("a group's stop ends the streams in flight and refuses requests started after it", async () => {
    const group = new RequestGroup();
    const reply = await get('/hold', group);
    const ended = collect(reply);
    await new Promise((resolve) => setTimeout(resolve, 20));
    group.stop(new Error('closed'));
    expect(await ended).toMatchObject({ text: 'data: 1\n\n', error: { message: 'closed' } });
    await expect(get('/json', group)).rejects.toThrow('closed');
  });

  it('an aborted signal ends the stream; one aborted before refuses at once', async () => {
    const controller = new AbortController();
    const reply = await get('/hold', controller.signal);
    const ended = collect(reply);
    (held.at(-1) as ServerResponse).write('data: 2\n\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new Error('timed out'));
    expect(await ended).toMatchObject({ text: 'data: 1\n\ndata: 2\n\n', error: { message: 'timed out' } });
    await expect(get('/json', AbortSignal.abort(new Error('no')))).rejects.toThrow('no');
  });

  it('a body nobody reads yet pauses the socket, and flows in full once read', async () => {
    const reply = await get('/big');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Unpaused, loopback moves hundreds of MB in 300 ms; paused, what the socket buffers hold.
    expect(bigWritten).toBeLessThan(16 * 1024 * 1024);
    let received = 0;
    const ended = await new Promise<Error | undefined>((resolve) =>
      reply.body.consume({
        data: (chunk) => {
          received += chunk.length;
        },
        end: resolve,
      }),
    );
    expect(ended).toBeUndefined();
    expect(received).toBe(20 * 1024 * 1024);
  });

  it('a stop while the request waits for its connection refuses it at once', async () => {
    // A connector that never connects: the request stays queued.
    const stuck = new Agent({ connect: () => {} });
    const group = new RequestGroup();
    const pending = dispatchRequest(stuck, { origin, path: '/json', method: 'GET', headers: {} }, group);
    await new Promise((resolve) => setTimeout(resolve, 50));
    group.stop(new Error('closed'));
    await expect(pending).rejects.toThrow('closed');
    const timedOut = dispatchRequest(
      stuck,
      { origin, path: '/json', method: 'GET', headers: {} },
      AbortSignal.timeout(50),
    );
    await expect(timedOut).rejects.toThrow(/timeout|aborted/i);
    await stuck.destroy();
  });

  it('a connection refused rejects the request', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      dispatchRequest(
        agent,
        { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET', headers: {} },
        new RequestGroup(),
      ),
    ).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});

/** A body that already received `chunks` and has no reader yet; `cut` collects its aborts. */
function bodyHolding(...chunks: string[]): { body: ReplyBody; cut: Error[] } {
  const cut: Error[] = [];
  const body = new ReplyBody((error) => cut.push(error));
  for (const chunk of chunks) body.push(Buffer.from(chunk));
  return { body, cut };
}

describe('ReplyBody', () => {
  it('keeps chunks until consumed, then streams the rest; the end is told once', () => {
    const { body, cut } = bodyHolding('a', 'b');
    const seen: string[] = [];
    let ends = 0;
    body.consume({ data: (c) => seen.push(c.toString()), end: () => ends++ });
    body.push(Buffer.from('c'));
    body.finish();
    body.finish(new Error('late'));
    body.destroy(new Error('later'));
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(ends).toBe(1);
    expect(cut).toEqual([]);
  });

  it('a sink that destroys the body on a kept chunk gets nothing more, and the request is cut', () => {
    const { body, cut } = bodyHolding('too big', 'more');
    const seen: string[] = [];
    const ends: Array<Error | undefined> = [];
    body.consume({
      data: (c) => {
        seen.push(c.toString());
        body.destroy(new Error('over the limit'));
      },
      end: (error) => ends.push(error),
    });
    body.finish();
    expect(seen).toEqual(['too big']);
    expect(ends.map((e) => e?.message)).toEqual(['over the limit']);
    expect(cut.map((e) => e.message)).toEqual(['over the limit']);
  });
});
