/**
 * Masks secrets that appear inside free text: tool arguments, error messages, log lines.
 *
 * The patterns follow the prefix families of gitleaks / Docker's secretsscan (see
 * docs/audit.md#redaction). They are hand-written rather than taken from a library because no
 * installed package masks secrets in text; the list is short on purpose and errs on the side of
 * masking: a false positive costs some fidelity in an audit line, a false negative leaks a key.
 *
 * A masked secret keeps only its public prefix as a hint (`sk-ant-…[redacted]`, `ghp_…[redacted]`),
 * never any of its random part.
 */

/** The marker that replaces a secret (or its random part). */
export const REDACTED = '[redacted]';

/** Lower bound on what we accept as a random token after `Bearer`/`Basic` or inside `sk-…` keys. */
const MIN_TOKEN_LENGTH = 8;

/**
 * True when `s` looks machine-generated rather than like a word: it has a digit, a token symbol,
 * mixed case after the first letter, or is long. Keeps "Bearer authentication" and "sk-learn-is-a-library"
 * readable while real keys (which virtually always contain digits or mixed case) are masked.
 */
function looksRandom(s: string): boolean {
  if (s.length < MIN_TOKEN_LENGTH) return false;
  if (/[0-9]/.test(s) || /[._~+/=]/.test(s)) return true;
  const rest = s.slice(1);
  if (/[a-z]/.test(rest) && /[A-Z]/.test(rest)) return true;
  return s.length >= 32;
}

interface TextRule {
  /** Must carry the `g` flag. */
  readonly re: RegExp;
  readonly replace: (match: string, ...groups: string[]) => string;
}

/** Characters that may not precede a prefixed key (so `desk-top…` never reads as `sk-…`). */
const START = '(?<![A-Za-z0-9])';

/**
 * The secret word a key name ends with (db_password, api_key, client_secret, …). Only the word is
 * matched, not the whole name: a `[\w.-]*` prefix would make the regex quadratic on text such as
 * "a.a.a.a…" (measured: 100 ms for 9 KB).
 */
const SECRET_NAME =
  '(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)';

const RULES: readonly TextRule[] = [
  // PEM private keys first: they span lines. An unterminated block is masked to the end of the text,
  // so a key cut by a length cap never leaks its first half.
  {
    re: /(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)[\s\S]*?(?:(-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)|$)/g,
    replace: (_m, begin = '', end = '') => `${begin}${REDACTED}${end}`,
  },
  // URL userinfo: scheme://user:password@host — keep the user (rarely secret), mask the password.
  {
    re: /\b([a-zA-Z][a-zA-Z0-9+.-]{1,30}:\/\/)([^\s:/?#@"'<>]{0,256}):([^\s@/?#"'<>]{1,512})@/g,
    replace: (_m, scheme = '', user = '') => `${scheme}${user}:${REDACTED}@`,
  },
  // HTTP auth schemes anywhere in a string ("Authorization: Bearer …", curl commands, dumps).
  {
    re: /\b(Bearer|Basic|Token)(\s+)([A-Za-z0-9\-._~+/]+=*)/gi,
    replace: (m, scheme = '', space = '', token = '') =>
      looksRandom(token) ? `${scheme}${space}${REDACTED}` : m,
  },
  // JSON Web Tokens (header and payload are base64url JSON, so both start with "eyJ").
  {
    re: new RegExp(`${START}eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}(?:\\.[A-Za-z0-9_-]*)?`, 'g'),
    replace: () => `eyJ…${REDACTED}`,
  },
  // Anthropic and OpenAI keys: sk-ant-api03-…, sk-proj-…, sk-svcacct-…, legacy sk-<48>.
  {
    re: new RegExp(
      `${START}(sk-(?:(?:ant-(?:api|admin|sid)[0-9]{2}|proj|svcacct|admin|None)-)?)([A-Za-z0-9_-]{16,})`,
      'g',
    ),
    replace: (m, prefix = '', body = '') => (looksRandom(body) ? `${prefix}…${REDACTED}` : m),
  },
  // Stripe secret and restricted keys (publishable pk_ keys are public by design).
  {
    re: new RegExp(`${START}((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}`, 'g'),
    replace: (_m, prefix = '') => `${prefix}…${REDACTED}`,
  },
  // GitHub tokens: classic (ghp/gho/ghu/ghs/ghr) and fine-grained (github_pat_).
  {
    re: new RegExp(`${START}(gh[pousr]_)[A-Za-z0-9]{30,}|${START}(github_pat_)[A-Za-z0-9_]{22,}`, 'g'),
    replace: (_m, classic, fine) => `${classic ?? fine ?? ''}…${REDACTED}`,
  },
  // GitLab, Slack, Hugging Face, npm, Google API keys.
  {
    re: new RegExp(`${START}(glpat-|xox[abprs]-|xapp-|hf_|npm_|AIza)([A-Za-z0-9_-]{10,})`, 'g'),
    replace: (m, prefix = '', body = '') => (looksRandom(body) ? `${prefix}…${REDACTED}` : m),
  },
  // mcp-guard's own API keys (`mcp-guard keys new`: mcpg_ + 43 base64url characters).
  {
    re: new RegExp(`${START}(mcpg_)[A-Za-z0-9_-]{20,}`, 'g'),
    replace: (_m, prefix = '') => `${prefix}…${REDACTED}`,
  },
  // Slack incoming-webhook URLs: the path is the credential.
  {
    re: /(https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9/_-]+/g,
    replace: (_m, prefix = '') => `${prefix}${REDACTED}`,
  },
  // AWS access key ids.
  {
    re: /(?<![A-Z0-9])((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Z0-9])/g,
    replace: (m) => `${m.slice(0, 4)}…${REDACTED}`,
  },
  // "key": "value" / key='value' inside text (JSON embedded in a string argument, YAML, code). The
  // value runs to the matching quote (skipping escaped ones), so a password with spaces or commas is
  // masked whole. The name
  // must *end* in the secret word, so "max_tokens": 100 and "password_hint": "x" stay readable.
  {
    re: new RegExp(`(${SECRET_NAME})(\\\\?["']?\\s*[:=]\\s*)(\\\\?["'])((?:\\\\.|.)*?)\\3`, 'gi'),
    replace: (m, name = '', sep = '', quote = '', value = '') =>
      value.includes(REDACTED) ? m : `${name}${sep}${quote}${REDACTED}${quote}`,
  },
  // key=value without quotes (query strings, command lines, env dumps): the value ends at a space,
  // quote or separator.
  {
    re: new RegExp(`(${SECRET_NAME})(\\s*[:=]\\s*)([^\\s"'&,;]+)`, 'gi'),
    replace: (m, name = '', sep = '', value = '') =>
      value.includes(REDACTED) ? m : `${name}${sep}${REDACTED}`,
  },
];

/** Cheap pre-filters: text without any of these substrings cannot match a rule, so skip the regexes. */
const MAYBE_SECRET_WORD =
  /:\/\/|bearer|basic|token|pass|secret|key|credential|sk-|sk_|rk_|hf_|npm_|xox|xapp-|mcpg_/i;
const MAYBE_SECRET_PREFIX = /-----BEGIN|eyJ|gh[pousr]_|github_pat_|glpat-|AIza|A[KSGIRN][A-Z0-9]{2}|A3T/;

/** Returns `text` with every recognised secret masked (see the module comment for the rules). */
export function redactText(text: string): string {
  if (!MAYBE_SECRET_WORD.test(text) && !MAYBE_SECRET_PREFIX.test(text)) return text;
  let out = text;
  for (const rule of RULES) {
    rule.re.lastIndex = 0;
    out = out.replace(rule.re, rule.replace as (substring: string, ...args: unknown[]) => string);
  }
  return out;
}
