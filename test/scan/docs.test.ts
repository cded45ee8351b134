/**
 * docs/scan.md and the README's scan parts cannot drift from the code: the rules table, the workflow
 * examples (against action.yml and .github/workflows/scan-example.yml) and the command line are
 * checked here.
 */
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

interface Workflow {
  permissions: Record<string, string>;
  jobs: Record<string, { steps: Array<{ uses?: string; with?: Record<string, string> }> }>;
}

describe('README.md', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const example = parse(
    readFileSync(path.join(ROOT, '.github/workflows/scan-example.yml'), 'utf8'),
  ) as Workflow;

  it('lists mcp-guard scan with the options of SPEC §1 in its Commands block', () => {
    const commands = /## Commands\n\n```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(commands).toContain(
      'mcp-guard scan [PATH...] [--format text|json|sarif] [--fail-on high|medium|low|never] [--no-home]',
    );
    expect(readme).toContain('[docs/scan.md](docs/scan.md)');
  });

  it('shows a "Scan in CI" workflow that uses the action as the example workflow does', () => {
    const yaml = /## Scan in CI\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const shown = parse(yaml ?? '') as Workflow;
    const shownSteps = Object.values(shown.jobs)[0]?.steps ?? [];
    const exampleSteps = example.jobs['scan']?.steps ?? [];
    // Same permissions, same checkout, then the action with the same inputs and fail-on.
    expect(shown.permissions).toEqual(example.permissions);
    expect(shownSteps[0]?.uses).toBe(exampleSteps[0]?.uses);
    const shownScan = shownSteps.find((s) => s.uses?.includes('mcp-guard@'));
    const exampleScan = exampleSteps.find((s) => s.uses === './');
    expect(Object.keys(shownScan?.with ?? {}).sort()).toEqual(Object.keys(exampleScan?.with ?? {}).sort());
    expect(shownScan?.with?.['fail-on']).toBe(exampleScan?.with?.['fail-on']);
    for (const input of Object.keys(shownScan?.with ?? {}))
      expect(Object.keys(action.inputs)).toContain(input);
    // In a user's repository the whole checkout is scanned (the example scans a fixture, and says so).
    expect(shownScan?.with?.['paths']).toBe('.');
    expect(readFileSync(path.join(ROOT, '.github/workflows/scan-example.yml'), 'utf8')).toContain('paths: .');
  });
});
