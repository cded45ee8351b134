/**
 * No false alarms on the reference servers: every tool, prompt and resource template of
 * server-everything and server-filesystem is pinned quietly on first sight under `enforce` (none is
 * flagged as poisoned, none hidden), and listing again changes nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectHttp, startGateway } from '../helpers/gateway.js';
import { EVERYTHING, FILESYSTEM } from '../helpers/paths.js';
import { runCli } from '../helpers/processes.js';

describe('pinning the reference servers', () => {
  it('pins everything they offer without flagging any of it', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'mcpg-fs-'));
    const gw = await startGateway(`
policies:
  pinning: enforce
servers:
  everything:
    command: ${process.execPath}
    args: ["${EVERYTHING}", "stdio"]
  filesystem:
    command: ${process.execPath}
    args: ["${FILESYSTEM}", "${root}"]
`);
    try {
      const client = await connectHttp(gw.url);
      const tools = (await client.listTools()).tools;
      const prompts = (await client.listPrompts()).prompts;
      const templates = (await client.listResourceTemplates()).resourceTemplates;
      expect(tools.length).toBeGreaterThan(20);
      expect(prompts.length).toBeGreaterThan(0);
      expect(templates.length).toBeGreaterThan(0);
      // Listed again: the same, nothing quarantined in between.
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(tools.map((t) => t.name));
      const pins = JSON.parse(
        (await runCli(['tools', 'list', '--json', '--config', gw.configFile])).stdout,
      ) as Array<{
        server: string;
        name: string;
        status: string;
        pending: { markers: string[] } | null;
      }>;
      expect(pins.filter((p) => p.status !== 'pinned')).toEqual([]);
      expect(pins.length).toBe(tools.length + prompts.length + templates.length);
      await client.close();
    } finally {
      await gw.close();
    }
  });
});
