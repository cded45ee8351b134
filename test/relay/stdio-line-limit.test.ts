/**
 * The stdio front's line limit (16 MiB) counts bytes, not characters: a line of two-byte characters
 * whose character count is half the limit but whose size is just over it is refused with -32600, while
 * one of exactly the limit is accepted, and the front keeps working after a refusal.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { writeConfig } from '../helpers/gateway.js';
import { CLI } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';

const LIMIT = 16 * 1024 * 1024;

/** A ping whose line is exactly `bytes` long in UTF-8, padded with 'é' (2 bytes, 1 character). */
function pingOfBytes(id: number, bytes: number): string {
  const head = `{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"pad":"`;
  const tail = '"}}';
  const padBytes = bytes - Buffer.byteLength(head + tail);
  const line = head + 'é'.repeat(Math.floor(padBytes / 2)) + 'x'.repeat(padBytes % 2) + tail;
  expect(Buffer.byteLength(line)).toBe(bytes);
  // Far fewer characters than bytes: a character count would let the over-limit line through.
  expect(line.length).toBeLessThan(LIMIT * 0.6);
  return line;
}

describe('stdio front line limit', () => {
  it('measures a line in bytes: exactly the limit passes, one more byte is refused', async () => {
    const configFile = writeConfig(`servers:\n${stdioTestServer('t')}`);
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    try {
      const lines: Array<Record<string, unknown>> = [];
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          lines.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
        }
      });
      child.stdin.write(`${pingOfBytes(1, LIMIT)}\n`);
      child.stdin.write(`${pingOfBytes(2, LIMIT + 1)}\n`);
      child.stdin.write('{"jsonrpc":"2.0","id":3,"method":"ping"}\n');
      await waitFor(() => lines.some((l) => l['id'] === 3), 15_000, 'the answer to the last ping');
      expect(lines).toEqual([
        { jsonrpc: '2.0', id: 1, result: {} },
        {
          jsonrpc: '2.0',
          error: { code: -32600, message: `Invalid Request: message larger than ${LIMIT} bytes` },
        },
        { jsonrpc: '2.0', id: 3, result: {} },
      ]);
      child.stdin.end();
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
