/**
 * Upstream OAuth at run time: for each remote server with `oauth:`, the remote transport asks
 * `authFor(server, agent)` for a BackendAuth, whose `headers()` it merges into every request and whose
 * `onUnauthorized()` it calls on a 401 or 403 (retrying once when it resolves true).
 *
 * - The token comes from the state store (sealed, token-vault.ts), kept in memory for a short while; it
 *   is refreshed before it expires (`refresh_before`, default 60 s) and on a 401, one refresh at a time
 *   across replicas (refresh tokens rotate: two refreshes with one token would revoke it).
 * - A 401 that a refresh cannot cure, or no token at all, is recorded as "login required"; a 403
 *   `insufficient_scope` records the wider scope needed (the next `backends login` asks for it, with
 *   what was granted before). Both show in /readyz, `backends list` and the admin API (status()).
 * - `tokens: per_user` keeps one token per user of the gateway (the agent's principal); the agent's own
 *   credential is never one of them and never reaches the backend.
 */
import type { BackendAuth } from '../../backends/backend-auth.js';
import type {
  GuardConfig,
  RemoteServerConfig,
  ServerConfig,
  UpstreamOAuthConfig,
} from '../../config/types.js';
import type { Logger } from '../../core/logger.js';
import { parseBearerChallenge } from './discovery.js';
import { refreshTokens, UpstreamOAuthError } from './oauth-client.js';
import {
  type Need,
  type Subject,
  subjectOf,
  type TokenMeta,
  type TokenSecret,
  type UpstreamRecords,
} from './records.js';

type OAuthServer = RemoteServerConfig & { readonly oauth: UpstreamOAuthConfig };

interface Loaded {
  readonly meta: TokenMeta;
  readonly secret: TokenSecret;
  readonly loadedAt: number;
}

/** How long a token read from the store is used before the store is asked again (new logins, other replicas' refreshes). */
const CACHE_MS = 15_000;
const LOCK_MS = 30_000;

export interface UpstreamStatus {
  readonly server: string;
  readonly tokens: 'service' | 'per_user';
  /** authorized | expired (refreshable or not) | login_required | step_up_required | not_logged_in */
  readonly state: string;
  readonly issuer?: string;
  readonly scope?: string;
  readonly expires_at?: string;
  readonly refreshable?: boolean;
  readonly registration?: string;
  readonly client_id?: string;
  readonly needs?: {
    readonly kind: Need['kind'];
    readonly scope?: string;
    readonly detail: string;
    readonly at: string;
  };
  /** per_user: how many users have a token. */
  readonly users?: number;
  readonly action?: string;
}

export function isOAuthServer(server: ServerConfig): server is OAuthServer {
  return server.kind === 'remote' && server.oauth !== undefined;
}

export class UpstreamOAuth {
  private readonly cache = new Map<string, Loaded>();
  private readonly refreshing = new Map<string, Promise<Loaded | undefined>>();

  /** Where a user connects their own account (per_user tokens; set by serve-http with auth.mode oauth2). */
  private userLoginBase: string | undefined;

  constructor(
    readonly records: UpstreamRecords,
    private readonly logger: Logger,
  ) {}

  /** Per-user logins happen on this gateway's pages under `base` (/upstream/login). */
  enableUserLogin(base: string): void {
    this.userLoginBase = base;
  }

  /** What a user is told to do to get a token for `server` (per_user) or the operator (service). */
  private loginAdvice(server: OAuthServer, subject: Subject): string {
    if (subject === 'service') return `run \`mcp-guard backends login ${server.name}\``;
    const user = subject.slice(5);
    return this.userLoginBase
      ? `${user} connects their account at ${this.userLoginBase}/upstream/login?server=${encodeURIComponent(server.name)}`
      : `run \`mcp-guard backends login ${server.name} --user ${user}\``;
  }

  /** The BackendAuth for `server` (undefined when it has no `oauth:`); `agent` picks the user's token under per_user. */
  authFor(server: ServerConfig, agent?: string): BackendAuth | undefined {
    if (!isOAuthServer(server)) return undefined;
    const subject: Subject = server.oauth.tokens === 'per_user' ? subjectOf(agent ?? 'anonymous') : 'service';
    let sent: string | undefined;
    let refused: string | undefined;
    return {
      headers: async (): Promise<Record<string, string>> => {
        const token = await this.token(server, subject);
        sent = token?.secret.accessToken;
        // A token to send: whatever was refused before is for the backend to say again.
        if (sent) refused = undefined;
        return sent ? { Authorization: `Bearer ${sent}` } : {};
      },
      onUnauthorized: async (status, wwwAuthenticate) => {
        const outcome = await this.unauthorized(server, subject, status, wwwAuthenticate, sent);
        refused = outcome === true ? undefined : outcome;
        return outcome === true;
      },
      refusal: () => refused,
    };
  }

  /** The usable token for `subject`: from memory, else the store; refreshed when it is about to expire. */
  private async token(server: OAuthServer, subject: Subject): Promise<Loaded | undefined> {
    const key = `${server.name}:${subject}`;
    let loaded = this.cache.get(key);
    if (!loaded || Date.now() - loaded.loadedAt > CACHE_MS) loaded = await this.load(server, subject);
    if (!loaded) return undefined;
    const expiresAt = loaded.meta.expiresAt;
    if (expiresAt !== undefined && expiresAt - Date.now() < server.oauth.refreshBeforeMs) {
      const refreshed = loaded.secret.refreshToken ? await this.refresh(server, subject, loaded) : undefined;
      if (refreshed) return refreshed;
      // Not refreshed (no refresh token, or the refresh failed): the token serves until it expires.
      if (expiresAt <= Date.now()) return undefined;
    }
    return loaded;
  }

  private async load(server: OAuthServer, subject: Subject): Promise<Loaded | undefined> {
    const key = `${server.name}:${subject}`;
    let stored: Awaited<ReturnType<UpstreamRecords['token']>>;
    try {
      stored = await this.records.token(server.name, subject);
    } catch (err) {
      // A key mismatch or a tampered record: no token (login again), said once in the log.
      this.logger.error(
        { server: server.name, err: (err as Error).message },
        'upstream OAuth token unusable',
      );
      return undefined;
    }
    const discovery = await this.records.discovery(server.name);
    // A token from before the server's URL changed in the config is for another resource.
    if (!stored?.secret || (discovery && discovery.serverUrl !== server.url)) {
      this.cache.delete(key);
      return undefined;
    }
    const loaded = { meta: stored.meta, secret: stored.secret, loadedAt: Date.now() };
    this.cache.set(key, loaded);
    return loaded;
  }

  /**
   * One refresh at a time for a token: in this process (shared promise) and across replicas (a store
   * lock; whoever waits reads what the winner stored).
   */
  private refresh(server: OAuthServer, subject: Subject, current: Loaded): Promise<Loaded | undefined> {
    const key = `${server.name}:${subject}`;
    const running = this.refreshing.get(key);
    if (running) return running;
    const job = this.refreshOnce(server, subject, current).finally(() => this.refreshing.delete(key));
    this.refreshing.set(key, job);
    return job;
  }

  private async refreshOnce(
    server: OAuthServer,
    subject: Subject,
    current: Loaded,
  ): Promise<Loaded | undefined> {
    const name = server.name;
    if (!(await this.records.lock(name, subject, LOCK_MS))) {
      // Another replica (or the CLI) is refreshing: use what it stores.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        const fresh = await this.load(server, subject);
        if (fresh && fresh.secret.accessToken !== current.secret.accessToken) return fresh;
      }
      return undefined;
    }
    try {
      // Someone may have refreshed between our read and the lock.
      const latest = await this.load(server, subject);
      if (latest && latest.secret.accessToken !== current.secret.accessToken) return latest;
      const base = latest ?? current;
      const refreshToken = base.secret.refreshToken;
      const discovery = await this.records.discovery(name);
      const client = await this.records.client(name);
      if (!refreshToken || !discovery || !client) return undefined;
      const tokens = await refreshTokens({
        authServer: discovery.authServer,
        client,
        refreshToken,
        resource: base.meta.resource,
        scope: base.meta.scope,
      });
      const meta: TokenMeta = {
        ...base.meta,
        ...(tokens.scope ? { scope: tokens.scope } : {}),
        expiresAt: tokens.expiresAt,
        obtainedAt: Date.now(),
        refreshable: tokens.refreshToken !== undefined,
      };
      const secret: TokenSecret = {
        accessToken: tokens.accessToken,
        ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      };
      await this.records.saveToken(name, subject, meta, secret);
      const need = await this.records.need(name, subject);
      if (need?.kind === 'login') await this.records.clearNeed(name, subject);
      const loaded = { meta, secret, loadedAt: Date.now() };
      this.cache.set(`${name}:${subject}`, loaded);
      this.logger.info({ server: name, expires_at: meta.expiresAt }, 'upstream OAuth token refreshed');
      return loaded;
    } catch (err) {
      const grantGone = err instanceof UpstreamOAuthError && err.oauthError === 'invalid_grant';
      this.logger.warn({ server: name, err: (err as Error).message }, 'upstream OAuth refresh failed');
      if (grantGone) {
        // The refresh token is dead: nothing but a new login helps.
        await this.records.dropToken(name, subject);
        this.cache.delete(`${name}:${subject}`);
        await this.needs(server, subject, {
          kind: 'login',
          detail: 'the refresh token was refused (invalid_grant)',
        });
      }
      return undefined;
    } finally {
      await this.records.unlock(name, subject);
    }
  }

  /** A 401 or 403 from the backend: true to retry with fresh headers, else why not. */
  private async unauthorized(
    server: OAuthServer,
    subject: Subject,
    status: number,
    wwwAuthenticate: string | undefined,
    sent: string | undefined,
  ): Promise<true | string> {
    const challenge = parseBearerChallenge(wwwAuthenticate);
    const login = this.loginAdvice(server, subject);
    if (status === 403) {
      if (challenge?.error !== 'insufficient_scope') return `the backend refused the request (HTTP 403)`;
      // A login since (with the wider scope) stored a new token: worth one retry.
      const stored = await this.load(server, subject);
      if (stored && stored.secret.accessToken !== sent) return true;
      const granted = this.cache.get(`${server.name}:${subject}`)?.meta.scope;
      const needed = [...new Set([...(granted ?? '').split(' '), ...(challenge.scope ?? '').split(' ')])]
        .filter(Boolean)
        .join(' ');
      await this.needs(server, subject, {
        kind: 'scope',
        ...(needed ? { scope: needed } : {}),
        detail: `the backend needs scope "${challenge.scope ?? '?'}"${challenge.errorDescription ? ` (${challenge.errorDescription})` : ''}`,
      });
      return `backend ${server.name} needs a wider OAuth scope (${challenge.scope ?? 'unspecified'}): ${login}`;
    }
    // 401: a token stored since we sent ours (a login, another replica's refresh) is worth one retry.
    const fresh = await this.load(server, subject);
    if (fresh && fresh.secret.accessToken !== sent) return true;
    if (fresh?.secret.refreshToken) {
      const refreshed = await this.refresh(server, subject, fresh);
      if (refreshed && refreshed.secret.accessToken !== sent) return true;
    }
    const detail = sent ? 'the backend refused the token (401)' : 'no token yet';
    await this.needs(server, subject, { kind: 'login', detail });
    return `backend ${server.name} needs an OAuth login${subject === 'service' ? '' : ` for ${subject.slice(5)}`} (${detail}): ${login}`;
  }

  private async needs(server: OAuthServer, subject: Subject, need: Omit<Need, 'at'>): Promise<void> {
    const previous = await this.records.need(server.name, subject);
    if (previous?.kind === need.kind && previous.scope === need.scope && previous.detail === need.detail)
      return;
    await this.records.setNeed(server.name, subject, { ...need, at: Date.now() });
    this.logger.warn(
      {
        server: server.name,
        ...(subject === 'service' ? {} : { user: subject.slice(5) }),
        need: need.kind,
        scope: need.scope,
      },
      `backend ${server.name}: ${need.detail}; ${this.loginAdvice(server, subject)}`,
    );
  }

  /** The state of every OAuth backend (no secrets; readable without the encryption key). */
  async status(config: GuardConfig): Promise<UpstreamStatus[]> {
    return Promise.all(
      config.servers.filter(isOAuthServer).map((server) => upstreamStatusOf(this.records, server)),
    );
  }
}

/** One OAuth backend's state, from the store only (for /readyz, the admin API and `backends list`). */
export async function upstreamStatusOf(
  records: UpstreamRecords,
  server: OAuthServer,
): Promise<UpstreamStatus> {
  const base = { server: server.name, tokens: server.oauth.tokens };
  const login = `mcp-guard backends login ${server.name}`;
  const client = await records.clientMeta(server.name);
  const registration = client ? { registration: client.source, client_id: client.clientId } : {};
  if (server.oauth.tokens === 'per_user') {
    const users = await records.users(server.name);
    return {
      ...base,
      state: users.length > 0 ? 'per_user' : 'no_users_yet',
      users: users.length,
      ...registration,
    };
  }
  const [meta, need, discovery] = await Promise.all([
    records.tokenMeta(server.name, 'service'),
    records.need(server.name, 'service'),
    records.discovery(server.name),
  ]);
  const needs = need
    ? {
        needs: {
          kind: need.kind,
          ...(need.scope ? { scope: need.scope } : {}),
          detail: need.detail,
          at: new Date(need.at).toISOString(),
        },
      }
    : {};
  if (!meta || (discovery && discovery.serverUrl !== server.url))
    return { ...base, state: 'not_logged_in', ...registration, ...needs, action: login };
  const expired = meta.expiresAt !== undefined && meta.expiresAt <= Date.now();
  const state =
    need?.kind === 'scope'
      ? 'step_up_required'
      : need?.kind === 'login'
        ? 'login_required'
        : expired && !meta.refreshable
          ? 'expired'
          : 'authorized';
  return {
    ...base,
    state,
    issuer: meta.issuer,
    ...(meta.scope ? { scope: meta.scope } : {}),
    ...(meta.expiresAt ? { expires_at: new Date(meta.expiresAt).toISOString() } : {}),
    refreshable: meta.refreshable,
    ...registration,
    ...needs,
    ...(state === 'authorized' ? {} : { action: login }),
  };
}
