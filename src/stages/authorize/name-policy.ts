/**
 * allow/deny rules (SPEC §2): patterns name a tool, prompt or resource as `server.name` or bare `name`,
 * with `*` matching any run of characters. Rules exist globally (`policies`), per server
 * (`servers.NAME`) and per agent (`agents.NAME`). Deny wins: any matching deny refuses. Every allow list
 * that is present must match.
 *
 * Deny patterns match on a folded form of both sides (NFKC, lower case, whitespace and zero-width
 * characters removed, common Cyrillic/Greek look-alikes mapped to Latin), so a backend's `Delete_File`
 * or `dеlete_file` (Cyrillic е) cannot slip past `delete_file`. Allow patterns match exactly, so folding
 * can only ever refuse more, never permit more.
 */
import type { GuardConfig } from '../../config/types.js';

export type NameKind = 'tool' | 'prompt' | 'resource';

export type PolicyDecision = { allowed: true } | { allowed: false; rule: string };

const LOOKALIKES: Record<string, string> = {
  а: 'a',
  е: 'e',
  о: 'o',
  р: 'p',
  с: 'c',
  у: 'y',
  х: 'x',
  і: 'i',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  һ: 'h',
  ӏ: 'l',
  к: 'k',
  м: 'm',
  т: 't',
  в: 'b',
  н: 'h',
  α: 'a',
  ο: 'o',
  ρ: 'p',
  ε: 'e',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  τ: 't',
  υ: 'u',
  χ: 'x',
};
const INVISIBLE = /[\s\u200B-\u200F\u2060-\u2064\uFEFF\u00AD]/g;

/** The folded form used for deny matching. */
export function foldName(name: string): string {
  let out = '';
  for (const ch of name.normalize('NFKC').toLowerCase().replace(INVISIBLE, '')) out += LOOKALIKES[ch] ?? ch;
  return out;
}

class PatternList {
  private readonly regexes: RegExp[];

  constructor(
    readonly patterns: readonly string[],
    private readonly folded: boolean,
  ) {
    this.regexes = patterns.map((p) => globToRegExp(folded ? foldName(p) : p));
  }

  /** The first pattern matching any of the candidate names. */
  match(candidates: readonly string[]): string | undefined {
    const names = this.folded ? candidates.map(foldName) : candidates;
    for (let i = 0; i < this.regexes.length; i++) {
      const re = this.regexes[i] as RegExp;
      if (names.some((n) => re.test(n))) return this.patterns[i];
    }
    return undefined;
  }
}

function globToRegExp(glob: string): RegExp {
  const source = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's');
}

interface Rules {
  readonly where: string;
  readonly allow?: PatternList;
  readonly deny?: PatternList;
}

function rules(where: string, allow: readonly string[] | undefined, deny: readonly string[]): Rules {
  return {
    where,
    ...(allow ? { allow: new PatternList(allow, false) } : {}),
    ...(deny.length > 0 ? { deny: new PatternList(deny, true) } : {}),
  };
}

/** allow/deny for one config, compiled once; `decide` is called per request and per listed item. */
export class NamePolicy {
  private readonly global: Rules;
  private readonly servers = new Map<string, Rules>();
  private readonly agents = new Map<string, Rules>();

  constructor(config: GuardConfig) {
    this.global = rules('policies', config.policies.allow, config.policies.deny);
    for (const s of config.servers) this.servers.set(s.name, rules(`servers.${s.name}`, s.allow, s.deny));
    for (const [name, a] of Object.entries(config.agents))
      this.agents.set(name, rules(`agents.${name}`, a.allow, a.deny));
  }

  /** True when no rule exists at all (the stage can be left out). */
  get empty(): boolean {
    const none = (r: Rules) => !r.allow && !r.deny;
    return (
      none(this.global) && [...this.servers.values()].every(none) && [...this.agents.values()].every(none)
    );
  }

  /**
   * Whether `agent` may use `name` on `server`. A resource URI is judged as written AND in its canonical
   * form (see canonicalUri): a deny matching either refuses, an allow must match both, so
   * `file:///data/../etc/passwd` is not inside `file:///data/*`.
   */
  decide(agent: string, server: string, name: string, kind: NameKind = 'tool'): PolicyDecision {
    const forms = kind === 'resource' ? [...new Set([name, canonicalUri(name)])] : [name];
    const candidates = forms.map((form) => [`${server}.${form}`, form]);
    const sets = [this.global, this.servers.get(server), this.agents.get(agent)].filter(
      (r): r is Rules => r !== undefined,
    );
    for (const r of sets) {
      for (const c of candidates) {
        const hit = r.deny?.match(c);
        if (hit !== undefined) return { allowed: false, rule: `${r.where}.deny: ${hit}` };
      }
    }
    for (const r of sets) {
      if (r.allow && candidates.some((c) => r.allow?.match(c) === undefined))
        return { allowed: false, rule: `${r.where}.allow (not listed)` };
    }
    return { allowed: true };
  }
}

const UNRESERVED_ESCAPE = /%(2[dDeE]|3\d|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g;

/**
 * The form a backend will most likely act on: percent-escapes of unreserved characters decoded
 * (`%65tc` → `etc`, `%2e%2e` → `..`), then parsed as a URL, which resolves `.`/`..` segments and drops a
 * `localhost` file host. A string that is not a URL stays as it is.
 */
export function canonicalUri(uri: string): string {
  const decoded = uri.replace(UNRESERVED_ESCAPE, (percent) => decodeURIComponent(percent));
  try {
    return new URL(decoded).href;
  } catch {
    return decoded;
  }
}
