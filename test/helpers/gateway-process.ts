import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './paths.js';

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the gateway wrote to stderr (its logs). */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `mcp-guard serve-http` as its own process on a free port. */
export async function startGatewayProcess(
  configFile: string,
  env: NodeJS.ProcessEnv = {},
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [CLI, 'serve-http', '--config', configFile, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MCP_GUARD_LOG_LEVEL: 'debug', ...env },
  });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /listening on (\S+)/.exec(log);
      if (m) {
        child.stderr?.off('data', onData);
        resolve(m[1] as string);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${log}`)));
  });
  return {
    url,
    child,
    stderr: () => log,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}
