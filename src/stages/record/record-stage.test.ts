/**
 * The record stages in process, with a real audit log in a temp folder: the `call` line before a call is
 * forwarded, the `result` line after, a refusal's line, and failing closed when the log cannot be written.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { contextOf, forwardNext, thrown, toolTarget } from '../../../test/helpers/stage-context.js';
import { AuditLog } from '../../audit/audit-log.js';
import { verifyAuditFile } from '../../audit/verify.js';
import { WireError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { compose } from '../../pipeline/compose.js';
import type { RequestContext } from '../../pipeline/context.js';
import { recordStages } from './record-stage.js';

const logs: AuditLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
});

async function setup() {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-record-')), 'audit.jsonl');
  const audit = await AuditLog.open({ path: file, fsync: 'never' });
  logs.push(audit);
  const stages = recordStages({ audit, metrics: undefined, logger: silentLogger })!;
  const lines = () =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { audit, file, stages, lines };
}

const call = () =>
  contextOf({
    agent: 'alice',
    target: toolTarget('echo'),
    params: { name: 'echo', arguments: { message: 'hi', api_key: 'sk-live-secret-1234567890' } },
  });

describe('record stages', () => {
  it('are left out when there is neither an audit log nor metrics', () => {
    expect(recordStages({ audit: undefined, metrics: undefined, logger: silentLogger })).toBeUndefined();
  });

  it('write the decision before forwarding and the outcome after, redacted and chained', async () => {
    const { stages, lines, file } = await setup();
    const ctx = call();
    let linesWhenForwarded = -1;
    const run = compose<RequestContext>([
      stages.record,
      stages.decision,
      async (c) => {
        linesWhenForwarded = lines().length;
        await c.relay.forward(c);
      },
    ]);
    await run(ctx);
    expect(linesWhenForwarded).toBe(1);
    const [decision, result] = lines();
    expect(decision).toMatchObject({
      event: 'call',
      agent: 'alice',
      tool: 'echo',
      decision: 'allowed',
      outcome: null,
    });
    expect(result).toMatchObject({ event: 'result', decision: 'allowed', outcome: 'ok', error_code: null });
    expect(JSON.stringify(lines())).not.toContain('sk-live-secret');
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, lines: 2 });
  });

  it('write one line for a refused call, with its decision and code', async () => {
    const { stages, lines } = await setup();
    const ctx = call();
    const err = await thrown(() =>
      stages.record(ctx, async () => {
        ctx.decision.decision = 'rate_limited';
        throw new WireError('rate_limited', 'Rate limit exceeded (agent)', {
          retry_after_s: 2,
          scope: 'agent',
        });
      }),
    );
    expect(err).toMatchObject({ code: -32012 });
    expect(lines()).toEqual([
      expect.objectContaining({
        event: 'call',
        decision: 'rate_limited',
        outcome: 'error',
        error_code: -32012,
      }),
    ]);
  });

  it('fail closed: when the log cannot be written the call is not forwarded', async () => {
    const { stages, audit } = await setup();
    await audit.close();
    const ctx = call();
    const err = await thrown(() =>
      compose<RequestContext>([stages.record, stages.decision, forwardNext(ctx) as never])(ctx),
    );
    expect(err).toMatchObject({ code: -32603 });
    expect(ctx.forwarded).toBe(0);
  });

  it('record only governed calls', async () => {
    const { stages, lines } = await setup();
    const list = contextOf({ method: 'tools/list', agent: 'alice' });
    await compose<RequestContext>([stages.record, stages.decision, async (c) => c.relay.forward(c)])(list);
    expect(list.forwarded).toBe(1);
    expect(lines()).toEqual([]);
  });
});
