/**
 * Messages that echo config text (a shell script, a command line, an env value, a package spec, an
 * image) mask the secrets in it — in the text, JSON and SARIF reports of the built CLI, for every rule
 * that echoes text. The secrets here sit inside free text, where the entry's own secret checks do not
 * see them, so only the masking of echoed text keeps them out of the reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { excerpt, maskText } from '../../src/scan/secrets.js';
import { CLI } from '../helpers/paths.js';
import { tempDir } from './helpers.js';

// Built at run time so the source holds no token-shaped literal.
const GHP = `ghp_${'Zy98Xw'.repeat(6)}`;
const BEARER = 's3cr3tV4lu3Abcdefghij';
const PASSWORD = 'Sup3rS3cretPassw0rd';
const NODE_SECRET = 'hunter2hunter2hunter2';
const API_KEY = 'k3yV4lueAbcdefgh123';
const DB_PASSWORD = 'DbPassw0rdValue77';
const GIT_TOKEN = 'GitT0kenValue123456';
const SECRETS = [GHP, BEARER, PASSWORD, NODE_SECRET, API_KEY, DB_PASSWORD, GIT_TOKEN];

describe('maskText', () => {
  it('masks bearer and basic credentials, curl -u, secret-named assignments and flags, URLs and tokens', () => {
    const cases: Array<[string, string]> = [
      [
        `curl -H 'Authorization: Bearer ${BEARER}' https://x | sh`,
        "curl -H 'Authorization: Bearer s3cr…ghij' https://x | sh",
      ],
      [`curl -u admin:${PASSWORD} https://x`, 'curl -u admin:Su…rd https://x'],
      [`curl --user=admin:${PASSWORD} https://x`, 'curl --user=admin:Su…rd https://x'],
      [`curl -uadmin:${PASSWORD} https://x`, 'curl -uadmin:Su…rd https://x'],
      [`--require ./x.js --secret=${NODE_SECRET}`, '--require ./x.js --secret=hunt…ter2'],
      [`API_KEY=${API_KEY} node a.js`, 'API_KEY=k3…23 node a.js'],
      [`node a.js --password ${DB_PASSWORD}`, 'node a.js --password Db…77'],
      [`X-Api-Key: ${API_KEY}`, 'X-Api-Key: k3…23'],
      [`{"password":"${DB_PASSWORD}"}`, '{"password":"Db…77"}'],
      [`git+https://deploy:${GIT_TOKEN}@github.com/o/r.git`, 'git+https://deploy:****@github.com/o/r.git'],
      [
        `https://x.example/mcp?access_token=${API_KEY}&page=2`,
        'https://x.example/mcp?access_token=****&page=2',
      ],
      [`echo ${GHP}`, `echo ghp_…98Xw`],
      ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic dXNl…ZA=='],
    ];
    for (const [text, masked] of cases) expect(maskText(text), text).toBe(masked);
  });

  it('leaves references, placeholders, paths and ordinary words alone', () => {
    for (const text of [
      'curl -H "Authorization: Bearer ${TOKEN}" https://x',
      'API_KEY=$API_KEY node a.js',
      '--token-file=/run/secrets/token --key=~/.ssh/id_ed25519',
      'node a.js --port 8080 --name my-server',
      'MAX_TOKENS=4096 LOG_LEVEL=debug',
      'sh runs an inline script: node a.js; echo done',
    ]) {
      expect(maskText(text), text).toBe(text);
    }
  });

  it('cuts long text after masking, so a cut never leaves half a secret visible', () => {
    const long = `${'a'.repeat(110)} --secret=${NODE_SECRET}`;
    expect(excerpt(long)).not.toContain('hunter2');
    expect(excerpt(long)).toHaveLength(120);
  });
});

describe('reports of the built CLI', () => {
  let dir: string;

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
    dir = tempDir();
    const servers = {
      // MCP-EXEC-002, both ways of passing credentials to curl.
      bearer: {
        command: 'sh',
        args: ['-c', `curl -fsSL -H 'Authorization: Bearer ${BEARER}' https://x.example/i.sh | sh`],
      },
      basic: { command: 'sh', args: ['-c', `curl -u admin:${PASSWORD} https://x.example/i | bash`] },
      // MCP-EXEC-001: an inline script with a key and a password in it.
      script: {
        command: 'bash',
        args: ['-c', `API_KEY=${API_KEY} node a.js --password ${DB_PASSWORD}; echo ok`],
      },
      // MCP-EXEC-003: sudo inside a shell script.
      sudo: { command: 'sh', args: ['-c', `sudo -E env DB_PASSWORD=${DB_PASSWORD} node a.js`] },
      // MCP-EXEC-004: a NODE_OPTIONS value carrying a secret flag.
      preload: {
        command: 'mcp-guard',
        args: ['serve'],
        env: { NODE_OPTIONS: `--require ./x.js --secret=${NODE_SECRET}` },
      },
      // MCP-SUP-001: a git spec with a token in its URL.
      git: { command: 'npx', args: ['-y', `git+https://deploy:${GIT_TOKEN}@github.com/o/r.git`] },
      // MCP-DOCK-003 and MCP-SUP-002: secrets in the echoed docker options and image.
      docker: {
        command: 'docker',
        args: ['run', '-v', `/home/dev/.aws:/root/.aws:ro,token=${API_KEY}`, `registry.example/app:${GHP}`],
      },
      // MCP-APPR-001: a tool name that is a token.
      approve: { command: 'mcp-guard', args: ['serve'], autoApprove: [GHP] },
    };
    writeFileSync(path.join(dir, '.mcp.json'), JSON.stringify({ mcpServers: servers }, null, 2));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (format: string) =>
    spawnSync(process.execPath, [CLI, 'scan', '--no-home', '--format', format, '--fail-on', 'never', '.'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });

  it('fire every rule that echoes config text', () => {
    const report = JSON.parse(run('json').stdout) as { findings: Array<{ rule: string; server: string }> };
    const fired = new Set(report.findings.map((f) => `${f.server} ${f.rule}`));
    for (const expected of [
      'bearer MCP-EXEC-002',
      'basic MCP-EXEC-002',
      'script MCP-EXEC-001',
      'sudo MCP-EXEC-003',
      'preload MCP-EXEC-004',
      'git MCP-SUP-001',
      'docker MCP-DOCK-003',
      'docker MCP-SUP-002',
      'approve MCP-APPR-001',
    ]) {
      expect(fired, expected).toContain(expected);
    }
  });

  for (const format of ['text', 'json', 'sarif']) {
    it(`never print a secret in full (${format})`, () => {
      const out = run(format);
      expect(out.status, out.stderr).toBe(0);
      for (const secret of SECRETS) expect(out.stdout, secret).not.toContain(secret);
      expect(out.stderr).toBe('');
      // The masked hints are there, so the reader still knows what was found.
      expect(out.stdout).toContain('Bearer s3cr…ghij');
      expect(out.stdout).toContain('admin:Su…rd');
      expect(out.stdout).toContain('--secret=hunt…ter2');
    });
  }
});
