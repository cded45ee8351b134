/**
 * What the gateway keeps about each upstream authorization, in the state store (shared by replicas and
 * the CLI): the discovery result (public), the client registration (client id in clear, secret sealed),
 * the tokens (sealed; issuer, scope and expiry in clear), what a backend asked for that we lack (a login
 * or a wider scope), and for per-user tokens the list of users who have one.
 */
import type { Discovery } from './discovery.js';
import type { TokenVault } from './token-vault.js';

/** Whose token: the backend's service token, or one user's. */
export type Subject = 'service' | `user:${string}`;

export const subjectOf = (agent: string | undefined): Subject =>
  agent === undefined ? 'service' : `user:${agent}`;

export interface StoredDiscovery extends Discovery {
  /** The server URL it was made for: a changed `url` in the config means a new login. */
  readonly serverUrl: string;
  readonly at: number;
}

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface ClientMeta {
  readonly issuer: string;
  readonly clientId: string;
  readonly authMethod: ClientAuthMethod;
  /** How the client came to be: configured (pre-registered), a metadata document URL, or dynamic registration. */
  readonly source: 'configured' | 'metadata_document' | 'dynamic';
  readonly redirectUris: readonly string[];
}

export interface ClientSecret {
  readonly clientSecret?: string;
}

export interface TokenMeta {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope?: string;
  /** ms since the epoch; undefined when the server gave no expires_in. */
  readonly expiresAt?: number;
  readonly obtainedAt: number;
  readonly refreshable: boolean;
  /** The resource indicator the token was asked for. */
  readonly resource: string;
}

export interface TokenSecret {
  readonly accessToken: string;
  readonly refreshToken?: string;
}

export interface Need {
  /** `login`: no usable token (never logged in, refused, refresh failed); `scope`: a wider scope is needed. */
  readonly kind: 'login' | 'scope';
  readonly scope?: string;
  readonly detail: string;
  readonly at: number;
}

export class UpstreamRecords {
  constructor(readonly vault: TokenVault) {}

  discovery(server: string): Promise<StoredDiscovery | undefined> {
    return this.vault.getPlain<StoredDiscovery>(`discovery:${server}`);
  }

  async saveDiscovery(server: string, d: StoredDiscovery): Promise<void> {
    await this.vault.putPlain(`discovery:${server}`, d);
  }

  clientMeta(server: string): Promise<ClientMeta | undefined> {
    return this.vault.meta<ClientMeta>(`client:${server}`);
  }

  client(server: string): Promise<{ meta: ClientMeta; secret: ClientSecret | undefined } | undefined> {
    return this.vault.get<ClientMeta, ClientSecret>(`client:${server}`);
  }

  saveClient(server: string, meta: ClientMeta, secret: ClientSecret): Promise<void> {
    return this.vault.put(`client:${server}`, meta, secret.clientSecret === undefined ? undefined : secret);
  }

  tokenMeta(server: string, subject: Subject): Promise<TokenMeta | undefined> {
    return this.vault.meta<TokenMeta>(`token:${server}:${subject}`);
  }

  token(
    server: string,
    subject: Subject,
  ): Promise<{ meta: TokenMeta; secret: TokenSecret | undefined } | undefined> {
    return this.vault.get<TokenMeta, TokenSecret>(`token:${server}:${subject}`);
  }

  async saveToken(server: string, subject: Subject, meta: TokenMeta, secret: TokenSecret): Promise<void> {
    await this.vault.put(`token:${server}:${subject}`, meta, secret);
    if (subject !== 'service') await this.addUser(server, subject.slice(5));
  }

  async dropToken(server: string, subject: Subject): Promise<void> {
    await this.vault.delete(`token:${server}:${subject}`);
  }

  need(server: string, subject: Subject): Promise<Need | undefined> {
    return this.vault.getPlain<Need>(`needs:${server}:${subject}`);
  }

  async setNeed(server: string, subject: Subject, need: Need): Promise<void> {
    await this.vault.putPlain(`needs:${server}:${subject}`, need);
  }

  async clearNeed(server: string, subject: Subject): Promise<void> {
    await this.vault.delete(`needs:${server}:${subject}`);
  }

  async users(server: string): Promise<string[]> {
    return (await this.vault.getPlain<string[]>(`users:${server}`)) ?? [];
  }

  private async addUser(server: string, user: string): Promise<void> {
    const users = await this.users(server);
    if (users.includes(user)) return;
    // Bounded: the list only feeds status reports.
    await this.vault.putPlain(`users:${server}`, [...users, user].slice(-10_000));
  }

  /** A short lock across replicas (one refresh at a time: refresh tokens rotate). */
  lock(server: string, subject: Subject, ttlMs: number): Promise<boolean> {
    return this.vault.putPlain(`lock:${server}:${subject}`, Date.now(), { ttlMs, ifAbsent: true });
  }

  async unlock(server: string, subject: Subject): Promise<void> {
    await this.vault.delete(`lock:${server}:${subject}`);
  }
}
