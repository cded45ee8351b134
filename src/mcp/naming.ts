/**
 * How the tools and prompts of many servers become one namespace for an agent (SPEC §2, routes):
 * - without routes, every server's names are exposed as they are; a name offered by two servers is
 *   exposed as `server__name` for both (never silently shadowed), and `prefix: true` prefixes all of
 *   a server's names that way;
 * - with routes, a routed name is taken from its server only; `default` takes every other name from
 *   the default server; without `default`, the remaining names are aggregated as above.
 * Exposed names stay within ^[A-Za-z0-9_-]{1,64}$: other characters become `_`, and a name made
 * too long or ambiguous by that gets a short hash suffix so two originals never share one name.
 */
import { createHash } from 'node:crypto';

export const PREFIX_SEPARATOR = '__';
const VALID_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface NamedItem {
  readonly server: string;
  /** The name as the backend knows it. */
  readonly name: string;
}

export interface ExposedItem extends NamedItem {
  /** The name the agent sees and calls. */
  readonly exposed: string;
}

export interface NamingRules {
  /** Servers in config order, with `prefix: true` ones flagged. */
  readonly servers: ReadonlyArray<{ readonly name: string; readonly prefix: boolean }>;
  /** Name → server (only for tools). */
  readonly routes?: Readonly<Record<string, string>>;
  readonly defaultRoute?: string;
}

/** Computes the exposed names for items offered by several servers. Order follows config then backend order. */
export function exposeNames(items: readonly NamedItem[], rules: NamingRules): ExposedItem[] {
  const routes = rules.routes ?? {};
  const order = new Map(rules.servers.map((s, i) => [s.name, i]));
  const prefixed = new Set(rules.servers.filter((s) => s.prefix).map((s) => s.name));

  // 1. Which items are exposed at all (routes decide, when present).
  const kept = items.filter((item) => {
    const routedTo = routes[item.name];
    if (routedTo !== undefined) return routedTo === item.server;
    if (rules.defaultRoute !== undefined) return item.server === rules.defaultRoute;
    return true;
  });

  // 2. Names offered by more than one remaining server are prefixed for every one of them.
  const servingCount = new Map<string, Set<string>>();
  for (const item of kept) {
    const set = servingCount.get(item.name) ?? new Set<string>();
    set.add(item.server);
    servingCount.set(item.name, set);
  }
  const wanted = kept.map((item) => {
    const routed = routes[item.name] === item.server;
    const collide = (servingCount.get(item.name)?.size ?? 0) > 1;
    const raw =
      !routed && (collide || prefixed.has(item.server))
        ? `${item.server}${PREFIX_SEPARATOR}${item.name}`
        : item.name;
    const name = sanitize(raw);
    return { item, name, rewritten: name !== raw };
  });

  // 3. Anything still ambiguous (sanitising, `a__b`+`c` vs `a`+`b__c`, a backend listing a name twice)
  //    gets a hash of its origin so no two originals share an exposed name. When exactly one of the
  //    clashing names is exactly as wanted, it keeps its name and only the others are hashed.
  const groups = new Map<string, typeof wanted>();
  for (const w of wanted) groups.set(w.name, [...(groups.get(w.name) ?? []), w]);
  const result: ExposedItem[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    const group = groups.get(w.name) ?? [];
    const untouched = group.filter((g) => !g.rewritten);
    const keep = group.length === 1 || (untouched.length === 1 && untouched[0] === w);
    const exposed = keep ? w.name : withHash(w.name, `${w.item.server}\u0000${w.item.name}`);
    if (seen.has(exposed)) continue; // the same server listed the same name twice
    seen.add(exposed);
    result.push({ server: w.item.server, name: w.item.name, exposed });
  }
  return result.sort((a, b) => (order.get(a.server) ?? 0) - (order.get(b.server) ?? 0));
}

function sanitize(name: string): string {
  if (VALID_NAME.test(name)) return name;
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, '_');
  return cleaned.length > 0 && cleaned.length <= 64 ? cleaned : withHash(cleaned || 'tool', name);
}

function withHash(name: string, origin: string): string {
  const hash = createHash('sha256').update(origin).digest('hex').slice(0, 8);
  return `${name.slice(0, 64 - 9)}-${hash}`;
}
