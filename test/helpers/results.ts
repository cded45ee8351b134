/** Reading MCP call outcomes in tests. */
import { McpError } from '@modelcontextprotocol/sdk/types.js';

/** The text of a tool result's first content block ('' when there is none). */
export const textOf = (result: unknown): string =>
  (result as { content: Array<{ text?: string }> }).content[0]?.text ?? '';

/** The JSON-RPC error a call fails with; throws if it succeeds or fails otherwise. */
export async function failure(promise: Promise<unknown>): Promise<McpError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof McpError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** The JSON-RPC error code a call fails with, or undefined when it succeeds. */
export async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof McpError) return err.code;
    throw err;
  }
  return undefined;
}
