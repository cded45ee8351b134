import { type ChildProcess, spawn } from 'node:child_process';
import { TEST_SERVER } from './paths.js';

export interface HttpBackend {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts test-server (or another of our servers: `script`) in HTTP mode on a free loopback port. */
export async function startHttpTestServer(args: string[] = [], script = TEST_SERVER): Promise<HttpBackend> {
  const { port, child } = await startListening(script, ['--http', '--port', '0', ...args]);
  return backendOf(`http://127.0.0.1:${port}/mcp`, child);
}

/**
 * Starts test-server in legacy HTTP+SSE mode (GET /sse, POST /messages) on a free loopback port, or on
 * `--port N` given in `args`; `url` is the event stream's.
 */
export async function startSseTestServer(args: string[] = []): Promise<HttpBackend> {
  const { port, child } = await startListening(TEST_SERVER, ['--sse', '--port', '0', ...args]);
  return backendOf(`http://127.0.0.1:${port}/sse`, child);
}

async function startListening(
  script: string,
  args: string[],
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /LISTENING (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
  });
  return { port, child };
}

function backendOf(url: string, child: ChildProcess): HttpBackend {
  return {
    url,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** YAML for a stdio test-server backend. */
export function stdioTestServer(name: string, extra = ''): string {
  return `  ${name}:\n    command: ${process.execPath}\n    args: ["${TEST_SERVER}", "--stdio", "--name", "${name}"]\n${extra}`;
}
