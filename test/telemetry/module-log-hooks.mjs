// Module hooks (see module-log.mjs): runs on the loader's thread.
import { appendFileSync } from 'node:fs';

let file;
let match;

export function initialize(data) {
  file = data.file;
  match = data.match ? new RegExp(data.match) : undefined;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (file && match?.test(resolved.url)) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
