/**
 * MCP-SEC-001/002/003: secrets written into a server entry instead of referenced from the
 * environment. Returns the raw secret values too, so every message about the entry can mask them.
 */
import type { Issue } from './issue.js';
import {
  credentialOf,
  displayUrl,
  excerpt,
  findToken,
  isLiteralSecret,
  isPlaceholder,
  isReference,
  maskSecret,
  namesSecret,
  secretsInText,
} from './secrets.js';
import type { InputEntry, ServerEntry } from './types.js';

interface Source {
  readonly where: string;
  readonly subject: string;
  readonly value: string;
}

const QUERY_SECRET = /^(?:key|sig|signature|code|apikey|api_key|access_token|token)$/i;
const LOOKS_LIKE_PATH = /^(?:~|\.{1,2})?[\\/]|^[A-Za-z]:[\\/]/;

const isSchemeChar = (c: number) =>
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2b ||
  c === 0x2e ||
  c === 0x2d;
const isLetter = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
/** Ends a URL in free text: white space, quotes, angle brackets (tested one character at a time). */
const URL_END = /[\s"'<>]/;

/**
 * The URLs (`scheme://…`) inside a text, as /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi would find them,
 * in linear time: that regex rescans every long run of scheme characters from each of its positions
 * (a 300 KB argument took a minute). Each `://` is found once and its scheme read backwards.
 */
export function urlsIn(text: string): string[] {
  const found: string[] = [];
  let from = 0; // the end of the previous URL: a scheme never reaches back into it
  for (let at = text.indexOf('://'); at !== -1; at = text.indexOf('://', Math.max(at + 1, from))) {
    let start = at;
    while (start > from && isSchemeChar(text.charCodeAt(start - 1))) start--;
    while (start < at && !isLetter(text.charCodeAt(start))) start++;
    let end = at + 3;
    while (end < text.length && !URL_END.test(text[end] as string)) end++;
    if (start === at || end === at + 3) continue;
    found.push(text.slice(start, end));
    from = end;
  }
  return found;
}

/** How a URL's location reads in a message. */
function urlPlace(source: Source): string {
  return source.subject === 'url' ? 'the server URL' : `a URL in ${source.where}`;
}

function sourcesOf(entry: ServerEntry): Source[] {
  const out: Source[] = [];
  if (entry.command !== undefined)
    out.push({ where: 'the command', subject: 'command', value: entry.command });
  for (const [i, value] of entry.args.entries())
    out.push({ where: `argument ${i + 1}`, subject: `args.${i}`, value });
  for (const [k, value] of Object.entries(entry.env))
    out.push({ where: `env ${k}`, subject: `env.${k}`, value });
  for (const [k, value] of Object.entries(entry.headers)) {
    out.push({ where: `header ${k}`, subject: `headers.${k.toLowerCase()}`, value });
  }
  if (entry.url !== undefined) out.push({ where: 'the URL', subject: 'url', value: entry.url });
  for (const f of entry.secretFields) out.push({ where: f.where, subject: f.where, value: f.value });
  return out;
}

/**
 * Named secrets inside one argument: `--api-key=…`, `API_KEY=…` (docker -e), `Authorization: Bearer …`,
 * and a header given as a flag's value (`--header=Authorization: Bearer …`).
 */
function namedInArgument(arg: string, next: string | undefined): Array<{ name: string; value: string }> {
  const flag = /^(--?[A-Za-z][\w.-]*)=(.*)$/s.exec(arg);
  if (flag) {
    if (namesSecret(flag[1] as string)) return [{ name: flag[1] as string, value: flag[2] as string }];
    return namedInArgument(flag[2] as string, undefined);
  }
  if (/^--?[A-Za-z][\w.-]*$/.test(arg) && next !== undefined && !next.startsWith('-') && namesSecret(arg)) {
    return [{ name: arg, value: next }];
  }
  const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(arg);
  if (assignment && namesSecret(assignment[1] as string)) {
    return [{ name: assignment[1] as string, value: assignment[2] as string }];
  }
  const header = /^([A-Za-z][\w-]*):\s*(.+)$/s.exec(arg);
  if (header && !arg.includes('://') && namesSecret(header[1] as string)) {
    return [{ name: header[1] as string, value: credentialOf(header[2] as string) }];
  }
  return [];
}

/** Finds inline secrets in a server entry; `secrets` lists every raw secret value seen, for masking. */
export function checkSecrets(entry: ServerEntry): { issues: Issue[]; secrets: string[] } {
  const issues: Issue[] = [];
  const secrets: string[] = [];
  const sources = sourcesOf(entry);

  for (const source of sources) {
    const token = findToken(source.value);
    if (token) {
      secrets.push(token.value);
      issues.push({
        rule: 'MCP-SEC-001',
        message: `${token.name} written inline in ${source.where}: ${maskSecret(token.value)}`,
        subject: source.subject,
      });
    }
    for (const found of urlsIn(source.value)) {
      let url: URL;
      try {
        url = new URL(found);
      } catch {
        continue;
      }
      const password = decodeURIComponent(url.password);
      if (password && !isReference(password) && !isPlaceholder(password)) {
        secrets.push(password, url.password);
        issues.push({
          rule: 'MCP-SEC-003',
          message: `password in ${urlPlace(source)}: ${excerpt(displayUrl(found))}`,
          subject: `${source.subject}.userinfo`,
        });
      }
      for (const [key, value] of url.searchParams) {
        if (!(namesSecret(key) || QUERY_SECRET.test(key)) || !isLiteralSecret(value)) continue;
        if (token && value.includes(token.value)) continue;
        secrets.push(value);
        issues.push({
          rule: 'MCP-SEC-003',
          message: `credential in the query string (${key}) of ${urlPlace(source)}: ${excerpt(displayUrl(found))}`,
          subject: `${source.subject}.query.${key}`,
        });
      }
    }
  }

  const generic = (name: string, value: string, where: string, subject: string) => {
    const credential = credentialOf(value);
    if (
      !isLiteralSecret(credential) ||
      LOOKS_LIKE_PATH.test(credential) ||
      /^[a-z]+:\/\//i.test(credential)
    ) {
      return;
    }
    if (findToken(credential)) return; // already reported as a known format
    secrets.push(credential);
    issues.push({
      rule: 'MCP-SEC-002',
      message: `secret written inline in ${where} (${name}): ${maskSecret(credential)}`,
      subject,
    });
  };
  // A value that is itself an Authorization value (`Bearer …`, `Basic …`) is a secret whatever its name.
  const isAuthValue = (v: string) => /^\s*(?:bearer|basic)\s+\S/i.test(v);
  for (const [k, v] of Object.entries(entry.env)) {
    if (namesSecret(k) || isAuthValue(v)) generic(k, v, 'env', `env.${k}`);
    // Free text under another name: NODE_OPTIONS="--secret=…", a command line in a variable.
    else for (const s of secretsInText(v)) generic(s.name, s.value, `env ${k}`, `env.${k}`);
  }
  for (const [k, v] of Object.entries(entry.headers)) {
    if (namesSecret(k) || isAuthValue(v)) generic(k, v, 'a header', `headers.${k.toLowerCase()}`);
  }
  for (const f of entry.secretFields) generic(f.where, f.value, 'the config', f.where);
  entry.args.forEach((arg, i) => {
    for (const { name, value } of namedInArgument(arg, entry.args[i + 1])) {
      generic(name, value, `argument ${i + 1}`, `args.${i}`);
    }
    // A script or command line in one argument (`sh -c "curl -H 'Authorization: Bearer …' …"`).
    for (const s of secretsInText(arg)) generic(s.name, s.value, `argument ${i + 1}`, `args.${i}`);
  });
  return { issues, secrets };
}

/** A finding about a VS Code input, not tied to a server. */
export interface InputIssue extends Issue {
  readonly line: number;
}

/**
 * MCP-SEC-001/002 for VS Code inputs: a `default` is written in the file, so a token there is as
 * inline as one in `env`. An input without a default (`password: true`) is the way to keep it out.
 */
export function checkInputs(inputs: readonly InputEntry[]): InputIssue[] {
  const issues: InputIssue[] = [];
  for (const input of inputs) {
    const value = input.default;
    if (value === undefined || isReference(value)) continue;
    const where = `the default of input ${input.id}`;
    const subject = `inputs.${input.id}.default`;
    const token = findToken(value);
    if (token) {
      issues.push({
        rule: 'MCP-SEC-001',
        line: input.line,
        message: `${token.name} written inline in ${where}: ${maskSecret(token.value)}`,
        subject,
      });
      continue;
    }
    const credential = credentialOf(value);
    const secretLooking =
      input.password ||
      namesSecret(input.id) ||
      (input.description !== undefined && namesSecret(input.description));
    if (secretLooking && isLiteralSecret(credential) && !LOOKS_LIKE_PATH.test(credential)) {
      issues.push({
        rule: 'MCP-SEC-002',
        line: input.line,
        message: `secret written inline in ${where}: ${maskSecret(credential)}`,
        subject,
      });
    }
  }
  return issues;
}
