/** The authorize stage in process: refusals with -32011, and lists filtered by the same policy. */
import { describe, expect, it } from 'vitest';
import { configOf, contextOf, forwardNext, thrown, toolTarget } from '../../../test/helpers/stage-context.js';
import type { Listing, RequestContext } from '../../pipeline/context.js';
import { authorizeStage } from './authorize-stage.js';
import { NamePolicy } from './name-policy.js';

const stageFor = (file: Record<string, unknown>) => authorizeStage(new NamePolicy(configOf(file)));

function listOf(...names: string[]): RequestContext {
  const ctx = contextOf({ method: 'tools/list', agent: 'alice' });
  ctx.relay.forward = async (c) => {
    c.listing = {
      kind: 'tools',
      items: names.map((n) => ({ server: 'fs', name: n, exposed: n, definition: { name: n } })),
    } satisfies Listing;
  };
  return ctx;
}

describe('authorize stage', () => {
  it('is left out when no allow or deny exists anywhere', () => {
    expect(stageFor({})).toBeUndefined();
  });

  it('refuses a denied tool with -32011 naming it, before anything runs', async () => {
    const stage = stageFor({ policies: { deny: ['fs.delete_file'] } })!;
    const ctx = contextOf({ agent: 'alice', target: toolTarget('delete_file') });
    const err = await thrown(() => stage(ctx, forwardNext(ctx)));
    expect(err).toMatchObject({ code: -32011, data: { reason: 'forbidden', tool: 'delete_file' } });
    expect(ctx.forwarded).toBe(0);
    expect(ctx.decision).toMatchObject({ decision: 'denied', reason: 'policies.deny: fs.delete_file' });
  });

  it('denies name variants (case, fullwidth, Cyrillic look-alikes, zero-width) but allows exact names only', async () => {
    const stage = stageFor({ policies: { deny: ['delete_file'] } })!;
    for (const variant of [
      'Delete_File',
      'ｄｅｌｅｔｅ_ｆｉｌｅ',
      'dеlete_file',
      'delete\u200B_file',
      'delete_file ',
    ]) {
      const ctx = contextOf({ agent: 'alice', target: toolTarget(variant) });
      expect(await thrown(() => stage(ctx, forwardNext(ctx))), variant).toMatchObject({ code: -32011 });
    }
    const allowOnly = stageFor({ policies: { allow: ['read_file'] } })!;
    const lookalike = contextOf({ agent: 'alice', target: toolTarget('reаd_file') }); // Cyrillic а
    expect(await thrown(() => allowOnly(lookalike, forwardNext(lookalike)))).toMatchObject({ code: -32011 });
  });

  it('applies per-agent rules to that agent only', async () => {
    const stage = stageFor({ agents: { bob: { deny: ['pay'] } } })!;
    const bob = contextOf({ agent: 'bob', target: toolTarget('pay') });
    const alice = contextOf({ agent: 'alice', target: toolTarget('pay') });
    expect(await thrown(() => stage(bob, forwardNext(bob)))).toMatchObject({ code: -32011 });
    await stage(alice, forwardNext(alice));
    expect(alice.forwarded).toBe(1);
  });

  it('removes from a list exactly what a call would be refused', async () => {
    const stage = stageFor({ policies: { allow: ['fs.read_*', 'fs.delete_file'], deny: ['fs.delete_*'] } })!;
    const list = listOf('read_file', 'read_dir', 'delete_file', 'write_file');
    await stage(list, forwardNext(list));
    const listed = list.listing?.items.map((i) => i.name);
    expect(listed).toEqual(['read_file', 'read_dir']);
    for (const name of ['read_file', 'read_dir', 'delete_file', 'write_file']) {
      const call = contextOf({ agent: 'alice', target: toolTarget(name) });
      const refused = (await thrown(() => stage(call, forwardNext(call)))) !== undefined;
      expect(refused, name).toBe(!listed?.includes(name));
    }
  });
});
