/**
 * Finding out how to get a token for a remote MCP server (MCP authorization, 2025-11-25):
 * 1. ask the server: its 401 names the protected resource metadata (RFC 9728) and often the scope;
 * 2. the protected resource metadata (from the header, else the path-inserted then the root well-known
 *    URL) names the resource and its authorization servers; the resource must be the server's own URL
 *    (or a parent of it on the same origin), else the metadata describes something else and is refused;
 * 3. the authorization server's metadata, by RFC 8414 then OpenID Connect discovery in the spec's order;
 *    its `issuer` must be the one it was looked up by (RFC 8414 §3.3), and it must offer PKCE S256.
 * Every URL learnt on the way is fetched under the outbound rules (src/http/safe-fetch.ts).
 */
import { GatewayError } from '../../core/errors.js';
import { checkOutboundUrl, safeFetch } from '../../http/safe-fetch.js';

export interface BearerChallenge {
  readonly resourceMetadata?: string;
  readonly scope?: string;
  readonly error?: string;
  readonly errorDescription?: string;
}

/**
 * The Bearer challenge of a WWW-Authenticate header (RFC 6750 §3), or undefined when there is none. Other
 * schemes in the same header are skipped.
 */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (!header) return undefined;
  const start = /(?:^|,)\s*Bearer(?:\s+|$)/i.exec(header);
  if (!start) return undefined;
  let rest = header.slice(start.index + start[0].length);
  const params: Record<string, string> = {};
  const param = /^\s*,?\s*([A-Za-z0-9_\-.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*/;
  for (;;) {
    const m = param.exec(rest);
    if (!m) break;
    params[(m[1] as string).toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    rest = rest.slice(m[0].length);
  }
  return {
    ...(params['resource_metadata'] ? { resourceMetadata: params['resource_metadata'] } : {}),
    ...(params['scope'] !== undefined ? { scope: params['scope'] } : {}),
    ...(params['error'] ? { error: params['error'] } : {}),
    ...(params['error_description'] ? { errorDescription: params['error_description'] } : {}),
  };
}

export interface ProtectedResource {
  /** The resource indicator to send (RFC 8707), as the metadata wrote it. */
  readonly resource: string;
  readonly authorizationServers: readonly string[];
  readonly scopesSupported?: readonly string[];
  /** Where it came from (undefined: no metadata; the server's origin stands in, 2025-03-26 style). */
  readonly metadataUrl?: string;
}

export interface AuthServerMetadata {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly registration_endpoint?: string;
  readonly device_authorization_endpoint?: string;
  readonly scopes_supported?: readonly string[];
  readonly token_endpoint_auth_methods_supported?: readonly string[];
  readonly code_challenge_methods_supported?: readonly string[];
  readonly grant_types_supported?: readonly string[];
  readonly authorization_response_iss_parameter_supported?: boolean;
  readonly client_id_metadata_document_supported?: boolean;
}

export interface Discovery {
  readonly resource: ProtectedResource;
  readonly authServer: AuthServerMetadata;
  /** The scope of the server's 401 challenge, when it gave one. */
  readonly challengeScope?: string;
}

const fail = (message: string) => new GatewayError('UPSTREAM_OAUTH', message);

/** Whether `resource` names `serverUrl`: the same origin, and the server's path is the resource's or under it. */
export function resourceCovers(resource: string, serverUrl: string): boolean {
  let r: URL;
  let s: URL;
  try {
    r = new URL(resource);
    s = new URL(serverUrl);
  } catch {
    return false;
  }
  if (r.origin !== s.origin || r.hash) return false;
  const rp = r.pathname.replace(/\/+$/, '');
  const sp = s.pathname.replace(/\/+$/, '');
  return rp === '' || sp === rp || sp.startsWith(`${rp}/`);
}

async function fetchJson(url: string, what: string): Promise<Record<string, unknown> | { status: number }> {
  const res = await safeFetch(url, { what, headers: { accept: 'application/json' }, maxBytes: 64 * 1024 });
  if (res.status !== 200) return { status: res.status };
  try {
    const body = res.json();
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // not JSON: reported below
  }
  throw fail(`${what} at ${url} is not a JSON object`);
}

const isStatus = (v: unknown): v is { status: number } =>
  typeof v === 'object' && v !== null && 'status' in v && Object.keys(v).length === 1;

const stringList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

/** Step 2: the protected resource metadata of `serverUrl`. */
export async function discoverProtectedResource(
  serverUrl: string,
  challenge: BearerChallenge | undefined,
): Promise<ProtectedResource> {
  const server = new URL(serverUrl);
  const path = server.pathname.replace(/\/+$/, '');
  const candidates = challenge?.resourceMetadata
    ? [challenge.resourceMetadata]
    : [
        ...(path ? [`${server.origin}/.well-known/oauth-protected-resource${path}`] : []),
        `${server.origin}/.well-known/oauth-protected-resource`,
      ];
  const misses: string[] = [];
  for (const url of candidates) {
    const body = await fetchJson(url, 'the protected resource metadata');
    if (isStatus(body)) {
      misses.push(`${url}: HTTP ${body.status}`);
      continue;
    }
    const resource = body['resource'];
    const servers = stringList(body['authorization_servers']);
    if (typeof resource !== 'string' || !servers || servers.length === 0)
      throw fail(`the protected resource metadata at ${url} lacks resource or authorization_servers`);
    if (!resourceCovers(resource, serverUrl))
      throw fail(
        `the protected resource metadata at ${url} is for ${resource}, not for ${serverUrl}: refused (RFC 9728 §3.3)`,
      );
    for (const as of servers) checkOutboundUrl(as, 'an authorization server of the protected resource');
    const scopes = stringList(body['scopes_supported']);
    return {
      resource,
      authorizationServers: servers,
      ...(scopes ? { scopesSupported: scopes } : {}),
      metadataUrl: url,
    };
  }
  if (challenge?.resourceMetadata)
    throw fail(
      `the protected resource metadata named by the server's 401 could not be read (${misses.join('; ')})`,
    );
  // No RFC 9728 metadata: the 2025-03-26 arrangement, the server's origin is its authorization server.
  return { resource: serverUrl, authorizationServers: [server.origin] };
}

/** The well-known URLs of an issuer's metadata, in the order the MCP spec gives. */
export function authServerMetadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  if (!path)
    return [
      `${url.origin}/.well-known/oauth-authorization-server`,
      `${url.origin}/.well-known/openid-configuration`,
    ];
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** Whether metadata `issuer` is the one it was looked up by (a lone trailing slash of an empty path aside). */
function sameIssuer(stated: string, expected: string): boolean {
  if (stated === expected) return true;
  const bare = (s: string) => (/^[a-z][a-z0-9+.-]*:\/\/[^/]+\/$/i.test(s) ? s.slice(0, -1) : s);
  return bare(stated) === bare(expected);
}

/** Step 3: the authorization server's metadata, checked. */
export async function discoverAuthServer(issuer: string): Promise<AuthServerMetadata> {
  checkOutboundUrl(issuer, 'the authorization server');
  const misses: string[] = [];
  for (const url of authServerMetadataUrls(issuer)) {
    const body = await fetchJson(url, 'the authorization server metadata');
    if (isStatus(body)) {
      misses.push(`${url}: HTTP ${body.status}`);
      continue;
    }
    const stated = body['issuer'];
    // RFC 8414 §3.3: metadata naming another issuer must not be used (a mix-up or a poisoned document).
    if (typeof stated !== 'string' || !sameIssuer(stated, issuer))
      throw fail(
        `the authorization server metadata at ${url} names issuer ${String(stated)}, not ${issuer}: refused (RFC 8414 §3.3)`,
      );
    for (const key of ['authorization_endpoint', 'token_endpoint'] as const)
      if (typeof body[key] !== 'string')
        throw fail(`the authorization server metadata at ${url} has no ${key}`);
    checkOutboundUrl(body['authorization_endpoint'] as string, 'the authorization endpoint');
    checkOutboundUrl(body['token_endpoint'] as string, 'the token endpoint');
    for (const key of ['registration_endpoint', 'device_authorization_endpoint'] as const)
      if (typeof body[key] === 'string')
        checkOutboundUrl(body[key] as string, `the ${key.replace(/_/g, ' ')}`);
    const methods = stringList(body['code_challenge_methods_supported']);
    // MCP: a client MUST refuse an authorization server that does not say it supports PKCE S256.
    if (!methods?.includes('S256'))
      throw fail(
        `the authorization server ${issuer} does not list S256 in code_challenge_methods_supported: refused`,
      );
    return body as unknown as AuthServerMetadata;
  }
  throw fail(`no authorization server metadata for ${issuer} (${misses.join('; ')})`);
}
