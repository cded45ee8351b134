/**
 * The ES256 key the access tokens are signed with: from `auth.oauth2.signing_key_file`, or generated once
 * and kept in the state store, so every replica on the store (and the next start) signs with the same key.
 */
import { readFileSync } from 'node:fs';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose';
import type { OAuth2Config } from '../../config/types.js';
import type { StateStore } from '../../stores/state-store.js';
import { NS, random } from './as-context.js';

export interface SigningKey {
  readonly key: CryptoKey;
  readonly kid: string;
  /** The public half, as published at /jwks.json. */
  readonly publicJwk: JWK;
}

export async function loadSigningKey(config: OAuth2Config, store: StateStore): Promise<SigningKey> {
  let privateJwk: JWK;
  if (config.signingKeyFile) {
    const key = await importPKCS8(readFileSync(config.signingKeyFile, 'utf8'), 'ES256', {
      extractable: true,
    });
    privateJwk = { ...(await exportJWK(key)), kid: 'file' };
  } else {
    let stored = await store.kvGet(NS.keys, 'signing');
    if (!stored) {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(privateKey)), kid: random(8) };
      // First writer wins: replicas starting together agree on one key.
      await store.kvPut(NS.keys, 'signing', JSON.stringify(jwk), { ifAbsent: true });
      stored = await store.kvGet(NS.keys, 'signing');
    }
    privateJwk = JSON.parse(stored as string) as JWK;
  }
  const key = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
  const { d: _private, ...publicPart } = privateJwk;
  return { key, kid: privateJwk.kid ?? 'key', publicJwk: { ...publicPart, alg: 'ES256', use: 'sig' } };
}
