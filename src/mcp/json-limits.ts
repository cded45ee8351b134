/**
 * Limits on the shape of a JSON-RPC message, checked at both front doors before anything else reads it.
 *
 * Nesting depth: V8's JSON.parse is iterative and accepts any depth, but everything after it that walks
 * a value recursively (JSON.stringify to a backend, canonical hashing, redaction, schema checks) overflows
 * the stack somewhere past a few thousand levels — and a RangeError deep inside forwarding looked like a
 * dead backend (-32016). No MCP message needs more than a few dozen levels, so the door refuses deeper
 * ones with -32600 naming the limit, and nothing downstream ever sees them.
 */

/** Deepest nesting accepted in one message, counting the message object itself as level 1. */
export const MAX_JSON_DEPTH = 64;

/** The JSON-RPC error message for a message nested past `maxDepth`. */
export function depthLimitMessage(maxDepth = MAX_JSON_DEPTH): string {
  return `Invalid Request: JSON nested deeper than ${maxDepth} levels`;
}

/**
 * True when `value` (a parsed JSON value) nests objects/arrays more than `maxDepth` levels deep.
 * Iterative with an explicit stack, so checking a value a million levels deep cannot overflow either;
 * it stops at the first path past the limit, and costs one visit per container otherwise.
 */
export function exceedsJsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > maxDepth) return true;
    const children = Array.isArray(top.node) ? top.node : Object.values(top.node);
    for (const child of children)
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: top.depth + 1 });
  }
  return false;
}
