/**
 * The README's first command ends in `npm run demo`: it must keep working. This runs the built demo and
 * checks the round trip it promises: refused without a key, calls through real servers, a payment held,
 * approved from another process, run exactly once, and an audit log whose chain verifies.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

const DEMO = path.join(ROOT, 'dist/tools/scripts/demo.js');

describe('npm run demo', () => {
  it('shows the approval round trip and ends with a verified audit log', { timeout: 120_000 }, async () => {
    expect(existsSync(DEMO), 'npm test builds the demo (build:tools) before the tests').toBe(true);
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [DEMO],
        { timeout: 100_000, env: { ...process.env, NO_COLOR: '1' } },
        (err, out) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: out }),
      );
    });
    expect(code, stdout).toBe(0);
    expect(stdout).toContain('status: 401');
    expect(stdout).toContain('everything.echo: Echo: hello through mcp-guard');
    expect(stdout).toMatch(/wallet\.pay \$25\.00: -32004 .*\n\s+approval_id: apr_/);
    expect(stdout).toMatch(/approved apr_\w+: demo-agent → wallet\.pay \(\$25\.00\)/);
    expect(stdout).toContain('wallet.pay $25.00: paid $25.00 to bob');
    expect(stdout).toMatch(/wallet\.pay \$25\.00 again: -32004/);
    expect(stdout).toMatch(/ok: \d+ lines verified/);
    // The dashboard's URL and a key to sign in with; the admin API answered the remote CLI.
    expect(stdout).toMatch(/approvals dashboard: http:\/\/127\.0\.0\.1:\d+\/ui\/\n/);
    expect(stdout).toMatch(/admin key to sign in: mcpg_admin_[A-Za-z0-9_-]{32}\n/);
    expect(stdout).toMatch(
      /the same through the admin API: [^\n]+\n\s+ID\s+STATUS[^\n]+\n\s+apr_\w+\s+pending\s+demo-agent/,
    );
  });
});
