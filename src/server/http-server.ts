/**
 * The HTTP front's listener: Host/Origin checks for every path (403 before any routing or body read),
 * then `/mcp`, the health endpoints and anything later issues mount. Server timeouts bound slow clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Logger } from '../core/logger.js';
import { resolveClientAddress } from '../http/client-address.js';
import type { RouteHandler } from '../http/route.js';
import { sendWireError } from './http-errors.js';
import { checkHostAndOrigin, type OriginPolicy } from './origin-checks.js';

export type { RouteHandler };

export interface HttpServerOptions {
  readonly originPolicy: OriginPolicy;
  /** Reverse proxies whose X-Forwarded-For is believed (see client-address.ts). */
  readonly trustedProxies?: BlockList;
  readonly logger: Logger;
  /**
   * Path → handler. `/mcp` is one of them. A key ending in `/` (`/admin/`) also takes every path under it
   * that has no exact entry; the longest such prefix wins.
   */
  readonly routes: ReadonlyMap<string, RouteHandler>;
}

export function createHttpServer(options: HttpServerOptions): Server {
  const server = createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 },
    (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        options.logger.error({ err }, 'unhandled error in HTTP handler');
        sendWireError(res, 500, 'internal_error', 'Internal gateway error');
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    resolveClientAddress(req, options.trustedProxies);
    const refused = checkHostAndOrigin(options.originPolicy, req.headers.host, headerOnce(req, 'origin'));
    if (refused) {
      options.logger.warn(
        { host: req.headers.host, origin: req.headers.origin },
        `request refused: ${refused}`,
      );
      req.resume();
      return sendWireError(res, 403, 'invalid_request', `Forbidden: ${refused}`);
    }
    const url = requestUrl(options.routes, req.url);
    const handler = options.routes.get(url.pathname) ?? prefixRoute(options.routes, url.pathname);
    if (!handler) {
      req.resume();
      return sendWireError(res, 404, 'invalid_request', `Not found: ${url.pathname}`);
    }
    await handler(req, res, url);
  }

  return server;
}

const BASE = 'http://gateway.invalid';
/**
 * Parsed URLs of the routes' own paths, reused for requests that name exactly one (no query): a URL
 * parse on every `/mcp` POST shows in profiles. Handlers only read the URL.
 */
const routeUrls = new Map<string, URL>();

function requestUrl(routes: ReadonlyMap<string, RouteHandler>, raw = '/'): URL {
  if (!routes.has(raw)) return new URL(raw, BASE);
  let url = routeUrls.get(raw);
  if (!url) {
    url = new URL(raw, BASE);
    routeUrls.set(raw, url);
  }
  return url;
}

function prefixRoute(routes: ReadonlyMap<string, RouteHandler>, pathname: string): RouteHandler | undefined {
  for (let end = pathname.lastIndexOf('/'); end >= 0; end = pathname.lastIndexOf('/', end - 1)) {
    const handler = routes.get(pathname.slice(0, end + 1));
    if (handler) return handler;
    if (end === 0) break;
  }
  return undefined;
}

function headerOnce(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Sends a small JSON document. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}
