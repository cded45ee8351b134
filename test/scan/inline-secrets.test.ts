/**
 * Inline secrets the first version missed, each in a real file: Authorization-style values under any
 * env or header name, a header passed as `--header=…` (which is also authentication, not "no auth"),
 * secrets inside free text, and VS Code `inputs` defaults.
 */
import { describe, expect, it } from 'vitest';
import { compact, scanFiles } from './helpers.js';

// Built at run time so the source holds no token-shaped literal.
const GHP = `ghp_${'Qr5tUv'.repeat(6)}`;
const LITERAL = 'literalT0kenValue12345';

describe('Authorization values under any name', () => {
  it('are MCP-SEC-002 in env and headers, masked', async () => {
    const result = await scanFiles({
      '.mcp.json': {
        mcpServers: {
          env: { command: 'mcp-guard', args: ['serve'], env: { AUTH_HEADER: `Bearer ${LITERAL}` } },
          basic: { command: 'mcp-guard', args: ['serve'], env: { UPSTREAM: 'Basic dXNlcjpwYXNzd29yZA==' } },
          header: { url: 'https://x.example/mcp', headers: { 'X-Upstream': `Bearer ${LITERAL}` } },
        },
      },
    });
    expect(result.findings.map((f) => `${f.server} ${f.rule} ${f.message}`)).toEqual([
      'env MCP-SEC-002 secret written inline in env (AUTH_HEADER): lite…2345',
      'basic MCP-SEC-002 secret written inline in env (UPSTREAM): dXNl…ZA==',
      'header MCP-SEC-002 secret written inline in a header (X-Upstream): lite…2345',
    ]);
  });

  it('are not flagged when they reference the environment', async () => {
    const result = await scanFiles({
      '.mcp.json': {
        mcpServers: {
          env: { command: 'mcp-guard', args: ['serve'], env: { AUTH_HEADER: 'Bearer ${TOKEN}' } },
          header: { url: 'https://x.example/mcp', headers: { Authorization: 'Bearer ${env:TOKEN}' } },
        },
      },
    });
    expect(result.findings).toEqual([]);
  });
});

describe('a header given as --header=…', () => {
  const remote = (header: string) => ({
    '.mcp.json': {
      mcpServers: {
        r: { command: 'npx', args: ['-y', 'mcp-remote@0.1.18', 'https://mcp.example.com/sse', header] },
      },
    },
  });

  it('is an inline secret when literal, and counts as authentication (no MCP-NET-004)', async () => {
    const result = await scanFiles(remote(`--header=Authorization: Bearer ${LITERAL}`));
    expect(compact(result.findings)).toEqual(['.mcp.json:3 r MCP-SEC-002', '.mcp.json:3 r MCP-GW-001']);
    expect(JSON.stringify(result.findings)).not.toContain(LITERAL);
  });

  it('is clean authentication when it references the environment', async () => {
    const result = await scanFiles(remote('--header=Authorization: Bearer ${AUTH_TOKEN}'));
    expect(compact(result.findings)).toEqual(['.mcp.json:3 r MCP-GW-001']);
  });
});

describe('secrets in free text', () => {
  it('are found in a shell script argument and in another variable’s value', async () => {
    const result = await scanFiles({
      '.mcp.json': {
        mcpServers: {
          script: {
            command: 'sh',
            args: ['-c', `curl -H 'Authorization: Bearer ${LITERAL}' https://x.example/data -o d.json`],
          },
          opts: {
            command: 'mcp-guard',
            args: ['serve'],
            env: { NODE_OPTIONS: `--max-old-space-size=4096 --secret=${LITERAL}` },
          },
        },
      },
    });
    const secrets = result.findings.filter((f) => f.rule === 'MCP-SEC-002');
    expect(secrets.map((f) => `${f.server}: ${f.message}`)).toEqual([
      'script: secret written inline in argument 2 (Bearer): lite…2345',
      'opts: secret written inline in env NODE_OPTIONS (secret): lite…2345',
    ]);
    expect(JSON.stringify(result.findings)).not.toContain(LITERAL);
  });
});

describe('VS Code inputs', () => {
  const mcpJson = (inputs: object[]) => ({
    '.vscode/mcp.json': {
      inputs,
      servers: { gh: { type: 'stdio', command: 'mcp-guard', args: ['serve'], env: { T: '${input:token}' } } },
    },
  });

  it('flag a secret written as the default value, at the input’s line', async () => {
    const result = await scanFiles(
      mcpJson([
        { id: 'region', type: 'promptString', description: 'AWS region', default: 'us-east-1' },
        { id: 'token', type: 'promptString', description: 'GitHub token', default: GHP },
        { id: 'key', type: 'promptString', password: true, default: LITERAL },
      ]),
    );
    expect(result.findings.map((f) => `${f.line} ${f.server} ${f.rule} ${f.message}`)).toEqual([
      '9 null MCP-SEC-001 GitHub token written inline in the default of input token: ghp_…5tUv',
      '15 null MCP-SEC-002 secret written inline in the default of input key: lite…2345',
    ]);
  });

  it('accept a password input without a default, and a default that is a reference', async () => {
    const result = await scanFiles(
      mcpJson([
        { id: 'token', type: 'promptString', description: 'GitHub token', password: true },
        { id: 'api-key', type: 'promptString', password: true, default: '${env:API_KEY}' },
      ]),
    );
    expect(result.findings).toEqual([]);
  });

  it('are read from user settings.json (mcp.inputs) too', async () => {
    const result = await scanFiles({
      '.vscode/settings.json': { mcp: { inputs: [{ id: 'pat', type: 'promptString', default: GHP }] } },
    });
    expect(compact(result.findings)).toEqual(['.vscode/settings.json:4 (file) MCP-SEC-001']);
  });
});
