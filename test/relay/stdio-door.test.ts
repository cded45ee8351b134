/**
 * The stdio front door: what `mcp-guard serve` does with lines no well-behaved agent sends.
 * - one size limit for both fronts: `http.max_body_bytes` (default 4 MiB) bounds a stdio line too, measured
 *   in bytes, not characters (B5);
 * - every error that cannot name a request carries `"id": null`, as JSON-RPC 2.0 asks (B5);
 * - JSON nested deeper than the limit is refused with -32600 naming it, before anything runs: no stack
 *   overflow, no spend reserved (B3);
 * - bytes that are not UTF-8 are a parse error, not silently replaced.
 */
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/mcp/json-limits.js';
import { windowStart } from '../../src/stages/spend/spend-stage.js';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';
import { stdioTestServer } from '../helpers/backends.js';
import { tempDir, writeConfig } from '../helpers/gateway.js';
import { startStdioGateway } from '../helpers/stdio-gateway.js';

const DEFAULT_LIMIT = 4 * 1024 * 1024;

/** A ping whose line is exactly `bytes` long in UTF-8, padded with 'é' (2 bytes, 1 character). */
function pingOfBytes(id: number, bytes: number): string {
  const head = `{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"pad":"`;
  const tail = '"}}';
  const padBytes = bytes - Buffer.byteLength(head + tail);
  const line = head + 'é'.repeat(Math.floor(padBytes / 2)) + 'x'.repeat(padBytes % 2) + tail;
  expect(Buffer.byteLength(line)).toBe(bytes);
  // Far fewer characters than bytes: a character count would let the over-limit line through.
  expect(line.length).toBeLessThan(bytes * 0.6);
  return line;
}

/** `{"a":{"a":…1…}}` nested `depth` objects deep. */
function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('stdio front door', () => {
  it('takes its line limit from http.max_body_bytes (4 MiB by default), in bytes', async () => {
    const gw = startStdioGateway(writeConfig(`servers:\n${stdioTestServer('t')}`));
    try {
      gw.send(pingOfBytes(1, DEFAULT_LIMIT));
      gw.send(pingOfBytes(2, DEFAULT_LIMIT + 1));
      // What the security review sent: a 6 MB line, accepted before while HTTP refused it.
      gw.send(pingOfBytes(3, 6_000_000));
      gw.send('{"jsonrpc":"2.0","id":4,"method":"ping"}');
      await gw.next((l) => l['id'] === 4);
      const tooLarge = {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: `Invalid Request: message larger than ${DEFAULT_LIMIT} bytes` },
      };
      expect(gw.lines).toEqual([
        { jsonrpc: '2.0', id: 1, result: {} },
        tooLarge,
        tooLarge,
        { jsonrpc: '2.0', id: 4, result: {} },
      ]);
      expect(await gw.close()).toBe(0);
    } finally {
      gw.child.kill('SIGKILL');
    }
  });

  it('applies a configured http.max_body_bytes to stdio as well', async () => {
    const gw = startStdioGateway(
      writeConfig(`http:\n  max_body_bytes: 2000\nservers:\n${stdioTestServer('t')}`),
    );
    try {
      gw.send(pingOfBytes(1, 2000));
      gw.send(pingOfBytes(2, 2001));
      gw.send('{"jsonrpc":"2.0","id":3,"method":"ping"}');
      await gw.next((l) => l['id'] === 3);
      expect(gw.lines).toContainEqual({ jsonrpc: '2.0', id: 1, result: {} });
      expect(gw.lines).toContainEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: 'Invalid Request: message larger than 2000 bytes' },
      });
      expect(gw.lines).toHaveLength(3);
    } finally {
      await gw.close();
    }
  });

  it('answers a parse error and an unusable id with "id": null', async () => {
    const gw = startStdioGateway(writeConfig(`servers:\n${stdioTestServer('t')}`));
    try {
      gw.send('{not json');
      gw.send('{"jsonrpc":"2.0","id":null,"method":"ping"}');
      gw.send('{"jsonrpc":"2.0","id":1.5,"method":"ping"}');
      gw.send('[{"jsonrpc":"2.0","id":1,"method":"ping"}]');
      // 0xC3 0x28 is not UTF-8; before, it became U+FFFD and the message ran as if the agent had sent that.
      const head = Buffer.from('{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":"');
      gw.child.stdin?.write(Buffer.concat([head, Buffer.from([0xc3, 0x28]), Buffer.from('"}}\n')]));
      gw.send('{"jsonrpc":"2.0","id":2,"method":"ping"}');
      await gw.next((l) => l['id'] === 2);
      const errors = gw.lines.filter((l) => 'error' in l);
      expect(errors.map((e) => [e['id'], (e['error'] as { code: number }).code])).toEqual([
        [null, -32700],
        [null, -32600],
        [null, -32600],
        [null, -32600],
        [null, -32700],
      ]);
      for (const e of errors) expect(Object.keys(e)).toEqual(['jsonrpc', 'id', 'error']);
      expect(gw.lines.some((l) => l['id'] === 9)).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('refuses JSON nested past the limit with -32600 naming it, and reserves no spend (B3)', async () => {
    const dir = tempDir();
    const db = `${dir}/state.db`;
    const gw = startStdioGateway(
      writeConfig(
        `policies:\n  spend_cap_usd: 100\nstate:\n  store: sqlite\n  path: ${db}\nservers:\n${stdioTestServer('t')}`,
        dir,
      ),
    );
    try {
      await gw.initialize();
      const call = (id: number, meta: string) =>
        `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"pay","arguments":{"amount_usd":3},"_meta":${meta}}}`;
      // The review's input: 6,000 levels of _meta. Before: a stack overflow, reported as -32016, and $3 kept.
      gw.send(call(1, nested(6_000)));
      const refused = await gw.next((l) => l['id'] === 1);
      expect(refused['error']).toEqual({
        code: -32600,
        message: `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
      });
      // Far deeper still, and a deep array: the check itself must not overflow either.
      gw.send(
        `{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}}`,
      );
      expect((await gw.next((l) => l['id'] === 2))['error']).toMatchObject({ code: -32600 });
      // Just inside the limit passes (the message, params and _meta take three levels).
      gw.send(call(3, nested(MAX_JSON_DEPTH - 3)));
      expect(await gw.next((l) => l['id'] === 3)).toMatchObject({
        result: { content: [{ text: 'paid 3' }] },
      });
      expect(await gw.close()).toBe(0);
      const store = new SqliteStateStore(db);
      try {
        // Only the call that ran is counted.
        expect(await store.getSpend('agent:anonymous', windowStart(Date.now(), 86_400_000))).toBe(3_000_000);
      } finally {
        await store.close();
      }
    } finally {
      gw.child.kill('SIGKILL');
    }
  });
});
