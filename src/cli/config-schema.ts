import { configJsonSchema } from '../config/json-schema.js';

/**
 * `mcp-guard config schema`: prints the config file's JSON Schema (the repository's
 * mcp-guard.schema.json), for editors: `# yaml-language-server: $schema=./mcp-guard.schema.json`.
 */
export async function configSchema(out: { write(chunk: string): unknown } = process.stdout): Promise<void> {
  out.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}
