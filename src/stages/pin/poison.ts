/**
 * Poisoning markers: signs that a tool, prompt or template definition talks to the model behind the
 * user's back (research/security.md §2.1, OWASP MCP03). Every string in the pinned fields is read —
 * descriptions, titles, and inside schemas property names, enums, defaults and examples too, since a
 * model reads all of them. A definition with a marker is flagged on first sight: under `enforce` it is
 * hidden and refused until an operator approves it.
 *
 * The patterns are kept few and specific, because a false positive blocks a legitimate tool:
 * - invisible text: zero-width characters, bidi controls, Unicode tag characters (U+E0000–U+E007F,
 *   which encode hidden ASCII);
 * - pseudo-tags such as `<IMPORTANT>`, `<SYSTEM>`, `<instructions>` (the canonical poisoning example);
 * - instructions to read secrets (`~/.ssh`, `id_rsa`, `.env`, `mcp.json`, API keys, passwords…);
 * - instructions to send data elsewhere (to a URL, an e-mail address, a webhook);
 * - instructions to hide something from the user, or to ignore previous instructions.
 * Every pattern has bounded repetition, so a long description costs linear time; a window stops at the
 * end of a sentence (a full stop followed by a space), not at the dots inside a path or a URL.
 */

/** Text scanned per definition at most (a definition larger than this is unusual in itself). */
const MAX_SCAN_CHARS = 1024 * 1024;
const MAX_MARKERS = 20;

interface Rule {
  readonly re: RegExp;
  readonly describe: (match: string) => string;
}

const hex = (c: string) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

const RULES: readonly Rule[] = [
  { re: /[\u200B-\u200F\u2060-\u2064\uFEFF\u180E\u00AD]/u, describe: (m) => `invisible character ${hex(m)}` },
  { re: /[\u202A-\u202E\u2066-\u2069\u061C]/u, describe: (m) => `bidi control ${hex(m)}` },
  { re: /[\u{E0000}-\u{E007F}]/u, describe: () => 'Unicode tag characters (hidden text)' },
  {
    re: /<\s*\/?\s*(?:important|system|instructions?|secret|hidden|critical|admin|assistant)\b[^<>]{0,40}>/i,
    describe: (m) => `pseudo-tag ${m.slice(0, 40)}`,
  },
  {
    re: /\b(?:read|open|cat|include|send|attach|pass|provide|upload|copy|extract|access|fetch)\b(?:[^.\n]|\.(?=\S)){0,60}(?:~\/\.ssh|\.ssh\/|\bid_(?:rsa|ed25519|ecdsa)\b|\.aws\/credentials|\.env\b|\bmcp\.json\b|claude_desktop_config|\.npmrc\b|\.netrc\b|\.pgpass\b|\/etc\/(?:passwd|shadow)|\bprivate[ _-]keys?\b|\bapi[ _-]?keys?\b|\bsecret[ _-]?keys?\b|\baccess[ _-]?tokens?\b|\bpasswords?\b)/i,
    describe: () => 'instruction to read secrets',
  },
  {
    re: /\b(?:send|post|upload|forward|transmit|exfiltrate|leak|copy|email)\b(?:[^.\n]|\.(?=\S)){0,80}\b(?:to|into)\b(?:[^.\n]|\.(?=\S)){0,40}(?:https?:\/\/|\b[\w.+-]{1,64}@[\w-]{1,63}\.[\w.-]{2,}|\bwebhook\b|\bremote server\b|\bexternal (?:server|endpoint|url)\b)/i,
    describe: () => 'instruction to send data elsewhere',
  },
  {
    re: /\b(?:do not|don't|never)\s+(?:tell|inform|mention|reveal|show|notify|alert)\b(?:[^.\n]|\.(?=\S)){0,40}\b(?:user|human|operator)s?\b|\bwithout (?:telling|informing|notifying) the (?:user|human)\b/i,
    describe: () => 'instruction to hide something from the user',
  },
  {
    re: /\bignore (?:all |any |the )?(?:previous|prior|above|earlier|other) (?:instructions|prompts|rules|directions)\b/i,
    describe: () => 'instruction to ignore previous instructions',
  },
];

/** Every string of `value` with where it sits (property names count: a model reads them too). */
function* strings(value: unknown, path: string): Generator<[string, string]> {
  const stack: Array<[unknown, string]> = [[value, path]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, at] = top;
    if (typeof v === 'string') yield [v, at];
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${at}[${i}]`]);
    else if (v !== null && typeof v === 'object')
      for (const [k, child] of Object.entries(v).reverse()) {
        const where = at ? `${at}.${k}` : k;
        yield [k, `${where} (name)`];
        stack.push([child, where]);
      }
  }
}

/** The poisoning markers of a definition's pinned fields, e.g. `pseudo-tag <IMPORTANT> in description`. */
export function poisonMarkers(fields: Record<string, unknown>): string[] {
  const found = new Set<string>();
  let budget = MAX_SCAN_CHARS;
  for (const [text, where] of strings(fields, '')) {
    if (budget <= 0 || found.size >= MAX_MARKERS) break;
    const scanned = text.length > budget ? text.slice(0, budget) : text;
    budget -= scanned.length;
    for (const rule of RULES) {
      const m = rule.re.exec(scanned);
      if (m) found.add(`${rule.describe(m[0])} in ${where}`);
    }
  }
  return [...found].slice(0, MAX_MARKERS);
}
