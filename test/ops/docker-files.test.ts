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

describe('docker/mcp-guard.yaml (the `docker run` example of docs/docker.md)', () => {
  it('loads, listens beyond loopback with auth on, and accepts the Host of the image health check', async () => {
    const config = await loadConfig(path.join(ROOT, 'docker/mcp-guard.yaml'), { AGENT_API_KEY: 'k' });
    expect(config.auth.mode).not.toBe('none');
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.http.allowedHosts).toContain(healthCheckHost());
  });
});

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition?: string; required?: boolean }> | string[];
  profiles?: string[];
  healthcheck?: { test: string[] };
  container_name?: string;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
  networks: Record<string, { ipam: { config: Array<{ subnet: string }> } }>;
};

/** Compose's own `${VAR:-default}` / `${VAR:?message}` expansion of a value, with `vars` set. */
function composeExpand(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, op?: string, rest?: string) => {
      if (vars[name] !== undefined) return vars[name] as string;
      if (op === '-') return rest ?? '';
      throw new Error(`compose needs ${name}: ${rest ?? ''}`);
    },
  );
}

/** The Host header the image's HEALTHCHECK sends (its fetch URL). */
function healthCheckHost(): string {
  const check = finalStageInstructions().find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
  return new URL(/fetch\('([^']+)'\)/.exec(check)?.[1] as string).host;
}

function finalStageInstructions(): Instruction[] {
  const from = dockerfile.filter((i) => i.op === 'FROM').at(-1) as Instruction;
  return dockerfile.slice(dockerfile.lastIndexOf(from));
}

describe('docker-compose.yml', () => {
  const services = compose.services;
  const gateway = services['gateway'] as ComposeService;
  const lb = services['lb'] as ComposeService;
  const lbAddress = (lb.networks as Record<string, { ipv4_address: string }>)['mcp']?.ipv4_address as string;
  const nginx = readFileSync(path.join(ROOT, 'deploy/compose/nginx.conf'), 'utf8').replace(/#.*$/gm, '');

  it('runs three replicas of the gateway built from this Dockerfile, reachable only through the balancer', () => {
    expect(gateway.build).toBe('.');
    expect(gateway.deploy?.replicas).toBe(3);
    expect(gateway.container_name).toBeUndefined(); // one name cannot go to three containers
    expect(gateway.ports).toBeUndefined();
    expect(gateway.expose).toEqual(['8080']);
    expect(gateway.command).toEqual(['serve-http', '--config', '/etc/mcp-guard.yaml']);
    expect(lb.ports).toEqual(['127.0.0.1:8080:8080']);
  });

  it('names only services that it defines, with health checks where it waits for them', () => {
    for (const [name, service] of Object.entries(services)) {
      const deps = Array.isArray(service.depends_on)
        ? service.depends_on
        : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
      if (!Array.isArray(service.depends_on))
        for (const [dep, how] of Object.entries(service.depends_on ?? {}))
          if (how.condition === 'service_healthy') expect(services[dep]?.healthcheck, dep).toBeDefined();
      for (const net of Array.isArray(service.networks)
        ? service.networks
        : Object.keys(service.networks ?? {}))
        expect(compose.networks[net], `${name} on ${net}`).toBeDefined();
    }
    // The PostgreSQL variant is a profile; the gateway waits for it only when it runs.
    expect(services['postgres']?.profiles).toEqual(['postgres']);
    expect((gateway.depends_on as Record<string, { required?: boolean }>)['postgres']?.required).toBe(false);
  });

  it.each(['redis', 'postgres'])(
    'mounts a config on %s that loads with the environment compose gives it',
    async (store) => {
      const mount = gateway.volumes?.find((v) => v.endsWith(':/etc/mcp-guard.yaml:ro')) as string;
      const hostPath = path.join(
        ROOT,
        composeExpand(mount, { MCP_GUARD_STORE: store }).split(':')[0] as string,
      );
      expect(existsSync(hostPath), hostPath).toBe(true);
      // What compose passes: its environment block, expanded from the shell (only AGENT_API_KEY is required).
      const env = Object.fromEntries(
        Object.entries(gateway.environment ?? {}).map(([k, v]) => [
          k,
          composeExpand(v, { AGENT_API_KEY: 'agent-key-0123456789' }),
        ]),
      );
      const config = await loadConfig(hostPath, env);
      expect(config.auth.mode).not.toBe('none');
      expect(config.http.host).toBe('0.0.0.0');
      expect(config.http.port).toBe(Number(gateway.expose?.[0]));
      // The shared store is a service of this file (and the variant's profile starts it).
      expect(config.state.store).toBe(store);
      const storeHost = new URL((config.state as { url: string }).url).hostname;
      expect(services[storeHost], `service ${storeHost}`).toBeDefined();
      if (store === 'postgres') {
        const pg = services['postgres']?.environment ?? {};
        const url = new URL((config.state as { url: string }).url);
        expect(url.username).toBe(pg['POSTGRES_USER']);
        expect(url.pathname).toBe(`/${pg['POSTGRES_DB']}`);
        expect(decodeURIComponent(url.password)).toBe(composeExpand(pg['POSTGRES_PASSWORD'] as string, {}));
      }
      for (const server of config.servers)
        if (server.kind === 'remote')
          expect(services[new URL(server.url).hostname], server.url).toBeDefined();
      // The balancer's forwarded-for is trusted, and the Hosts that clients and health checks send are allowed.
      expect(config.http.trustedProxies).toEqual([lbAddress]);
      expect(config.http.allowedHosts).toContain('localhost:8080');
      expect(config.http.allowedHosts).toContain(healthCheckHost());
    },
  );

  it('balances over the replicas without affinity (deploy/compose/nginx.conf)', () => {
    expect(lb.image).toMatch(/^nginx:/);
    expect(lb.volumes).toEqual(['./deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro']);
    const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginx);
    expect(upstream).not.toBeNull();
    const [, name, body] = upstream as RegExpExecArray;
    expect(body).toMatch(new RegExp(`server\\s+gateway:${gateway.expose?.[0]}\\s+resolve\\b`));
    for (const affinity of ['ip_hash', 'hash ', 'sticky']) expect(body).not.toContain(affinity);
    expect(nginx).toMatch(/resolver\s+127\.0\.0\.11\b/); // `resolve` needs Docker's DNS
    expect(nginx).toContain(`proxy_pass http://${name};`);
    expect(nginx).toMatch(/listen\s+8080;/);
    expect(nginx).toMatch(/proxy_buffering\s+off;/); // SSE responses
    expect(nginx).toMatch(/proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/);
    expect(nginx).toMatch(/proxy_set_header\s+Host\s+\$http_host;/);
  });

  it('gives the balancer the fixed address inside the network that the gateways trust', () => {
    const subnet = compose.networks['mcp']?.ipam.config[0]?.subnet as string;
    const [base, bits] = subnet.split('/');
    const toInt = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
    const mask = 2 ** 32 - 2 ** (32 - Number(bits));
    expect((toInt(lbAddress) & mask) >>> 0).toBe((toInt(base as string) & mask) >>> 0);
    expect(lbAddress).not.toBe(base); // not the network's own address
  });
});
