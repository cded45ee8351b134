import type { IncomingMessage } from 'node:http';
import type { Principal } from '../core/principal.js';

/** Decides who is calling, per HTTP request (sessions are never a credential). */
export interface HttpAuthenticator {
  /**
   * Authenticates a request; `alsoAccept` may accept credentials of its own (admin keys on /metrics)
   * behind the same failure limiter, so no endpoint offers unlimited guessing.
   */
  authenticate(
    req: IncomingMessage,
    alsoAccept?: (credential: string) => Principal | undefined,
  ): Promise<
    | { ok: true; principal: Principal }
    | { ok: false; status: number; headers: Record<string, string>; body: unknown }
  >;
}
