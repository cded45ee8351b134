/**
 * What the gateway answers itself, in one place for every front (HTTP and stdio sessions, the 2026-07-28
 * stateless front):
 * - a legacy session's lifecycle (`SessionLifecycle`): `initialize` once (negotiates the version, opens
 *   the backends, answers their merged offer), `ping` at any time, nothing else before `initialize`;
 * - the merged offer of the backends (`backendOffer`), which `initialize` and `server/discover` share;
 * - the result of a request that ran through the pipeline (`resultOf`): a listing is paged (paging.ts).
 */
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Params } from './messages.js';
import { pageOf } from './paging.js';
import { LATEST_LEGACY_VERSION, LEGACY_VERSIONS } from './protocol-versions.js';
import type { SessionRouter } from './router.js';

export const GATEWAY_INFO = Object.freeze({
  name: 'mcp-guard',
  title: 'mcp-guard security gateway',
  version: VERSION,
});

/** The legacy revision to answer `initialize` with: the client's when we speak it, else our latest. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === 'string' && LEGACY_VERSIONS.includes(requested)
    ? requested
    : LATEST_LEGACY_VERSION;
}

export interface BackendOffer {
  readonly server: string;
  readonly info?: { readonly capabilities: Params; readonly instructions?: string };
  readonly error?: string;
}

function asObject(value: unknown): Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : {};
}

/** What the gateway offers: the union of its backends, with list_changed always on (it relays them). */
export function mergeCapabilities(all: ReadonlyArray<Params | undefined>, someUnknown: boolean): Params {
  const caps: Params = {};
  const has = (key: string) => someUnknown || all.some((c) => c?.[key] !== undefined);
  if (has('tools')) caps['tools'] = { listChanged: true };
  if (has('prompts')) caps['prompts'] = { listChanged: true };
  if (has('resources')) {
    const subscribe = all.some((c) => asObject(c?.['resources'])['subscribe'] === true);
    caps['resources'] = { listChanged: true, ...(subscribe ? { subscribe: true } : {}) };
  }
  if (all.some((c) => c?.['logging'] !== undefined)) caps['logging'] = {};
  if (all.some((c) => c?.['completions'] !== undefined)) caps['completions'] = {};
  const tasks = all.map((c) => c?.['tasks']).filter((t) => t !== undefined);
  if (tasks.length > 0) caps['tasks'] = Object.assign({}, ...tasks);
  return caps;
}

/** Joins the backends' instructions (one backend: its own; several: a section per server). */
export function mergeInstructions(
  backends: ReadonlyArray<{ server: string; info?: { instructions?: string } }>,
): {
  instructions?: string;
} {
  const parts = backends
    .filter((b) => b.info?.instructions)
    .map((b) => ({ server: b.server, text: b.info?.instructions as string }));
  if (parts.length === 0) return {};
  if (backends.length === 1) return { instructions: parts[0]?.text };
  return { instructions: parts.map((p) => `## ${p.server}\n${p.text}`).join('\n\n') };
}

/** What the backends offer together; `complete` is false when one could not be reached (ask again later). */
export interface Offer {
  readonly capabilities: Params;
  readonly instructions?: string;
  readonly complete: boolean;
}

/** Connects every backend of `router` and merges what they offer; a backend that fails is logged, not fatal. */
export async function backendOffer(router: SessionRouter, logger: Logger, when: string): Promise<Offer> {
  const backends = await router.connectAll();
  let complete = true;
  for (const b of backends)
    if (b.error) {
      complete = false;
      logger.warn({ server: b.server, err: b.error }, `backend unavailable ${when}`);
    }
  return {
    capabilities: mergeCapabilities(
      backends.map((b) => b.info?.capabilities),
      !complete,
    ),
    ...mergeInstructions(backends),
    complete,
  };
}

/** The result the agent gets for a request that ran through the pipeline: a listing paged, else the result. */
export function resultOf(ctx: RequestContext): Params {
  return ctx.listing ? pageOf(ctx.listing, ctx.params) : (ctx.result ?? {});
}

/** What a legacy session settled at `initialize` (carried to other replicas in its sealed id). */
export interface SettledSession {
  readonly protocolVersion: string;
  readonly capabilities: Params;
  readonly clientInfo: Params;
}

/**
 * What `initialize` with `params` settles, known before it runs: sealed into a session id so that any
 * replica can go on with the session (clientInfo kept short: the id carries it).
 */
export function settledBy(params: Params): SettledSession {
  return {
    protocolVersion: negotiateLegacyVersion(params['protocolVersion']),
    capabilities: asObject(params['capabilities']),
    clientInfo: shortClientInfo(params['clientInfo']),
  };
}

/** The parts of clientInfo a backend is told. */
function shortClientInfo(value: unknown): Params {
  const info = asObject(value);
  const out: Params = {};
  for (const key of ['name', 'title', 'version'])
    if (typeof info[key] === 'string') out[key] = (info[key] as string).slice(0, 200);
  return out;
}

/** A legacy (2025-11-25 and earlier) session's lifecycle; see the module comment. */
export class SessionLifecycle {
  private initialized = false;
  /** What the agent declared at initialize (`sampling`, `elicitation`, `roots` …). */
  clientCapabilities: Params = {};

  constructor(
    private readonly router: SessionRouter,
    private readonly logger: Logger,
  ) {}

  get isInitialized(): boolean {
    return this.initialized;
  }

  /** Whether the gateway answers `method` itself (the pipeline still runs before it: authentication). */
  answers(method: string): boolean {
    return method === 'initialize' || method === 'ping';
  }

  /** The answer to `initialize` or `ping`. */
  async answer(method: string, params: Params): Promise<Params> {
    if (method === 'ping') return {};
    if (this.initialized) throw new WireError('invalid_request', 'The session is already initialized');
    const protocolVersion = negotiateLegacyVersion(params['protocolVersion']);
    this.open({
      protocolVersion,
      capabilities: asObject(params['capabilities']),
      clientInfo: asObject(params['clientInfo']),
    });
    const offer = await backendOffer(this.router, this.logger, 'at initialize');
    return {
      protocolVersion,
      capabilities: offer.capabilities,
      serverInfo: { ...GATEWAY_INFO },
      ...(offer.instructions === undefined ? {} : { instructions: offer.instructions }),
    };
  }

  /**
   * Continues a session that another replica opened (its id carries what initialize settled): no
   * handshake again, the same version and capabilities, the backends of this replica.
   */
  restore(state: SettledSession): void {
    if (!this.initialized) this.open(state);
  }

  /** Refuses every request but `initialize` and `ping` before the session is initialized. */
  require(method: string): void {
    if (!this.initialized && !this.answers(method))
      throw new WireError('invalid_request', 'The session is not initialized: send initialize first');
  }

  private open(state: SettledSession): void {
    this.initialized = true;
    this.clientCapabilities = state.capabilities;
    this.router.open(state);
  }
}
