/**
 * How a remote transport authenticates to its backend when the gateway holds credentials for it that
 * are not static headers (upstream OAuth, src/auth/upstream). `headers()` is merged into every request;
 * on a 401 or 403 the transport calls `onUnauthorized()` and, when it resolves true, retries the request
 * once with fresh headers. The agent's own credential is never among them.
 */
export interface BackendAuth {
  headers(): Promise<Record<string, string>>;
  onUnauthorized(status: number, wwwAuthenticate: string | undefined): Promise<boolean>;
  /** Why the backend refused us, once onUnauthorized said no (what to do about it), for the error. */
  refusal?(): string | undefined;
}
