/**
 * Sign-in for the configured users of the built-in authorization server. Passwords are held only as
 * salted scrypt hashes of their SHA-256 digest (see config normalize); a sign-in recomputes that hash
 * off the event loop and compares in constant time. An unknown user name costs the same scrypt as a known
 * one, so timing does not tell which names exist.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { OAuthUser, PasswordHash } from '../../config/types.js';

/** The scope of the admin API (/admin, /ui): granted only to users whose `scopes` name it. */
export const ADMIN_SCOPE = 'admin';

function scryptOf(digest: Buffer, record: PasswordHash): Promise<Buffer> {
  const { N, r, p } = record;
  return new Promise((resolve, reject) =>
    // scrypt needs 128·N·r·p bytes; twice that leaves room for Node's own bookkeeping.
    scrypt(digest, record.salt, record.hash.length, { N, r, p, maxmem: 256 * N * r * p }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export class UserDirectory {
  /** Stands in for a user that does not exist: same cost, never matches. */
  private readonly decoy: PasswordHash;
  private readonly names: ReadonlySet<string>;
  private readonly scopes: ReadonlyMap<string, ReadonlySet<string>>;

  /** `offered`: the scopes of the authorization server; a user without `scopes` may have all but admin. */
  constructor(
    private readonly users: readonly OAuthUser[],
    offered: readonly string[] = [],
  ) {
    this.names = new Set(users.map((u) => u.name));
    const byDefault = offered.filter((s) => s !== ADMIN_SCOPE);
    this.scopes = new Map(users.map((u) => [u.name, new Set(u.scopes ?? byDefault)]));
    const model = users[0]?.password;
    this.decoy = {
      algorithm: 'scrypt',
      N: model?.N ?? 2 ** 14,
      r: model?.r ?? 8,
      p: model?.p ?? 1,
      salt: randomBytes(16),
      hash: randomBytes(model?.hash.length ?? 32),
    };
  }

  /** Whether `name` is a configured user (a grant of a removed user is not honoured any more). */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Whether `name` may be granted `scope` (admin only when the user's `scopes` names it). */
  mayHold(name: string, scope: string): boolean {
    return this.scopes.get(name)?.has(scope) ?? false;
  }

  /** The part of a space-separated `scope` that `name` may be granted. */
  grantable(name: string, scope: string): string {
    return scope
      .split(' ')
      .filter((s) => s && this.mayHold(name, s))
      .join(' ');
  }

  /** The user's name when `name` and `password` match a configured user, else undefined. */
  async check(name: string, password: string): Promise<string | undefined> {
    const user = this.users.find((u) => u.name === name);
    const record = user?.password ?? this.decoy;
    const computed = await scryptOf(createHash('sha256').update(password, 'utf8').digest(), record);
    const matches = computed.length === record.hash.length && timingSafeEqual(computed, record.hash);
    return user && matches ? user.name : undefined;
  }
}
