import { type ChildProcess, spawn } from 'node:child_process';
import { TEST_SERVER } from './paths.js';

export interface HttpBackend {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts test-server (or another of our servers: `script`) in HTTP mode on a free loopback port. */
export async function startHttpTestServer(args: string[] = [], script = TEST_SERVER): Promise<HttpBackend> {
  const child = spawn(process.execPath, [script, '--http', '--port', '0', ...args], {
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
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** YAML for a stdio test-server backend. */
export function stdioTestServer(name: string, extra = ''): string {
  return `  ${name}:\n    command: ${process.execPath}\n    args: ["${TEST_SERVER}", "--stdio", "--name", "${name}"]\n${extra}`;
}
