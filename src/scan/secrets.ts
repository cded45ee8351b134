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
