import type { StateConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { causes, explainSystemError, isSystemError, nativeModuleProblem } from '../core/system-errors.js';
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
      // The network stores' drivers load only when named: ioredis and pg add about 30 MB of RSS to a
      // gateway that keeps its state in SQLite.
      case 'redis': {
        const { RedisStateStore } = await import('./redis-store.js');
        return await RedisStateStore.open({
          url: config.url,
          prefix: config.prefix,
          connectTimeoutMs: opts.connectTimeoutMs,
        });
      }
      case 'postgres': {
        const { PostgresStateStore } = await import('./postgres-store.js');
        return await PostgresStateStore.open({
          url: config.url,
          schema: config.schema,
          connectTimeoutMs: opts.connectTimeoutMs,
        });
      }
    }
  } catch (err) {
    const native = nativeModuleProblem(err);
    if (native) throw new GatewayError('STORE_UNAVAILABLE', native, { cause: err });
    const where = config.store === 'sqlite' ? config.path : redactUrl(config.url);
    const reason = ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '').replace(
      /\.$/,
      '',
    );
    throw new GatewayError(
      'STORE_UNAVAILABLE',
      `cannot open the ${config.store} state store at ${where}: ${config.store === 'sqlite' ? reason : scrubSecret(reason, config.url)}; ${storeHint(config.store, err)}`,
      { cause: err },
    );
  }
}

/** What to do about a store that cannot be opened (one clause, for the one-line start-up error). */
function storeHint(store: StateConfig['store'], err: unknown): string {
  const codes = causes(err).map((e) => String((e as { code?: unknown })?.code ?? ''));
  const system = causes(err).find(isSystemError);
  const message = causes(err)
    .map((e) => (e instanceof Error ? e.message : String(e)))
    .join(' ');
  if (store === 'sqlite') {
    if (codes.some((c) => c === 'SQLITE_NOTADB' || c === 'SQLITE_CORRUPT'))
      return 'state.path is not a usable SQLite database: move it aside (a new one is created; what it held is lost) or point state.path elsewhere';
    if (codes.some((c) => c === 'SQLITE_BUSY' || c === 'SQLITE_LOCKED'))
      return 'another process holds the database locked: stop it or wait';
    if (codes.includes('SQLITE_READONLY'))
      return 'the database or its folder is read-only for the user running mcp-guard';
    if (system) return `${explainSystemError(system).hint ?? 'check state.path'} (state.path)`;
    return 'check state.path and that the user running mcp-guard may write its folder';
  }
  if (codes.some((c) => c === '28P01' || c === '28000') || /NOAUTH|WRONGPASS|password/i.test(message))
    return 'check the user name and password in state.url';
  if (codes.includes('3D000')) return 'create that database, or fix its name in state.url';
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN'))
    return 'the host name in state.url does not resolve here';
  return `is ${store === 'redis' ? 'Redis' : 'PostgreSQL'} running at that address, and reachable from here? Check state.url`;
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
