/**
 * Pieces for the fast in-process stage tests beside the stages (src/stages/*\/*.test.ts): a normalized
 * config from a plain object, a request context as the session builds it, a relay that records what
 * reached "the backend", and a real SQLite store in a temp folder.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normalize } from '../../src/config/normalize.js';
import type { ConfigFile } from '../../src/config/schema.js';
import type { GuardConfig } from '../../src/config/types.js';
import type { Principal } from '../../src/core/principal.js';
import type { Params } from '../../src/mcp/messages.js';
import type { Next } from '../../src/pipeline/compose.js';
import type { Listing, Relay, RequestContext, Target } from '../../src/pipeline/context.js';
import { SqliteStateStore } from '../../src/stores/sqlite-store.js';

/** A config as the loader would produce it from this file content (one stdio server `fs` unless given). */
export function configOf(file: Partial<Record<keyof ConfigFile, unknown>>): GuardConfig {
  return normalize(
    { servers: { fs: { command: 'node' } }, ...file } as unknown as ConfigFile,
    path.join(tmpdir(), 'stage-test.yaml'),
  );
}

export function principal(agent: string): Principal {
  return { agent, via: 'api_key' };
}

export interface ContextOptions {
  readonly method?: string;
  readonly params?: Params;
  readonly agent?: string;
  readonly target?: Target;
  readonly listing?: Listing;
  readonly transport?: 'stdio' | 'http';
  readonly id?: string | number;
}

/** A tool target on server `fs`. */
export function toolTarget(name: string, server = 'fs', definition?: Params): Target {
  return { kind: 'tool', server, name, exposed: name, ...(definition ? { definition } : {}) } as Target;
}

/** A request context as ClientSession builds it (the route stage's result given as `target`). */
export function contextOf(options: ContextOptions = {}): RequestContext & { forwarded: number } {
  const method = options.method ?? 'tools/call';
  const params = options.params ?? {};
  const relay: Relay = {
    resolve: async () => options.target,
    forward: async (ctx) => {
      (ctx as RequestContext & { forwarded: number }).forwarded++;
      ctx.sent = true;
      ctx.result = { content: [{ type: 'text', text: 'ok' }] };
    },
  };
  return {
    session: {
      id: 'test-session',
      transport: options.transport ?? 'http',
      principal: undefined,
    },
    request: { jsonrpc: '2.0', id: options.id ?? 1, method, params } as RequestContext['request'],
    method,
    params,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    principal: options.agent === undefined ? undefined : principal(options.agent),
    target: options.target,
    result: undefined,
    listing: options.listing,
    error: undefined,
    sent: false,
    decision: {},
    relay,
    forwarded: 0,
  };
}

/** A `next` that forwards through the context's relay (what the rest of the pipeline ends in). */
export function forwardNext(ctx: RequestContext): Next {
  return () => ctx.relay.forward(ctx);
}

/** A fresh SQLite store in a temp folder. */
export function tempStore(): SqliteStateStore {
  return new SqliteStateStore(path.join(mkdtempSync(path.join(tmpdir(), 'mcp-guard-stage-')), 'state.db'));
}

/** What a stage threw (undefined when it did not). */
export async function thrown(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
    return undefined;
  } catch (err) {
    return err;
  }
}
