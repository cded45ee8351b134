/**
 * The clients the authorization server knows, from three sources: configured (`auth.oauth2.clients`),
 * dynamically registered (/register, kept in the store until unused for dynamic_client_ttl) and Client
 * ID Metadata Documents (the client_id is a URL; client-metadata-documents.ts). Also client
 * authentication at /token and /device_authorization, behind the per-address failure limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OAuth2Config, OAuthClientConfig } from '../../config/types.js';
import { clientAddressOf } from '../../http/client-address.js';
import type { StateStore } from '../../stores/state-store.js';
import { type AsContext, NS, safeEqual, sha256 } from './as-context.js';
import type { ClientMetadataDocuments } from './client-metadata-documents.js';
import { basicCredentials, oauthError } from './http-utils.js';

export interface Client {
  readonly clientId: string;
  readonly clientSecretSha256?: string;
  readonly redirectUris: readonly string[];
  readonly name: string;
  /** Where the client comes from (absent on records stored before it existed: dynamic). */
  readonly kind?: 'configured' | 'dynamic' | 'metadata_document';
  /** Dynamically registered clients: when the stored record's expiry was last pushed back (ms). */
  readonly touchedAt?: number;
}

/** Redirect URIs for a client: https anywhere, http only on loopback (RFC 8252 native apps); never a fragment or wildcard. */
export function acceptableRedirectUri(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash || uri.includes('*') || url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

export class ClientRegistry {
  private readonly configured: Map<string, OAuthClientConfig>;

  constructor(
    private readonly config: OAuth2Config,
    private readonly store: StateStore,
    /** Undefined when auth.oauth2.client_id_metadata_documents is off. */
    private readonly documents: ClientMetadataDocuments | undefined,
  ) {
    this.configured = new Map(config.clients.map((c) => [c.clientId, c]));
  }

  /** Whether `clientId` is a metadata document URL that resolving would fetch. */
  isMetadataDocument(clientId: string): boolean {
    return !this.configured.has(clientId) && (this.documents?.handles(clientId) ?? false);
  }

  /** The client, or why there is none to use (an unknown id, or a metadata document that was refused). */
  async resolve(clientId: string): Promise<{ client: Client } | { error: string }> {
    const configured = this.configured.get(clientId);
    if (configured) {
      return {
        client: {
          clientId,
          clientSecretSha256: configured.clientSecretSha256?.toString('hex'),
          redirectUris: configured.redirectUris,
          name: configured.name ?? clientId,
          kind: 'configured',
        },
      };
    }
    if (this.documents?.handles(clientId)) return this.documents.resolve(clientId);
    const stored = clientId.length <= 200 ? await this.store.kvGet(NS.client, clientId) : undefined;
    return stored ? { client: JSON.parse(stored) as Client } : { error: 'unknown client' };
  }

  async find(clientId: string): Promise<Client | undefined> {
    const found = await this.resolve(clientId);
    return 'client' in found ? found.client : undefined;
  }

  /** Stores a dynamically registered client for dynamic_client_ttl. */
  async register(client: Client): Promise<void> {
    await this.store.kvPut(NS.client, client.clientId, JSON.stringify(client), {
      ttlMs: this.config.dynamicClientTtlMs,
    });
  }

  /**
   * A dynamically registered client was used (a consent or device flow started, a client authentication
   * passed): it lives another dynamic_client_ttl. The record is rewritten at most once per 30th of that
   * TTL (a day for the default 30 days), not on every request.
   */
  async used(client: Client): Promise<void> {
    if (client.kind === 'configured' || client.kind === 'metadata_document') return;
    if (this.configured.has(client.clientId)) return;
    const ttlMs = this.config.dynamicClientTtlMs;
    const now = Date.now();
    if (now - (client.touchedAt ?? 0) < Math.min(ttlMs / 30, 86_400_000)) return;
    await this.store.kvPut(NS.client, client.clientId, JSON.stringify({ ...client, touchedAt: now }), {
      ttlMs,
    });
  }

  /**
   * Authenticates the client at the token and device authorization endpoints (secret compared as SHA-256
   * digests, in constant time); on failure, why (for the audit log: it never contains what was sent).
   * An unreadable Basic header, or Basic next to a client_secret or another client_id in the body, is a
   * failure: it never falls back to the body (RFC 6749 §2.3: one method per request).
   */
  async authenticate(
    req: IncomingMessage,
    form: URLSearchParams,
  ): Promise<{ client: Client } | { refused: string }> {
    const basic = basicCredentials(req);
    if (basic === 'malformed') return { refused: 'unreadable HTTP Basic credentials' };
    if (basic && (form.has('client_secret') || (form.has('client_id') && form.get('client_id') !== basic.id)))
      return { refused: 'more than one client authentication method' };
    const clientId = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? undefined;
    const client = await this.find(clientId);
    if (!client) return { refused: 'unknown client' };
    if (client.clientSecretSha256 === undefined)
      return secret === undefined ? { client } : { refused: 'a secret for a public client' };
    if (secret === undefined) return { refused: 'no client secret' };
    return safeEqual(sha256(secret), client.clientSecretSha256)
      ? { client }
      : { refused: 'wrong client secret' };
  }
}

/**
 * Client authentication behind the per-address failure limit shared with the sign-in pages: a blocked
 * address gets 429 without its credentials being looked at, and a refusal counts and is reported.
 * Answers the refusal itself and returns undefined then.
 */
export async function authenticatedClient(
  ctx: AsContext,
  req: IncomingMessage,
  res: ServerResponse,
  form: URLSearchParams,
  endpoint: '/token' | '/device_authorization',
): Promise<Client | undefined> {
  const address = clientAddressOf(req);
  const wait = ctx.limiter.blockedFor(address);
  if (wait > 0) {
    oauthError(
      res,
      429,
      'temporarily_unavailable',
      `too many failed authentications from this address; retry in ${wait} s`,
      { 'Retry-After': String(wait) },
    );
    return undefined;
  }
  const outcome = await ctx.clients.authenticate(req, form);
  if ('client' in outcome) {
    await ctx.clients.used(outcome.client);
    return outcome.client;
  }
  // Worded so that no `token: …` appears, which the audit log's secret masking would hide.
  await ctx.failed(address, `client authentication at ${endpoint} refused: ${outcome.refused}`);
  oauthError(res, 401, 'invalid_client', 'unknown client or wrong client credentials', {
    'WWW-Authenticate': 'Basic realm="mcp-guard"',
  });
  return undefined;
}
