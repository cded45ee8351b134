import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { formatRecord } from '../../src/audit/format.js';
import { auditTail, auditVerify } from '../../src/cli/audit.js';
import { ExitError } from '../../src/core/errors.js';
import { Collect, cleanTempDirs, makeTempDir } from './helpers.js';

cleanTempDirs();

async function makeLog(n: number, options: { rotateBytes?: number } = {}): Promise<string> {
  const path = join(await makeTempDir(), 'audit.jsonl');
  const log = await AuditLog.open({ path, fsync: 'never', ...options });
  for (let i = 1; i <= n; i++) {
    await log.append({
      event: 'call',
      agent: 'alice',
      server: 'wallet',
      tool: 'pay',
      request_id: i,
      amount_usd: i,
      decision: 'allowed',
      outcome: 'ok',
      latency_ms: 3,
    });
  }
  await log.close();
  return path;
}

/** Resolves once `collect` has received text matching `re` (polling, bounded). */
async function waitFor(collect: Collect, re: RegExp, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!re.test(collect.text)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${re}; got:\n${collect.text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('audit verify', () => {
  test('prints the line and file count and the head hash on success', async () => {
    const path = await makeLog(3);
    const out = new Collect();
    const err = new Collect();
    await auditVerify({ file: path, out, err });
    expect(out.text).toMatch(/^ok: 3 lines verified in 1 files\nhead: [0-9a-f]{64}\n$/);
    expect(err.text).toBe('');
  });

  test('names the first bad line and exits 1 on tampering', async () => {
    const path = await makeLog(3);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"request_id":2', '"request_id":20'));
    const out = new Collect();
    const e = await auditVerify({ file: path, out, err: new Collect() }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExitError);
    expect(e).toMatchObject({ exitCode: 1, message: '' });
    expect(out.text).toBe(`audit chain broken at ${path}:2: hash mismatch: the line was edited\n`);
  });

  test('a missing file exits 1 with a message', async () => {
    const file = join(await makeTempDir(), 'missing.jsonl');
    await expect(auditVerify({ file, out: new Collect(), err: new Collect() })).rejects.toMatchObject({
      exitCode: 1,
      message: `audit log not found: ${file}`,
    });
  });

  test('fails when the first lines of a log that never rotated were removed', async () => {
    const path = await makeLog(4);
    const lines = (await readFile(path, 'utf8')).split('\n');
    await writeFile(path, lines.slice(2).join('\n'));
    const out = new Collect();
    const err = new Collect();
    await expect(auditVerify({ file: path, out, err })).rejects.toMatchObject({ exitCode: 1 });
    expect(`${out.text}${err.text}`).toContain(`${path}:1`);
    expect(`${out.text}${err.text}`).toContain('the oldest lines were removed');
  });
});

describe('audit tail', () => {
  test('-n prints the last N records, one readable line each', async () => {
    const path = await makeLog(5);
    const out = new Collect();
    await auditTail({ file: path, lines: 2, follow: false, out });
    const printed = out.text.trimEnd().split('\n');
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}call {14}agent=alice {2}wallet\.pay {2}allowed\/ok {2}\$4\.00 {2}3ms$/,
    );
    expect(printed[1]).toContain('$5.00');
  });

  test('--json prints the raw lines', async () => {
    const path = await makeLog(3);
    const out = new Collect();
    await auditTail({ file: path, lines: 10, follow: false, json: true, out });
    expect(out.text).toBe(await readFile(path, 'utf8'));
  });

  test('-n 0 prints nothing; a bad -n is a usage error', async () => {
    const path = await makeLog(3);
    const out = new Collect();
    await auditTail({ file: path, lines: 0, follow: false, out });
    expect(out.text).toBe('');
    await expect(auditTail({ file: path, lines: -1, follow: false, out })).rejects.toMatchObject({
      exitCode: 2,
    });
  });

  test('after a rotation, -n reaches back into the .1 file', async () => {
    const path = await makeLog(30, { rotateBytes: 3000 });
    const live = (await readFile(path, 'utf8')).trimEnd().split('\n').length;
    const want = live + 3;
    const out = new Collect();
    await auditTail({ file: path, lines: want, follow: false, out, json: true });
    const ids = out.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).request_id);
    expect(ids).toEqual(Array.from({ length: want }, (_, i) => 30 - want + 1 + i));
  });

  test('control characters from agents are escaped, never sent to the terminal', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({
      event: 'call',
      agent: '\u001b]0;pwned\u0007',
      tool: 'x\u001b[2Jy',
      reason: 'a\nb\u202ec',
    });
    await log.close();
    const out = new Collect();
    await auditTail({ file: path, lines: 1, follow: false, out });
    const printed = [...out.text.slice(0, -1)].map((c) => c.codePointAt(0)!);
    expect(printed.filter((c) => c < 0x20 || c === 0x7f || c === 0x202e)).toEqual([]);
    expect(out.text).toContain('\\u{1b}[2J');
    expect(out.text).toContain('reason=a\\u{a}b\\u{202e}c');
  });

  test('an unparseable line is shown as such', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeFile(path, 'not json \u001b[31m\n');
    const out = new Collect();
    await auditTail({ file: path, lines: 5, follow: false, out });
    expect(out.text).toBe('! unparseable line: not json \\u{1b}[31m\n');
  });

  test('--follow prints new lines as they are written, across a rotation, until aborted', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never', rotateBytes: 1500, keepFiles: 50 });
    await log.append({ event: 'call', request_id: 1 });
    const out = new Collect();
    const ac = new AbortController();
    const tailing = auditTail({
      file: path,
      lines: 1,
      follow: true,
      json: true,
      out,
      signal: ac.signal,
      pollMs: 20,
    });
    await waitFor(out, /"request_id":1,/);
    for (let i = 2; i <= 12; i++) await log.append({ event: 'call', request_id: i, reason: 'r'.repeat(200) });
    await waitFor(out, /"request_id":12,/);
    ac.abort();
    await tailing;
    await log.close();
    const ids = out.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).request_id);
    expect(ids).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  test('--follow waits for a log that does not exist yet', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const out = new Collect();
    const ac = new AbortController();
    const tailing = auditTail({ file: path, lines: 10, follow: true, out, signal: ac.signal, pollMs: 20 });
    await new Promise((r) => setTimeout(r, 60));
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'approval_created', agent: 'bob', approval_id: 'ap-1' });
    await log.close();
    await waitFor(out, /approval=ap-1/);
    ac.abort();
    await tailing;
  });

  test('without --follow, a missing log exits 1', async () => {
    const file = join(await makeTempDir(), 'missing.jsonl');
    await expect(auditTail({ file, lines: 5, follow: false, out: new Collect() })).rejects.toMatchObject({
      exitCode: 1,
    });
  });
});

describe('formatRecord', () => {
  test('shows amount, latency, error code, approval and reason when present', () => {
    const line = formatRecord({
      ts: '2026-01-01T00:00:00.000Z',
      event: 'call',
      agent: 'bob',
      server: 'wallet',
      tool: 'bulk_transfer',
      decision: 'held',
      amount_usd: 12.5,
      approval_id: 'ap-9',
      error_code: -32004,
      reason: 'amount at or above 5',
    });
    expect(line).toBe(
      '2026-01-01T00:00:00.000Z  call              agent=bob  wallet.bulk_transfer  held  $12.50  code=-32004  approval=ap-9  reason="amount at or above 5"',
    );
    expect(formatRecord({ ts: 't', event: 'auth_failed', method: 'initialize' })).toBe(
      't  auth_failed       agent=-  initialize  -',
    );
  });
});
