/**
 * Two agent windows that launch `mcp-guard serve` with the same config (one audit log, one state store):
 * both serve calls, their lines form one hash chain in one file, and `audit verify` passes. Before, the
 * second process failed at start ("audit log is in use by pid …", exit 70) and its agent saw
 * "Connection closed".
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';
import { tempDir, writeConfig } from '../helpers/gateway.js';
import { runCli } from '../helpers/processes.js';
import { startStdioGateway } from '../helpers/stdio-gateway.js';
import { readLines } from './helpers.js';

describe('several stdio gateways on one config', () => {
  it('both serve calls, and audit verify passes over what both wrote', async () => {
    const dir = tempDir();
    const audit = path.join(dir, 'audit.jsonl');
    const config = writeConfig(
      `policies:\n  audit_log: ${audit}\n  spend_cap_usd: 1000\nservers:\n${stdioTestServer('t')}`,
      dir,
    );
    const windows = [startStdioGateway(config), startStdioGateway(config)];
    try {
      await Promise.all(windows.map((w) => w.initialize()));
      // Interleaved bursts from both processes.
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          windows.flatMap((w, n) =>
            Array.from({ length: 10 }, (_, i) =>
              w.request(`${n}-${round}-${i}`, 'tools/call', {
                name: 'pay',
                arguments: { amount_usd: 1, to: `window-${n}` },
              }),
            ),
          ),
        );
      }
      for (const w of windows)
        expect(w.lines.filter((l) => 'result' in l && String(l['id']).includes('-'))).toHaveLength(50);
    } finally {
      for (const w of windows) expect(await w.close()).toBe(0);
    }
    for (const w of windows) expect(w.stderr()).not.toContain('in use by');
    const verify = await runCli(['audit', 'verify', '--config', config]);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    // Each call is two lines (the decision before forwarding, the outcome after).
    expect(verify.stdout).toContain('ok: 200 lines verified in 1 file');
    const records = (await readLines(audit)).map((l) => JSON.parse(l) as { args: { to: string } | null });
    for (const n of [0, 1]) expect(records.filter((r) => r.args?.to === `window-${n}`)).toHaveLength(100);
  });

  it('a log that cannot be continued stops serve with one line on stderr and exit 1', async () => {
    const dir = tempDir();
    const audit = path.join(dir, 'audit.jsonl');
    writeFileSync(audit, '{"event":"call","prev_hash":"x","hash":"y"}\n');
    const config = writeConfig(`policies:\n  audit_log: ${audit}\nservers:\n${stdioTestServer('t')}`, dir);
    const gw = startStdioGateway(config);
    const code = await new Promise((resolve) => gw.child.once('exit', resolve));
    expect(code).toBe(1);
    const lines = gw.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mcp-guard: the last line of .*audit\.jsonl is damaged/);
  });
});
