/**
 * Fetching URLs the gateway did not choose itself — URLs that a remote server names in its metadata
 * (upstream OAuth discovery) or that an anonymous client names as its client_id (Client ID Metadata
 * Documents) — without becoming a tool for server-side request forgery:
 * - https only, except plain http to a loopback address (local development and sidecars);
 * - never a link-local address (169.254.0.0/16, fe80::/10: where cloud instance metadata lives), a
 *   known cloud-metadata address, an unspecified, broadcast or multicast address; this is checked on
 *   the addresses a name resolves to, at connect time (so a DNS answer that changes between the check
 *   and the connection cannot slip through);
 * - no credentials in the URL, no redirects followed (a redirect is answered as an error), a time limit
 *   and a size limit on the body.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { Agent, fetch as UndiciFetch } from 'undici';
import { GatewayError } from '../core/errors.js';

const FORBIDDEN = new BlockList();
// Link-local: every cloud's instance metadata service (169.254.169.254, fd00:ec2::254 is below) lives here.
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');
// "This network", broadcast, multicast: never a server.
FORBIDDEN.addSubnet('0.0.0.0', 8, 'ipv4');
FORBIDDEN.addAddress('255.255.255.255', 'ipv4');
FORBIDDEN.addSubnet('224.0.0.0', 4, 'ipv4');
FORBIDDEN.addSubnet('ff00::', 8, 'ipv6');
FORBIDDEN.addAddress('::', 'ipv6');
// Cloud metadata outside link-local: AWS over IPv6, Alibaba Cloud, Oracle Cloud's legacy address.
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6');
FORBIDDEN.addAddress('100.100.100.200', 'ipv4');
FORBIDDEN.addAddress('192.0.0.192', 'ipv4');

const FORBIDDEN_NAMES = new Set(['metadata.google.internal', 'metadata', 'instance-data']);

/** An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is checked as the IPv4 address it is. */
function plainAddress(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/** True for an address the gateway never connects to on a remote party's say-so. */
export function isForbiddenAddress(address: string): boolean {
  const plain = plainAddress(address);
  const family = isIP(plain);
  if (family === 0) return false;
  return FORBIDDEN.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

/** True for a loopback host name or address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const plain = plainAddress(host);
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/**
 * Parses `raw` and checks it against the rules above (the address check of a name happens again at
 * connect time). Throws GatewayError('UNSAFE_URL') naming `what` and why.
 */
export function checkOutboundUrl(raw: string | URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GatewayError('UNSAFE_URL', `${what} is not a URL: ${String(raw).slice(0, 200)}`);
  }
  const shown = `${url.origin}${url.pathname}`;
  if (url.username || url.password)
    throw new GatewayError('UNSAFE_URL', `${what} must not carry credentials: ${shown}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(host))
      throw new GatewayError(
        'UNSAFE_URL',
        `${what} must be https (http only to a loopback address): ${shown}`,
      );
  } else if (url.protocol !== 'https:') {
    throw new GatewayError('UNSAFE_URL', `${what} must be an https URL: ${shown}`);
  }
  if (FORBIDDEN_NAMES.has(host.toLowerCase()) || isForbiddenAddress(host))
    throw new GatewayError(
      'UNSAFE_URL',
      `${what} points at a link-local or cloud-metadata address, which is refused: ${shown}`,
    );
  return url;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
type LookupAll = (
  hostname: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * DNS resolution (through `resolve`, by default the system's) that refuses forbidden addresses, so the
 * check holds for the address the connection actually uses.
 */
export function guardedLookup(resolve: LookupAll = dnsLookup as unknown as LookupAll) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, list) => {
      if (err) return callback(err, []);
      const bad = list.find((a) => isForbiddenAddress(a.address));
      if (bad) {
        const refused = Object.assign(
          new Error(
            `${hostname} resolves to ${bad.address}, a link-local or cloud-metadata address (refused)`,
          ),
          { code: 'EUNSAFEADDRESS' },
        );
        return callback(refused, []);
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

let undici: { agent: Agent; fetch: typeof UndiciFetch } | undefined;
/**
 * One connection pool for all guarded fetches (keep-alive to the same authorization server). undici is
 * loaded on the first fetch: most gateways never make one.
 */
async function loadUndici(): Promise<{ agent: Agent; fetch: typeof UndiciFetch }> {
  if (undici) return undici;
  const { Agent, fetch } = await import('undici');
  undici ??= {
    agent: new Agent({
      connect: { lookup: guardedLookup() as never, timeout: 10_000 },
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    }),
    fetch,
  };
  return undici;
}

export interface SafeFetchOptions {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The whole exchange, headers and body (default 10 s). */
  readonly timeoutMs?: number;
  /** Bodies longer than this are refused (default 256 KiB). */
  readonly maxBytes?: number;
  /** What the URL is, for error messages ("the authorization server metadata"). */
  readonly what: string;
}

export interface SafeResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly url: string;
  readonly text: string;
  json(): unknown;
}

/**
 * Fetches `raw` under the rules above and reads the body (up to `maxBytes`). A redirect is not followed:
 * it comes back as a 3xx response for the caller to refuse.
 */
export async function safeFetch(raw: string | URL, options: SafeFetchOptions): Promise<SafeResponse> {
  const url = checkOutboundUrl(raw, options.what);
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  let response: Awaited<ReturnType<typeof UndiciFetch>>;
  try {
    const { agent, fetch } = await loadUndici();
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      body: options.body,
      redirect: 'manual',
      signal,
      dispatcher: agent,
    });
  } catch (err) {
    throw new GatewayError(
      'UNSAFE_URL',
      `${options.what} could not be fetched (${url.origin}): ${reason(err)}`,
      {
        cause: err,
      },
    );
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new GatewayError('UNSAFE_URL', `${options.what} is larger than ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.length;
      if (size > maxBytes) {
        await response.body?.cancel().catch(() => {});
        throw new GatewayError('UNSAFE_URL', `${options.what} is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('UNSAFE_URL', `${options.what} could not be read: ${reason(err)}`, { cause: err });
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  return {
    status: response.status,
    headers: response.headers as unknown as Headers,
    url: url.toString(),
    text,
    json: () => JSON.parse(text) as unknown,
  };
}

function reason(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  if (cause instanceof Error) return cause.message;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return err instanceof Error ? err.message : String(err);
}
