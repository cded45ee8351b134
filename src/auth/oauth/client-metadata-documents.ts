/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP 2025-11-25
 * spec's preferred way for a client to introduce itself): the client_id is an https URL, and the
 * document at that URL describes the client (its name and redirect URIs). The authorization server
 * fetches it when the client first shows up and keeps it for a while, so no registration is stored
 * for clients that never come back.
 *
 * Fetching a URL an anonymous client chose is a server-side request forgery risk, so the fetch follows
 * the gateway's outbound rules (src/http/safe-fetch.ts: https, no link-local or cloud-metadata address,
 * no redirects, a time limit), and the document is small (5 KB, as the draft suggests). Plain http is
 * accepted only to a loopback address and only when the gateway itself is a loopback development setup.
 * A document is kept in the state store (shared by replicas) for its Cache-Control max-age, between
 * 5 minutes and a day (1 hour when it says nothing); a URL that failed is not fetched again for a minute.
 */
import { GatewayError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { isLoopbackHost, safeFetch } from '../../http/safe-fetch.js';
import type { StateStore } from '../../stores/state-store.js';
import { acceptableRedirectUri, type Client } from './clients.js';

const NS = 'oauth_cimd';
export const MAX_DOCUMENT_BYTES = 5 * 1024;
const MIN_CACHE_MS = 5 * 60_000;
const DEFAULT_CACHE_MS = 60 * 60_000;
const MAX_CACHE_MS = 24 * 60 * 60_000;
const FAILURE_CACHE_MS = 60_000;
const MAX_FAILURES_REMEMBERED = 1_000;

/** Client authentication methods a metadata document may name: none (public), never a shared secret. */
const ALLOWED_AUTH_METHODS = ['none'];

/**
 * Whether `clientId` has the form of a metadata document URL (draft §3): https (or http on loopback when
 * allowed), a path other than `/`, no fragment, no credentials, no dot segments.
 */
export function isMetadataDocumentUrl(clientId: string, allowLoopbackHttp: boolean): boolean {
  if (clientId.length > 2048 || !/^https?:\/\//i.test(clientId)) return false;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' && !(allowLoopbackHttp && isLoopbackHost(url.hostname))) return false;
  if (url.hash || clientId.includes('#') || url.username || url.password) return false;
  if (url.pathname === '/' || url.pathname === '') return false;
  // `new URL` would resolve dot segments away; the client_id as written must not have any.
  const path = clientId.replace(/^https?:\/\/[^/]*/i, '').split(/[?#]/)[0] ?? '';
  return !path.split('/').some((segment) => segment === '.' || segment === '..');
}

export class ClientMetadataDocuments {
  /** URL → when a failed fetch may be tried again, and why it failed. */
  private readonly failures = new Map<string, { until: number; reason: string }>();

  constructor(
    private readonly store: StateStore,
    private readonly logger: Logger,
    private readonly allowLoopbackHttp: boolean,
  ) {}

  /** Whether `clientId` is one this class handles (a metadata document URL). */
  handles(clientId: string): boolean {
    return isMetadataDocumentUrl(clientId, this.allowLoopbackHttp);
  }

  /** The client a document describes, from the cache or fetched now; an error says why it cannot be used. */
  async resolve(clientId: string): Promise<{ client: Client } | { error: string }> {
    const cached = await this.store.kvGet(NS, clientId);
    if (cached) return { client: JSON.parse(cached) as Client };
    const failed = this.failures.get(clientId);
    if (failed && failed.until > Date.now()) return { error: failed.reason };
    try {
      const { client, ttlMs } = await this.fetchDocument(clientId);
      await this.store.kvPut(NS, clientId, JSON.stringify(client), { ttlMs });
      this.failures.delete(clientId);
      this.logger.info({ client_id: clientId, name: client.name }, 'client metadata document fetched');
      return { client };
    } catch (err) {
      const reason = err instanceof GatewayError ? err.message : 'the document could not be fetched';
      if (this.failures.size >= MAX_FAILURES_REMEMBERED) {
        const oldest = this.failures.keys().next().value;
        if (oldest !== undefined) this.failures.delete(oldest);
      }
      this.failures.set(clientId, { until: Date.now() + FAILURE_CACHE_MS, reason });
      this.logger.warn({ client_id: clientId, err: reason }, 'client metadata document refused');
      return { error: reason };
    }
  }

  private async fetchDocument(clientId: string): Promise<{ client: Client; ttlMs: number }> {
    const refuse = (why: string) => new GatewayError('UNSAFE_URL', `client metadata document: ${why}`);
    const response = await safeFetch(clientId, {
      what: 'the client metadata document',
      headers: { accept: 'application/json' },
      maxBytes: MAX_DOCUMENT_BYTES,
      timeoutMs: 5_000,
    });
    if (response.status !== 200) throw refuse(`HTTP ${response.status} (redirects are not followed)`);
    let doc: unknown;
    try {
      doc = response.json();
    } catch {
      throw refuse('not JSON');
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw refuse('not a JSON object');
    const d = doc as Record<string, unknown>;
    // The document must name itself: a document copied to another URL does not describe that URL.
    if (d['client_id'] !== clientId) throw refuse('its client_id is not the URL it was fetched from');
    if ('client_secret' in d || 'client_secret_expires_at' in d)
      throw refuse('a metadata document must not carry a client secret');
    const method = d['token_endpoint_auth_method'] ?? 'none';
    if (typeof method !== 'string' || !ALLOWED_AUTH_METHODS.includes(method))
      throw refuse(`token_endpoint_auth_method ${String(method)} is not supported (only none)`);
    const uris = d['redirect_uris'];
    if (
      !Array.isArray(uris) ||
      uris.length === 0 ||
      uris.length > 10 ||
      !uris.every((u) => typeof u === 'string' && acceptableRedirectUri(u))
    )
      throw refuse('redirect_uris must be 1 to 10 URLs, https or http on a loopback address');
    const name =
      typeof d['client_name'] === 'string' ? d['client_name'].slice(0, 100) : new URL(clientId).host;
    return {
      client: { clientId, redirectUris: uris as string[], name, kind: 'metadata_document' },
      ttlMs: cacheLifetime(response.headers.get('cache-control')),
    };
  }
}

/** How long to keep a document: its max-age within [5 min, 1 day]; 1 hour when it gives none. */
export function cacheLifetime(cacheControl: string | null): number {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl ?? '')?.[1];
  const ms = maxAge === undefined ? DEFAULT_CACHE_MS : Number(maxAge) * 1000;
  return Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, ms));
}
