/**
 * The stdio transport's hot path with real child processes: messages sent in one event-loop turn reach
 * the child in one pipe write; stdout is split into lines however it is chunked (CRLF too), a stray
 * non-JSON line is reported and skipped, and a line past the size limit closes the child.
 */
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StdioBackendTransport } from '../../src/backends/stdio-transport.js';
import { silentLogger } from '../../src/core/logger.js';
import type { JSONRPCMessage } from '../../src/mcp/messages.js';
import { TEST_SERVER } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';

function transportFor(args: string[], maxMessageBytes?: number) {
  const transport = new StdioBackendTransport({
    command: process.execPath,
    args,
    env: {},
    logger: silentLogger,
    maxMessageBytes,
    closeTimeoutsMs: { stdin: 500, term: 500 },
  });
  const messages: JSONRPCMessage[] = [];
  const errors: string[] = [];
  let closed = false;
  transport.onmessage = (m) => messages.push(m);
  transport.onerror = (e) => errors.push(e.message);
  transport.onclose = () => {
    closed = true;
  };
  return { transport, messages, errors, closed: () => closed };
}

/** A child that writes `chunks` to stdout with a pause between them, then waits for stdin to end. */
function writer(chunks: string[]): string[] {
  const script = `
    const chunks = ${JSON.stringify(chunks)};
    let i = 0;
    const next = () => { if (i < chunks.length) { process.stdout.write(chunks[i++]); setTimeout(next, 30); } };
    next();
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  return ['-e', script];
}

describe('the stdio transport', () => {
  it('writes every message sent in one event-loop turn to the child in one pipe write', async () => {
    const { transport, messages } = transportFor([TEST_SERVER, '--stdio']);
    await transport.start();
    try {
      const stdin = (transport as unknown as { child: { stdin: Writable } }).child.stdin;
      let writes = 0;
      const write = stdin.write.bind(stdin) as (chunk: unknown, ...rest: unknown[]) => boolean;
      stdin.write = ((chunk: unknown, ...rest: unknown[]) => {
        writes++;
        return write(chunk, ...rest);
      }) as typeof stdin.write;
      await transport.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      } as JSONRPCMessage);
      await waitFor(() => messages.length === 1, 5_000, 'the initialize result');
      expect(writes).toBe(1);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          transport.send({ jsonrpc: '2.0', id: i + 1, method: 'ping' } as JSONRPCMessage),
        ),
      );
      expect(writes).toBe(2);
      await waitFor(() => messages.length === 51, 5_000, 'fifty ping answers');
      expect(messages.slice(1).map((m) => ('id' in m ? m.id : undefined))).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    } finally {
      await transport.close();
    }
  });

  it('reads lines however stdout is chunked, with CRLF too, and skips a line that is not JSON-RPC', async () => {
    const { transport, messages, errors } = transportFor(
      writer([
        '{"jsonrpc":"2.0","method":"notifications/a"',
        ',"params":{"x":"é"}}\n{"jsonrpc":"2.0","id":1,"result":{}}\r\n',
        'hello from a stray print\n\n',
        '{"jsonrpc":"1.0","id":2,"result":{}}\n{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}\n',
      ]),
    );
    await transport.start();
    try {
      await waitFor(() => messages.length === 3 && errors.length === 2, 5_000, 'three messages, two errors');
      expect(messages).toEqual([
        { jsonrpc: '2.0', method: 'notifications/a', params: { x: 'é' } },
        { jsonrpc: '2.0', id: 1, result: {} },
        { jsonrpc: '2.0', id: 3, error: { code: 1, message: 'm' } },
      ]);
      expect(errors[0]).toMatch(/^backend wrote a line that is not JSON-RPC: /);
      expect(errors[1]).toBe('backend wrote a line that is not JSON-RPC: jsonrpc is not "2.0"');
    } finally {
      await transport.close();
    }
  });

  it('closes a child whose line outgrows the limit', async () => {
    const { transport, errors, closed } = transportFor(writer(['x'.repeat(600), 'y'.repeat(600)]), 1_024);
    await transport.start();
    await waitFor(closed, 5_000, 'the child to be closed');
    expect(errors).toEqual(['backend sent an oversized message (more than 1024 bytes without a newline)']);
  });
});
