/**
 * mcp-guard's own config, met by the scan (walked as mcp-guard.yaml, or named on the command line): its
 * servers run behind the gateway, so none of them is "not through mcp-guard" (MCP-GW-001); everything
 * else about them (inline secrets, unpinned packages, unauthenticated remote URLs) is still reported.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scan } from '../../src/scan/scan.js';
import { writeConfig } from '../helpers/gateway.js';
import { SEED_CONFIG } from '../helpers/seed.js';
import { compact, scanFiles } from './helpers.js';

describe('a gateway config', () => {
  it('found in a folder walk: its servers are behind mcp-guard, their other problems still count', async () => {
    const result = await scanFiles({ 'mcp-guard.yaml': SEED_CONFIG, 'nested/mcp-guard.yml': SEED_CONFIG });
    expect(compact(result.findings)).toEqual([
      'mcp-guard.yaml:15 filesystem MCP-SUP-001', // npx -y without a version
      'nested/mcp-guard.yml:15 filesystem MCP-SUP-001',
    ]);
    expect(new Set(result.findings.map((f) => f.client))).toEqual(new Set(['mcp-guard']));
  });

  it('reports inline secrets and remote servers without auth; oauth: auto counts as auth', async () => {
    const result = await scanFiles({
      'mcp-guard.yaml': `auth: { mode: none }
servers:
  local:
    command: node
    args: [server.js]
    env: { GITHUB_TOKEN: "ghp_abcdefghijklmnopqrstuvwxyz0123456789" }
  open:
    url: https://mcp.example.com/mcp
  linear:
    url: https://mcp.linear.app/mcp
    oauth: auto
`,
    });
    expect(compact(result.findings)).toEqual([
      'mcp-guard.yaml:3 local MCP-SEC-001',
      'mcp-guard.yaml:7 open MCP-NET-004',
    ]);
  });

  it('is recognised under another name by its keys; a bare servers map is still a client config', async () => {
    const gateway = writeConfig(SEED_CONFIG);
    const renamed = path.join(path.dirname(gateway), 'gateway.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(renamed, SEED_CONFIG);
    const clientLike = path.join(path.dirname(gateway), 'servers.yaml');
    writeFileSync(clientLike, 'servers:\n  fs:\n    command: node\n    args: [server.js]\n');
    const result = await scan({ paths: [renamed, clientLike], cwd: path.dirname(gateway) });
    expect(compact(result.findings)).toEqual([
      'gateway.yaml:15 filesystem MCP-SUP-001',
      'servers.yaml:2 fs MCP-GW-001',
    ]);
    expect(result.findings.map((f) => f.client)).toEqual(['mcp-guard', 'mcp-json']);
  });
});
