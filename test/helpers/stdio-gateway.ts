/**
 * `mcp-guard serve` as its own process, driven line by line: what an agent's stdio transport does, but
 * with raw lines, so tests can send what no SDK client would (bad JSON, deep nesting, huge lines).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './paths.js';
import { waitFor } from './processes.js';

export type Line = Record<string, unknown>;

export interface StdioGateway {
  readonly child: ChildProcess;
  /** Every JSON line the gateway wrote on stdout, in order. */
  readonly lines: Line[];
  /** Everything the gateway wrote on stderr. */
  stderr(): string;
  /** Writes one raw line (a newline is added). */
  send(line: string | Line): void;
  /** Sends a request and resolves with the response carrying its id. */
  request(id: number | string, method: string, params?: Line, timeoutMs?: number): Promise<Line>;
  /** Resolves with the first line (from `from` on) that `match` accepts. */
  next(match: (line: Line) => boolean, timeoutMs?: number, from?: number): Promise<Line>;
  /** initialize + notifications/initialized. */
  initialize(): Promise<Line>;
  /** Closes stdin and resolves with the exit code (SIGKILL after `graceMs`). */
  close(graceMs?: number): Promise<number | null>;
}

export function startStdioGateway(configFile: string, env: NodeJS.ProcessEnv = {}): StdioGateway {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'warn', ...env },
  });
  const lines: Line[] = [];
  let buffer = '';
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(JSON.parse(text) as Line);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  // A test may kill the gateway on purpose; a write after that must not throw EPIPE into the test.
  child.stdin?.on('error', () => {});

  const next = async (match: (line: Line) => boolean, timeoutMs = 15_000, from = 0): Promise<Line> => {
    let found: Line | undefined;
    await waitFor(
      () => {
        found = lines.slice(from).find(match);
        return found !== undefined || child.exitCode !== null || child.signalCode !== null;
      },
      timeoutMs,
      'a line from the gateway',
    );
    if (!found) throw new Error(`the gateway exited (${child.exitCode ?? child.signalCode}):\n${log}`);
    return found;
  };
  const send = (line: string | Line) => {
    child.stdin?.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);
  };
  return {
    child,
    lines,
    stderr: () => log,
    send,
    next,
    request(id, method, params, timeoutMs) {
      send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
      return next((l) => l['id'] === id && ('result' in l || 'error' in l), timeoutMs);
    },
    async initialize() {
      send({
        jsonrpc: '2.0',
        id: 'init',
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      });
      const answer = await next((l) => l['id'] === 'init', 30_000);
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return answer;
    },
    close(graceMs = 10_000) {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
        child.stdin?.end();
      });
    },
  };
}
