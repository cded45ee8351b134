/**
 * Per-user upstream tokens (`servers.NAME.oauth.tokens: per_user`): each user of the gateway connects
 * their own account at the remote server, on the gateway's pages.
 *
 *   GET  /upstream/login?server=NAME   sign in to the gateway (its own users, auth.mode oauth2)
 *   POST /upstream/login               … then off to the server's authorization server
 *   GET  /upstream/callback            back from it: the token is stored (sealed) for that user
 *
 * The token always goes to the user who signed in on the gateway's page, in the same browser that comes
 * back with the code (the `state` is single-use and bound to that user): a link sent to someone else
 * cannot attach their account to the sender's gateway user. Sign-in failures count against the same
 * per-address limit as the consent page.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerConfig } from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import type { RouteHandler } from '../../http/route.js';
import { readForm, redirect } from '../oauth/http-utils.js';
import { escapeHtml, sendPage } from '../oauth/pages.js';
import type { SignInResult } from '../oauth/sign-in.js';
import type { Discovery } from './discovery.js';
import { discover, type Prepared, prepare, storeLogin } from './login.js';
import { authorizationCode, authorizationRequest, exchangeCode } from './oauth-client.js';
import { subjectOf, type UpstreamRecords } from './records.js';
import { isOAuthServer } from './upstream-oauth.js';

const FLOW_TTL_MS = 10 * 60_000;

export interface UserLoginOptions {
  /** The servers of the config in force. */
  readonly servers: () => readonly ServerConfig[];
  readonly records: UpstreamRecords;
  readonly signIn: (req: IncomingMessage, form: URLSearchParams) => Promise<SignInResult>;
  /** The gateway's public base URL (the issuer): the callback is `<base>/upstream/callback`. */
  readonly base: string;
  readonly logger: Logger;
}

interface FlowMeta {
  readonly server: string;
  readonly user: string;
  readonly redirectUri: string;
  readonly discovery: Discovery;
  readonly resource: string;
  readonly scope?: string;
}

const random = () => randomBytes(24).toString('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The per-user login routes. */
export function userLoginRoutes(options: UserLoginOptions): Map<string, RouteHandler> {
  const { records } = options;
  const callback = `${options.base}/upstream/callback`;
  const perUser = (name: string | null) => {
    const server = options.servers().find((s) => s.name === name);
    return server && isOAuthServer(server) && server.oauth.tokens === 'per_user' ? server : undefined;
  };

  const form = async (res: ServerResponse, serverName: string, status = 200, error?: string) => {
    const requestId = random();
    const csrf = random();
    await records.vault.putPlain(
      `userlogin:${requestId}`,
      { server: serverName, csrf },
      { ttlMs: FLOW_TTL_MS },
    );
    sendPage(
      res,
      status,
      `Connect ${serverName}`,
      `<p>Sign in to mcp-guard to connect your own <strong>${escapeHtml(serverName)}</strong> account; you will then be sent to its sign-in page.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/upstream/login">
<input type="hidden" name="request_id" value="${escapeHtml(requestId)}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<label for="username">User</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Continue</button></div>
</form>`,
      // The form's answer redirects to the server's authorization server (form-action covers redirects).
      await authorizationOrigins(serverName),
    );
  };

  /** Where the form's answer may redirect: the server's authorization endpoint (discovered if need be). */
  const authorizationOrigins = async (serverName: string): Promise<string[]> => {
    const server = perUser(serverName);
    try {
      const known = await records.discovery(serverName);
      const discovery =
        known?.serverUrl === server?.url ? known : server ? await discover(server) : undefined;
      return discovery ? [new URL(discovery.authServer.authorization_endpoint).origin] : [];
    } catch {
      // Discovery fails again, with its reason, when the form is sent.
      return [];
    }
  };

  const start: RouteHandler = async (req, res, url) => {
    if (req.method === 'POST') return begin(req, res);
    const name = url.searchParams.get('server');
    if (!perUser(name))
      return sendPage(
        res,
        404,
        'Unknown server',
        '<p>No server here keeps per-user tokens by that name.</p>',
      );
    await form(res, name as string);
  };

  const begin = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readForm(req);
    const requestId = body?.get('request_id') ?? '';
    const pending =
      requestId && requestId.length <= 100
        ? await records.vault.takePlain<{ server: string; csrf: string }>(`userlogin:${requestId}`)
        : undefined;
    if (!body || !pending)
      return sendPage(res, 400, 'Expired', '<p>This page has expired. Load it again.</p>');
    if (!sameText(body.get('csrf') ?? '', pending.csrf))
      return sendPage(res, 403, 'Forbidden', '<p>The form did not come from this gateway.</p>');
    const server = perUser(pending.server);
    if (!server) return sendPage(res, 404, 'Unknown server', '<p>The server is no longer configured.</p>');
    const signedIn = await options.signIn(req, body);
    if (!signedIn.ok) return form(res, server.name, signedIn.status, signedIn.error);
    let prepared: Prepared;
    try {
      prepared = await prepare(server, records, subjectOf(signedIn.user), [callback]);
    } catch (err) {
      options.logger.warn(
        { server: server.name, err: (err as Error).message },
        'per-user upstream login failed',
      );
      return sendPage(res, 502, 'Cannot connect', `<p>${escapeHtml((err as Error).message)}</p>`);
    }
    const { discovery, resource, scope, client } = prepared;
    const request = authorizationRequest({
      authServer: discovery.authServer,
      clientId: client.meta.clientId,
      redirectUri: callback,
      scope,
      resource,
    });
    const meta: FlowMeta = {
      server: server.name,
      user: signedIn.user,
      redirectUri: callback,
      discovery,
      resource,
      ...(scope ? { scope } : {}),
    };
    await records.vault.put(`userflow:${request.state}`, meta, { verifier: request.verifier }, FLOW_TTL_MS);
    redirect(res, request.url);
  };

  const finish: RouteHandler = async (_req, res, url) => {
    const state = url.searchParams.get('state') ?? '';
    const flow =
      state.length <= 200 && state
        ? await records.vault.take<FlowMeta, { verifier: string }>(`userflow:${state}`)
        : undefined;
    if (!flow?.secret)
      return sendPage(
        res,
        400,
        'Expired',
        '<p>This sign-in has expired or was already used. Start again.</p>',
      );
    const { meta } = flow;
    const server = perUser(meta.server);
    if (!server) return sendPage(res, 404, 'Unknown server', '<p>The server is no longer configured.</p>');
    const as = meta.discovery.authServer;
    const pending = { url: '', state, verifier: flow.secret.verifier, redirectUri: meta.redirectUri };
    try {
      const code = authorizationCode(url.searchParams, pending, as);
      const client = await records.client(server.name);
      if (!client || client.meta.issuer !== as.issuer)
        throw new Error('the client registration changed; start again');
      const tokens = await exchangeCode({
        authServer: as,
        client,
        code,
        pending,
        resource: meta.resource,
        scope: meta.scope,
      });
      const prepared: Prepared = {
        discovery: meta.discovery,
        resource: meta.resource,
        scope: meta.scope,
        client,
      };
      const result = await storeLogin(server, records, subjectOf(meta.user), prepared, tokens);
      options.logger.info(
        { server: server.name, user: meta.user, scope: result.scope },
        'per-user upstream token stored',
      );
      sendPage(
        res,
        200,
        'Connected',
        `<p>${escapeHtml(server.name)} is connected for ${escapeHtml(meta.user)}. You can close this page; new requests of your agent use it.</p>`,
      );
    } catch (err) {
      options.logger.warn(
        { server: server.name, user: meta.user, err: (err as Error).message },
        'per-user upstream login failed',
      );
      sendPage(res, 400, 'Not connected', `<p>${escapeHtml((err as Error).message)}</p>`);
    }
  };

  return new Map<string, RouteHandler>([
    ['/upstream/login', start],
    ['/upstream/callback', finish],
  ]);
}
