/**
 * The one owner of lists (tools, prompts, resources, resource templates).
 *
 * - `BackendLists`: a backend's lists, every page followed, fetched once per backend connection and
 *   shared by every session that uses that connection. It is the only list cache, and `changed()` the
 *   only place one is forgotten: the backend's connections report `list_changed` to their holder, which
 *   hands the method here. A pooled server keeps one `BackendLists` for all its children, so a change
 *   announced by one child is refetched from every child (each may have listed before it).
 * - `ListIndex`: one session view (a legacy session's router, a 2026-07-28 relay) of all servers'
 *   lists merged, with collision-safe names (naming.ts) and URIs. It is derived, never invalidated: the
 *   merge is kept while every server hands back the same list it merged (by identity), and rebuilt the
 *   first time one differs — a backend that changed its list, restarted, or a pooled child that replaced
 *   another all hand back a new one.
 */
import type { Logger } from '../core/logger.js';
import type { ListingItem } from '../pipeline/context.js';
import { LIST_CHANGED, LIST_METHODS, type ListKind } from './lists.js';
import type { Params } from './messages.js';
import { exposeNames, type NamingRules } from './naming.js';

/** The prefix of resource URIs the gateway exposes for a URI offered by two servers. */
export const GATEWAY_URI_PREFIX = 'mcp-guard://';
const MAX_LIST_PAGES = 100;
const MAX_LIST_ITEMS = 10_000;

/** One list that nothing offers: shared, so a server without the capability never looks changed. */
const NONE: readonly Params[] = Object.freeze([]);
const NONE_PROMISE: Promise<readonly Params[]> = Promise.resolve(NONE);

/** What lists are fetched from: an initialized backend connection. */
export interface ListSource {
  readonly info: { readonly capabilities: Params } | undefined;
  request(method: string, params: Params, options: { timeoutMs: number }): Promise<Params>;
}

interface Cached {
  readonly generation: number;
  readonly items: Promise<readonly Params[]>;
}

/** The lists of one server's backend connections; see the module comment. */
export class BackendLists {
  /** Bumped by `changed()`: a list fetched under an older generation is stale. */
  private readonly generation: Record<ListKind, number> = {
    tools: 0,
    prompts: 0,
    resources: 0,
    resourceTemplates: 0,
  };
  /** Per connection, so a restarted or replaced connection starts with nothing (and the old one is freed). */
  private readonly cache = new WeakMap<ListSource, Partial<Record<ListKind, Cached>>>();

  constructor(
    private readonly server: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** Every item of one list of `source`; concurrent callers share one fetch, a failed fetch is not kept. */
  get(source: ListSource, kind: ListKind): Promise<readonly Params[]> {
    const capability = LIST_METHODS[kind].capability;
    if (source.info?.capabilities[capability] === undefined) return NONE_PROMISE;
    let lists = this.cache.get(source);
    if (!lists) {
      lists = {};
      this.cache.set(source, lists);
    }
    const cached = lists[kind];
    const generation = this.generation[kind];
    if (cached && cached.generation === generation) return cached.items;
    const items = this.fetchAll(source, kind);
    const entry: Cached = { generation, items };
    const held = lists;
    held[kind] = entry;
    items.catch(() => {
      if (held[kind] === entry) delete held[kind];
    });
    return items;
  }

  /**
   * A backend notification: when it is a `list_changed`, the lists it names are forgotten on every
   * connection of the server (resources also forget resource templates). True when it was one.
   */
  changed(method: string): boolean {
    const kinds = LIST_CHANGED[method];
    if (!kinds) return false;
    for (const kind of kinds) this.generation[kind]++;
    return true;
  }

  private async fetchAll(source: ListSource, kind: ListKind): Promise<readonly Params[]> {
    const { method, key } = LIST_METHODS[kind];
    const items: Params[] = [];
    const seenCursors = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await source.request(method, cursor === undefined ? {} : { cursor }, {
        timeoutMs: this.timeoutMs,
      });
      const pageItems = result[key];
      if (Array.isArray(pageItems))
        for (const item of pageItems) if (item && typeof item === 'object') items.push(item as Params);
      const next = result['nextCursor'];
      // A missing cursor ends the list; a repeated one would loop forever.
      if (typeof next !== 'string' || seenCursors.has(next) || items.length >= MAX_LIST_ITEMS) return items;
      seenCursors.add(next);
      cursor = next;
    }
    this.logger.warn({ server: this.server, kind }, `list truncated after ${MAX_LIST_PAGES} pages`);
    return items;
  }
}

/** One kind merged over all servers: its inputs (per server, config order), items, and items by exposed name. */
export interface MergedList {
  readonly sources: readonly (readonly Params[])[];
  readonly items: ListingItem[];
  readonly byExposed: Map<string, ListingItem>;
}

export interface ListIndexOptions {
  /** Servers in config order (`prefix: true` ones flagged). */
  readonly servers: NamingRules['servers'];
  /** Name → server and the default server, for tools. */
  readonly routes?: NamingRules['routes'];
  readonly defaultRoute?: string;
  /** One server's list as its backend hands it out (BackendLists); undefined when the view has no lease on it. */
  readonly fetch: (server: string, kind: ListKind) => Promise<readonly Params[]> | undefined;
  readonly logger: Logger;
}

/** All servers' lists merged, for one session view; see the module comment. */
export class ListIndex {
  private readonly merged = new Map<ListKind, MergedList>();

  constructor(private readonly options: ListIndexOptions) {}

  /** The merged list of one kind (a backend that fails is logged and contributes nothing). */
  async get(kind: ListKind): Promise<MergedList> {
    const { servers, fetch, logger } = this.options;
    const sources = await Promise.all(
      servers.map(async (server) => {
        try {
          return (await fetch(server.name, kind)) ?? NONE;
        } catch (err) {
          logger.warn(
            { server: server.name, kind, err: (err as Error).message },
            'backend left out of the list',
          );
          return NONE;
        }
      }),
    );
    const cached = this.merged.get(kind);
    if (
      cached &&
      cached.sources.length === sources.length &&
      cached.sources.every((s, i) => s === sources[i])
    )
      return cached;
    const items =
      kind === 'tools' || kind === 'prompts' ? this.nameItems(kind, sources) : this.uriItems(kind, sources);
    const merged: MergedList = { sources, items, byExposed: new Map(items.map((i) => [i.exposed, i])) };
    this.merged.set(kind, merged);
    return merged;
  }

  private nameItems(kind: 'tools' | 'prompts', sources: readonly (readonly Params[])[]): ListingItem[] {
    const { servers } = this.options;
    const defs = new Map<string, Params>();
    const named = sources.flatMap((items, i) => {
      const server = servers[i]?.name ?? '';
      return items
        .filter((d) => typeof d['name'] === 'string')
        .map((d) => {
          defs.set(`${server}\u0000${d['name'] as string}`, d);
          return { server, name: d['name'] as string };
        });
    });
    const rules: NamingRules = {
      servers,
      ...(kind === 'tools' ? { routes: this.options.routes, defaultRoute: this.options.defaultRoute } : {}),
    };
    return exposeNames(named, rules).map((e) => {
      const def = defs.get(`${e.server}\u0000${e.name}`) ?? {};
      return {
        server: e.server,
        name: e.name,
        exposed: e.exposed,
        definition: e.exposed === e.name ? def : { ...def, name: e.exposed },
      };
    });
  }

  /** Resources keep their URIs; a URI offered by two servers is exposed as mcp-guard://server/<uri> for both. */
  private uriItems(
    kind: 'resources' | 'resourceTemplates',
    sources: readonly (readonly Params[])[],
  ): ListingItem[] {
    const { servers } = this.options;
    const key = kind === 'resources' ? 'uri' : 'uriTemplate';
    const owners = new Map<string, Set<string>>();
    sources.forEach((items, i) => {
      for (const d of items) {
        const uri = d[key];
        if (typeof uri === 'string')
          owners.set(uri, (owners.get(uri) ?? new Set()).add(servers[i]?.name ?? ''));
      }
    });
    return sources.flatMap((items, i) => {
      const server = servers[i]?.name ?? '';
      return items
        .filter((d) => typeof d[key] === 'string')
        .map((d) => {
          const uri = d[key] as string;
          const clash = (owners.get(uri)?.size ?? 0) > 1;
          const exposed = clash ? `${GATEWAY_URI_PREFIX}${server}/${encodeURIComponent(uri)}` : uri;
          return { server, name: uri, exposed, definition: clash ? { ...d, [key]: exposed } : d };
        });
    });
  }
}
