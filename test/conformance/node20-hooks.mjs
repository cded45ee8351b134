// Module hooks: send the conformance CLIs' (conformance and conformance-next) `fs` import to fs-shim.mjs
// (see there). Other modules keep the real `node:fs`.
const SHIM = new URL('./fs-shim.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  const fromConformance = context.parentURL?.includes('/@modelcontextprotocol/conformance') ?? false;
  if (fromConformance && (specifier === 'fs' || specifier === 'node:fs')) {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
