// Module hooks: send the conformance CLIs' (conformance and conformance-next) `fs` import to fs-shim.mjs
// (see there). Other modules keep the real `node:fs`.
const SHIM = new URL('./fs-shim.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  // 0.1.16 and 0.2.0-alpha.12 (installed under the alias conformance-next) both import it.
  const fromConformance = /\/@modelcontextprotocol\/conformance(-next)?\//.test(context.parentURL ?? '');
  if (fromConformance && (specifier === 'fs' || specifier === 'node:fs')) {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
