/**
 * The stdio front: the agent launches `mcp-guard serve` and speaks MCP on its stdin/stdout; the whole
 * process is one session. stdout carries protocol only (logs go to stderr).
 *
 * Written here rather than using the SDK's StdioServerTransport because that transport drops a line it
 * cannot parse without answering; JSON-RPC asks for a -32700/-32600 error, which an agent can act on.
 */
import type { Readable, Writable } from 'node:stream';
import { WireError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { depthLimitMessage, exceedsJsonDepth, MAX_JSON_DEPTH } from '../mcp/json-limits.js';
import { errorResponse, invalidMessage, type JSONRPCMessage } from '../mcp/messages.js';
import { ClientSession, type SessionRuntime } from '../mcp/session.js';

export interface StdioFrontOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly runtime: () => SessionRuntime;
  readonly principal: Principal | undefined;
  readonly logger: Logger;
  /**
   * Longest accepted line (one message); longer lines are refused and skipped. `serve` passes
   * `http.max_body_bytes`, so one limit holds at both doors.
   */
  readonly maxLineBytes?: number;
}

/** JSON-RPC 2.0: an error about a message whose id cannot be known carries `"id": null`. */
function errorWithoutId(error: WireError): JSONRPCMessage {
  return { jsonrpc: '2.0', id: null, error: error.toJsonRpc() } as unknown as JSONRPCMessage;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Runs one session over stdin/stdout; resolves when stdin ends and the session has closed. */
export async function runStdioFront(options: StdioFrontOptions): Promise<void> {
  const { input, output, logger } = options;
  const maxLine = options.maxLineBytes ?? 4 * 1024 * 1024;
  let writing: Promise<void> = Promise.resolve();
  const write = (message: JSONRPCMessage): Promise<void> => {
    // Serialised so that messages never interleave; JSON.stringify never emits a raw newline.
    writing = writing.then(
      () =>
        new Promise<void>((resolve) => {
          if (output.writableEnded || output.destroyed) return resolve();
          if (output.write(`${JSON.stringify(message)}\n`)) resolve();
          else output.once('drain', resolve);
        }),
    );
    return writing;
  };

  const session = new ClientSession({
    id: 'stdio',
    transport: 'stdio',
    principal: options.principal,
    runtime: options.runtime,
    channel: {
      send: (message) => {
        void write(message);
        return true;
      },
    },
  });

  // Lines are cut and measured as bytes: the limit is on what crosses the pipe, and a multibyte
  // character never contains the newline byte, so splitting before decoding is safe.
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let discarding = false;
  const refuse = (bytes: number) => {
    logger.warn({ bytes }, 'message larger than the line limit; discarded');
    void write(
      errorWithoutId(
        new WireError('invalid_request', `Invalid Request: message larger than ${maxLine} bytes`),
      ),
    );
  };
  const onLine = (bytes: Buffer) => {
    let text: string;
    try {
      // Strict: a replacement character slipped in for bad bytes would change what the agent sent.
      text = utf8.decode(bytes).replace(/\r$/, '');
    } catch {
      void write(errorWithoutId(new WireError('parse_error', 'Parse error: the line is not valid UTF-8')));
      return;
    }
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      void write(errorWithoutId(new WireError('parse_error', 'Parse error: the line is not valid JSON')));
      return;
    }
    const id = (parsed as { id?: unknown } | null)?.id;
    const usableId = typeof id === 'string' || Number.isSafeInteger(id) ? (id as string | number) : undefined;
    const refuse = (message: string) => {
      const error = new WireError('invalid_request', message);
      void write(usableId === undefined ? errorWithoutId(error) : errorResponse(usableId, error));
    };
    // Before anything walks the value: a message nested thousands deep would overflow the stack later.
    if (exceedsJsonDepth(parsed, MAX_JSON_DEPTH)) return refuse(depthLimitMessage(MAX_JSON_DEPTH));
    const problem = invalidMessage(parsed);
    if (problem) return refuse(`Invalid Request: ${problem}`);
    session.handleMessage(parsed as JSONRPCMessage);
  };

  input.on('data', (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
      const piece = bytes.subarray(start, nl);
      start = nl + 1;
      const size = partialBytes + piece.length;
      const parts = partial;
      partial = [];
      partialBytes = 0;
      if (discarding) {
        // The end of a line already refused.
        discarding = false;
        continue;
      }
      if (size > maxLine) {
        refuse(size);
        continue;
      }
      onLine(parts.length === 0 ? piece : Buffer.concat([...parts, piece]));
    }
    if (start === bytes.length || discarding) return;
    const rest = bytes.subarray(start);
    partial.push(rest);
    partialBytes += rest.length;
    if (partialBytes > maxLine) {
      refuse(partialBytes);
      partial = [];
      partialBytes = 0;
      discarding = true;
    }
  });

  await new Promise<void>((resolve) => {
    input.once('end', resolve);
    input.once('close', resolve);
  });
  if (partialBytes > 0 && !discarding) onLine(Buffer.concat(partial));
  await session.close('stdin closed');
  await writing;
}
