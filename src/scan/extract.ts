/**
 * Turns each client's config shape into ServerEntry values (research/security.md §4.1), so the rules
 * are written once for every client. Unknown shapes yield no entries rather than an error: a client
 * file without MCP servers (a VS Code settings.json, say) is normal.
 */
import type { KeyPath, ParsedConfig } from './parse.js';
import type { ClientId, FileFlag, InputEntry, ServerEntry } from './types.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Array items as strings (numbers and booleans too: `args: [8080]` is passed as "8080"). */
function strings(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.filter((x) => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    if (['string', 'number', 'boolean'].includes(typeof val)) out[k] = String(val);
  }
  return out;
}

interface RawEntry {
  readonly name: string;
  readonly path: KeyPath;
  readonly raw: Obj;
}

/** Where the servers live in each client's file. */
function rawEntries(client: ClientId, doc: Obj): RawEntry[] {
  const entries: RawEntry[] = [];
  const fromMap = (map: unknown, at: KeyPath) => {
    if (!isObj(map)) return;
    for (const [name, raw] of Object.entries(map))
      if (isObj(raw)) entries.push({ name, path: [...at, name], raw });
  };
  const fromList = (list: unknown, at: KeyPath) => {
    if (!Array.isArray(list)) return;
    list.forEach((raw, i) => {
      if (isObj(raw)) entries.push({ name: str(raw['name']) ?? `#${i + 1}`, path: [...at, i], raw });
    });
  };
  const mcpSettings = isObj(doc['mcp']) ? doc['mcp'] : {};
  switch (client) {
    case 'vscode':
      fromMap(doc['servers'], ['servers']);
      fromMap(mcpSettings['servers'], ['mcp', 'servers']);
      break;
    case 'zed':
      fromMap(doc['context_servers'], ['context_servers']);
      break;
    case 'codex':
      fromMap(doc['mcp_servers'], ['mcp_servers']);
      break;
    case 'goose':
      fromMap(doc['extensions'], ['extensions']);
      break;
    case 'continue':
      // config.yaml and block files list servers in an array; older JSON configs use a map.
      if (Array.isArray(doc['mcpServers'])) fromList(doc['mcpServers'], ['mcpServers']);
      else fromMap(doc['mcpServers'], ['mcpServers']);
      break;
    case 'claude-code':
      fromMap(doc['mcpServers'], ['mcpServers']);
      if (isObj(doc['projects'])) {
        for (const [project, conf] of Object.entries(doc['projects'])) {
          if (isObj(conf)) fromMap(conf['mcpServers'], ['projects', project, 'mcpServers']);
        }
      }
      break;
    case 'mcp-guard':
      fromMap(doc['servers'], ['servers']);
      break;
    case 'mcp-json':
      // A file we know only by its name: accept every shape clients use.
      fromMap(doc['mcpServers'], ['mcpServers']);
      fromMap(doc['servers'], ['servers']);
      fromMap(doc['context_servers'], ['context_servers']);
      fromMap(doc['mcp_servers'], ['mcp_servers']);
      fromMap(mcpSettings['servers'], ['mcp', 'servers']);
      break;
    default:
      fromMap(doc['mcpServers'], ['mcpServers']);
  }
  return entries;
}

/** Client-wide settings that switch consent off for everything. */
function fileFlags(client: ClientId, doc: Obj, config: ParsedConfig): FileFlag[] {
  const flags: FileFlag[] = [];
  if (client === 'claude-code' && doc['enableAllProjectMcpServers'] === true) {
    flags.push({
      rule: 'MCP-APPR-002',
      line: config.lineOf(['enableAllProjectMcpServers']),
      text: 'enableAllProjectMcpServers: true (every server a project declares starts without asking)',
    });
  }
  if (client === 'goose' && String(doc['GOOSE_MODE']).toLowerCase() === 'auto') {
    flags.push({
      rule: 'MCP-APPR-002',
      line: config.lineOf(['GOOSE_MODE']),
      text: 'GOOSE_MODE: auto (every tool call runs without confirmation)',
    });
  }
  return flags;
}

/** VS Code's `inputs` (in mcp.json, or under `mcp` in settings.json). */
function inputEntries(client: ClientId, doc: Obj, config: ParsedConfig): InputEntry[] {
  if (client !== 'vscode' && client !== 'mcp-json') return [];
  const mcpSettings = isObj(doc['mcp']) ? doc['mcp'] : {};
  const inputs: InputEntry[] = [];
  for (const [list, at] of [
    [doc['inputs'], ['inputs']],
    [mcpSettings['inputs'], ['mcp', 'inputs']],
  ] as const) {
    if (!Array.isArray(list)) continue;
    list.forEach((raw: unknown, i) => {
      if (!isObj(raw)) return;
      const description = str(raw['description']);
      const value = raw['default'];
      inputs.push({
        id: str(raw['id']) ?? `#${i + 1}`,
        line: config.lineOf([...at, i]),
        ...(description !== undefined ? { description } : {}),
        ...(typeof value === 'string' ? { default: value } : {}),
        password: raw['password'] === true,
      });
    });
  }
  return inputs;
}

/** mcp-guard's top-level config keys (src/config/schema.ts). */
const GATEWAY_KEYS = new Set([
  'auth',
  'rate_limit',
  'policies',
  'agents',
  'servers',
  'routes',
  'state',
  'notify',
  'http',
  'metrics',
  'admin',
  'telemetry',
]);

/**
 * True for an mcp-guard config under another name (a file named on the command line): `servers` with
 * gateway keys beside it and nothing else. A bare `servers` map stays a client's mcp.json (VS Code's).
 */
export function isGatewayConfig(value: unknown): boolean {
  if (!isObj(value) || !isObj(value['servers'])) return false;
  const keys = Object.keys(value);
  return keys.length > 1 && keys.every((k) => GATEWAY_KEYS.has(k));
}

/** Every server entry of a parsed file in the common shape, plus client-wide consent flags and inputs. */
export function extractServers(
  client: ClientId,
  config: ParsedConfig,
): { servers: ServerEntry[]; flags: FileFlag[]; inputs: InputEntry[] } {
  if (!isObj(config.value)) return { servers: [], flags: [], inputs: [] };
  const doc = config.value;
  const servers = rawEntries(client, doc).map(({ name, path, raw }) =>
    normalise(client, name, path, config.lineOf(path), raw),
  );
  return { servers, flags: fileFlags(client, doc, config), inputs: inputEntries(client, doc, config) };
}

function normalise(client: ClientId, name: string, at: KeyPath, line: number, raw: Obj): ServerEntry {
  // Zed's older form nests the binary: {command: {path, args, env}}; OpenCode-style configs give
  // `command` as an array; Goose names it `cmd`.
  const nested = isObj(raw['command']) ? raw['command'] : undefined;
  const commandList = strings(raw['command']);
  const command = str(raw['command']) ?? str(nested?.['path']) ?? str(raw['cmd']) ?? commandList[0];
  const args = [...commandList.slice(1), ...strings(nested?.['args']), ...strings(raw['args'])];
  const env = { ...stringMap(raw['env']), ...stringMap(nested?.['env']), ...stringMap(raw['envs']) };
  const requestOptions = isObj(raw['requestOptions']) ? raw['requestOptions'] : {};
  const headers = {
    ...stringMap(raw['headers']),
    ...stringMap(raw['http_headers']),
    ...stringMap(requestOptions['headers']),
  };
  const url = str(raw['url']) ?? str(raw['serverUrl']) ?? str(raw['httpUrl']) ?? str(raw['uri']);

  const auth = isObj(raw['auth']) ? raw['auth'] : undefined;
  const oauth = isObj(raw['oauth']) ? raw['oauth'] : undefined;
  const secretFields: Array<{ where: string; value: string }> = [];
  for (const [where, value] of [
    ['auth.CLIENT_SECRET', auth?.['CLIENT_SECRET']],
    ['auth.client_secret', auth?.['client_secret']],
    ['oauth.clientSecret', oauth?.['clientSecret']],
    ['oauth.client_secret', oauth?.['client_secret']],
    ['apiKey', raw['apiKey']],
    ['bearer_token', raw['bearer_token']],
  ] as const) {
    if (typeof value === 'string') secretFields.push({ where, value });
  }
  const declaredAuth =
    auth !== undefined ||
    // mcp-guard's `oauth: auto` (or a block): the gateway logs in to the server with OAuth.
    (client === 'mcp-guard' && raw['oauth'] !== undefined) ||
    (oauth !== undefined && oauth['enabled'] !== false) ||
    typeof raw['bearer_token_env_var'] === 'string' ||
    isObj(raw['env_http_headers']) ||
    typeof raw['authProviderType'] === 'string' ||
    secretFields.length > 0;

  const autoApprove: string[] = [];
  for (const key of ['autoApprove', 'alwaysAllow']) {
    const list = strings(raw[key]);
    if (list.length > 0) autoApprove.push(`${key}: [${list.join(', ')}]`);
    else if (raw[key] === true) autoApprove.push(`${key}: true`);
  }
  if (raw['trust'] === true) autoApprove.push('trust: true');
  if (str(raw['default_tools_approval_mode']) === 'approve')
    autoApprove.push('default_tools_approval_mode = "approve"');
  if (isObj(raw['tools'])) {
    for (const [tool, conf] of Object.entries(raw['tools'])) {
      if (isObj(conf) && str(conf['approval_mode']) === 'approve') {
        autoApprove.push(`tools.${tool}.approval_mode = "approve"`);
      }
    }
  }

  const insecureTls: string[] = [];
  if (requestOptions['verifySsl'] === false) insecureTls.push('requestOptions.verifySsl: false');

  return {
    client,
    name,
    at: at.map(String).join('.'),
    line,
    ...(command !== undefined ? { command } : {}),
    args,
    env,
    ...(url !== undefined ? { url } : {}),
    headers,
    declaredAuth,
    secretFields,
    autoApprove,
    insecureTls,
  };
}
