/**
 * Upstream OAuth secrets at rest: access and refresh tokens and client secrets of the gateway's upstream
 * authorizations are kept in the state store only as AES-256-GCM ciphertext. The key is derived (HKDF-
 * SHA256) from `state.encryption_key` or $MCP_GUARD_ENCRYPTION_KEY; each record is bound to its place
 * in the store (the additional authenticated data names it), so a ciphertext moved to another server's
 * or user's entry does not decrypt. What is not secret (issuer, scope, expiry) is kept beside the
 * ciphertext in clear, so `backends list` and /readyz can report status without the key.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { StateConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import type { StateStore } from '../../stores/state-store.js';

export const ENCRYPTION_KEY_ENV = 'MCP_GUARD_ENCRYPTION_KEY';
const NS = 'upstream_oauth';

/** A derived key and its short public id (so a record sealed with another key is named as such). */
export interface VaultKey {
  readonly key: Buffer;
  readonly id: string;
}

/** The vault key from config, else the environment; undefined when neither gives one. */
export function resolveVaultKey(state: StateConfig, env: NodeJS.ProcessEnv): VaultKey | undefined {
  const material = state.encryptionKey ?? env[ENCRYPTION_KEY_ENV];
  if (material === undefined || material === '') return undefined;
  if (material.length < 32)
    throw new GatewayError(
      'CONFIG_INVALID',
      `${ENCRYPTION_KEY_ENV} must be at least 32 characters (e.g. openssl rand -base64 32)`,
    );
  const key = Buffer.from(hkdfSync('sha256', material, 'mcp-guard', 'upstream-oauth-tokens v1', 32));
  return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 12) };
}

interface Sealed {
  readonly v: 1;
  readonly kid: string;
  readonly iv: string;
  readonly ct: string;
  readonly tag: string;
}

/** A stored record: public metadata in clear, the secret part sealed. */
export interface VaultRecord<M> {
  readonly meta: M;
  readonly sealed?: Sealed;
}

export class TokenVault {
  constructor(
    private readonly store: StateStore,
    /** Undefined: secrets cannot be read or written (status still can). */
    private readonly vaultKey: VaultKey | undefined,
  ) {}

  get canSeal(): boolean {
    return this.vaultKey !== undefined;
  }

  private requireKey(): VaultKey {
    if (!this.vaultKey)
      throw new GatewayError(
        'UPSTREAM_OAUTH',
        `no key to encrypt upstream OAuth tokens: set state.encryption_key or ${ENCRYPTION_KEY_ENV} (32+ characters)`,
      );
    return this.vaultKey;
  }

  /** Stores `meta` in clear and `secret` encrypted under `key`. */
  async put<M, S>(key: string, meta: M, secret: S | undefined, ttlMs?: number): Promise<void> {
    const record: VaultRecord<M> = {
      meta,
      ...(secret === undefined ? {} : { sealed: this.seal(key, JSON.stringify(secret)) }),
    };
    await this.store.kvPut(NS, key, JSON.stringify(record), ttlMs === undefined ? {} : { ttlMs });
  }

  /** Only the public part (no key needed). */
  async meta<M>(key: string): Promise<M | undefined> {
    const raw = await this.store.kvGet(NS, key);
    return raw ? (JSON.parse(raw) as VaultRecord<M>).meta : undefined;
  }

  /** The public part and the decrypted secret. */
  async get<M, S>(key: string): Promise<{ meta: M; secret: S | undefined } | undefined> {
    const raw = await this.store.kvGet(NS, key);
    if (!raw) return undefined;
    const record = JSON.parse(raw) as VaultRecord<M>;
    return {
      meta: record.meta,
      secret: record.sealed ? (JSON.parse(this.open(key, record.sealed)) as S) : undefined,
    };
  }

  /** Plain (not secret) values: discovery results, markers, indexes. */
  async putPlain(
    key: string,
    value: unknown,
    options: { ttlMs?: number; ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    return this.store.kvPut(NS, key, JSON.stringify(value), options);
  }

  /** A plain value, removed in the same atomic step (single-use). */
  async takePlain<T>(key: string): Promise<T | undefined> {
    const raw = await this.store.kvTake(NS, key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  async getPlain<T>(key: string): Promise<T | undefined> {
    const raw = await this.store.kvGet(NS, key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  /** The public part and the decrypted secret, removed in the same atomic step (single-use records). */
  async take<M, S>(key: string): Promise<{ meta: M; secret: S | undefined } | undefined> {
    const raw = await this.store.kvTake(NS, key);
    if (!raw) return undefined;
    const record = JSON.parse(raw) as VaultRecord<M>;
    return {
      meta: record.meta,
      secret: record.sealed ? (JSON.parse(this.open(key, record.sealed)) as S) : undefined,
    };
  }

  async delete(key: string): Promise<void> {
    await this.store.kvDelete(NS, key);
  }

  private seal(place: string, plaintext: string): Sealed {
    const { key, id } = this.requireKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${NS}|${place}`));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      v: 1,
      kid: id,
      iv: iv.toString('base64url'),
      ct: ct.toString('base64url'),
      tag: cipher.getAuthTag().toString('base64url'),
    };
  }

  private open(place: string, sealed: Sealed): string {
    const { key, id } = this.requireKey();
    if (sealed.kid !== id)
      throw new GatewayError(
        'UPSTREAM_OAUTH',
        'the stored upstream token was encrypted with another encryption key: restore the key, or run `mcp-guard backends login` again',
      );
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAAD(Buffer.from(`${NS}|${place}`));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new GatewayError(
        'UPSTREAM_OAUTH',
        'a stored upstream token failed its integrity check (tampered or moved)',
      );
    }
  }
}
