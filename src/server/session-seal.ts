/**
 * Session ids that carry their session (2025-11-25), so any replica can serve any session: what the
 * session needs to go on — who opened it, the negotiated version, the agent's capabilities and client
 * info — is sealed into its `Mcp-Session-Id` (AES-256-GCM: unreadable and tamper-evident), with a key all
 * replicas on one state store share (made once, kept in the store). A replica that has never seen the
 * session opens the id and continues it; the little that changes during a session (its log level, its
 * resource subscriptions, whether it ended) lives in the store (session-state.ts).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Params } from '../mcp/messages.js';
import type { StateStore } from '../stores/state-store.js';

export interface SealedSession {
  /** Random, unique: the session's name in the store and on the bus. */
  readonly nonce: string;
  /** The agent that opened it (a session never changes hands). */
  readonly agent: string;
  readonly protocolVersion: string;
  readonly capabilities: Params;
  readonly clientInfo: Params;
  readonly createdAt: number;
}

const PREFIX = 'v1.';

export class SessionSealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new TypeError('a session key is 32 bytes');
  }

  seal(session: SealedSession): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The session an id carries, or undefined for an id we did not make (forged, altered, foreign). */
  open(id: string): SealedSession | undefined {
    if (!id.startsWith(PREFIX) || id.length > 8_192) return undefined;
    const raw = Buffer.from(id.slice(PREFIX.length), 'base64url');
    if (raw.length < 12 + 16 + 2) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
      const session = JSON.parse(text.toString('utf8')) as SealedSession;
      return typeof session.nonce === 'string' && typeof session.agent === 'string' ? session : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * The key every replica on `store` seals session ids with: made at random by the first gateway to start,
 * kept in the store. A new store (or a deleted key) means new ids: sessions begun before are unknown (404)
 * and agents initialize again, as after a restart without one.
 */
export async function sharedSessionKey(store: StateStore): Promise<Buffer> {
  const fresh = randomBytes(32).toString('base64url');
  await store.kvPut('gateway', 'session-key', fresh, { ifAbsent: true });
  const kept = await store.kvGet('gateway', 'session-key');
  if (kept === undefined) throw new Error('the state store lost the session key it was just given');
  return Buffer.from(kept, 'base64url');
}
