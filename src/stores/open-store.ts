import type { StateConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { PostgresStateStore } from './postgres-store.js';
import { RedisStateStore } from './redis-store.js';
import { SqliteStateStore } from './sqlite-store.js';
import type { StateStore } from './state-store.js';

export interface OpenStoreOptions {
  /** How long a network store may take to answer the first connection (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

/**
 * Opens the store a config names. A failure is `GatewayError('STORE_UNAVAILABLE')` naming the store and
 * where it is; a password in the URL never appears in the message.
 */
export async function openStateStore(config: StateConfig, opts: OpenStoreOptions = {}): Promise<StateStore> {
  try {
    switch (config.store) {
      case 'sqlite':
        return new SqliteStateStore(config.path);
      case 'redis':
        return await RedisStateStore.open({
          url: config.url,
          prefix: config.prefix,
          connectTimeoutMs: opts.connectTimeoutMs,
        });
      case 'postgres':
        return await PostgresStateStore.open({
          url: config.url,
          schema: config.schema,
          connectTimeoutMs: opts.connectTimeoutMs,
        });
    }
  } catch (err) {
    const where = config.store === 'sqlite' ? config.path : redactUrl(config.url);
    const reason = err instanceof Error ? err.message : String(err);
    throw new GatewayError(
      'STORE_UNAVAILABLE',
      `cannot open the ${config.store} state store at ${where}: ${config.store === 'sqlite' ? reason : scrubSecret(reason, config.url)}`,
      { cause: err },
    );
  }
}

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Removes the URL's password, raw or percent-decoded, from a driver's message. */
function scrubSecret(message: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    // An unparseable URL: the drivers' messages then quote no password we could find either.
  }
  if (!password) return message;
  let out = message;
  for (const form of new Set([password, safeDecode(password)])) if (form) out = out.split(form).join('***');
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
