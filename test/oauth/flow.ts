/**
 * What the OAuth tests do over real HTTP against a running gateway: register a client, play the user on
 * the consent and device pages, run the token endpoint, and a whole code flow by hand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { stdioTestServer } from '../helpers/backends.js';

export const USER = 'ada';
export const PASSWORD = 'correct horse battery staple';
export const REDIRECT = 'http://127.0.0.1:9/callback';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

type Target = { url: string };
type Reply = { status: number; body: Record<string, string>; headers: Headers };

/** The gateway's base URL (issuer when nothing else is configured). */
export const base = (gw: Target) => gw.url.replace(/\/mcp$/, '');

export const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** The hidden (or prefilled) value of an input named `name` in a page. */
export const field = (html: string, name: string) =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

/** POSTs a form; `headers` may add e.g. an Authorization header. */
export async function postForm(
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

/** Does what a user does on the consent page: reads the form, signs in, approves. Returns the redirect. */
export async function approve(
  authorizeUrl: string,
  decision = 'approve',
  password = PASSWORD,
  user = USER,
): Promise<{ status: number; location: string; body: string; headers: Headers }> {
  const page = await fetch(authorizeUrl, { redirect: 'manual', headers: { connection: 'close' } });
  if (page.status !== 200)
    return {
      status: page.status,
      location: page.headers.get('location') ?? '',
      body: await page.text(),
      headers: page.headers,
    };
  const html = await page.text();
  const res = await postForm(new URL('/authorize', authorizeUrl).toString(), {
    request_id: field(html, 'request_id'),
    csrf: field(html, 'csrf'),
    username: user,
    password,
    decision,
  });
  return {
    status: res.status,
    location: res.headers.get('location') ?? '',
    body: await res.text(),
    headers: res.headers,
  };
}

export async function register(gw: Target, redirectUris = [REDIRECT]): Promise<Reply> {
  const res = await fetch(`${base(gw)}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({
      redirect_uris: redirectUris,
      client_name: 'test client',
      token_endpoint_auth_method: 'none',
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string>, headers: res.headers };
}

/** An /authorize URL; `resource` defaults to the gateway's /mcp as the test reaches it. */
export function authorizeUrl(gw: Target, params: Record<string, string>): string {
  return `${base(gw)}/authorize?${new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT, scope: 'mcp', resource: gw.url, ...params })}`;
}

export async function token(
  gw: Target,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await postForm(`${base(gw)}/token`, params, headers);
  return { status: res.status, body: (await res.json()) as Record<string, string>, headers: res.headers };
}

/** Signs in and approves; returns the code and the verifier that goes with it. */
export async function authorize(
  gw: Target,
  clientId: string,
  params: Record<string, string> = {},
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const done = await approve(
    authorizeUrl(gw, {
      client_id: clientId,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: randomBytes(12).toString('hex'),
      ...params,
    }),
  );
  expect(done.status).toBe(302);
  const code = new URL(done.location).searchParams.get('code');
  expect(code, done.location).toBeTruthy();
  return { code: code as string, verifier };
}

/** A full code flow by hand; returns the token response. */
export async function codeFlow(
  gw: Target,
  clientId: string,
  params: Record<string, string> = {},
): Promise<Record<string, string>> {
  const { code, verifier } = await authorize(gw, clientId, params);
  const t = await token(gw, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    client_id: clientId,
    code_verifier: verifier,
    resource: params['resource'] ?? gw.url,
  });
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  return t.body;
}

/** A refresh-token grant for a public client. */
export function refresh(
  gw: Target,
  clientId: string,
  refreshToken: string,
  extra: Record<string, string> = {},
) {
  return token(gw, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
    ...extra,
  });
}

/** POST /mcp initialize with a bearer token (raw HTTP, to see the status and headers). */
export async function initializeWith(gw: Target, accessToken: string): Promise<Response> {
  return fetch(gw.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${accessToken}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      connection: 'close',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'probe', version: '1' },
      },
    }),
  });
}

/** Starts a device authorization for `clientId`; returns the RFC 8628 response. */
export async function startDevice(gw: Target, clientId: string): Promise<Record<string, string>> {
  const res = await postForm(`${base(gw)}/device_authorization`, { client_id: clientId, scope: 'mcp' });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, string>;
}

/** Loads the device page and submits it with `fields` (user_code, username, password, decision). */
export async function submitDevice(
  gw: Target,
  fields: { user_code: string; username?: string; password?: string; decision?: string },
): Promise<{ status: number; body: string; headers: Headers }> {
  const page = await (await fetch(`${base(gw)}/device`, { headers: { connection: 'close' } })).text();
  const res = await postForm(`${base(gw)}/device`, {
    request_id: field(page, 'request_id'),
    csrf: field(page, 'csrf'),
    username: USER,
    password: PASSWORD,
    decision: 'approve',
    ...fields,
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/**
 * An oauth2 config with the test user and a stdio backend; extra lines go under `oauth2:` and at the top
 * level; `userScopes` are the scopes the test user may be granted (default: all but admin).
 */
export const oauthConfig = (oauth2Extra = '', rest = '', userScopes?: readonly string[]) => `
auth:
  mode: oauth2
  oauth2:
    users: [{ name: ${USER}, password: "${PASSWORD}"${userScopes ? `, scopes: [${userScopes.join(', ')}]` : ''} }]
${oauth2Extra}
${rest}
servers:
${stdioTestServer('tools')}`;

/** An HTTP Basic Authorization header of `id:secret` (already form-urlencoded by the caller). */
export const basic = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});
