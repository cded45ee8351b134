import { appendFile, chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { AuditLogOptions } from '../../src/audit/audit-log.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { argsSha256, sha256Hex } from '../../src/audit/canonical-json.js';
import { AuditError } from '../../src/audit/errors.js';
import { GENESIS_HASH } from '../../src/audit/record.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { cleanTempDirs, makeTempDir, readLines } from './helpers.js';

cleanTempDirs();
const open: AuditLog[] = [];
afterEach(async () => {
  for (const log of open.splice(0)) await log.close();
});

async function openLog(options: AuditLogOptions): Promise<AuditLog> {
  const log = await AuditLog.open(options);
  open.push(log);
  return log;
}

const FIELDS = [
  'ts',
  'event',
  'agent',
  'session',
  'server',
  'tool',
  'method',
  'request_id',
  'args_sha256',
  'args',
  'amount_usd',
  'decision',
  'reason',
  'approval_id',
  'outcome',
  'error_code',
  'latency_ms',
  'detail',
  'prev_hash',
  'hash',
];

describe('AuditLog records', () => {
  test('writes every SPEC §5 field in a fixed order, null when absent, chained from genesis', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    const args = { path: '/data/report.txt', amount: 5 };
    await log.append({
      event: 'call',
      agent: 'alice',
      session: 's-1',
      server: 'filesystem',
      tool: 'read_file',
      method: 'tools/call',
      request_id: 7,
      args,
      amount_usd: 5,
      decision: 'allowed',
      outcome: 'ok',
      latency_ms: 12.34567,
    });
    await log.append({ event: 'auth_failed', reason: 'bad key' });
    const lines = await readLines(path);
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!);
    const second = JSON.parse(lines[1]!);
    expect(Object.keys(first)).toEqual(FIELDS);
    expect(Object.keys(second)).toEqual(FIELDS);
    expect(first).toMatchObject({
      event: 'call',
      agent: 'alice',
      session: 's-1',
      server: 'filesystem',
      tool: 'read_file',
      method: 'tools/call',
      request_id: 7,
      args,
      args_sha256: argsSha256(args),
      amount_usd: 5,
      decision: 'allowed',
      reason: null,
      approval_id: null,
      outcome: 'ok',
      error_code: null,
      latency_ms: 12.346,
      detail: null,
      prev_hash: GENESIS_HASH,
    });
    expect(new Date(first.ts).toISOString()).toBe(first.ts);
    expect(second).toMatchObject({
      event: 'auth_failed',
      agent: null,
      args: null,
      args_sha256: null,
      reason: 'bad key',
    });
    expect(second.prev_hash).toBe(first.hash);
    // The hash definition of docs/audit.md, recomputed independently.
    const unsealed = `${lines[0]!.slice(0, lines[0]!.lastIndexOf(',"hash":'))}}`;
    expect(first.hash).toBe(sha256Hex(`${GENESIS_HASH}\n${unsealed}`));
    expect(log.lastHash).toBe(second.hash);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 2, files: 1, warnings: [] });
  });

  test('args_sha256 is over the unredacted canonical arguments; args are written redacted', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never', redact: { fields: ['card'] } });
    const args = { card: '4111111111111111', password: 'hunter2', q: 'x' };
    await log.append({ event: 'call', args });
    const rec = JSON.parse((await readLines(path))[0]!);
    expect(rec.args).toEqual({ card: '[redacted]', password: '[redacted]', q: 'x' });
    expect(rec.args_sha256).toBe(argsSha256({ q: 'x', password: 'hunter2', card: '4111111111111111' }));
  });

  test('a precomputed args_sha256 is kept, and changing the args object after append() changes nothing', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    const args = { n: 1 };
    const done = log.append({ event: 'call', args, args_sha256: 'a'.repeat(64) });
    args.n = 2;
    await done;
    const rec = JSON.parse((await readLines(path))[0]!);
    expect(rec.args).toEqual({ n: 1 });
    expect(rec.args_sha256).toBe('a'.repeat(64));
  });

  test('non-finite numbers never reach the file', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    await log.append({ event: 'call', amount_usd: Number.NaN, latency_ms: Number.POSITIVE_INFINITY });
    const rec = JSON.parse((await readLines(path))[0]!);
    expect(rec.amount_usd).toBeNull();
    expect(rec.latency_ms).toBeNull();
  });

  test('a record without an event name, or with non-JSON arguments, is rejected and not written', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    await expect(log.append({ event: '' })).rejects.toMatchObject({ code: 'AUDIT_INVALID_RECORD' });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    await expect(log.append({ event: 'call', args: cyclic })).rejects.toMatchObject({
      code: 'AUDIT_INVALID_RECORD',
    });
    await expect(log.append({ event: 'call', ts: new Date(Number.NaN) })).rejects.toMatchObject({
      code: 'AUDIT_INVALID_RECORD',
    });
    await log.append({ event: 'call' });
    expect(await readLines(path)).toHaveLength(1);
  });
});

describe('AuditLog injection and size (security.md P4)', () => {
  test('newlines, CR and ANSI escapes in tool names and args cannot forge lines; 1 MB args are capped', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    const forged = `x"}\n{"event":"call","decision":"allowed","prev_hash":"${'0'.repeat(64)}","hash":"${'1'.repeat(64)}"}\n`;
    await log.append({
      event: 'call',
      tool: `evil\r\n\u001b[2J\u001b[31mtool`,
      agent: forged,
      args: { a: forged, b: 'z'.repeat(1_000_000), c: '\u0000\u0007\u009b' },
    });
    await log.append({ event: 'call', tool: 'next' });
    const bytes = await readFile(path);
    expect(bytes.length).toBeLessThan(12_000);
    expect(bytes.includes(0x1b)).toBe(false);
    expect(bytes.includes(0x0d)).toBe(false);
    const lines = await readLines(path);
    expect(lines).toHaveLength(2);
    const rec = JSON.parse(lines[0]!);
    expect(rec.tool).toBe('evil\r\n\u001b[2J\u001b[31mtool');
    expect(rec.agent).toBe(forged);
    expect(rec.args.b).toMatch(/^z{1024}…\[truncated 998976 chars\]$/);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 2 });
  });

  test('secrets given in args, text fields and detail are absent from the file bytes', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const secrets = {
      openai: `sk-${'a1B2c3D4e5'.repeat(4)}`,
      anthropic: `sk-ant-api03-${'Zq7xW2'.repeat(15)}abAA`,
      github: `ghp_${'R2d2C3po'.repeat(4)}Wxyz`,
      githubPat: `github_pat_11ABCDEFG0${'q'.repeat(12)}_${'Xy8'.repeat(19)}ab`,
      jwt: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTl9.${'sIg_Nat-Ure9'.repeat(3)}`,
      pemBody: `MIIEpAIBAAKCAQEA${'x7Y'.repeat(20)}`,
      dbPassword: 'Pg-Pa55w0rd-xyz',
    };
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${secrets.pemBody}\n-----END RSA PRIVATE KEY-----`;
    const log = await openLog({ path, fsync: 'never' });
    await log.append({
      event: 'call',
      tool: 'run_query',
      reason: `upstream said: invalid key ${secrets.openai}`,
      args: {
        query: `use key ${secrets.anthropic} please`,
        list: [[{ deep: { text: `Authorization: Bearer ${secrets.jwt}` } }], secrets.github],
        cfg: { url: `postgres://app:${secrets.dbPassword}@db.internal:5432/prod`, pem },
        notes: `tokens: ${secrets.githubPat}, ok`,
      },
      detail: { header: `Bearer ${secrets.jwt}` },
    });
    const bytes = await readFile(path);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(bytes.includes(Buffer.from(secret)), `${name} leaked`).toBe(false);
    }
    const rec = JSON.parse(bytes.toString('utf8'));
    expect(rec.args.cfg.url).toBe('postgres://app:[redacted]@db.internal:5432/prod');
    expect(rec.args.list[1]).toBe('ghp_…[redacted]');
  });
});

describe('AuditLog chain across appends, restarts and concurrency', () => {
  test('200 concurrent appends give 200 lines in call order, and the chain verifies', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'interval' });
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.append({ event: 'call', request_id: i })));
    const lines = await readLines(path);
    expect(lines).toHaveLength(200);
    expect(lines.map((l) => JSON.parse(l).request_id)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 200 });
  });

  test('a new AuditLog on the same file continues the chain', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const first = await AuditLog.open({ path, fsync: 'always' });
    await first.append({ event: 'call', request_id: 1 });
    const head = first.lastHash;
    await first.close();
    const second = await openLog({ path, fsync: 'always' });
    expect(second.lastHash).toBe(head);
    await second.append({ event: 'call', request_id: 2 });
    const lines = (await readLines(path)).map((l) => JSON.parse(l));
    expect(lines[1].prev_hash).toBe(lines[0].hash);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 2 });
  });

  test('appends after close() are refused', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    const pending = log.append({ event: 'call' });
    await log.close();
    await pending; // accepted before close: written
    await expect(log.append({ event: 'call' })).rejects.toMatchObject({ code: 'AUDIT_CLOSED' });
    expect(await readLines(path)).toHaveLength(1);
  });

  test('a torn last line (a write cut short) is moved aside and the chain continues', async () => {
    const dir = await makeTempDir();
    const path = join(dir, 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call', request_id: 1 });
    await log.close();
    const torn = '{"ts":"2026-01-01T00:00:00.000Z","event":"call","trunc';
    await writeFile(path, `${await readFile(path, 'utf8')}${torn}`);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: false, line: 2 });
    const warnings: string[] = [];
    const again = await openLog({ path, onWarning: (m) => warnings.push(m) });
    await again.append({ event: 'call', request_id: 2 });
    expect(warnings.join()).toContain('incomplete line');
    const kept = (await readdir(dir)).filter((f) => f.startsWith('audit.jsonl.torn-'));
    expect(kept).toHaveLength(1);
    expect(await readFile(join(dir, kept[0]!), 'utf8')).toBe(torn);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 2 });
  });

  test('refuses to continue a log whose last complete line is garbled, naming the file', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call' });
    await log.close();
    await writeFile(path, `${await readFile(path, 'utf8')}{"event":"call","garbled\n`);
    const err = await AuditLog.open({ path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditError);
    expect(err).toMatchObject({ code: 'AUDIT_CORRUPT' });
    expect((err as Error).message).toContain(path);
    // The failed open released its lock: once repaired, the file opens again.
    await writeFile(path, (await readFile(path, 'utf8')).replace(/\{"event":"call","garbled\n$/, ''));
    await openLog({ path });
  });

  test('refuses a last line whose hash does not match its content', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await AuditLog.open({ path, fsync: 'never' });
    await log.append({ event: 'call', agent: 'alice' });
    await log.close();
    await writeFile(path, (await readFile(path, 'utf8')).replace('alice', 'mallory'));
    await expect(AuditLog.open({ path })).rejects.toMatchObject({ code: 'AUDIT_CORRUPT' });
  });
});

describe('AuditLog file safety', () => {
  test('creates the file (and missing folders) with mode 0600', async () => {
    const path = join(await makeTempDir(), 'nested', 'dir', 'audit.jsonl');
    const log = await openLog({ path });
    await log.append({ event: 'call' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700);
  });

  test('an existing world-readable or group-writable file is tightened, with a warning', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeFile(path, '');
    await chmod(path, 0o666);
    const warnings: string[] = [];
    await openLog({ path, onWarning: (m) => warnings.push(m) });
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(warnings.join('\n')).toContain('666');
  });

  test('two writers on one file write one chain in the order their appends were made', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const a = await openLog({ path, fsync: 'never' });
    const b = await openLog({ path, fsync: 'never' });
    for (let i = 0; i < 50; i++) {
      await a.append({ event: 'call', agent: 'a', request_id: i });
      await b.append({ event: 'call', agent: 'b', request_id: i });
    }
    // Concurrent bursts from both: each batch is sealed under the lock on top of the other's lines.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).append({ event: 'call', request_id: 1000 + i })),
    );
    const lines = await readLines(path);
    expect(lines).toHaveLength(200);
    expect(lines.slice(0, 4).map((l) => JSON.parse(l).agent)).toEqual(['a', 'b', 'a', 'b']);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 200 });
  });

  test('a writer follows a rotation made by another writer', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const rotating = await openLog({ path, fsync: 'never', rotateBytes: 4_000, keepFiles: 1_000 });
    const plain = await openLog({ path, fsync: 'never' });
    for (let i = 0; i < 60; i++) {
      await rotating.append({ event: 'call', agent: 'rotating', args: { i, pad: 'x'.repeat(100) } });
      await plain.append({ event: 'call', agent: 'plain', args: { i } });
    }
    const rotated = (await readdir(join(path, '..'))).filter((n) => /^audit\.jsonl\.\d+$/.test(n));
    expect(rotated.length).toBeGreaterThan(1);
    const result = await verifyAuditFile(path);
    expect(result).toMatchObject({ ok: true, lines: 120 });
  });

  test('a line torn by a writer that died mid-write is cut off by the next writer, which continues', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync: 'never' });
    await log.append({ event: 'call', request_id: 1 });
    // What a writer killed inside write(2) leaves: the start of a line, no newline.
    await appendFile(path, '{"ts":"2026-01-01T00:00:00.000Z","event":"ca');
    const warnings: string[] = [];
    const other = await openLog({ path, fsync: 'never', onWarning: (m) => warnings.push(m) });
    await log.append({ event: 'call', request_id: 2 });
    await other.append({ event: 'call', request_id: 3 });
    expect(warnings.join('\n')).toContain('incomplete line');
    expect((await readLines(path)).map((l) => JSON.parse(l).request_id)).toEqual([1, 2, 3]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 3 });
  });

  test('a .lock file left by an older single-writer build is ignored', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await writeFile(`${path}.lock`, JSON.stringify({ pid: 1, host: 'some-other-host', since: 'x' }));
    const log = await openLog({ path });
    await log.append({ event: 'call' });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 1 });
  });

  test('bad options are refused before any file is touched', async () => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    await expect(AuditLog.open({ path, fsync: 'sometimes' as 'never' })).rejects.toThrow(TypeError);
    await expect(AuditLog.open({ path, rotateBytes: 0 })).rejects.toThrow(TypeError);
    await expect(AuditLog.open({ path, redact: { maxDepth: -1 } })).rejects.toThrow(RangeError);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('AuditLog fsync policies', () => {
  test.each(['always', 'interval', 'never'] as const)('%s writes and verifies', async (fsync) => {
    const path = join(await makeTempDir(), 'audit.jsonl');
    const log = await openLog({ path, fsync, fsyncIntervalMs: 10 });
    for (let i = 0; i < 20; i++) await log.append({ event: 'call', request_id: i });
    await new Promise((r) => setTimeout(r, 30)); // let an interval fsync run
    await log.close();
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, lines: 20 });
  });
});
