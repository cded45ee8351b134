/**
 * Puts the admin API (`/admin/*`) and the dashboard (`/ui/*`) on `serve-http`'s route map. Built once per
 * listener: the credential checks read the current config, so a reload (new admin keys, a new OAuth
 * server) applies at once; the failure count survives reloads.
 */
import { AuthFailureLimiter } from '../auth/failure-limiter.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { Logger } from '../core/logger.js';
import type { Gateway } from '../gateway/gateway.js';
import { authFailureEvents } from '../gateway/runtime.js';
import type { RouteHandler } from '../server/http-server.js';
import { DashboardOAuthLogin, type OAuthEndpoints } from '../ui/oauth-login.js';
import { DashboardUi } from '../ui/ui-routes.js';
import { AdminApi } from './admin-api.js';
import { AdminAuth } from './admin-auth.js';
import { ApprovalEventHub } from './event-hub.js';

export interface AdminMountDeps {
  readonly gateway: Gateway;
  readonly logger: Logger;
  /** Open agent sessions. */
  readonly sessions: () => number;
  /** The built-in authorization server's verifier requiring the `admin` scope (auth.mode oauth2). */
  readonly tokenVerifier: () => JwtVerifier | undefined;
}

export interface AdminMount {
  readonly auth: AdminAuth;
  readonly hub: ApprovalEventHub;
  readonly api: AdminApi;
  /** Where the built-in authorization server is, once known (serve-http with auth.mode oauth2). */
  setOAuthEndpoints(endpoints: OAuthEndpoints): void;
  close(): void;
}

export function mountAdmin(routes: Map<string, RouteHandler>, deps: AdminMountDeps): AdminMount {
  const { gateway, logger } = deps;
  const limiter = new AuthFailureLimiter(gateway.config.rateLimit.authFailuresPerMinute, {
    store: gateway.store,
    scope: 'admin',
    logger,
  });
  const auth = new AdminAuth({
    config: () => gateway.config,
    store: gateway.store,
    tokenVerifier: deps.tokenVerifier,
    limiter,
    events: authFailureEvents({ audit: gateway.audit, metrics: gateway.metrics, logger }),
  });
  const hub = new ApprovalEventHub(gateway.store, logger);
  const api = new AdminApi({ gateway, auth, hub, sessions: deps.sessions, logger });
  let endpoints: OAuthEndpoints | undefined;
  const oauth = new DashboardOAuthLogin({
    auth,
    store: gateway.store,
    config: () => gateway.config,
    endpoints: () => endpoints,
    tokenVerifier: deps.tokenVerifier,
    logger,
  });
  const ui = new DashboardUi({ auth, logger, oauth });
  routes.set('/admin', api.handle);
  routes.set('/admin/', api.handle);
  routes.set('/ui', ui.handle);
  routes.set('/ui/', ui.handle);
  gateway.onReload(async (next) => () => limiter.setLimit(next.rateLimit.authFailuresPerMinute));
  return {
    auth,
    hub,
    api,
    setOAuthEndpoints: (e) => {
      endpoints = e;
    },
    close: () => {
      api.close();
      hub.close();
    },
  };
}
