/** docs/scan.md cannot drift from the code: its rules table and its workflow example are checked here. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RULES } from '../../src/scan/rules.js';
import { ROOT } from '../helpers/paths.js';

const doc = readFileSync(path.join(ROOT, 'docs/scan.md'), 'utf8');
const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, unknown>;
};

describe('docs/scan.md', () => {
  it('lists every rule with its severity, security-severity and fix', () => {
    for (const r of RULES) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${r.id}\` |`));
      expect(row, r.id).toBeDefined();
      expect(row).toContain(`| ${r.severity} (${r.securitySeverity}) |`);
      expect(row).toContain(r.fix.replace(/\|/g, '\\|'));
    }
    expect(doc.split('\n').filter((l) => /^\| `MCP-/.test(l))).toHaveLength(RULES.length);
  });

  it('shows a workflow that parses and uses only inputs the action has', () => {
    const yaml = /```yaml\n(# \.github\/workflows\/mcp-scan\.yml[\s\S]*?)```/.exec(doc)?.[1];
    expect(yaml).toBeDefined();
    const workflow = parse(yaml ?? '') as {
      permissions: Record<string, string>;
      jobs: Record<string, { steps: Array<{ uses?: string; with?: Record<string, string> }> }>;
    };
    expect(workflow.permissions['security-events']).toBe('write');
    const step = Object.values(workflow.jobs)[0]?.steps.find((s) => s.uses?.includes('mcp-guard@'));
    for (const input of Object.keys(step?.with ?? {})) expect(Object.keys(action.inputs)).toContain(input);
    for (const input of Object.keys(action.inputs)) expect(doc).toContain(`| \`${input}\` |`);
  });
});
