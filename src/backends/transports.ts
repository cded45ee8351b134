/**
 * Builds the SDK Transport that reaches one configured backend: a child process over stdio, a
 * Streamable HTTP endpoint, or a legacy HTTP+SSE endpoint. Backends get only their own configured
 * `env`/`headers`; nothing of the agent's request (and never its credential) is passed on.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ServerConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { BackendAuth } from './backend-auth.js';
import {
  type RemoteTransportOptions,
  SseBackendTransport,
  StreamableHttpBackendTransport,
} from './http-transports.js';
import { StdioBackendTransport } from './stdio-transport.js';

export type BackendTransport = Transport & { setProtocolVersion?: (version: string) => void };

/** A fresh, unstarted transport for `server`. */
export function createBackendTransport(
  server: ServerConfig,
  logger: Logger,
  auth?: BackendAuth,
  remote?: RemoteTransportOptions,
): BackendTransport {
  if (server.kind === 'stdio') {
    return new StdioBackendTransport({
      command: server.command,
      args: server.args,
      env: server.env,
      cwd: server.cwd,
      logger: logger.child({ server: server.name }),
    });
  }
  const url = new URL(server.url);
  return server.transport === 'sse'
    ? new SseBackendTransport(url, server.headers, auth, remote)
    : new StreamableHttpBackendTransport(url, server.headers, auth, remote);
}
