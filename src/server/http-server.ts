/**
 * The HTTP front's listener: Host/Origin checks for every path (403 before any routing or body read),
 * then `/mcp`, the health endpoints and anything later issues mount. Server timeouts bound slow clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Logger } from '../core/logger.js';
import { resolveClientAddress } from '../http/client-address.js';
import type { RouteHandler } from '../http/route.js';
import { sendJsonError } from './mcp-endpoint.js';
import { checkHostAndOrigin, type OriginPolicy } from './origin-checks.js';

export type { RouteHandler };

export interface HttpServerOptions {
  readonly originPolicy: OriginPolicy;
  /** Reverse proxies whose X-Forwarded-For is believed (see client-address.ts). */
  readonly trustedProxies?: BlockList;
  readonly logger: Logger;
  /** Exact path → handler. `/mcp` is one of them. */
  readonly routes: ReadonlyMap<string, RouteHandler>;
}

export function createHttpServer(options: HttpServerOptions): Server {
  const server = createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 },
    (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        options.logger.error({ err }, 'unhandled error in HTTP handler');
        sendJsonError(res, 500, -32603, 'Internal gateway error');
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
      return sendJsonError(res, 403, -32600, `Forbidden: ${refused}`);
    }
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const handler = options.routes.get(url.pathname);
    if (!handler) {
      req.resume();
      return sendJsonError(res, 404, -32600, `Not found: ${url.pathname}`);
    }
    await handler(req, res, url);
  }

  return server;
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
