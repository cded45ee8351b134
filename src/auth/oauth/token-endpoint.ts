/**
 * /token: the authorization code grant (PKCE checked), the refresh token grant (rotation; a narrower
 * scope may be asked, never a wider one) and the device code grant (device-flow.ts). Every single-use
 * credential is spent through the token families before anything else is checked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddressOf } from '../../http/client-address.js';
import { type AsContext, DEVICE_GRANT, NS, sha256 } from './as-context.js';
import type { CodeRecord } from './authorize-endpoint.js';
import { authenticatedClient, type Client } from './clients.js';
import { pollDevice } from './device-flow.js';
import { oauthError, readForm } from './http-utils.js';
import { isValidVerifier, verifierMatches } from './pkce.js';
import type { Grant, StoredGrant } from './token-families.js';

export function tokenEndpoint(ctx: AsContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    const form = await readForm(req);
    if (!form)
      return oauthError(
        res,
        400,
        'invalid_request',
        'the body must be application/x-www-form-urlencoded, each parameter once',
      );
    const client = await authenticatedClient(ctx, req, res, form, '/token');
    if (!client) return;
    const address = clientAddressOf(req);
    switch (form.get('grant_type')) {
      case 'authorization_code':
        return exchangeCode(ctx, res, client, form, address);
      case 'refresh_token':
        return refresh(ctx, res, client, form, address);
      case DEVICE_GRANT:
        return pollDevice(ctx, res, client, form);
      default:
        return oauthError(
          res,
          400,
          'unsupported_grant_type',
          'grant_type must be authorization_code, refresh_token or the device code grant',
        );
    }
  };
}

async function exchangeCode(
  ctx: AsContext,
  res: ServerResponse,
  client: Client,
  form: URLSearchParams,
  address: string,
): Promise<void> {
  const { families } = ctx;
  const code = form.get('code') ?? '';
  const key = code ? sha256(code) : '';
  const stored = key ? await ctx.store.kvGet(NS.code, key) : undefined;
  if (!stored) {
    // A spent code back again: whoever redeemed it first may not be its owner (RFC 6749 §4.1.2).
    const family = key ? await families.spentFamily('code', key) : undefined;
    if (family) await families.replayed('code', family, address);
    return oauthError(res, 400, 'invalid_grant', 'the code is invalid, expired or already used');
  }
  const grant = JSON.parse(stored) as CodeRecord;
  const family = grant.family ?? families.legacyFamily(key);
  // Spent in one atomic operation before anything else is checked: of two racing requests one wins
  // (and the other revokes what it got), and a failed attempt uses the code up.
  if (!(await families.spend('code', key, family))) {
    await families.replayed('code', family, address);
    return oauthError(res, 400, 'invalid_grant', 'the code was already used');
  }
  await ctx.store.kvDelete(NS.code, key);
  if (grant.clientId !== client.clientId)
    return oauthError(res, 400, 'invalid_grant', 'the code was issued to another client');
  if (form.get('redirect_uri') !== grant.redirectUri)
    return oauthError(res, 400, 'invalid_grant', 'redirect_uri does not match the authorization request');
  const verifier = form.get('code_verifier') ?? '';
  if (!isValidVerifier(verifier))
    return oauthError(
      res,
      400,
      'invalid_grant',
      'code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]',
    );
  if (!verifierMatches(verifier, grant.codeChallenge))
    return oauthError(res, 400, 'invalid_grant', 'code_verifier does not match the code_challenge');
  const resource = form.get('resource');
  if (resource !== null && resource !== ctx.resource)
    return oauthError(res, 400, 'invalid_target', `tokens are only issued for ${ctx.resource}`);
  if (await families.isRevoked(family))
    return oauthError(res, 400, 'invalid_grant', 'the code was already used');
  const issued: Grant = {
    clientId: client.clientId,
    user: grant.user,
    scope: grant.scope,
    family,
    authTime: grant.authTime ?? Date.now(),
  };
  const ended = families.ended(issued);
  if (ended) return families.end(res, issued, ended);
  await families.issue(res, issued);
}

async function refresh(
  ctx: AsContext,
  res: ServerResponse,
  client: Client,
  form: URLSearchParams,
  address: string,
): Promise<void> {
  const { families } = ctx;
  const token = form.get('refresh_token') ?? '';
  const key = token ? sha256(token) : '';
  const stored = key ? await ctx.store.kvGet(NS.refresh, key) : undefined;
  if (!stored) {
    // A rotated refresh token back again: one of its holders is not the client (OAuth 2.1 §4.3.1).
    const family = key ? await families.spentFamily('refresh', key) : undefined;
    if (family) await families.replayed('refresh', family, address);
    return oauthError(res, 400, 'invalid_grant', 'the refresh token is invalid, expired or already used');
  }
  const record = JSON.parse(stored) as StoredGrant;
  // A token stored before authTime existed starts its session now: one more session_max_age at most.
  const stamped: Grant = {
    ...record,
    family: record.family ?? families.legacyFamily(key),
    authTime: record.authTime ?? Date.now(),
  };
  // Refusals that are the client's mistake leave the token usable.
  if (stamped.clientId !== client.clientId)
    return oauthError(res, 400, 'invalid_grant', 'the refresh token was issued to another client');
  // A removed user or a session past its age ends the whole family: nothing of it works from now on.
  const ended = families.ended(stamped);
  if (ended) {
    await ctx.store.kvDelete(NS.refresh, key);
    return families.end(res, stamped, ended);
  }
  // A scope the user may no longer have (admin taken away) leaves the grant at the next refresh.
  const grant: Grant = { ...stamped, scope: ctx.users.grantable(stamped.user, stamped.scope) };
  const granted = grant.scope.split(' ').filter(Boolean);
  const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
  const beyond = asked.filter((s) => !granted.includes(s));
  if (beyond.length > 0)
    return oauthError(res, 400, 'invalid_scope', `not in the original grant: ${beyond.join(' ')}`);
  // Rotation: spent in one atomic operation; a second use of it revokes the family.
  if (!(await families.spend('refresh', key, grant.family))) {
    await families.replayed('refresh', grant.family, address);
    return oauthError(res, 400, 'invalid_grant', 'the refresh token was already used');
  }
  await ctx.store.kvDelete(NS.refresh, key);
  if (await families.isRevoked(grant.family))
    return oauthError(res, 400, 'invalid_grant', 'the refresh token has been revoked');
  // Omitted scope means the whole original grant (RFC 6749 §6); the new refresh token keeps all of it.
  await families.issue(res, grant, asked.length > 0 ? asked.join(' ') : grant.scope);
}
