/** Who is calling: the result of authentication, attached to a session and to every request. */
export interface Principal {
  /** Stable agent id used by policy, limits, spend and audit (a configured name, `key-…`, or a JWT claim). */
  readonly agent: string;
  /** How it was established. */
  readonly via: 'none' | 'api_key' | 'jwt' | 'oauth2';
  readonly scopes?: readonly string[];
}

/** The principal of every caller when `auth.mode` is `none`. */
export const ANONYMOUS: Principal = Object.freeze({ agent: 'anonymous', via: 'none' });
