/**
 * How a remote transport authenticates to its backend when the gateway holds an OAuth token for it
 * (src/auth/upstream). `headers()` is merged into every request; on a 401 or 403 the transport calls
 * `onUnauthorized()` and, when it resolves true, retries the request once with fresh headers.
 */
import { GatewayError } from '../core/errors.js';

export interface BackendAuth {
  headers(): Promise<Record<string, string>>;
  onUnauthorized(status: number, wwwAuthenticate: string | undefined): Promise<boolean>;
  /** Why the backend refused us, once onUnauthorized said no (what to do about it), for the error. */
  refusal?(): string | undefined;
}

/**
 * `fetch` with `auth`: its headers on every request; a 401/403 reported, and retried once when
 * onUnauthorized says so. A refusal that OAuth cannot cure without a person becomes an error naming it.
 */
export async function fetchWithBackendAuth(
  auth: BackendAuth,
  doFetch: (input: string | URL, init?: RequestInit) => Promise<Response>,
  input: string | URL,
  init?: RequestInit,
): Promise<Response> {
  const attempt = async () => {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(await auth.headers())) headers.set(name, value);
    return doFetch(input, { ...init, headers });
  };
  let response = await attempt();
  for (let tries = 0; tries < 2 && (response.status === 401 || response.status === 403); tries++) {
    const retry = await auth.onUnauthorized(
      response.status,
      response.headers.get('www-authenticate') ?? undefined,
    );
    await response.body?.cancel().catch(() => {});
    if (retry && tries === 0) {
      response = await attempt();
      continue;
    }
    throw new GatewayError(
      'UPSTREAM_OAUTH',
      auth.refusal?.() ?? `the backend refused the gateway's credentials (HTTP ${response.status})`,
    );
  }
  return response;
}
