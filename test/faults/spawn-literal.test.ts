/**
 * A stdio server's arguments and env are passed to it literally, never through a shell
 * (research/security.md §6 P1): `; touch …`, `$(touch …)` and backticks create nothing.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectHttp, startGateway, tempDir } from '../helpers/gateway.js';
import { HOSTILE_SERVER } from '../helpers/paths.js';
import { textOf } from '../helpers/results.js';

describe('spawning stdio servers', () => {
  it('passes shell syntax in args and env as plain text', async () => {
    const dir = tempDir();
    const marks = ['semicolon', 'substitution', 'backticks', 'env'].map((m) => path.join(dir, m));
    const gw = await startGateway(`
servers:
  h:
    command: ${process.execPath}
    args: ["${HOSTILE_SERVER}", "; touch ${marks[0]}", "$(touch ${marks[1]})", "\`touch ${marks[2]}\`"]
    env:
      INJECT: "$(touch ${marks[3]})"
`);
    try {
      const client = await connectHttp(gw.url);
      expect(textOf(await client.callTool({ name: 'stats', arguments: {} }))).toContain('"calls"');
      await client.close();
      for (const mark of marks) expect(existsSync(mark), mark).toBe(false);
    } finally {
      await gw.close();
    }
  });
});
