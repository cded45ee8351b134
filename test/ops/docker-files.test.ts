/**
 * The Dockerfile and docker-compose.yml cannot be built here (no Docker engine, no registry for base
 * images), so this checks what can rot without a build: every path they copy, run or mount exists and
 * is what the project produces, the image runs as a non-root user, and the config the compose example
 * mounts passes our own loader with the environment compose gives it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { CLI, ROOT } from '../helpers/paths.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions (comments dropped, `\` continuations joined). */
function instructions(file: string): Instruction[] {
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const dockerfile = instructions(path.join(ROOT, 'Dockerfile'));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

describe('Dockerfile', () => {
  const stages = dockerfile.filter((i) => i.op === 'FROM');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf(stages.at(-1) as Instruction));

  it('is multi-stage on a slim Node 20 base', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of stages) expect(from.args).toMatch(/^node:20-slim\b/);
  });

  it('copies only files that exist in the repository', () => {
    const copies = dockerfile.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(existsSync(path.join(ROOT, source)), source).toBe(true);
    }
  });

  it('runs the npm scripts that exist and starts the CLI that the build produces', () => {
    for (const run of dockerfile.filter((i) => i.op === 'RUN'))
      for (const [, script] of run.args.matchAll(/npm run (\S+)/g))
        expect(pkg.scripts[script as string], `npm run ${script}`).toBeDefined();
    const entrypoint = JSON.parse(finalStage.find((i) => i.op === 'ENTRYPOINT')?.args ?? '[]') as string[];
    expect(entrypoint).toEqual(['node', `/app/${pkg.bin['mcp-guard']}`]);
    expect(existsSync(path.join(ROOT, pkg.bin['mcp-guard'] as string))).toBe(true);
    expect(finalStage.some((i) => i.op === 'COPY' && i.args.includes('/app/dist'))).toBe(true);
  });

  it('drops root in the final stage, before the entry point', () => {
    const user = finalStage.filter((i) => i.op === 'USER').at(-1);
    expect(user?.args).toBeDefined();
    expect(user?.args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('has a default command that the CLI accepts', () => {
    const cmd = JSON.parse(finalStage.find((i) => i.op === 'CMD')?.args ?? '[]') as string[];
    expect(cmd[0]).toBe('serve-http');
    // `--help` of that very command: commander exits 0 only for a command and options it knows.
    const help = execFileSync(process.execPath, [CLI, ...cmd, '--help'], { encoding: 'utf8' });
    expect(help).toContain('--config');
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<
      string,
      { build?: string; command?: string[]; volumes?: string[]; environment?: Record<string, string> }
    >;
  };
  const gateway = compose.services['mcp-guard'];

  it('builds the gateway from this Dockerfile and mounts a config that loads', async () => {
    expect(gateway?.build).toBe('.');
    const mount = gateway?.volumes?.find((v) => v.endsWith(':/etc/mcp-guard.yaml:ro'));
    const hostPath = path.join(ROOT, (mount as string).split(':')[0] as string);
    expect(existsSync(hostPath)).toBe(true);
    expect(gateway?.command).toEqual(['serve-http', '--config', '/etc/mcp-guard.yaml']);

    // The environment compose passes is enough for the config: nothing unset, nothing unknown.
    const env = Object.fromEntries(Object.keys(gateway?.environment ?? {}).map((k) => [k, `test-${k}`]));
    const config = await loadConfig(hostPath, env);
    expect(config.auth.mode).not.toBe('none');
    expect(config.http.host).toBe('0.0.0.0');
  });

  it('points the gateway at a backend service that the file defines', async () => {
    const config = await loadConfig(path.join(ROOT, 'docker/mcp-guard.yaml'), { AGENT_API_KEY: 'k' });
    for (const server of Object.values(config.servers)) {
      if (!('url' in server)) continue;
      const host = new URL(server.url).hostname;
      expect(compose.services[host], `service ${host}`).toBeDefined();
    }
  });
});
