/**
 * Credentials for a remote backend that are not static headers (upstream OAuth): asked for on every
 * request, and told when the backend refuses them. The agent's own credential is never among them.
 */
export interface RemoteAuth {
  /** Headers merged into every request to the backend (after the configured `headers`). */
  headers(): Promise<Record<string, string>>;
  /**
   * The backend answered 401 or 403. Resolve true when fresh credentials are available: the request is
   * then sent once more with new `headers()`; false fails it.
   */
  onUnauthorized(status: number, wwwAuthenticate: string | undefined): Promise<boolean>;
}
