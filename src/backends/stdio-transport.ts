/**
 * The client side of MCP's stdio transport for a backend child process.
 *
 * Written here rather than using the SDK's StdioClientTransport because a gateway must *own* its
 * children: the SDK spawns into the gateway's process group and signals only the direct child, so an
 * `npx …` wrapper's grandchild can outlive a SIGKILL. Here every child leads its own process group,
 * the whole group is signalled on close (stdin EOF → SIGTERM → SIGKILL, as the MCP lifecycle asks),
 * whatever is left in the group once the child exits (a crash, or a clean exit that left helpers
 * behind) is killed, exit is awaited (no zombies), and stderr is drained line by line into the log so a chatty server can
 * never block on a full pipe.
 *
 * The hot path is lean: messages written in one event-loop turn go to the child's stdin as one write
 * (a pipe write per message dominated a profile under load), and lines read from stdout are parsed once
 * with a structural check instead of the SDK's ReadBuffer, which re-validates every message with zod
 * (and copies it) although the gateway only forwards what it does not inspect.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { atTurnEnd } from '../core/turn-end.js';
import { redactText } from '../redact/secret-text.js';
import { parseBackendMessage } from './wire.js';

export interface StdioTransportOptions {
  command: string;
  args: readonly string[];
  /** Added to the allowlisted environment (HOME, LOGNAME, PATH, SHELL, TERM, USER). */
  env: Readonly<Record<string, string>>;
  cwd?: string;
  logger: Logger;
  /** Largest single message accepted from the child; beyond it the child is closed. */
  maxMessageBytes?: number;
  /** Grace periods of the close sequence. */
  closeTimeoutsMs?: { stdin: number; term: number };
}

const MAX_STDERR_LINE = 2_000;
const STDERR_LINES_PER_SECOND = 50;

/** Children alive right now, so the gateway can kill every process group when it exits. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: signal each group; the kernel reaps them once we are gone.
  process.on('exit', () => {
    for (const child of liveChildren) signalGroup(child, 'SIGKILL');
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // A negative pid addresses the child's whole process group (it was spawned detached).
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Kills what is left of an exited child's process group. A server that crashes (or exits on stdin EOF)
 * leaves its own children behind in the group, without stdio and without an owner; nothing there speaks
 * MCP to us any more, so they get SIGKILL. Safe after the leader is reaped: the kernel does not reuse a
 * pid while it still names a process group, and ESRCH (the group is empty) is ignored.
 */
function killGroupRemains(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Nothing left in the group.
  }
}

/** Number of backend children this process currently owns (for tests and /readyz). */
export function liveChildCount(): number {
  return liveChildren.size;
}

export class StdioBackendTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  /** The unfinished line read so far (chunks without a newline yet), and its size in bytes. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private readonly maxMessageBytes: number;
  /** Messages waiting for this turn's write, and the promise their senders wait on. */
  private outgoing: string[] = [];
  private batch: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  private closed = false;
  private exited: Promise<void> = Promise.resolve();
  private stderrBudget = { windowStart: 0, lines: 0, dropped: 0 };

  constructor(private readonly options: StdioTransportOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) throw new GatewayError('INTERNAL', 'stdio transport already started');
    installExitHook();
    const { command, args, env, cwd, logger } = this.options;
    const child = spawn(command, [...args], {
      env: { ...getDefaultEnvironment(), ...env },
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      detached: true,
      windowsHide: true,
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));

    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) =>
        reject(
          new GatewayError('BACKEND_SPAWN_FAILED', `cannot start "${command}": ${err.message}`, {
            cause: err,
          }),
        ),
      );
    });
    liveChildren.add(child);
    // The child leads its own process group; whatever it started there (and left behind) is ours to end.
    child.once('exit', () => killGroupRemains(child.pid));

    child.on('error', (err) => this.onerror?.(err));
    child.stdin?.on('error', (err) => this.onerror?.(err));
    child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    let partial = '';
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > MAX_STDERR_LINE) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) this.logStderr(line);
    });
    child.once('close', (code, signal) => {
      liveChildren.delete(child);
      if (partial) this.logStderr(partial);
      logger.debug({ pid: child.pid, code, signal }, 'backend process exited');
      this.child = undefined;
      this.partial = [];
      this.partialBytes = 0;
      this.closed = true;
      this.onclose?.();
    });
  }

  /** Queues one message for this event-loop turn's write; resolves once it is written (and drained). */
  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) {
      return Promise.reject(new GatewayError('BACKEND_CLOSED', 'backend process is not running'));
    }
    let line: string;
    try {
      line = JSON.stringify(message);
    } catch (err) {
      // Too deep or not serialisable (RangeError, TypeError): nothing was written.
      return Promise.reject(err);
    }
    this.outgoing.push(line);
    if (!this.batch) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.batch = { promise, resolve, reject };
      atTurnEnd(() => this.flush());
    }
    return this.batch.promise;
  }

  private flush(): void {
    const batch = this.batch;
    const text = `${this.outgoing.join('\n')}\n`;
    this.batch = undefined;
    this.outgoing = [];
    if (!batch) return;
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) {
      batch.reject(new GatewayError('BACKEND_CLOSED', 'backend process is not running'));
      return;
    }
    if (stdin.write(text)) batch.resolve();
    else stdin.once('drain', () => batch.resolve());
  }

  /** stdin EOF, then SIGTERM, then SIGKILL to the whole process group; resolves once the child exited. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) {
      await this.exited;
      return;
    }
    const { stdin: stdinGraceMs, term: termGraceMs } = this.options.closeTimeoutsMs ?? {
      stdin: 2_000,
      term: 2_000,
    };
    const exited = this.exited;
    const waitExit = (ms: number) =>
      Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
      ]);
    try {
      child.stdin?.end();
    } catch {
      // Broken pipe: the child is already going.
    }
    if (await waitExit(stdinGraceMs)) return;
    signalGroup(child, 'SIGTERM');
    if (await waitExit(termGraceMs)) return;
    signalGroup(child, 'SIGKILL');
    await exited;
  }

  /** Splits stdout into lines (newline-delimited JSON-RPC) and hands each message on. */
  private onStdout(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      let line: string;
      if (this.partial.length > 0) {
        this.partial.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.partial).toString('utf8');
        this.partial = [];
        this.partialBytes = 0;
      } else {
        line = chunk.toString('utf8', start, nl);
      }
      start = nl + 1;
      this.onLine(line);
      if (this.closed) return;
    }
    if (start >= chunk.length) return;
    const rest = chunk.subarray(start);
    this.partialBytes += rest.length;
    if (this.partialBytes > this.maxMessageBytes) {
      this.partial = [];
      this.partialBytes = 0;
      this.onerror?.(
        new GatewayError(
          'BACKEND_PROTOCOL',
          `backend sent an oversized message (more than ${this.maxMessageBytes} bytes without a newline)`,
        ),
      );
      void this.close();
      return;
    }
    this.partial.push(rest);
  }

  private onLine(text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (line.trim().length === 0) return;
    let message: JSONRPCMessage;
    try {
      message = parseBackendMessage(line);
    } catch (err) {
      // Not JSON-RPC (a stray print on stdout): reported and skipped; the stream stays usable.
      this.onerror?.(
        new GatewayError(
          'BACKEND_PROTOCOL',
          `backend wrote a line that is not JSON-RPC: ${(err as Error).message.slice(0, 200)}`,
        ),
      );
      return;
    }
    this.onmessage?.(message);
  }

  private logStderr(line: string): void {
    if (!line) return;
    const now = Date.now();
    const budget = this.stderrBudget;
    if (now - budget.windowStart >= 1_000) {
      if (budget.dropped > 0)
        this.options.logger.warn({ dropped: budget.dropped }, 'backend stderr lines dropped (rate limit)');
      budget.windowStart = now;
      budget.lines = 0;
      budget.dropped = 0;
    }
    if (++budget.lines > STDERR_LINES_PER_SECOND) {
      budget.dropped++;
      return;
    }
    // A backend may echo its arguments or its own credentials on stderr: mask secrets before logging.
    const capped = line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line;
    this.options.logger.info({ stderr: redactText(capped) }, 'backend stderr');
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
