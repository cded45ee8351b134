import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();
const run = promisify(execFile);
const DOC = fileURLToPath(new URL('../../docs/audit.md', import.meta.url));

/** The shell verifier printed in docs/audit.md, so the documented definition is the tested one. */
async function docScript(dir: string): Promise<string> {
  const doc = await readFile(DOC, 'utf8');
  const m = /<!-- verify-script -->\n```sh\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('verify script block not found in docs/audit.md');
  const path = join(dir, 'verify.sh');
  await writeFile(path, m[1]!);
  return path;
}

async function runScript(script: string, log: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run('bash', [script, log]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

describe('the shell verifier in docs/audit.md', () => {
  test('agrees with verifyAuditFile on a valid log, a tampered one and one with a removed line', async () => {
    const dir = await makeTempDir();
    const script = await docScript(dir);
    const path = join(dir, 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    for (let i = 1; i <= 4; i++) {
      await log.append({
        event: 'call',
        agent: 'zoë',
        tool: 'pay',
        request_id: i,
        // A key named "hash" and a backslash inside the arguments must not confuse the suffix cut.
        args: { hash: `h${i}`, note: 'a\\b "quoted" ✓', nested: { prev_hash: 'x' } },
      });
    }
    await log.close();
    const verified = await verifyAuditFile(path);
    expect(verified.ok).toBe(true);
    const ok = await runScript(script, path);
    expect(ok).toEqual({ code: 0, out: `ok: 4 lines, head ${verified.ok ? verified.head : ''}\n` });

    const lines = await readLines(path);
    await writeFile(
      path,
      `${[lines[0], lines[1]!.replace('"request_id":2', '"request_id":3'), lines[2], lines[3]].join('\n')}\n`,
    );
    expect(await runScript(script, path)).toEqual({ code: 1, out: 'line 2: edited\n' });

    await writeFile(path, `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    expect(await runScript(script, path)).toEqual({ code: 1, out: 'line 2: prev_hash mismatch\n' });
  });
});
