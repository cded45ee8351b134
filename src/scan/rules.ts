/**
 * The registry of scan rules: ids, severities and one-line fixes, written down once. Ids are stable
 * (a retired id is never reused) because CI suppressions and GitHub code-scanning alerts key on them.
 * The families follow research/security.md §5.1. `securitySeverity` is the SARIF score GitHub maps to
 * critical (≥ 9.0), high (7.0–8.9), medium (4.0–6.9) and low (< 4.0); "critical" rules are `high` on the
 * wire, as SPEC §7 knows only high, medium and low.
 */
import type { Severity } from './types.js';

export interface RuleMeta {
  readonly id: string;
  /** PascalCase name for SARIF. */
  readonly name: string;
  readonly severity: Severity;
  readonly securitySeverity: string;
  readonly precision: 'very-high' | 'high' | 'medium' | 'low';
  /** One line: what the rule finds. */
  readonly title: string;
  /** Why it matters. */
  readonly description: string;
  /** One line: what to do. */
  readonly fix: string;
}

const list = [
  {
    id: 'MCP-SEC-001',
    name: 'InlineKnownSecret',
    severity: 'high',
    securitySeverity: '9.0',
    precision: 'high',
    title: 'A known-format secret (GitHub, AWS, OpenAI, Slack… token) is written inline in the config',
    description:
      'Config files are copied, synced, committed and read by every tool on the machine; a token in one is as good as published. Known prefixes make this a near-certain secret.',
    fix: 'Revoke the token, keep it in your environment or a secret store, and reference it (${VAR}, ${env:VAR}, ${input:id}).',
  },
  {
    id: 'MCP-SEC-002',
    name: 'InlineSecretValue',
    severity: 'high',
    securitySeverity: '7.5',
    precision: 'medium',
    title:
      'A value under a secret-looking name (…_TOKEN, API_KEY, password, Authorization) is written inline',
    description:
      'Env variables, headers, flags and auth fields named like credentials hold literal values instead of references to the environment.',
    fix: 'Move the value to your environment or a secret store and reference it (${VAR}, ${env:VAR}, ${input:id}).',
  },
  {
    id: 'MCP-SEC-003',
    name: 'CredentialsInUrl',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title: 'A URL carries credentials (user:password@ or a token in the query string)',
    description:
      'Credentials in URLs end up in logs, proxies and process listings; the MCP spec forbids access tokens in the query string.',
    fix: 'Drop the credentials from the URL and send them in an Authorization header that references an env variable.',
  },
  {
    id: 'MCP-NET-001',
    name: 'PlainHttpRemote',
    severity: 'high',
    securitySeverity: '7.5',
    precision: 'very-high',
    title: 'A remote server is reached over plain http:// on a non-local host',
    description:
      'Tool calls, results and credentials cross the network unencrypted and can be read or changed on the way; MCP requires HTTPS for remote servers.',
    fix: 'Use https:// (plain http is acceptable only for localhost).',
  },
  {
    id: 'MCP-NET-002',
    name: 'LinkLocalOrUnspecifiedHost',
    severity: 'high',
    securitySeverity: '7.0',
    precision: 'high',
    title: 'A server URL points at a link-local/cloud-metadata or unspecified address',
    description:
      '169.254.0.0/16 (cloud metadata), fe80::/10 and 0.0.0.0 are classic SSRF targets, never a legitimate MCP endpoint.',
    fix: 'Point the server at its real host name over https://.',
  },
  {
    id: 'MCP-NET-003',
    name: 'NonHttpUrlScheme',
    severity: 'high',
    securitySeverity: '7.0',
    precision: 'high',
    title: 'A server URL uses a scheme other than http(s)/ws(s) (file:, javascript:, data:…)',
    description:
      'MCP remote transports are HTTP; other schemes are a sign of tampering or an injection attempt.',
    fix: 'Use an https:// URL.',
  },
  {
    id: 'MCP-NET-004',
    name: 'RemoteWithoutAuth',
    severity: 'medium',
    securitySeverity: '5.5',
    precision: 'medium',
    title: 'A remote server on a non-local host has no visible authentication',
    description:
      'No Authorization or API-key header, no OAuth block and no bearer-token variable: unless the server runs OAuth discovery, anyone who can reach it can call its tools.',
    fix: 'Add an Authorization header that references an env variable, or configure OAuth for the server.',
  },
  {
    id: 'MCP-NET-005',
    name: 'TlsVerificationDisabled',
    severity: 'high',
    securitySeverity: '7.5',
    precision: 'very-high',
    title: 'TLS certificate verification is switched off',
    description:
      'NODE_TLS_REJECT_UNAUTHORIZED=0, verifySsl: false or --insecure let anyone on the path impersonate the server.',
    fix: 'Remove the setting; trust a private CA with NODE_EXTRA_CA_CERTS or caBundlePath instead.',
  },
  {
    id: 'MCP-EXEC-001',
    name: 'ShellInlineScript',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title:
      'The server runs inline code: a shell script with pipes, chains, substitution or an encoded command, or an interpreter’s -c/-e code (python -c, node -e, perl -e…)',
    description:
      'The client runs whatever the code says each time it starts; inline code hides extra commands behind the visible one and defeats review.',
    fix: 'Run the server program directly (command + args), without a shell or inline code.',
  },
  {
    id: 'MCP-EXEC-002',
    name: 'DownloadAndRun',
    severity: 'high',
    securitySeverity: '9.5',
    precision: 'high',
    title: 'The server downloads code and runs it (curl|sh, iwr|iex, bash <(curl …))',
    description:
      'Whoever controls the URL (or the network) runs code on this machine at every start, with the user’s rights and nothing pinned.',
    fix: 'Install a reviewed, pinned release and run it directly.',
  },
  {
    id: 'MCP-EXEC-003',
    name: 'DangerousCommand',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title: 'The server command uses sudo/doas or a destructive command (rm -rf, chmod 777, mkfs)',
    description: 'An MCP server never needs root or destructive shell commands to start.',
    fix: 'Run the server as the normal user without sudo, and remove destructive commands from its start-up.',
  },
  {
    id: 'MCP-EXEC-004',
    name: 'CodeInjectionEnv',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title:
      'The server env injects code into the process (LD_PRELOAD, DYLD_INSERT_LIBRARIES, NODE_OPTIONS --require…)',
    description: 'These variables load arbitrary code into the server (and its children) before it runs.',
    fix: 'Remove the variable from the server’s env.',
  },
  {
    id: 'MCP-EXEC-005',
    name: 'ShellWrapper',
    severity: 'low',
    securitySeverity: '3.0',
    precision: 'high',
    title:
      'The server is started through a shell: one command wrapped in sh -c / cmd /c, or a script file (bash start.sh, pwsh -File)',
    description:
      'The wrapped command is checked as if run directly, but the shell still expands and resolves it; a script file’s contents are not in the config at all, and a commit can change them.',
    fix: 'Put the program and its arguments in command and args directly (on Windows, cmd /c is needed only for .cmd shims such as npx).',
  },
  {
    id: 'MCP-SUP-001',
    name: 'UnpinnedPackage',
    severity: 'medium',
    securitySeverity: '6.0',
    precision: 'high',
    title: 'A package runner (npx, uvx, pipx, bunx, pnpm/yarn dlx) starts a package without an exact version',
    description:
      'Every start fetches whatever the registry serves now (@latest, a range or nothing pinned): one compromised release runs on every machine (OWASP MCP04).',
    fix: 'Pin an exact version (npx -y pkg@1.2.3, uvx pkg==1.2.3) and update it deliberately.',
  },
  {
    id: 'MCP-SUP-002',
    name: 'UnpinnedImage',
    severity: 'medium',
    securitySeverity: '5.0',
    precision: 'high',
    title: 'A container image is referenced by a mutable tag instead of a digest',
    description:
      'Tags such as :latest can be re-pointed; the image that runs tomorrow is not the one reviewed today.',
    fix: 'Reference the image by digest (image@sha256:…).',
  },
  {
    id: 'MCP-DOCK-001',
    name: 'PrivilegedContainer',
    severity: 'high',
    securitySeverity: '9.5',
    precision: 'very-high',
    title:
      'A container runs privileged or shares the host’s namespaces (--privileged, --cap-add ALL/SYS_ADMIN, --pid/--ipc/--userns host)',
    description: 'Such a container is root on the host: the isolation a container promises is gone.',
    fix: 'Drop --privileged and the host namespaces; add only the capabilities the server needs.',
  },
  {
    id: 'MCP-DOCK-002',
    name: 'DockerSocketMount',
    severity: 'high',
    securitySeverity: '9.5',
    precision: 'very-high',
    title: 'The Docker socket is mounted into a container',
    description: 'Access to /var/run/docker.sock is root on the host.',
    fix: 'Do not mount the Docker socket into MCP servers.',
  },
  {
    id: 'MCP-DOCK-003',
    name: 'SensitiveHostMount',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title: 'A container mounts the host root, the home folder or a credential folder (~/.ssh, ~/.aws, /etc)',
    description:
      'The server (and anything that prompt-injects it) can read or change everything in the mount.',
    fix: 'Mount only the project folder the server needs, read-only where possible (-v "$PWD/data:/data:ro").',
  },
  {
    id: 'MCP-DOCK-004',
    name: 'HostNetwork',
    severity: 'medium',
    securitySeverity: '5.0',
    precision: 'very-high',
    title: 'A container uses the host network (--network host)',
    description:
      'The server reaches every local service (databases, admin consoles, metadata endpoints) as the host.',
    fix: 'Use the default bridge network and publish only the ports needed.',
  },
  {
    id: 'MCP-FS-001',
    name: 'FilesystemRootTooBroad',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title: 'A filesystem server is rooted at / , a drive root or the home folder',
    description:
      'Every file the user can read (SSH keys, cloud credentials, browser profiles, other MCP configs) becomes one tool call away.',
    fix: 'Give the filesystem server only the project folders it needs.',
  },
  {
    id: 'MCP-FS-002',
    name: 'SensitivePathArgument',
    severity: 'high',
    securitySeverity: '7.0',
    precision: 'medium',
    title: 'A server is handed a credential path (~/.ssh, id_rsa, ~/.aws, ~/.kube, ~/.gnupg, /etc/shadow…)',
    description: 'Credential stores given to an MCP server are exposed to every prompt that reaches it.',
    fix: 'Remove the credential path from the server’s arguments.',
  },
  {
    id: 'MCP-APPR-001',
    name: 'ToolsAutoApproved',
    severity: 'medium',
    securitySeverity: '6.0',
    precision: 'very-high',
    title:
      'A server’s tools run without the user’s confirmation (trust, autoApprove, alwaysAllow, approval_mode)',
    description:
      'With confirmation off, a prompt injection turns straight into tool calls; nobody sees them before they run.',
    fix: 'Remove the auto-approval and approve calls as they come (or put the server behind mcp-guard’s approval queue).',
  },
  {
    id: 'MCP-APPR-002',
    name: 'ClientAutoApprovesAll',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'very-high',
    title:
      'The client starts or runs everything without asking (enableAllProjectMcpServers, GOOSE_MODE: auto)',
    description:
      'Every MCP server that a cloned repository declares starts without consent (the pattern behind CVE-2025-59536), or every tool call runs unconfirmed.',
    fix: 'Remove the flag; enable project servers one by one (enabledMcpjsonServers) and keep tool confirmations on.',
  },
  {
    id: 'MCP-GW-001',
    name: 'NotWrappedByGateway',
    severity: 'medium',
    securitySeverity: '4.0',
    precision: 'very-high',
    title: 'A stdio server is started directly, not through mcp-guard',
    description:
      'The client talks to the server with no authentication, policy, rate limit, spend cap, approval or audit in between.',
    fix: 'Start it through the gateway: "command": "mcp-guard", "args": ["serve", "--config", "mcp-guard.yaml"], with the server under servers: in that config.',
  },
  {
    id: 'MCP-NAME-002',
    name: 'HiddenUnicode',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'high',
    title:
      'Invisible, control or bidirectional characters hide in a server name, command, argument, URL or env',
    description:
      'Zero-width, bidi-override and tag characters, carriage returns and C1 controls make a config read (or a terminal show) differently from what runs (Trojan Source, ASCII smuggling).',
    fix: 'Retype the value in plain ASCII and find out how the characters got there.',
  },
  {
    id: 'MCP-CFG-001',
    name: 'UnparseableConfig',
    severity: 'low',
    securitySeverity: '2.0',
    precision: 'very-high',
    title: 'An MCP config file cannot be parsed',
    description:
      'The client may ignore the file or read it differently from this scan; nothing in it was checked.',
    fix: 'Fix the syntax error at the reported line.',
  },
  {
    id: 'MCP-CFG-002',
    name: 'UnreadableConfig',
    severity: 'low',
    securitySeverity: '2.0',
    precision: 'very-high',
    title: 'An MCP config file cannot be read as text (binary, too large or permission denied)',
    description: 'Nothing in the file was checked.',
    fix: 'Make the file readable UTF-8 text under 5 MB, or remove it.',
  },
  {
    id: 'MCP-PIN-001',
    name: 'InvalidPinFile',
    severity: 'high',
    securitySeverity: '7.0',
    precision: 'very-high',
    title: 'The pin file given to --pins cannot be read, parsed or understood',
    description:
      'Nothing in it was checked, so a CI job relying on it would pass a rug pull it was meant to catch.',
    fix: 'Export the pins again with mcp-guard tools pin --out FILE and commit that file unchanged.',
  },
  {
    id: 'MCP-PIN-002',
    name: 'PinHashMismatch',
    severity: 'high',
    securitySeverity: '8.0',
    precision: 'very-high',
    title: "A pinned definition does not match its pin's SHA-256 (edited by hand)",
    description:
      'The definition a reviewer reads in the pull request is not the one the hash approves; the gateway enforces the hash.',
    fix: 'Never edit a pin file by hand: review with mcp-guard tools diff, approve, then export again with mcp-guard tools pin --out FILE.',
  },
  {
    id: 'MCP-PIN-003',
    name: 'PoisonedPinnedDefinition',
    severity: 'high',
    securitySeverity: '8.5',
    precision: 'high',
    title:
      'An approved definition carries poisoning markers (hidden characters, <IMPORTANT> blocks, instructions to read secrets or send data away)',
    description:
      'Models read tool descriptions and schemas; hidden instructions in them steer the agent behind the user’s back (tool poisoning).',
    fix: 'Read the definition with mcp-guard tools diff SERVER.NAME; if the markers are real, reject it and stop using the server.',
  },
  {
    id: 'MCP-PIN-004',
    name: 'DefinitionAwaitingReview',
    severity: 'medium',
    securitySeverity: '5.5',
    precision: 'very-high',
    title: 'A server offers a definition that differs from its pin and waits for review (or was rejected)',
    description:
      'A tool, prompt or resource template changed after it was approved (a possible rug pull), or was flagged on first sight; under pinning: enforce it is quarantined.',
    fix: 'Review with mcp-guard tools diff SERVER.NAME, then mcp-guard tools approve or reject it, and export the pins again.',
  },
] as const satisfies readonly RuleMeta[];

export type RuleId = (typeof list)[number]['id'];

/** Every rule, in the order the docs and SARIF list them. */
export const RULES: readonly RuleMeta[] = list;

const byId = new Map<string, RuleMeta>(list.map((r) => [r.id, r]));

/** The rule with this id (ids are checked at compile time through `RuleId`). */
export function rule(id: RuleId): RuleMeta {
  return byId.get(id) as RuleMeta;
}
