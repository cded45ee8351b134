/**
 * The stdio front: the agent launches `mcp-guard serve` and speaks MCP on its stdin/stdout; the whole
 * process is one session. stdout carries protocol only (logs go to stderr).
 *
 * Written here rather than using the SDK's StdioServerTransport because that transport drops a line it
 * cannot parse without answering; JSON-RPC asks for a -32700/-32600 error, which an agent can act on.
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { errorResponse, invalidMessage, type JSONRPCMessage } from '../mcp/messages.js';
import { ClientSession, type SessionRuntime } from '../mcp/session.js';

export interface StdioFrontOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly runtime: () => SessionRuntime;
  readonly principal: Principal | undefined;
  readonly logger: Logger;
  /** Longest accepted line (one message); longer lines are refused and skipped. */
  readonly maxLineBytes?: number;
}

/** Runs one session over stdin/stdout; resolves when stdin ends and the session has closed. */
export async function runStdioFront(options: StdioFrontOptions): Promise<void> {
  const { input, output, logger } = options;
  const maxLine = options.maxLineBytes ?? 16 * 1024 * 1024;
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
    channel: { send: (message) => write(message) },
  });

  let buffer = '';
  let discarding = false;
  const onLine = (line: string) => {
    const text = line.replace(/\r$/, '');
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      void write(
        errorResponse(undefined, { code: -32700, message: 'Parse error: the line is not valid JSON' }),
      );
      return;
    }
    const problem = invalidMessage(parsed);
    if (problem) {
      const id = (parsed as { id?: unknown })?.id;
      const usableId =
        typeof id === 'string' || Number.isSafeInteger(id) ? (id as string | number) : undefined;
      void write(errorResponse(usableId, { code: -32600, message: `Invalid Request: ${problem}` }));
      return;
    }
    session.handleMessage(parsed as JSONRPCMessage);
  };

  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (discarding) {
        discarding = false;
        buffer = '';
        continue;
      }
      const line = buffer + piece;
      buffer = '';
      onLine(line);
    }
    if (!discarding) buffer += chunk.slice(start);
    if (buffer.length > maxLine) {
      logger.warn({ bytes: buffer.length }, 'message larger than the line limit; discarded');
      void write(
        errorResponse(undefined, {
          code: -32600,
          message: `Invalid Request: message larger than ${maxLine} bytes`,
        }),
      );
      buffer = '';
      discarding = true;
    }
  });

  await new Promise<void>((resolve) => {
    input.once('end', resolve);
    input.once('close', resolve);
  });
  if (buffer.trim() !== '' && !discarding) onLine(buffer);
  await session.close('stdin closed');
  await writing;
}
