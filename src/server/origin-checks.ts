/**
 * DNS-rebinding protection for the HTTP front (MCP transports: servers MUST validate Origin; a bad
 * Origin or Host gets 403). A page on evil.example that resolves its own name to 127.0.0.1 sends
 * `Host: evil.example` and `Origin: http://evil.example`; both are refused here before any routing.
 */
import { isIP } from 'node:net';

export interface OriginPolicy {
  /** Host header values accepted (lower-case, with or without port). Empty: see `loopbackOnly`. */
  readonly allowedHosts: readonly string[];
  /** Origins accepted besides the loopback ones (scheme://host[:port], lower-case). */
  readonly allowedOrigins: readonly string[];
  /** True when listening on a loopback address: only loopback Host names are accepted by default. */
  readonly loopbackOnly: boolean;
  /** The gateway's own public origins (http.public_url, the OAuth issuer): its pages post back there. */
  readonly ownOrigins?: readonly string[];
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (LOOPBACK_NAMES.has(h)) return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Splits `host[:port]` (IPv6 in brackets) into its hostname. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

/** Why a request's Host/Origin is refused, or undefined when it is acceptable. */
export function checkHostAndOrigin(
  policy: OriginPolicy,
  host: string | undefined,
  origin: string | undefined,
): string | undefined {
  if (!host) return 'missing Host header';
  const hostLower = host.toLowerCase();
  if (policy.allowedHosts.length > 0) {
    if (!policy.allowedHosts.includes(hostLower) && !policy.allowedHosts.includes(hostnameOf(hostLower)))
      return `Host "${host}" is not allowed`;
  } else if (policy.loopbackOnly && !isLoopbackHost(hostnameOf(hostLower))) {
    return `Host "${host}" is not allowed (the gateway listens on loopback)`;
  }
  if (origin === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `Origin "${origin}" is not allowed`;
  }
  if (origin === 'null' || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    return `Origin "${origin}" is not allowed`;
  const normalized = `${url.protocol}//${url.host}`.toLowerCase();
  if (policy.allowedOrigins.includes(normalized)) return undefined;
  // The gateway's own pages (OAuth consent, device) post back to it with its own origin.
  if (policy.ownOrigins?.includes(normalized)) return undefined;
  if (policy.loopbackOnly && isLoopbackHost(url.hostname)) {
    // Same origin as the (loopback) Host just checked: our own page, whatever the lists say.
    if (url.host.toLowerCase() === hostLower) return undefined;
    // Same-machine tools (e.g. a local inspector UI) are fine unless the operator listed origins.
    if (policy.allowedOrigins.length === 0) return undefined;
  }
  return `Origin "${origin}" is not allowed`;
}
