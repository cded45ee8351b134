/**
 * Builds the SDK Transport that reaches one configured backend: a child process over stdio, a
 * Streamable HTTP endpoint, or a legacy HTTP+SSE endpoint. Backends get only their own configured
 * `env`/`headers`; nothing of the agent's request (and never its credential) is passed on.
 */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ServerConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import { fetchWithRequestScopedSignal } from './scoped-signal-fetch.js';
import { StdioBackendTransport } from './stdio-transport.js';

export type BackendTransport = Transport & { setProtocolVersion?: (version: string) => void };

/** A fresh, unstarted transport for `server`. */
export function createBackendTransport(server: ServerConfig, logger: Logger): BackendTransport {
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
  const requestInit: RequestInit = { headers: { ...server.headers } };
  if (server.transport === 'sse') {
    return new SSEClientTransport(url, {
      requestInit,
      eventSourceInit: {
        fetch: (input, init) =>
          fetch(input, {
            ...init,
            headers: { ...(init?.headers as Record<string, string>), ...server.headers },
          }),
      },
    });
  }
  return new StreamableHTTPClientTransport(url, { requestInit, fetch: fetchWithRequestScopedSignal });
}
