/**
 * /authorize: the authorization code flow's front half. GET checks the request (exact redirect URI,
 * PKCE S256 only, single-use `state`, the resource and scopes) and shows the consent page; POST is the
 * user's decision (sign in and approve, or deny), answered with a redirect carrying a single-use code,
 * or the error, and `iss` (RFC 9207).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddressOf } from '../../http/client-address.js';
import { type AsContext, NS, PENDING_TTL_MS, random, safeEqual, sha256, tooManyPages } from './as-context.js';
import { readForm, redirect } from './http-utils.js';
import { consentPage, escapeHtml, sendPage } from './pages.js';
import { isValidChallenge } from './pkce.js';
import { signIn } from './sign-in.js';
import type { StoredGrant } from './token-families.js';

const STATE_TTL_MS = 10 * 60_000;

interface PendingAuthorization {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly codeChallenge: string;
  readonly scope: string;
  readonly csrf: string;
}

/** A code as stored (by the hash of the code): the grant, and what the token request must repeat. */
export interface CodeRecord extends StoredGrant {
  readonly redirectUri: string;
  readonly codeChallenge: string;
}

export function authorizeEndpoint(ctx: AsContext) {
  return (req: IncomingMessage, res: ServerResponse, url: URL) =>
    req.method === 'POST' ? decide(ctx, req, res) : start(ctx, req, res, url);
}

async function start(ctx: AsContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const p = url.searchParams;
  const clientId = p.get('client_id') ?? '';
  const address = clientAddressOf(req);
  const perMinute = ctx.config.authorizationRequestsPerMinute;
  // A client id that is a URL the gateway would fetch is limited before the fetch; others once valid.
  const early = ctx.clients.isMetadataDocument(clientId);
  if (early) {
    const wait = await ctx.throttled('pending', address, perMinute);
    if (wait > 0) return tooManyPages(res, wait);
  }
  const found = await ctx.clients.resolve(clientId);
  if (!('client' in found)) {
    const why =
      found.error === 'unknown client'
        ? 'This application is not registered with the gateway.'
        : `This application's metadata document cannot be used: ${found.error}.`;
    return sendPage(res, 400, 'Unknown client', `<p>${escapeHtml(why)}</p>`);
  }
  const client = found.client;
  const redirectUri = p.get('redirect_uri') ?? '';
  // Exact match only; on a mismatch nothing is redirected anywhere.
  if (!client.redirectUris.includes(redirectUri)) {
    return sendPage(
      res,
      400,
      'Invalid redirect URI',
      '<p>The redirect URI does not match any registered for this application.</p>',
    );
  }
  const state = p.get('state') ?? '';
  const fail = (error: string, description: string) =>
    redirect(res, callbackUrl(ctx, redirectUri, { error, error_description: description, state }));
  if (p.get('response_type') !== 'code')
    return fail('unsupported_response_type', 'response_type must be code');
  const method = p.get('code_challenge_method');
  if (method !== 'S256')
    return fail('invalid_request', 'PKCE with code_challenge_method=S256 is required (plain is refused)');
  const challenge = p.get('code_challenge') ?? '';
  if (!isValidChallenge(challenge))
    return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
  // state is optional (PKCE already binds the code to this client's request); when given it is single-use.
  if (state.length > 512) return fail('invalid_request', 'state is longer than 512 characters');
  if (state && (await ctx.store.kvGet(NS.state, `${client.clientId}:${sha256(state)}`)))
    return fail('invalid_request', 'this state was already used');
  const resource = p.get('resource');
  if (resource !== null && resource !== ctx.resource)
    return fail('invalid_target', `tokens are only issued for ${ctx.resource}`);
  const scope = ctx.checkScope(p.get('scope'));
  if (scope === undefined) return fail('invalid_scope', `supported scopes: ${ctx.config.scopes.join(' ')}`);
  const pending: PendingAuthorization = {
    clientId: client.clientId,
    redirectUri,
    state,
    codeChallenge: challenge,
    scope,
    csrf: random(24),
  };
  if (!early) {
    const wait = await ctx.throttled('pending', address, perMinute);
    if (wait > 0) return tooManyPages(res, wait);
  }
  const requestId = random(24);
  await ctx.store.kvPut(NS.pending, requestId, JSON.stringify(pending), { ttlMs: PENDING_TTL_MS });
  await ctx.clients.used(client);
  sendPage(
    res,
    200,
    'Sign in to mcp-guard',
    consentPage({
      clientName: client.name,
      clientId: client.clientId,
      redirectUri,
      scope,
      requestId,
      csrf: pending.csrf,
    }),
    [new URL(redirectUri).origin],
  );
}

async function decide(ctx: AsContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req);
  const requestId = form?.get('request_id') ?? '';
  // Single use: a consent form can be submitted once (a wrong password gets a fresh one).
  const stored = requestId ? await ctx.store.kvTake(NS.pending, requestId) : undefined;
  if (!form || !stored)
    return sendPage(
      res,
      400,
      'Request expired',
      '<p>This sign-in request has expired or was already used. Start again from the application.</p>',
    );
  const pending = JSON.parse(stored) as PendingAuthorization;
  if (!safeEqual(form.get('csrf') ?? '', pending.csrf))
    return sendPage(res, 403, 'Forbidden', '<p>The form did not come from this gateway.</p>');
  const back = (params: Record<string, string>) =>
    redirect(res, callbackUrl(ctx, pending.redirectUri, { ...params, state: pending.state }));
  if (form.get('decision') !== 'approve')
    return back({ error: 'access_denied', error_description: 'the user denied the request' });

  const address = clientAddressOf(req);
  const signedIn = await signIn(ctx, address, form);
  if (!signedIn.ok) {
    // A fresh form, so the user can try again (after the wait, when blocked).
    const again: PendingAuthorization = { ...pending, csrf: random(24) };
    const nextId = random(24);
    await ctx.store.kvPut(NS.pending, nextId, JSON.stringify(again), { ttlMs: PENDING_TTL_MS });
    const registered = await ctx.clients.find(pending.clientId);
    return sendPage(
      res,
      signedIn.status,
      'Sign in to mcp-guard',
      consentPage({
        clientName: registered?.name ?? pending.clientId,
        clientId: pending.clientId,
        redirectUri: pending.redirectUri,
        scope: pending.scope,
        requestId: nextId,
        csrf: again.csrf,
        error: signedIn.error,
      }),
      [new URL(pending.redirectUri).origin],
      signedIn.headers,
    );
  }
  const user = signedIn.user;
  // The state is spent now: a replayed authorization response (or a second flow reusing it) is refused.
  if (
    pending.state &&
    !(await ctx.store.kvPut(NS.state, `${pending.clientId}:${sha256(pending.state)}`, '1', {
      ttlMs: STATE_TTL_MS,
      ifAbsent: true,
    }))
  ) {
    return back({ error: 'invalid_request', error_description: 'this state was already used' });
  }
  // What this user may have of what was asked (admin only for users whose `scopes` name it).
  const scope = ctx.users.grantable(user, pending.scope);
  if (!scope && pending.scope)
    return back({
      error: 'invalid_scope',
      error_description: `${user} may not be granted: ${pending.scope}`,
    });
  const code = random(32);
  const grant: CodeRecord = {
    clientId: pending.clientId,
    redirectUri: pending.redirectUri,
    codeChallenge: pending.codeChallenge,
    scope,
    user,
    family: ctx.families.newFamily(),
    authTime: Date.now(),
  };
  await ctx.store.kvPut(NS.code, sha256(code), JSON.stringify(grant), { ttlMs: ctx.config.codeTtlMs });
  ctx.logger.info({ client_id: pending.clientId, user }, 'authorization code issued');
  back({ code });
}

function callbackUrl(ctx: AsContext, redirectUri: string, params: Record<string, string>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  // RFC 9207: the client can check which authorization server answered (mix-up defence).
  url.searchParams.set('iss', ctx.issuer);
  return url.toString();
}
