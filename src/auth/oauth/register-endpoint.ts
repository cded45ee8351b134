/**
 * POST /register: Dynamic Client Registration (RFC 7591). Redirect URIs must be https or http on
 * loopback; registrations are limited per address and forgotten when unused for dynamic_client_ttl.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddressOf } from '../../http/client-address.js';
import { type AsContext, DEVICE_GRANT, random, sha256 } from './as-context.js';
import { acceptableRedirectUri, type Client } from './clients.js';
import { json, oauthError, readJson } from './http-utils.js';

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'];

export function registerEndpoint(ctx: AsContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    if (!ctx.config.dynamicRegistration)
      return oauthError(res, 403, 'access_denied', 'dynamic client registration is off');
    const body = await readJson(req);
    if (!body) return oauthError(res, 400, 'invalid_client_metadata', 'the body must be a JSON object');
    const uris = body['redirect_uris'];
    if (
      !Array.isArray(uris) ||
      uris.length === 0 ||
      uris.length > 10 ||
      !uris.every((u) => typeof u === 'string')
    ) {
      return oauthError(res, 400, 'invalid_redirect_uri', 'redirect_uris must be a non-empty list of URLs');
    }
    const bad = (uris as string[]).find((u) => !acceptableRedirectUri(u));
    if (bad)
      return oauthError(
        res,
        400,
        'invalid_redirect_uri',
        `redirect URI must be https, or http on a loopback address: ${bad}`,
      );
    const method =
      typeof body['token_endpoint_auth_method'] === 'string' ? body['token_endpoint_auth_method'] : 'none';
    if (!AUTH_METHODS.includes(method)) {
      return oauthError(
        res,
        400,
        'invalid_client_metadata',
        `token_endpoint_auth_method ${method} is not supported`,
      );
    }
    // Each registration is a store entry: limited per address, and forgotten when unused (clients.used()).
    const wait = await ctx.throttled('register', clientAddressOf(req), ctx.config.registrationsPerMinute);
    if (wait > 0)
      return oauthError(
        res,
        429,
        'temporarily_unavailable',
        `too many client registrations from this address; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
    const clientId = `mcpg_client_${random(12)}`;
    const secret = method === 'none' ? undefined : random(32);
    const name = typeof body['client_name'] === 'string' ? body['client_name'].slice(0, 100) : clientId;
    const client: Client = {
      clientId,
      redirectUris: uris as string[],
      name,
      kind: 'dynamic',
      ...(secret ? { clientSecretSha256: sha256(secret) } : {}),
      touchedAt: Date.now(),
    };
    await ctx.clients.register(client);
    ctx.logger.info({ client_id: clientId, name }, 'oauth client registered');
    json(res, 201, {
      client_id: clientId,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_name: name,
      redirect_uris: uris,
      token_endpoint_auth_method: method,
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
    });
  };
}
