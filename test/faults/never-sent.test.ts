/**
 * A backend connection tells "failed before anything was sent" apart from "failed after", because a spend
 * reservation may be given back only in the first case (B3): a 100,000-level value that cannot be
 * serialised, a connection already closed, a caller that had already cancelled. A real child (our test
 * server) is on the other end; it must see none of these requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BackendConnection } from '../../src/backends/connection.js';
import { StdioBackendTransport } from '../../src/backends/stdio-transport.js';
import { wasNeverSent } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { TEST_SERVER } from '../helpers/paths.js';

let conn: BackendConnection | undefined;
afterEach(async () => {
  await conn?.close();
});

async function open(): Promise<BackendConnection> {
  const c = new BackendConnection({
    server: 't',
    transport: new StdioBackendTransport({
      command: process.execPath,
      args: [TEST_SERVER, '--stdio'],
      env: {},
      logger: silentLogger,
    }),
    logger: silentLogger,
    roots: [],
  });
  await c.open(
    { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    15_000,
  );
  return c;
}

async function calls(c: BackendConnection): Promise<number> {
  const result = await c.request('tools/call', { name: 'stats', arguments: {} }, { timeoutMs: 10_000 });
  const text = (result['content'] as Array<{ text: string }>)[0]?.text ?? '{}';
  return (JSON.parse(text) as { calls: number }).calls;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('requests that never left the gateway', () => {
  it('an unserialisable message fails with -32016 marked never-sent, and the backend saw nothing', async () => {
    conn = await open();
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const err = await failure(
      conn.request('tools/call', { name: 'echo', arguments: { message: 'x', deep } }, { timeoutMs: 10_000 }),
    );
    expect(err).toMatchObject({ code: -32016 });
    expect(wasNeverSent(err)).toBe(true);
    // The connection is still usable, and only the stats calls themselves were counted.
    expect(await calls(conn)).toBe(1);
  });

  it('a request on a closed connection or for a caller that already cancelled is marked too', async () => {
    conn = await open();
    const cancelled = new AbortController();
    cancelled.abort(new Error('the agent cancelled'));
    const early = await failure(
      conn.request(
        'tools/call',
        { name: 'echo', arguments: { message: 'x' } },
        { timeoutMs: 10_000, signal: cancelled.signal },
      ),
    );
    expect(wasNeverSent(early)).toBe(true);
    expect(await calls(conn)).toBe(1);
    await conn.close();
    const closed = await failure(
      conn.request('tools/call', { name: 'echo', arguments: { message: 'x' } }, { timeoutMs: 10_000 }),
    );
    expect(closed).toMatchObject({ code: -32016 });
    expect(wasNeverSent(closed)).toBe(true);
  });

  it('a request the backend received is not marked, even when it then fails', async () => {
    conn = await open();
    const err = await failure(
      conn.request('tools/call', { name: 'crash', arguments: {} }, { timeoutMs: 10_000 }),
    );
    expect(err).toMatchObject({ code: -32016 });
    expect(wasNeverSent(err)).toBe(false);
  });
});
