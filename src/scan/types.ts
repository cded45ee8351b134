/** What `mcp-guard scan` reads and reports (SPEC §7). */

/** Severities on the wire (SPEC §7). "Critical" rules are `high` with a higher SARIF security-severity. */
export type Severity = 'high' | 'medium' | 'low';

/** Orders severities for `--fail-on` and sorting (higher is worse). */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { high: 3, medium: 2, low: 1 };

/** The clients whose configs the scan understands; `mcp-json` is any other mcp.json-shaped file. */
export type ClientId =
  | 'claude-desktop'
  | 'claude-code'
  | 'cursor'
  | 'vscode'
  | 'windsurf'
  | 'gemini'
  | 'codex'
  | 'zed'
  | 'cline'
  | 'continue'
  | 'goose'
  | 'kiro'
  | 'lm-studio'
  | 'mcp-json'
  /** mcp-guard's own config (mcp-guard.yaml): its servers run behind the gateway. */
  | 'mcp-guard'
  /** A pin file of `mcp-guard tools pin` (scan --pins). */
  | 'mcp-guard-pins';

export type Format = 'json' | 'yaml' | 'toml';

/** One finding: exactly the fields of SPEC §7 (what `--format json` prints). */
export interface Finding {
  /** Stable rule id, e.g. MCP-SEC-001. */
  readonly rule: string;
  readonly severity: Severity;
  /** Relative to the working directory when inside it (posix separators), else absolute. */
  readonly file: string;
  /** 1-based line of the server entry (or of the offending key for a file-level finding). */
  readonly line: number;
  readonly client: ClientId;
  /** Server name, or null for a finding about the whole file. */
  readonly server: string | null;
  /** What is wrong; every secret in it is masked. */
  readonly message: string;
  /** One line: what to do about it. */
  readonly fix: string;
}

/**
 * A finding plus what tells two findings of one rule on one server apart (which env variable holds
 * the secret, which project of ~/.claude.json…). It feeds SARIF fingerprints, never the JSON output.
 */
export interface ScanFinding extends Finding {
  readonly subject: string;
}

/** One MCP server entry as a client config declares it, in one shape for every client. */
export interface ServerEntry {
  readonly client: ClientId;
  readonly name: string;
  /** Where the entry sits in the document (e.g. `projects./home/me/app.mcpServers.github`). */
  readonly at: string;
  readonly line: number;
  /** The program to start (stdio). */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The endpoint of a remote (HTTP/SSE) server. */
  readonly url?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** An auth mechanism other than a header: OAuth block, bearer-token env var, API-key field… */
  readonly declaredAuth: boolean;
  /** Fields that hold a secret by definition (client secrets, API keys), with where they sit. */
  readonly secretFields: ReadonlyArray<{ readonly where: string; readonly value: string }>;
  /** Client flags that let tools run without the user's confirmation, as written. */
  readonly autoApprove: readonly string[];
  /** Structured settings that switch TLS certificate checks off, as written. */
  readonly insecureTls: readonly string[];
}

/** A client-wide setting found in a config file (not tied to one server). */
export interface FileFlag {
  readonly rule: 'MCP-APPR-002';
  readonly line: number;
  readonly text: string;
}

/** A VS Code input (`inputs[]`): a value the editor prompts for and substitutes for `${input:id}`. */
export interface InputEntry {
  readonly id: string;
  readonly line: number;
  readonly description?: string;
  /** The value offered by default: written in the file, so a secret here is an inline secret. */
  readonly default?: string;
  /** Typed into a password box and kept in the editor's secret storage: the right way for secrets. */
  readonly password: boolean;
}

/** A config file the scan decided to read. */
export interface ConfigCandidate {
  /** Absolute path. */
  readonly path: string;
  readonly client: ClientId;
  readonly format: Format;
}

/** What a scan hands to the reporters. */
export interface ScanResult {
  readonly findings: readonly ScanFinding[];
  readonly summary: {
    readonly high: number;
    readonly medium: number;
    readonly low: number;
    readonly files: number;
  };
  /** Problems that are not findings (a folder that cannot be listed, a file that vanished). */
  readonly warnings: readonly string[];
  /** The folder relative `file` paths start from (the repo root in CI). */
  readonly root: string;
}
