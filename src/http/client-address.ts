/**
 * Which address a request comes from, for the per-address failure limits. Behind a reverse proxy every
 * request arrives from the proxy, so one client guessing keys would lock out everyone behind it. When
 * `http.trusted_proxies` names the proxies, the client is the right-most `X-Forwarded-For` entry that
 * is not itself a trusted proxy (entries further left are what the client claims, and may be forged).
 * Without the setting, X-Forwarded-For is ignored: any client could send it.
 */
import type { IncomingMessage } from 'node:http';
import { type BlockList, isIP } from 'node:net';

/**
 * Kept on the request itself: a WeakMap keyed by requests grew by one entry per request until a full GC
 * cleared it, and its table and entries were promoted to the old generation (RSS under load).
 */
const CLIENT_ADDRESS = Symbol('clientAddress');
type Resolved = IncomingMessage & { [CLIENT_ADDRESS]?: string };

function plain(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Works out and remembers the client address of `req` (called once per request by the HTTP server). */
export function resolveClientAddress(req: IncomingMessage, trusted: BlockList | undefined): string {
  let address = plain(req.socket.remoteAddress ?? 'unknown');
  if (trusted && isTrusted(trusted, address)) {
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((h) => plain(h.trim()))
      .filter((h) => isIP(h) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) {
      address = hops[i] as string;
      if (!isTrusted(trusted, address)) break;
    }
  }
  (req as Resolved)[CLIENT_ADDRESS] = address;
  return address;
}

/** The client address of a request, as resolved by the HTTP server (else the socket's peer). */
export function clientAddressOf(req: IncomingMessage): string {
  return (req as Resolved)[CLIENT_ADDRESS] ?? plain(req.socket.remoteAddress ?? 'unknown');
}
