/**
 * The device authorization grant (RFC 8628): /device_authorization hands out a device code and a user
 * code; the user approves on the /device page (signed in first, so the page cannot be used to guess
 * codes); the device polls /token (token-endpoint.ts calls pollDevice) until the decision is in.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddressOf } from '../../http/client-address.js';
import { type AsContext, NS, PENDING_TTL_MS, random, safeEqual, sha256, tooManyPages } from './as-context.js';
import { authenticatedClient, type Client } from './clients.js';
import { json, oauthError, readForm } from './http-utils.js';
import { devicePage, sendPage } from './pages.js';
import { signIn } from './sign-in.js';
import type { Grant } from './token-families.js';

const DEVICE_INTERVAL_S = 5;
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** POST /device_authorization. */
export function deviceAuthorizationEndpoint(ctx: AsContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'use POST');
    const form = await readForm(req);
    if (!form)
      return oauthError(res, 400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    const client = await authenticatedClient(ctx, req, res, form, '/device_authorization');
    if (!client) return;
    const scope = ctx.checkScope(form.get('scope'));
    if (scope === undefined)
      return oauthError(res, 400, 'invalid_scope', `supported scopes: ${ctx.config.scopes.join(' ')}`);
    const wait = await ctx.throttled(
      'pending',
      clientAddressOf(req),
      ctx.config.authorizationRequestsPerMinute,
    );
    if (wait > 0)
      return oauthError(
        res,
        429,
        'temporarily_unavailable',
        `too many device authorizations from this address; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
    const deviceCode = random(32);
    const userCode = [...randomBytes(8)]
      .map((b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length])
      .join('')
      .replace(/^(.{4})/, '$1-');
    const ttl = ctx.config.deviceCodeTtlMs;
    const record = { clientId: client.clientId, scope, userCode };
    await ctx.store.kvPut(NS.device, sha256(deviceCode), JSON.stringify(record), { ttlMs: ttl });
    await ctx.store.kvPut(NS.userCode, userCode, sha256(deviceCode), { ttlMs: ttl });
    json(res, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${ctx.issuer}/device`,
      verification_uri_complete: `${ctx.issuer}/device?user_code=${encodeURIComponent(userCode)}`,
      expires_in: Math.floor(ttl / 1000),
      interval: DEVICE_INTERVAL_S,
    });
  };
}

/** GET and POST /device: the approval page and the user's decision. */
export function devicePageEndpoint(ctx: AsContext) {
  return (req: IncomingMessage, res: ServerResponse, url: URL) =>
    req.method === 'POST' ? decide(ctx, req, res) : showPage(ctx, req, res, url);
}

async function showPage(ctx: AsContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const wait = await ctx.throttled(
    'pending',
    clientAddressOf(req),
    ctx.config.authorizationRequestsPerMinute,
  );
  if (wait > 0) return tooManyPages(res, wait);
  const requestId = random(24);
  const csrf = random(24);
  await ctx.store.kvPut(NS.pending, requestId, JSON.stringify({ csrf, device: true }), {
    ttlMs: PENDING_TTL_MS,
  });
  sendPage(
    res,
    200,
    'Approve a device',
    devicePage({ userCode: url.searchParams.get('user_code') ?? '', requestId, csrf }),
  );
}

async function decide(ctx: AsContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req);
  const requestId = form?.get('request_id') ?? '';
  const stored = requestId ? await ctx.store.kvTake(NS.pending, requestId) : undefined;
  if (!form || !stored)
    return sendPage(res, 400, 'Request expired', '<p>This page has expired. Load it again.</p>');
  const pending = JSON.parse(stored) as { csrf: string; device?: boolean };
  if (!pending.device || !safeEqual(form.get('csrf') ?? '', pending.csrf))
    return sendPage(res, 403, 'Forbidden', '<p>The form did not come from this gateway.</p>');
  const retry = async (status: number, error: string, headers: Record<string, string> = {}) => {
    const nextId = random(24);
    const csrf = random(24);
    await ctx.store.kvPut(NS.pending, nextId, JSON.stringify({ csrf, device: true }), {
      ttlMs: PENDING_TTL_MS,
    });
    sendPage(
      res,
      status,
      'Approve a device',
      devicePage({ userCode: form.get('user_code') ?? '', requestId: nextId, csrf, error }),
      [],
      headers,
    );
  };
  // Credentials first: without them the page says nothing about the code, so it cannot be used to
  // guess user codes; signed in, a wrong code counts as a failure too (RFC 8628 §5.1).
  const address = clientAddressOf(req);
  const signedIn = await signIn(ctx, address, form);
  if (!signedIn.ok) return retry(signedIn.status, signedIn.error, signedIn.headers);
  const user = signedIn.user;
  const userCode = (form.get('user_code') ?? '')
    .toUpperCase()
    .replace(/[^A-Z]/g, '')
    .replace(/^(.{4})/, '$1-');
  const deviceKey = userCode ? await ctx.store.kvGet(NS.userCode, userCode) : undefined;
  if (!deviceKey) {
    await ctx.failed(address, 'device approval refused: unknown or expired user code');
    return retry(400, 'Unknown or expired code.');
  }
  const decision = form.get('decision') === 'approve' ? 'approved' : 'denied';
  // Written once: the first decision stands.
  await ctx.store.kvPut(NS.deviceDecision, deviceKey, JSON.stringify({ decision, user }), {
    ttlMs: ctx.config.deviceCodeTtlMs,
    ifAbsent: true,
  });
  await ctx.store.kvDelete(NS.userCode, userCode);
  ctx.logger.info({ user, decision }, 'device authorization decided');
  sendPage(
    res,
    200,
    'Done',
    devicePage({
      requestId: '',
      csrf: '',
      done:
        decision === 'approved'
          ? 'The device is approved. You can close this page.'
          : 'The device was denied.',
    }),
  );
}

/** The device code grant at /token. */
export async function pollDevice(
  ctx: AsContext,
  res: ServerResponse,
  client: Client,
  form: URLSearchParams,
): Promise<void> {
  const key = sha256(form.get('device_code') ?? '');
  const stored = await ctx.store.kvGet(NS.device, key);
  if (!stored) return oauthError(res, 400, 'expired_token', 'the device code is unknown or has expired');
  const record = JSON.parse(stored) as { clientId: string; scope: string };
  if (record.clientId !== client.clientId)
    return oauthError(res, 400, 'invalid_grant', 'the device code was issued to another client');
  const decided = await ctx.store.kvGet(NS.deviceDecision, key);
  if (!decided) {
    const last = Number((await ctx.store.kvGet(NS.devicePoll, key)) ?? 0);
    const now = Date.now();
    await ctx.store.kvPut(NS.devicePoll, key, String(now), { ttlMs: ctx.config.deviceCodeTtlMs });
    if (now - last < DEVICE_INTERVAL_S * 1000 - 250)
      return oauthError(res, 400, 'slow_down', `poll at most every ${DEVICE_INTERVAL_S} seconds`);
    return oauthError(res, 400, 'authorization_pending', 'the user has not decided yet');
  }
  // One token per device code: whoever takes the code first gets it.
  if (!(await ctx.store.kvTake(NS.device, key)))
    return oauthError(res, 400, 'expired_token', 'the device code was already used');
  const { decision, user } = JSON.parse(decided) as { decision: string; user: string };
  if (decision !== 'approved') return oauthError(res, 400, 'access_denied', 'the user denied the device');
  const scope = ctx.users.grantable(user, record.scope);
  if (!scope && record.scope)
    return oauthError(res, 400, 'invalid_scope', `${user} may not be granted: ${record.scope}`);
  const grant: Grant = {
    clientId: client.clientId,
    user,
    scope,
    family: ctx.families.newFamily(),
    authTime: Date.now(),
  };
  const ended = ctx.families.ended(grant);
  if (ended) return ctx.families.end(res, grant, ended);
  await ctx.families.issue(res, grant);
}
