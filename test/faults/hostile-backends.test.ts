/**
 * Backends that misbehave (research/security.md §6 J12): one that never answers at all, one that never
 * answers a call, one that floods stderr, one that writes a 100 MB line, one that writes garbage. The
 * gateway answers every request in bounded time and memory, keeps serving, and leaves no process behind.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveChildCount } from '../../src/backends/stdio-transport.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { HOSTILE_SERVER } from '../helpers/paths.js';
import { waitFor, zombiesOf } from '../helpers/processes.js';
import { failure, textOf } from '../helpers/results.js';

// per_session: the last test checks that a session's end takes its children with it.
const hostile = (name: string, extra = '') =>
  // per_session: each session's children are its own, so ending the session must leave none behind.
  `  ${name}:\n    command: ${process.execPath}\n    args: ["${HOSTILE_SERVER}"${extra}]\n    prefix: true\n    timeout: 2s\n    connect_timeout: 2s\n    isolation: per_session\n`;

const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

describe('hostile backends', () => {
  let gw: TestGateway;
  let client: Client;
  beforeAll(async () => {
    gw = await startGateway(
      `servers:\n${hostile('h')}${hostile('mute', ', "--no-initialize"')}${hostile('big').replace('timeout: 2s', 'timeout: 60s')}`,
    );
    client = await connectHttp(gw.url);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('a backend that never answers initialize: the session starts anyway, and its tools are unavailable', async () => {
    // The session's initialize returned (beforeAll) within connect_timeout; the other backend works.
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('h__stats');
    expect(tools.some((t) => t.startsWith('mute__'))).toBe(false);
    expect(textOf(await client.callTool({ name: 'h__stats', arguments: {} }))).toContain('"calls"');
  });

  it('a call that is never answered gets -32001 after the timeout, and the backend is told to cancel', async () => {
    const started = Date.now();
    const err = await failure(
      client.callTool({ name: 'h__silent', arguments: {} }, undefined, { timeout: 20_000 }),
    );
    expect(err.code).toBe(-32001);
    expect(Date.now() - started).toBeLessThan(10_000);
    const stats = JSON.parse(textOf(await client.callTool({ name: 'h__stats', arguments: {} }))) as {
      cancelled: number;
    };
    expect(stats.cancelled).toBeGreaterThanOrEqual(1);
  });

  it('50 MB on stderr is drained (rate-limited into the log) without holding up the answer or the memory', async () => {
    const before = rssMb();
    const result = await client.callTool({ name: 'h__flood_stderr', arguments: { mb: 50 } }, undefined, {
      timeout: 60_000,
    });
    expect(textOf(result)).toBe('flooded');
    expect(rssMb() - before).toBeLessThan(150);
  });

  it('a 100 MB line closes that backend (16 MiB message limit) with -32016, bounded memory, and a restart', async () => {
    const before = rssMb();
    const err = await failure(
      client.callTool({ name: 'big__huge_line', arguments: { mb: 100 } }, undefined, { timeout: 60_000 }),
    );
    expect(err.code).toBe(-32016);
    expect(rssMb() - before).toBeLessThan(200);
    // The backend is started again (backoff) and serves the next call.
    await waitFor(
      async () => {
        try {
          return textOf(await client.callTool({ name: 'h__stats', arguments: {} })).includes('"calls"');
        } catch {
          return false;
        }
      },
      20_000,
      'the restarted backend',
    );
  });

  it('lines that are not JSON-RPC are skipped; the answer after them arrives', async () => {
    expect(textOf(await client.callTool({ name: 'h__garbage', arguments: {} }))).toBe('after garbage');
  });

  it('leaves no child and no zombie once the session ends', async () => {
    // DELETE /mcp ends the session at once (a plain close would leave it to the idle TTL).
    await (client.transport as StreamableHTTPClientTransport).terminateSession();
    await client.close();
    await waitFor(() => liveChildCount() === 0, 15_000, 'every backend child to exit');
    expect(zombiesOf(process.pid)).toEqual([]);
    client = await connectHttp(gw.url);
  });
});
