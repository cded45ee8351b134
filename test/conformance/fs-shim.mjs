// `node:fs` plus the one export that @modelcontextprotocol/conformance 0.1.x imports at top level and
// Node 20 lacks. Only its `tier-check` command calls globSync; the `server` command never does.
import fs from 'node:fs';

export * from 'node:fs';
export default fs;
export function globSync() {
  throw new Error('fs.globSync needs Node 22 (only `conformance tier-check` uses it)');
}
