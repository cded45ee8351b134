/**
 * Reading a backend's JSON-RPC messages on the hot path: one JSON.parse and a structural check, no
 * schema validation. The gateway only forwards what it does not inspect, and what it inspects (ids,
 * methods, progress tokens, list items) is checked where it is read.
 */
import type { JSONRPCMessage } from '../mcp/messages.js';

/** Why `value` is not a JSON-RPC message a backend may send, or undefined when it is one. */
export function backendMessageProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const m = value as Record<string, unknown>;
  if (m['jsonrpc'] !== '2.0') return 'jsonrpc is not "2.0"';
  if ('method' in m) {
    if (typeof m['method'] !== 'string') return 'method is not a string';
    if ('id' in m && typeof m['id'] !== 'string' && typeof m['id'] !== 'number') return 'bad id';
    return undefined;
  }
  if (!('result' in m) && !('error' in m)) return 'neither a request, a notification nor a response';
  return undefined;
}

/** Parses one message (a line of stdio, an SSE event's data, a JSON body); throws with a short reason. */
export function parseBackendMessage(text: string): JSONRPCMessage {
  const value: unknown = JSON.parse(text);
  const problem = backendMessageProblem(value);
  if (problem) throw new Error(problem);
  return value as JSONRPCMessage;
}
