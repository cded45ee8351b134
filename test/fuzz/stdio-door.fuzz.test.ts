/**
 * Property test of the stdio front door: a real `mcp-guard serve` process gets a few hundred hostile
 * lines (arbitraries.ts) in one session. Whatever they are: it never crashes or hangs (a ping sent last
 * is answered), every line it writes is a well-formed JSON-RPC 2.0 response, an error that cannot name
 * a request carries `"id": null`, no error leaks a stack trace, and its memory stays bounded.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { writeConfig } from '../helpers/gateway.js';
import { startStdioGateway } from '../helpers/stdio-gateway.js';
import { hostileLine } from './arbitraries.js';

const rssMbOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('stdio door under hostile input (property)', () => {
  it('answers well-formed, never crashes, never hangs, stays within memory', {
    timeout: 120_000,
  }, async () => {
    const gw = startStdioGateway(
      writeConfig(
        `policies:\n  deny: [delete_file]\n  spend_cap_usd: 100\nservers:\n${stdioTestServer('t')}`,
      ),
    );
    try {
      await gw.initialize();
      const lines = fc.sample(hostileLine, {
        numRuns: 400,
        seed: Number(process.env['FUZZ_SEED'] ?? 20261205),
      });
      for (const line of lines) gw.send(line);
      gw.send({ jsonrpc: '2.0', id: 'last-ping', method: 'ping' });
      await gw.next((l) => l['id'] === 'last-ping', 60_000);
      expect(gw.child.exitCode).toBeNull();
      expect(rssMbOf(gw.child.pid as number)).toBeLessThan(400);
      for (const out of gw.lines) {
        expect(out['jsonrpc']).toBe('2.0');
        const isResponse = 'result' in out || 'error' in out;
        const isNotification = typeof out['method'] === 'string' && !('id' in out);
        expect(isResponse || isNotification, JSON.stringify(out).slice(0, 200)).toBe(true);
        if ('error' in out) {
          const error = out['error'] as { code: unknown; message: unknown };
          expect(Number.isInteger(error.code)).toBe(true);
          expect(typeof error.message).toBe('string');
          expect(String(error.message)).not.toMatch(/\n\s+at /);
          expect('id' in out).toBe(true);
          const id = out['id'];
          expect(id === null || typeof id === 'string' || Number.isSafeInteger(id)).toBe(true);
        }
      }
      // It still does real work afterwards.
      const after = await gw.request('after', 'tools/call', {
        name: 'echo',
        arguments: { message: 'still here' },
      });
      expect(after['result']).toMatchObject({ content: [{ text: 'still here' }] });
      // A duplicate key picks one value, and policy decides on the value that is forwarded.
      gw.send(
        '{"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"echo","name":"delete_file","arguments":{"path":"/x"}}}',
      );
      expect((await gw.next((l) => l['id'] === 'dup'))['error']).toMatchObject({ code: -32011 });
    } finally {
      expect(await gw.close()).toBe(0);
    }
  });
});
