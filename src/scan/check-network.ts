/**
 * MCP-NET-001…005: how a server is reached — plain http to another host, SSRF-prone addresses,
 * non-HTTP schemes, no visible authentication, TLS checks switched off. Applies to remote entries and
 * to stdio proxies that connect to a URL (mcp-remote).
 */
import { BlockList, isIP } from 'node:net';
import type { Issue } from './issue.js';
import { displayUrl, excerpt, isReference, namesSecret } from './secrets.js';
import type { ServerEntry } from './types.js';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

// 169.254.0.0/16 holds the cloud metadata endpoints; 0.0.0.0 and :: mean "any address".
const linkLocalOrUnspecified = new BlockList();
linkLocalOrUnspecified.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocalOrUnspecified.addSubnet('0.0.0.0', 8, 'ipv4');
linkLocalOrUnspecified.addSubnet('fe80::', 10, 'ipv6');
linkLocalOrUnspecified.addAddress('::', 'ipv6');

/** The host of a parsed URL, lower-case, without IPv6 brackets or a trailing dot. */
function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

function inList(list: BlockList, host: string): boolean {
  const family = isIP(host);
  // Node's BlockList also matches IPv4-mapped IPv6 (::ffff:a.b.c.d) against IPv4 rules.
  return family !== 0 && list.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** True for localhost names and loopback addresses (the WHATWG parser already decoded 0x7f.1, 2130706433…). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || inList(loopback, host);
}

const INSECURE_TLS_ARGS = new Set([
  '--insecure',
  '--no-verify-ssl',
  '--no-check-certificate',
  '--ignore-certificate-errors',
  '--disable-ssl-verification',
  '--skip-tls-verify',
  '--tls-skip-verify',
]);

/** A stdio proxy's target URL: `npx mcp-remote https://…`, `supergateway --sse https://…`. */
function proxiedUrl(argv: readonly string[]): string | undefined {
  if (!argv.some((a) => /(?:^|\/)(?:mcp-remote|supergateway)(?:@|$)/.test(a))) return undefined;
  return argv.find((a) => /^(?:https?|wss?):\/\//i.test(a));
}

/** Checks the transport of one server entry; `argv` is its effective command line. */
export function checkNetwork(entry: ServerEntry, argv: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  const targets: Array<{ raw: string; where: string; headersInArgs: boolean }> = [];
  if (entry.url !== undefined) targets.push({ raw: entry.url, where: 'url', headersInArgs: false });
  const proxied = proxiedUrl(argv);
  if (proxied !== undefined) targets.push({ raw: proxied, where: 'proxied url', headersInArgs: true });

  for (const target of targets) {
    // A URL the client assembles from the environment cannot be judged statically.
    if (isReference(target.raw)) continue;
    let url: URL;
    try {
      url = new URL(target.raw);
    } catch {
      continue;
    }
    const shown = excerpt(displayUrl(target.raw));
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
      issues.push({
        rule: 'MCP-NET-003',
        message: `server URL uses the ${url.protocol} scheme: ${shown}`,
        subject: target.where,
      });
      continue;
    }
    const host = hostOf(url);
    const hostShown = excerpt(host, 80);
    const local = isLoopbackHost(host);
    if (inList(linkLocalOrUnspecified, host)) {
      issues.push({
        rule: 'MCP-NET-002',
        message: `server URL points at ${hostShown}, a link-local/metadata or unspecified address: ${shown}`,
        subject: target.where,
      });
    }
    if ((url.protocol === 'http:' || url.protocol === 'ws:') && !local) {
      issues.push({
        rule: 'MCP-NET-001',
        message: `remote server reached over plain ${url.protocol.slice(0, -1)}:// on ${hostShown}: ${shown}`,
        subject: target.where,
      });
    }
    const remoteEntry = target.where === 'proxied url' || entry.command === undefined;
    if (remoteEntry && !local && !isAuthenticated(entry, url, target.headersInArgs ? argv : [])) {
      issues.push({
        rule: 'MCP-NET-004',
        message: `remote server ${hostShown} has no Authorization or API-key header, OAuth block or token variable`,
        subject: target.where,
      });
    }
  }

  const tls = [...entry.insecureTls];
  if (entry.env['NODE_TLS_REJECT_UNAUTHORIZED'] === '0') tls.push('env NODE_TLS_REJECT_UNAUTHORIZED=0');
  if (entry.env['PYTHONHTTPSVERIFY'] === '0') tls.push('env PYTHONHTTPSVERIFY=0');
  for (const arg of argv.slice(1)) if (INSECURE_TLS_ARGS.has(arg.toLowerCase())) tls.push(`argument ${arg}`);
  for (const setting of tls) {
    issues.push({
      rule: 'MCP-NET-005',
      message: `TLS certificate checks are off: ${setting}`,
      subject: setting,
    });
  }
  return issues;
}

/** Any visible credential: an auth header (any case), an auth block, a token variable, URL credentials. */
function isAuthenticated(entry: ServerEntry, url: URL, proxyArgs: readonly string[]): boolean {
  if (entry.declaredAuth) return true;
  const authValue = (v: string) => /^\s*(?:bearer|basic)\s+\S/i.test(v);
  if (Object.entries(entry.headers).some(([name, v]) => namesSecret(name) || authValue(v))) return true;
  if (url.username || url.password) return true;
  for (const key of url.searchParams.keys()) if (namesSecret(key) || /^key$/i.test(key)) return true;
  return proxyArgs.some((arg) => {
    // `Authorization: …` as its own argument after --header, or inside `--header=Authorization: …`.
    const header = /^(?:--?[A-Za-z][\w-]*=)?([A-Za-z][\w-]*)\s*:/.exec(arg);
    return header !== null && namesSecret(header[1] as string);
  });
}
