/**
 * Per-session routing: one agent session in front of many backends.
 * - `resolve` finds which backend a request addresses (tool/prompt name, resource URI, completion ref,
 *   task id) — before policy runs, so policy sees the canonical `server.tool`;
 * - `forward` executes the request there (or fans it out: lists, logging/setLevel, tasks/list);
 * - lists are merged by its ListIndex (list-index.ts), from the lists the backends cache.
 */
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { InitializeInfo } from '../backends/connection.js';
import { parseLogLevel } from '../backends/log-levels.js';
import type {
  BackendLease,
  BackendListener,
  BackendPool,
  LeaseRequestOptions,
  SessionProfile,
} from '../backends/pool.js';
import type { GuardConfig, ServerConfig } from '../config/types.js';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ListingItem, RequestContext, Target } from '../pipeline/context.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import { GATEWAY_URI_PREFIX, ListIndex } from './list-index.js';
import { LIST_KIND_OF_METHOD, type ListKind } from './lists.js';
import { metaOf, type Params, type RequestId } from './messages.js';

const TASK_SEPARATOR = ':';
const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

export interface ConnectResult {
  readonly server: string;
  readonly info?: InitializeInfo;
  readonly error?: string;
}

export class SessionRouter {
  private readonly leases = new Map<string, BackendLease>();
  private readonly lists: ListIndex;
  /** Resource URIs seen in results (resource links), so a later read goes to the server that named them. */
  private readonly learnedUris = new Map<string, string>();
  private readonly servers: readonly ServerConfig[];

  constructor(
    config: GuardConfig,
    private readonly pool: BackendPool,
    private readonly listener: BackendListener,
    private readonly logger: Logger,
  ) {
    this.servers = config.servers;
    this.lists = new ListIndex({
      servers: config.servers,
      routes: config.routes,
      defaultRoute: config.defaultRoute,
      fetch: (server, kind) => this.leases.get(server)?.list(kind),
      logger,
    });
  }

  /** Takes a lease on every configured server (nothing starts until used). */
  open(profile: SessionProfile): void {
    for (const server of this.servers)
      this.leases.set(server.name, this.pool.lease(server, this.listener, profile));
  }

  get isOpen(): boolean {
    return this.leases.size > 0;
  }

  /** Connects every backend in parallel; a backend that fails is reported, not fatal. */
  async connectAll(): Promise<ConnectResult[]> {
    return Promise.all(
      [...this.leases.values()].map(async (lease) => {
        try {
          return { server: lease.server.name, info: await lease.connect() };
        } catch (err) {
          return { server: lease.server.name, error: (err as Error).message };
        }
      }),
    );
  }

  /** Whether the session holds per-session stdio children (see backends/session-reaping.ts). */
  get holdsChildren(): boolean {
    for (const lease of this.leases.values())
      if (lease.isolation === 'per_session' && lease.server.kind === 'stdio') return true;
    return false;
  }

  async close(): Promise<void> {
    const leases = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(leases.map((l) => l.release()));
  }

  // ---------------------------------------------------------------- resolve

  /** Finds the target of a request that addresses one tool, prompt or resource (else undefined). */
  async resolve(ctx: RequestContext): Promise<Target | undefined> {
    const p = ctx.params;
    switch (ctx.method) {
      case 'tools/call':
        return this.resolveNamed('tools', requireString(p, 'name'), 'tool');
      case 'prompts/get':
        return this.resolveNamed('prompts', requireString(p, 'name'), 'prompt');
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.resolveUri(requireString(p, 'uri'));
      case 'completion/complete': {
        const ref = asObject(p['ref'], 'ref');
        if (ref['type'] === 'ref/prompt')
          return this.resolveNamed('prompts', requireString(ref, 'name'), 'prompt');
        if (ref['type'] === 'ref/resource') return this.resolveUri(requireString(ref, 'uri'));
        throw new WireError(
          'invalid_params',
          'completion/complete: ref.type must be ref/prompt or ref/resource',
        );
      }
      default:
        return undefined;
    }
  }

  private async resolveNamed(
    kind: 'tools' | 'prompts',
    name: string,
    targetKind: 'tool' | 'prompt',
  ): Promise<Target> {
    const index = await this.lists.get(kind);
    const item = index.byExposed.get(name);
    if (item)
      return {
        kind: targetKind,
        server: item.server,
        name: item.name,
        exposed: item.exposed,
        definition: item.definition,
      };
    const down = this.servers.filter((s) => !this.leases.get(s.name)?.up).map((s) => s.name);
    if (down.length > 0) {
      // An upstream OAuth refusal says what to do (log in, connect an account): worth passing on.
      const issues = down.flatMap((s) => this.leases.get(s)?.authIssue?.() ?? []);
      throw new WireError(
        'backend_unavailable',
        `Unknown ${targetKind} "${name}" (unavailable: ${down.join(', ')})${issues.length > 0 ? `; ${issues.join('; ')}` : ''}`,
        { server: down[0] },
      );
    }
    throw new WireError('invalid_params', `Unknown ${targetKind}: ${name}`);
  }

  private async resolveUri(uri: string): Promise<Target> {
    const exposed = uri;
    if (uri.startsWith(GATEWAY_URI_PREFIX)) {
      const rest = uri.slice(GATEWAY_URI_PREFIX.length);
      const slash = rest.indexOf('/');
      const server = slash > 0 ? rest.slice(0, slash) : '';
      if (this.leases.has(server)) {
        return { kind: 'resource', server, uri: safeDecode(rest.slice(slash + 1)), exposed };
      }
    }
    const resources = await this.lists.get('resources');
    const listed = resources.byExposed.get(uri);
    if (listed) return { kind: 'resource', server: listed.server, uri: listed.name, exposed };
    const templates = await this.lists.get('resourceTemplates');
    for (const t of templates.items) {
      if (matchesTemplate(t.name, uri))
        return {
          kind: 'resource',
          server: t.server,
          uri,
          exposed,
          definition: t.definition,
          template: t.name,
        };
    }
    const learned = this.learnedUris.get(uri);
    if (learned) return { kind: 'resource', server: learned, uri, exposed };
    // Last resort: the only server that serves resources at all, or the only one using this URI scheme.
    const resourceServers = [...this.leases.values()].filter(
      (l) => l.info?.capabilities['resources'] !== undefined,
    );
    if (resourceServers.length === 1 && resourceServers[0]) {
      return { kind: 'resource', server: resourceServers[0].server.name, uri, exposed };
    }
    const scheme = uri.split(':', 1)[0];
    const byScheme = new Set(
      [...resources.items, ...templates.items]
        .filter((i) => i.name.split(':', 1)[0] === scheme)
        .map((i) => i.server),
    );
    if (byScheme.size === 1) return { kind: 'resource', server: [...byScheme][0] as string, uri, exposed };
    throw new WireError('invalid_params', `Unknown resource: ${uri}`);
  }

  // ---------------------------------------------------------------- lists

  /** The merged list of one kind over all backends (down backends contribute nothing). */
  async list(kind: ListKind): Promise<ListingItem[]> {
    return (await this.lists.get(kind)).items;
  }

  // ---------------------------------------------------------------- forward

  /** Executes a routed request on its backend(s); sets ctx.result or ctx.listing. */
  async forward(ctx: RequestContext, hooks: ForwardHooks): Promise<void> {
    const kind = LIST_KIND_OF_METHOD[ctx.method];
    if (kind) {
      ctx.listing = { kind, items: await this.list(kind) };
      return;
    }
    const target = ctx.target;
    switch (ctx.method) {
      case 'tools/call': {
        const t = need(target, 'tool');
        ctx.result = await this.send(t.server, ctx, { ...ctx.params, name: t.name }, hooks);
        this.learnFromResult(t.server, ctx.result);
        return;
      }
      case 'prompts/get': {
        const t = need(target, 'prompt');
        ctx.result = await this.send(t.server, ctx, { ...ctx.params, name: t.name }, hooks);
        return;
      }
      case 'resources/read': {
        const t = need(target, 'resource');
        const result = await this.send(t.server, ctx, { ...ctx.params, uri: t.uri }, hooks);
        ctx.result = t.uri === t.exposed ? result : rewriteContentsUri(result, t.uri, t.exposed);
        return;
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const t = need(target, 'resource');
        const lease = this.lease(t.server);
        const params = { ...ctx.params, uri: t.uri };
        const options = this.requestOptions(lease, ctx, params, hooks);
        // A backend shared by sessions is asked once per URI; the lease counts the subscribers.
        ctx.result =
          ctx.method === 'resources/subscribe'
            ? await lease.subscribe(params, options)
            : await lease.unsubscribe(params, options);
        return;
      }
      case 'completion/complete': {
        const t = target;
        if (!t) throw new WireError('invalid_params', 'completion/complete needs a ref');
        const ref = asObject(ctx.params['ref'], 'ref');
        const newRef = t.kind === 'resource' ? { ...ref, uri: t.uri } : { ...ref, name: t.name };
        ctx.result = await this.send(t.server, ctx, { ...ctx.params, ref: newRef }, hooks);
        return;
      }
      case 'logging/setLevel': {
        // Per session: a backend shared by sessions runs at the most verbose level any asked for, and
        // each session gets only its own level's messages (the lease filters).
        const level = parseLogLevel(ctx.params['level']);
        await Promise.all(
          [...this.leases.values()].map((lease) =>
            lease
              .setLogLevel(level, this.requestOptions(lease, ctx, ctx.params, hooks))
              .catch((err: Error) => {
                this.logger.warn({ server: lease.server.name, err: err.message }, 'logging/setLevel failed');
              }),
          ),
        );
        ctx.result = {};
        return;
      }
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/cancel': {
        const { server, taskId } = splitTaskId(requireString(ctx.params, 'taskId'));
        if (!this.leases.has(server)) throw new WireError('invalid_params', 'Unknown task');
        const result = await this.send(server, ctx, { ...ctx.params, taskId }, hooks);
        ctx.result = namespaceTasks(result, server);
        return;
      }
      case 'tasks/list': {
        const results = await this.fanOut(ctx, 'tasks', hooks);
        ctx.result = {
          tasks: results.flatMap(
            ({ server, result }) => (namespaceTasks(result, server)['tasks'] as unknown[]) ?? [],
          ),
        };
        return;
      }
      default:
        throw new WireError('method_not_found', `Method not found: ${ctx.method}`);
    }
  }

  private async send(
    server: string,
    ctx: RequestContext,
    params: Params,
    hooks: ForwardHooks,
  ): Promise<Params> {
    const lease = this.lease(server);
    const options = this.requestOptions(lease, ctx, params, hooks);
    const result =
      ctx.trace === undefined
        ? await lease.request(ctx.method, params, options)
        : await this.tracedRequest(lease, ctx, params, options, ctx.trace);
    return ctx.method === 'tools/call' ? namespaceTasks(result, server) : result;
  }

  /** A backend call in a client span, whose trace context the backend is sent in `_meta`. */
  private async tracedRequest(
    lease: BackendLease,
    ctx: RequestContext,
    params: Params,
    options: LeaseRequestOptions,
    trace: RequestTrace,
  ): Promise<Params> {
    const call = trace.backendCall(lease.server, ctx.method, params);
    try {
      const result = await lease.request(ctx.method, call.params, options);
      call.end(result);
      return result;
    } catch (err) {
      call.end(undefined, err);
      throw err;
    }
  }

  private lease(server: string): BackendLease {
    const lease = this.leases.get(server);
    if (!lease)
      throw new WireError('backend_unavailable', `Backend "${server}" is not configured`, { server });
    return lease;
  }

  private requestOptions(
    lease: BackendLease,
    ctx: RequestContext,
    params: Params,
    hooks: ForwardHooks,
  ): LeaseRequestOptions {
    const progressToken = metaOf(params)?.['progressToken'];
    return {
      timeoutMs: lease.server.timeoutMs,
      signal: ctx.signal,
      relatedRequestId: ctx.request.id,
      onSent: () => {
        ctx.sent = true;
      },
      onProgress:
        progressToken === undefined
          ? undefined
          : (p) =>
              hooks.onProgress({ ...p, progressToken: progressToken as string | number }, ctx.request.id),
    };
  }

  /** Sends a request to every backend that declares `capability`; failures are logged, not fatal. */
  private async fanOut(
    ctx: RequestContext,
    capability: string,
    hooks: ForwardHooks,
  ): Promise<Array<{ server: string; result: Params }>> {
    const out: Array<{ server: string; result: Params }> = [];
    await Promise.all(
      [...this.leases.values()].map(async (lease) => {
        if (!lease.up || lease.info?.capabilities[capability] === undefined) return;
        try {
          out.push({
            server: lease.server.name,
            result: await this.send(lease.server.name, ctx, ctx.params, hooks),
          });
        } catch (err) {
          this.logger.warn(
            { server: lease.server.name, method: ctx.method, err: (err as Error).message },
            'fan-out request failed',
          );
        }
      }),
    );
    return out;
  }

  private learnFromResult(server: string, result: Params): void {
    const content = result['content'];
    if (!Array.isArray(content)) return;
    for (const block of content) {
      const uri =
        block?.type === 'resource_link'
          ? block.uri
          : block?.type === 'resource'
            ? block.resource?.uri
            : undefined;
      if (typeof uri === 'string' && this.learnedUris.size < 10_000) this.learnedUris.set(uri, server);
    }
  }
}

/** Callbacks the session gives the router for traffic that is not the response itself. */
export interface ForwardHooks {
  onProgress(params: Params, related: RequestId): void;
}

function need<K extends Target['kind']>(target: Target | undefined, kind: K): Extract<Target, { kind: K }> {
  if (!target || target.kind !== kind)
    throw new WireError('internal_error', `request was not routed to a ${kind}`);
  return target as Extract<Target, { kind: K }>;
}

function requireString(params: Params, key: string): string {
  const value = params[key];
  if (typeof value !== 'string' || value.length === 0)
    throw new WireError('invalid_params', `params.${key} must be a non-empty string`);
  return value;
}

function asObject(value: unknown, name: string): Params {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new WireError('invalid_params', `params.${name} must be an object`);
  return value as Params;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new WireError('invalid_params', 'malformed resource URI');
  }
}

const templateCache = new Map<string, UriTemplate | null>();
function matchesTemplate(template: string, uri: string): boolean {
  let compiled = templateCache.get(template);
  if (compiled === undefined) {
    try {
      compiled = new UriTemplate(template);
    } catch {
      compiled = null;
    }
    if (templateCache.size < 1_000) templateCache.set(template, compiled);
  }
  try {
    return compiled?.match(uri) != null;
  } catch {
    return false;
  }
}

function rewriteContentsUri(result: Params, from: string, to: string): Params {
  const contents = result['contents'];
  if (!Array.isArray(contents)) return result;
  return {
    ...result,
    contents: contents.map((c) => (c && typeof c === 'object' && c.uri === from ? { ...c, uri: to } : c)),
  };
}

function splitTaskId(id: string): { server: string; taskId: string } {
  const at = id.indexOf(TASK_SEPARATOR);
  if (at <= 0) throw new WireError('invalid_params', 'Unknown task');
  return { server: id.slice(0, at), taskId: id.slice(at + 1) };
}

/** Task ids are only unique per backend: the agent sees `server:taskId`. */
export function namespaceTasks(result: Params, server: string): Params {
  const ns = (id: unknown) => (typeof id === 'string' ? `${server}${TASK_SEPARATOR}${id}` : id);
  let out = result;
  const task = result['task'];
  if (task && typeof task === 'object' && 'taskId' in task)
    out = { ...out, task: { ...task, taskId: ns((task as Params)['taskId']) } };
  if (typeof result['taskId'] === 'string') out = { ...out, taskId: ns(result['taskId']) };
  if (Array.isArray(result['tasks'])) {
    out = {
      ...out,
      tasks: (result['tasks'] as Params[]).map((t) =>
        t && typeof t === 'object' ? { ...t, taskId: ns(t['taskId']) } : t,
      ),
    };
  }
  const meta = metaOf(result);
  const related = meta?.[RELATED_TASK_META];
  if (meta && related && typeof related === 'object') {
    out = {
      ...out,
      _meta: { ...meta, [RELATED_TASK_META]: { ...related, taskId: ns((related as Params)['taskId']) } },
    };
  }
  return out;
}
