/**
 * An OAuth-protected MCP server for the upstream OAuth tests, built with the SDK's auth helpers: its
 * own authorization server (mcpAuthRouter: RFC 8414 metadata, dynamic registration, /authorize, /token,
 * protected resource metadata) and requireBearerAuth on /mcp. The "person" consents at once (the
 * authorization endpoint approves every request), so a test only has to follow the redirect.
 *
 *   node oauth-server.js --port 0 [--token-ttl SECONDS] [--scopes read,write] [--required read]
 *
 * Tools: `echo`; `whoami` (the token's client and scopes, never the token); `write`, which needs scope
 * `write` (else 403 insufficient_scope, the step-up signal). Test-only endpoints: GET /test/stats (grants
 * issued, every bearer credential seen on /mcp, the last authorization request), POST /test/expire
 * (every access token stops working; refresh tokens still work), POST /test/revoke (everything stops).
 * Prints `LISTENING <port>` once it listens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { OAuthRegisteredClientsStore } from '@modelcontextprotocol/sdk/server/auth/clients.js';
import { InvalidGrantError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type {
  AuthorizationParams,
  OAuthServerProvider,
} from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { mcpAuthRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { OAuthClientInformationFull, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import express, { type NextFunction, type Request, type Response } from 'express';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const port = Number(arg('port', '0'));
const tokenTtlS = Number(arg('token-ttl', '3600'));
const scopesSupported = arg('scopes', 'read,write').split(',').filter(Boolean);
const required = arg('required', 'read').split(',').filter(Boolean);

interface Grant {
  readonly clientId: string;
  readonly scopes: string[];
  readonly resource?: string;
}

const clients = new Map<string, OAuthClientInformationFull>();
const codes = new Map<string, Grant & { challenge: string; redirectUri: string }>();
const accessTokens = new Map<string, Grant & { expiresAt: number }>();
const refreshTokens = new Map<string, Grant>();
const stats = {
  registrations: 0,
  codeGrants: 0,
  refreshGrants: 0,
  bearers: [] as string[],
  /** /mcp requests answered 401 (an expired or unknown token). */
  unauthorized: 0,
  lastAuthorization: undefined as undefined | { clientId: string; scopes: string[]; resource?: string },
};

const clientsStore: OAuthRegisteredClientsStore = {
  getClient: (id) => clients.get(id),
  registerClient: (client) => {
    const full = {
      ...client,
      client_id: `client-${randomUUID()}`,
      client_id_issued_at: Math.floor(Date.now() / 1000),
    };
    clients.set(full.client_id, full as OAuthClientInformationFull);
    stats.registrations++;
    return full as OAuthClientInformationFull;
  },
};

function issue(grant: Grant): OAuthTokens {
  const access = `at-${randomBytes(16).toString('hex')}`;
  const refresh = `rt-${randomBytes(16).toString('hex')}`;
  accessTokens.set(access, { ...grant, expiresAt: Math.floor(Date.now() / 1000) + tokenTtlS });
  refreshTokens.set(refresh, grant);
  return {
    access_token: access,
    token_type: 'bearer',
    expires_in: tokenTtlS,
    refresh_token: refresh,
    scope: grant.scopes.join(' '),
  };
}

const provider: OAuthServerProvider = {
  get clientsStore() {
    return clientsStore;
  },
  async authorize(client: OAuthClientInformationFull, params: AuthorizationParams, res: Response) {
    // The person approves at once.
    const code = randomBytes(16).toString('hex');
    const scopes = (params.scopes ?? []).filter((s) => scopesSupported.includes(s));
    codes.set(code, {
      clientId: client.client_id,
      scopes,
      resource: params.resource?.href,
      challenge: params.codeChallenge,
      redirectUri: params.redirectUri,
    });
    stats.lastAuthorization = {
      clientId: client.client_id,
      scopes: params.scopes ?? [],
      resource: params.resource?.href,
    };
    const target = new URL(params.redirectUri);
    target.searchParams.set('code', code);
    if (params.state !== undefined) target.searchParams.set('state', params.state);
    res.redirect(target.toString());
  },
  async challengeForAuthorizationCode(_client, code) {
    const c = codes.get(code);
    if (!c) throw new InvalidGrantError('unknown code');
    return c.challenge;
  },
  async exchangeAuthorizationCode(client, code, _verifier, redirectUri) {
    const c = codes.get(code);
    codes.delete(code);
    if (!c || c.clientId !== client.client_id) throw new InvalidGrantError('unknown code');
    if (redirectUri !== undefined && redirectUri !== c.redirectUri)
      throw new InvalidGrantError('redirect_uri mismatch');
    stats.codeGrants++;
    return issue(c);
  },
  async exchangeRefreshToken(client, refreshToken) {
    const grant = refreshTokens.get(refreshToken);
    // Rotation: a refresh token works once.
    refreshTokens.delete(refreshToken);
    if (!grant || grant.clientId !== client.client_id) throw new InvalidGrantError('unknown refresh token');
    stats.refreshGrants++;
    return issue(grant);
  },
  async verifyAccessToken(token): Promise<AuthInfo> {
    const t = accessTokens.get(token);
    if (!t) throw new InvalidTokenError('unknown token');
    return {
      token,
      clientId: t.clientId,
      scopes: t.scopes,
      expiresAt: t.expiresAt,
      ...(t.resource ? { resource: new URL(t.resource) } : {}),
    };
  },
};

function mcpServer(auth: AuthInfo): Server {
  const server = new Server({ name: 'oauth-test-server', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
      { name: 'whoami', inputSchema: { type: 'object' } },
      { name: 'write', inputSchema: { type: 'object' } },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const info = extra.authInfo ?? auth;
    if (request.params.name === 'echo')
      return { content: [{ type: 'text', text: String(request.params.arguments?.['text'] ?? '') }] };
    if (request.params.name === 'whoami')
      return {
        content: [{ type: 'text', text: JSON.stringify({ client: info.clientId, scopes: info.scopes }) }],
      };
    return { content: [{ type: 'text', text: 'written' }] };
  });
  return server;
}

const app = express();
let base = '';
app.use(express.json());
app.get('/test/stats', (_req, res) => {
  res.json(stats);
});
app.post('/test/expire', (_req, res) => {
  accessTokens.clear();
  res.json({ ok: true });
});
app.post('/test/revoke', (_req, res) => {
  accessTokens.clear();
  refreshTokens.clear();
  res.json({ ok: true });
});

const sessions = new Map<string, StreamableHTTPServerTransport>();
const recordBearer = (req: Request, res: Response, next: NextFunction) => {
  const header = req.headers.authorization;
  if (header) stats.bearers.push(header.replace(/^Bearer\s+/i, ''));
  res.on('finish', () => {
    if (res.statusCode === 401) stats.unauthorized++;
  });
  next();
};
// Step-up: calling `write` needs the write scope (403 insufficient_scope names it).
const writeNeedsScope = (req: Request, res: Response, next: NextFunction) => {
  const body = req.body as { method?: string; params?: { name?: string } } | undefined;
  const scopes = (req as Request & { auth?: AuthInfo }).auth?.scopes ?? [];
  if (body?.method === 'tools/call' && body.params?.name === 'write' && !scopes.includes('write')) {
    res
      .status(403)
      .set(
        'WWW-Authenticate',
        `Bearer error="insufficient_scope", scope="write", resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
      )
      .json({ error: 'insufficient_scope', error_description: 'write needs the write scope' });
    return;
  }
  next();
};

const http = app.listen(port, '127.0.0.1', () => {
  const actual = (http.address() as AddressInfo).port;
  base = `http://127.0.0.1:${actual}`;
  app.use(
    mcpAuthRouter({
      provider,
      issuerUrl: new URL(base),
      resourceServerUrl: new URL(`${base}/mcp`),
      scopesSupported,
      // Tests register and sign in many times from one address.
      clientRegistrationOptions: { rateLimit: false },
      authorizationOptions: { rateLimit: false },
      tokenOptions: { rateLimit: false },
    }),
  );
  const bearer = requireBearerAuth({
    verifier: provider,
    requiredScopes: required,
    resourceMetadataUrl: `${base}/.well-known/oauth-protected-resource/mcp`,
  });
  app.all('/mcp', recordBearer, bearer, writeNeedsScope, async (req: Request, res: Response) => {
    const auth = (req as Request & { auth?: AuthInfo }).auth as AuthInfo;
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string') {
        res
          .status(404)
          .json({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'unknown session' } });
        return;
      }
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid: string): void => {
          sessions.set(sid, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId) sessions.delete(created.sessionId);
      };
      await mcpServer(auth).connect(created);
      transport = created;
    }
    await (transport as StreamableHTTPServerTransport).handleRequest(req, res, req.body);
  });
  process.stdout.write(`LISTENING ${actual}\n`);
});
