/**
 * The config file's JSON Schema (draft 2020-12), derived from the zod schema that the loader enforces,
 * for editors (`# yaml-language-server: $schema=…`) and `mcp-guard config schema`. The repository's
 * `mcp-guard.schema.json` is this output; a test keeps the two equal.
 *
 * It describes the file as written, before `${VAR}` expansion: any string value may instead be a text
 * with `${VAR}` references. What only the loader can check (cross-references such as a route to an
 * unknown server, key lengths after expansion) stays with `mcp-guard config check`.
 */
import { z } from 'zod';
import { configFileSchema, duration, remoteServerSchema, serverSchema, stdioServerSchema } from './schema.js';

type JsonSchema = Record<string, unknown>;

/** A string value holding a `${VAR}` or `${VAR:-default}` reference (expanded by the loader). */
const VARIABLE_REFERENCE: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}',
  description: 'expanded from the environment when the config is loaded',
};

const DURATION: JsonSchema = {
  description: 'a duration: 500ms, 30s, 5m, 1h, 1d, 1w (a bare number is seconds)',
  anyOf: [
    { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|w)\\s*$' },
    { type: 'number', minimum: 0 },
    { $ref: '#/$defs/variable' },
  ],
};

/** Hover text for the top-level sections (the reference is docs/config.md). */
const SECTIONS: Readonly<Record<string, string>> = {
  auth: 'Who may call the gateway: mode none, api_key, jwt or oauth2.',
  rate_limit: 'Requests per minute per agent, per tool and for everyone together.',
  policies: 'Allow/deny, spend caps, approvals, the audit log and tool pinning.',
  agents: 'Per-agent allow/deny, rate limits, spend caps and approval thresholds, by agent id.',
  servers: 'The MCP servers behind the gateway: stdio (command, args, env, cwd) or remote (url, headers).',
  routes: 'Tool name → server name; `default` for the rest. Without routes, tools are aggregated.',
  state: 'Where approvals, spend, counters, OAuth state and pins live: sqlite (default), redis or postgres.',
  notify: 'Slack and webhook notifications for approvals.',
  http: 'The Streamable HTTP front of serve-http: address, public URL, Host/Origin checks, limits.',
  metrics: 'The Prometheus endpoint /metrics.',
  admin: 'Who may use the admin API (/admin) and the approvals dashboard (/ui).',
  telemetry: 'OpenTelemetry export (OTLP).',
};

function convert(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...body } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override(ctx) {
      const def = (ctx.zodSchema as { _zod: { def: { format?: string; protocol?: RegExp } } })._zod.def;
      if (ctx.zodSchema === duration) {
        for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
        ctx.jsonSchema.$ref = '#/$defs/duration';
      } else if (ctx.zodSchema === serverSchema) {
        // A transform picks stdio or remote by the keys present; for an editor, either shape.
        Object.assign(ctx.jsonSchema, { anyOf: [convert(stdioServerSchema), convert(remoteServerSchema)] });
      } else if (def.format === 'url' && def.protocol) {
        // `z.url({protocol})` checks the scheme; JSON Schema's "uri" format does not.
        const scheme = def.protocol.source.replace(/^\^/, '').replace(/\$$/, '');
        ctx.jsonSchema.pattern = `^(${scheme}):`;
      }
    },
  }) as JsonSchema;
  return body;
}

/**
 * Lets every constrained string (an enum, a URL, a pattern) be a `${VAR}` reference instead, since the
 * constraint applies after expansion. `oneOf` becomes `anyOf`: with a reference in a discriminator
 * (`store: ${STORE}`) several alternatives match, and that is fine.
 */
function allowVariables(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowVariables);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    // Property names are keys, never expanded; `properties` maps names to schemas.
    if (key === 'propertyNames') out[key] = value;
    else if (key === 'properties')
      out[key] = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([k, v]) => [k, allowVariables(v)]),
      );
    else out[key === 'oneOf' ? 'anyOf' : key] = allowVariables(value);
  }
  const constrained =
    ['format', 'pattern', 'enum', 'const'].some((k) => k in out) || Number(out['minLength'] ?? 0) > 1;
  if (out['type'] !== 'string' || !constrained) return out;
  const { description, ...rest } = out;
  return {
    ...(description === undefined ? {} : { description }),
    anyOf: [rest, { $ref: '#/$defs/variable' }],
  };
}

/** The config file's JSON Schema. */
export function configJsonSchema(): JsonSchema {
  const schema = allowVariables(convert(configFileSchema)) as JsonSchema & {
    properties: Record<string, JsonSchema>;
  };
  for (const [section, text] of Object.entries(SECTIONS)) {
    const property = schema.properties[section];
    if (property) schema.properties[section] = { description: text, ...property };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'mcp-guard config',
    description:
      'mcp-guard.yaml, the config of the mcp-guard security gateway (reference: docs/config.md). ' +
      '`mcp-guard config check` also checks what a schema cannot (routes to known servers, key lengths after ${VAR} expansion).',
    ...schema,
    $defs: { variable: VARIABLE_REFERENCE, duration: DURATION },
  };
}
