/**
 * Recognises secrets written into configs and masks them for display. The token formats follow the
 * prefix families of gitleaks and Docker's secretsscan (research/security.md §5.2). They are written
 * here rather than taken from src/redact because the scan must name what it found (a finding says
 * "GitHub token") and show a masked hint, while the redactor only erases.
 */
import { isSecretKey } from '../redact/secret-keys.js';

/** Known token formats: a near-certain secret wherever it appears. */
const TOKEN_FORMATS: ReadonlyArray<{ readonly name: string; readonly re: RegExp }> = [
  { name: 'private key', re: /-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----/ },
  {
    name: 'AWS access key id',
    re: /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])/,
  },
  { name: 'GitHub token', re: /(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36,255}/ },
  { name: 'GitHub token', re: /(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{22,255}/ },
  { name: 'GitLab token', re: /(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}/ },
  { name: 'Slack token', re: /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/ },
  { name: 'Slack app token', re: /(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9-]{10,}/ },
  { name: 'Slack webhook', re: /hooks\.slack\.com\/services\/T[A-Za-z0-9_]+\/B[A-Za-z0-9_]+\/[A-Za-z0-9_]+/ },
  { name: 'Stripe key', re: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}/ },
  { name: 'Anthropic API key', re: /(?<![A-Za-z0-9])sk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{20,}/ },
  { name: 'OpenAI API key', re: /(?<![A-Za-z0-9])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}/ },
  { name: 'OpenAI API key', re: /(?<![A-Za-z0-9])sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}/ },
  { name: 'Google API key', re: /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}/ },
  { name: 'Hugging Face token', re: /(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9])/ },
  { name: 'npm token', re: /(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/ },
  { name: 'PyPI token', re: /pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/ },
  { name: 'SendGrid key', re: /(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/ },
  { name: 'Shopify token', re: /(?<![A-Za-z0-9])shp(?:ss|at|ca|pa)_[a-fA-F0-9]{32}/ },
  { name: 'Linear API key', re: /(?<![A-Za-z0-9])lin_api_[A-Za-z0-9]{40}/ },
  { name: 'Notion token', re: /(?<![A-Za-z0-9])ntn_[A-Za-z0-9]{40,}/ },
  { name: 'Groq API key', re: /(?<![A-Za-z0-9])gsk_[A-Za-z0-9]{48,}/ },
  { name: 'Perplexity API key', re: /(?<![A-Za-z0-9])pplx-[A-Za-z0-9]{40,}/ },
  { name: 'DigitalOcean token', re: /(?<![A-Za-z0-9])do[opr]_v1_[a-f0-9]{64}/ },
  {
    name: 'JSON Web Token',
    re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/,
  },
];

/** Cheap pre-filter: text without any of these cannot match a token format. */
const MAYBE_TOKEN =
  /-----BEGIN|A[KSGIRN][A-Z0-9]{2}|A3T|gh[pousr]_|github_pat_|glpat-|xox|xapp-|hooks\.slack|_live_|_test_|sk-|AIza|hf_|npm_|pypi-|SG\.|shp|lin_api_|ntn_|gsk_|pplx-|_v1_|eyJ/;

/** A known-format token inside `text`, with the format's name. */
export function findToken(text: string): { name: string; value: string } | undefined {
  if (!MAYBE_TOKEN.test(text)) return undefined;
  for (const format of TOKEN_FORMATS) {
    const m = format.re.exec(text);
    if (m) return { name: format.name, value: m[0] };
  }
  return undefined;
}

/**
 * True when a value is (or contains) a reference the client expands at start-up — `${VAR}`,
 * `${env:VAR}`, `${input:id}`, `$VAR`, `%VAR%`, `{{ secrets.X }}` — rather than the secret itself.
 */
export function isReference(value: string): boolean {
  return (
    enclosed(value, '${', '}') ||
    /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value) ||
    /^%[A-Za-z_][A-Za-z0-9_]*%$/.test(value) ||
    enclosed(value, '{{', '}}')
  );
}

/**
 * True when `open`, then characters other than `}`, then `close` occur in `text` — what
 * /\$\{[^}]*\}/ and /\{\{[^}]*\}\}/ test, in linear time (those regexes rescan the rest of the text
 * from every unclosed opener: quadratic on "${${${…").
 */
function enclosed(text: string, open: string, close: string): boolean {
  for (let at = text.indexOf(open); at !== -1; ) {
    const brace = text.indexOf('}', at + open.length);
    if (brace === -1) return false;
    if (text.startsWith(close, brace)) return true;
    // The `}` ends every opener before it: look for the next opener after it.
    at = text.indexOf(open, brace + 1);
  }
  return false;
}

/** Obvious placeholders in examples ("<your-token>", "YOUR_API_KEY", "xxxx", "changeme"…). */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  return (
    v === '' ||
    /^<[^>]*>$/.test(v) ||
    /^\[[^\]]*\]$/.test(v) ||
    /^(?:x+|\*+|\.+|-+|0+)$/i.test(v) ||
    /\.\.\.|…/.test(v) ||
    /\byour[-_ ]?[a-z]/i.test(v) ||
    /^(?:your|my)[-_]/i.test(v) ||
    /^(?:changeme|change[-_]me|replace[-_]?me|todo|tbd|none|null|undefined|redacted|secret|password|token|api[-_]?key|example|dummy|test|placeholder|true|false)$/i.test(
      v,
    )
  );
}

/** A literal value that is worth calling a secret: not a reference, not a placeholder, not tiny. */
export function isLiteralSecret(value: string): boolean {
  return value.length >= 8 && !isReference(value) && !isPlaceholder(value);
}

/** True when a key (env variable, header, flag, field) names a credential. */
export function namesSecret(key: string): boolean {
  const k = key.replace(/^-+/, '');
  return isSecretKey(k) || /(?:^|[-_])key$/i.test(k);
}

/** The credential in an Authorization-style value, without its scheme ("Bearer abc" → "abc"). */
export function credentialOf(value: string): string {
  return value.replace(/^\s*(?:bearer|basic|token|apikey|api-key)\s+/i, '').trim();
}

/**
 * A secret shown as a hint: the first and last 4 characters of a long value, 2 of a medium one, none
 * of a short one — never more than 40% of it, never the whole value.
 */
export function maskSecret(value: string): string {
  if (value.length >= 20) return `${value.slice(0, 4)}…${value.slice(-4)}`;
  if (value.length >= 12) return `${value.slice(0, 2)}…${value.slice(-2)}`;
  return '…';
}

/** Replaces every occurrence of each secret in `text` with its masked form (longest first). */
export function maskAll(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of [...new Set(secrets)].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) out = out.split(secret).join(maskSecret(secret));
  }
  return out;
}

/** A URL for display: the password and query values replaced, so no credential is printed. */
export function displayUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '****';
    for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, '****');
    return url.toString().replace(/%2A/g, '*');
  } catch {
    return raw.length > 80 ? `${raw.slice(0, 77)}…` : raw;
  }
}

const TOKEN_FORMATS_GLOBAL = TOKEN_FORMATS.map((f) => new RegExp(f.re.source, 'g'));
// [^…?] and [^…/]: a run never crosses the next start, so a failed match cannot be retried from inside it.
const QUERY_PAIR = /([?&])([^=&#?\s]+)=([^&#\s'"]*)/g;
const USERINFO = /(\/\/[^\s/:@'"]*):([^\s/@'"]+)@/g;
const LOOKS_LIKE_PATH = /^(?:~|\.{1,2})?[\\/]|^[A-Za-z]:[\\/]/;

/** The word without the quotes and brackets around it (and a trailing `,` or `;`). A loop: /['"]+$/ is quadratic. */
function unquote(word: string): string {
  let start = 0;
  let end = word.length;
  while (start < end && '\'"`({['.includes(word[start] as string)) start++;
  while (end > start && '\'"`,;)}]'.includes(word[end - 1] as string)) end--;
  return word.slice(start, end);
}

/** `name` of `--name`, `"name"`, `NAME`: what namesSecret is asked about. */
const nameOf = (word: string) => unquote(word).replace(/^-+/, '');

const isScheme = (word: string) => ['bearer', 'basic'].includes(nameOf(word).toLowerCase());

/** A credential in free text worth naming: not a reference, placeholder, path, URL or masked value. */
function credential(value: string): string | undefined {
  const bare = unquote(value);
  if (
    bare.length < 4 ||
    bare.includes('…') ||
    bare.includes('://') ||
    isReference(value) ||
    isReference(bare) ||
    isPlaceholder(bare) ||
    LOOKS_LIKE_PATH.test(bare)
  ) {
    return undefined;
  }
  return bare;
}

export interface NamedSecret {
  /** What names it: the variable, flag or header, or the scheme (`Bearer`). */
  readonly name: string;
  readonly value: string;
}

/**
 * Walks the words of free text (`words`: text.split(/(\s+)/), so words sit at even indices) and reports
 * each credential with the index of the word that holds it. See secretsInText for what counts.
 */
function walkWords(
  words: readonly string[],
  report: (at: number, name: string, value: string) => void,
): void {
  const add = (at: number, name: string, value: string | undefined) => {
    const secret = value === undefined ? undefined : credential(value);
    if (secret !== undefined) report(at, name, secret);
  };
  for (let i = 0; i < words.length; i += 2) {
    const word = words[i] as string;
    if (word === '') continue;
    const n = i + 2 < words.length ? i + 2 : -1;
    const next = n < 0 ? undefined : words[n];
    if (isScheme(word)) {
      add(n, unquote(word), next);
      i += 2;
      continue;
    }
    // curl/wget -u user:password, --user=user:password, -uuser:password
    const user = /^['"]?(-u|--user|--proxy-user)(=?)(.*)$/.exec(word);
    if (user && (user[3] === '' || user[2] === '=' || user[1] === '-u')) {
      const inWord = user[3] !== '';
      const pair = inWord ? user[3] : next;
      const colon = pair?.indexOf(':') ?? -1;
      if (pair !== undefined && colon > 0) {
        add(inWord ? i : n, user[1] as string, pair.slice(colon + 1));
        if (!inWord) i += 2;
        continue;
      }
    }
    // NAME=value, NAME:value (header or JSON style) inside the word, also in a,b=c,d lists.
    let inWord = false;
    for (const part of word.split(',')) {
      const sep = part.search(/[=:]/);
      if (sep <= 0 || sep === part.length - 1) continue;
      inWord = true;
      const name = nameOf(part.slice(0, sep));
      if (namesSecret(name)) add(i, name, part.slice(sep + 1));
    }
    if (inWord) continue;
    // `NAME: value`, `NAME= value`, `--name value`: the secret is the next word (unless it is a scheme).
    const last = word.at(-1);
    const named =
      last === ':' || last === '=' ? word.slice(0, -1) : /^['"]?--?[A-Za-z]/.test(word) ? word : '';
    if (named === '' || next === undefined || !namesSecret(nameOf(named))) continue;
    if (next.startsWith('-') || isScheme(next)) continue;
    add(n, nameOf(named), next);
    i += 2;
  }
}

/**
 * The credentials written in free config text (a shell script, a command line, an env value), word by
 * word: `Bearer`/`Basic` credentials; `-u user:password` (curl, wget); `NAME=value`, `NAME: value`,
 * `--name value` and `--name=value` where NAME is secret-looking (also inside comma-separated lists).
 * Linear in the text's length. URLs are left to their own checks.
 */
export function secretsInText(text: string): NamedSecret[] {
  const found: NamedSecret[] = [];
  walkWords(text.split(/(\s+)/), (_at, name, value) => found.push({ name, value }));
  return found;
}

/**
 * Masks the secrets in free config text that a message echoes: known token formats, URL passwords and
 * secret query values (as `****`), and every credential secretsInText finds, in place. Linear.
 */
export function maskText(text: string): string {
  let out = text;
  if (MAYBE_TOKEN.test(out)) {
    for (const re of TOKEN_FORMATS_GLOBAL) out = out.replace(re, (m) => maskSecret(m));
  }
  if (out.includes('//')) {
    out = out.replace(USERINFO, (m, before: string, password: string) =>
      isReference(password) ? m : `${before}:****@`,
    );
  }
  if (out.includes('=')) {
    out = out.replace(QUERY_PAIR, (m, sep: string, key: string, value: string) =>
      credential(value) !== undefined && namesSecret(decodeSafely(key)) ? `${sep}${key}=****` : m,
    );
  }
  const words = out.split(/(\s+)/);
  walkWords(words, (at, _name, value) => {
    const word = words[at] as string;
    // The value follows its name, so its last occurrence in the word is the value itself.
    const pos = word.lastIndexOf(value);
    words[at] = word.slice(0, pos) + maskSecret(value) + word.slice(pos + value.length);
  });
  return words.join('');
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Config text echoed in a message: secrets masked (maskText), then cut to `max` characters. */
export function excerpt(text: string, max = 120): string {
  const masked = maskText(text);
  return masked.length > max ? `${masked.slice(0, max - 1)}…` : masked;
}
