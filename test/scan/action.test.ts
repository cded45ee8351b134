/**
 * The GitHub Action (action.yml) and its example workflow cannot run here, so these tests check what
 * can be checked locally: both files parse, every input the action uses is declared, the commands and
 * flags it runs exist in the CLI, and the action's scan step — the real bash script, run against the
 * built CLI — writes SARIF, reports the exit code the gate step reads, and never leaks a secret.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLI, ROOT } from '../helpers/paths.js';

interface Step {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
  'continue-on-error'?: boolean;
}

interface ActionFile {
  name: string;
  description: string;
  inputs: Record<string, { description: string; default?: string; required?: boolean }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
}

interface WorkflowFile {
  on: { pull_request?: { paths?: string[] }; workflow_dispatch?: unknown };
  permissions: Record<string, string>;
  jobs: Record<string, { 'runs-on': string; steps: Step[] }>;
}

const actionText = readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
const action = parse(actionText) as ActionFile;
const workflow = parse(
  readFileSync(path.join(ROOT, '.github/workflows/scan-example.yml'), 'utf8'),
) as WorkflowFile;
const mainTs = readFileSync(path.join(ROOT, 'src/cli/main.ts'), 'utf8');

function step(id: string): Step {
  const found = action.runs.steps.find((s) => s.id === id);
  if (!found) throw new Error(`action.yml has no step with id ${id}`);
  return found;
}

/** The `.choices([...])` list commander declares for an option of main.ts. */
function choicesOf(flag: string): string[] {
  const at = mainTs.indexOf(`'${flag}`);
  expect(at, `main.ts declares ${flag}`).toBeGreaterThan(-1);
  const m = /\.choices\(\[([^\]]*)\]\)/.exec(mainTs.slice(at, at + 400));
  expect(m, `${flag} has choices`).not.toBeNull();
  return [...(m?.[1] ?? '').matchAll(/'([^']+)'/g)].map((x) => x[1] as string);
}

describe('action.yml', () => {
  it('is a composite action with described inputs, and uses only inputs it declares', () => {
    expect(action.runs.using).toBe('composite');
    expect(action.name).toBeTruthy();
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description, `input ${name} has a description`).toBeTruthy();
    }
    const used = new Set([...actionText.matchAll(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g)].map((m) => m[1]));
    const usedInIf = action.runs.steps.flatMap((s) => [...(s.if ?? '').matchAll(/inputs\.([\w-]+)/g)]);
    for (const m of usedInIf) used.add(m[1]);
    expect(used.size).toBeGreaterThan(4);
    for (const name of used) expect(Object.keys(action.inputs), `input ${name} is declared`).toContain(name);
    for (const output of Object.values(action.outputs))
      expect(output.value).toMatch(/steps\.scan\.outputs\./);
  });

  it('runs `mcp-guard scan` with flags and values the CLI accepts', () => {
    const script = step('scan').run ?? '';
    expect(script).toContain('scan --no-home --format sarif --fail-on "$INPUT_FAIL_ON"');
    expect(script).toContain('scan --no-home --format text --fail-on never');
    expect(mainTs).toContain(".command('scan')");
    expect(mainTs).toContain("'--no-home'");
    expect(choicesOf('--format')).toEqual(expect.arrayContaining(['text', 'sarif']));
    expect(choicesOf('--fail-on')).toContain(action.inputs['fail-on']?.default);
    expect(choicesOf('--fail-on')).toContain('never');
    // The script runs the CLI this package builds (or a pinned npm version), never a bare global.
    expect(script).toContain('$MCP_GUARD_ACTION_PATH/dist/cli/main.js');
    expect(script).toContain('mcp-guard@$MCP_GUARD_VERSION');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
    };
    expect(pkg.name).toBe('mcp-guard');
    expect(pkg.bin['mcp-guard']).toBe('dist/cli/main.js');
    // Inputs reach the shell only through env, never pasted into the script (no script injection).
    expect(script).not.toMatch(/\$\{\{/);
  });

  it('builds from its own source with the tsconfig the package uses', () => {
    const build = action.runs.steps.find((s) => s.name?.startsWith('Build'));
    expect(build?.run).toContain('tsc -p tsconfig.build.json');
    expect(existsSync(path.join(ROOT, 'tsconfig.build.json'))).toBe(true);
    expect(build?.if).toBe("inputs.version == ''");
  });

  it('uploads the SARIF file to code scanning and fails the job on exit code 1', () => {
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
    expect(upload?.with?.['sarif_file']).toBe('${{ steps.scan.outputs.sarif-file }}');
    expect(upload?.if).toContain('always()');
    expect(upload?.if).toContain("inputs.upload-sarif == 'true'");
    const gate = action.runs.steps.at(-1);
    expect(gate?.if).toBe("steps.scan.outputs.exit-code == '1'");
    expect(gate?.run).toMatch(/exit 1\s*$/);
  });
});

describe('the scan step of action.yml, run against the built CLI', () => {
  let dir: string;
  const token = `ghp_${'a1B2'.repeat(9)}`; // built at run time so the source holds no token-shaped string

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests`);
    dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-guard-action-'));
    mkdirSync(path.join(dir, 'bad'));
    mkdirSync(path.join(dir, 'clean dir'));
    writeFileSync(
      path.join(dir, 'bad', '.mcp.json'),
      JSON.stringify(
        {
          mcpServers: {
            github: {
              command: 'docker',
              args: ['run', '-i', 'ghcr.io/github/github-mcp-server'],
              env: { GITHUB_PERSONAL_ACCESS_TOKEN: token },
            },
          },
        },
        null,
        2,
      ),
    );
    writeFileSync(
      path.join(dir, 'clean dir', '.mcp.json'),
      JSON.stringify(
        {
          mcpServers: {
            guarded: {
              command: 'mcp-guard',
              args: ['serve', '--config', 'mcp-guard.yaml'],
              env: { MCP_GUARD_API_KEY: '${MCP_GUARD_API_KEY}' },
            },
          },
        },
        null,
        2,
      ),
    );
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the step's script the way GitHub does (`bash --noprofile --norc -eo pipefail`). */
  function runStep(inputPaths: string, name: string) {
    const output = path.join(dir, `${name}.output`);
    const summary = path.join(dir, `${name}.summary`);
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const result = spawnSync(
      'bash',
      ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step('scan').run ?? ''],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          ...process.env,
          NO_COLOR: '1',
          MCP_GUARD_ACTION_PATH: ROOT,
          MCP_GUARD_VERSION: '',
          INPUT_PATHS: inputPaths,
          INPUT_FAIL_ON: 'high',
          INPUT_SARIF_FILE: `${name}.sarif`,
          GITHUB_OUTPUT: output,
          GITHUB_STEP_SUMMARY: summary,
          RUNNER_TEMP: dir,
        },
      },
    );
    const outputs = Object.fromEntries(
      readFileSync(output, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    return {
      result,
      outputs,
      summary: readFileSync(summary, 'utf8'),
      sarifPath: path.join(dir, `${name}.sarif`),
    };
  }

  it('writes SARIF and sets exit-code=1 for a tree with a high finding, without failing the step itself', () => {
    const { result, outputs, summary, sarifPath } = runStep('bad', 'bad');
    expect(result.status, result.stderr).toBe(0);
    expect(outputs).toEqual({ 'exit-code': '1', 'sarif-file': 'bad.sarif' });
    const sarif = JSON.parse(readFileSync(sarifPath, 'utf8')) as {
      version: string;
      runs: Array<{
        results: Array<{
          level: string;
          locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }>;
        }>;
      }>;
    };
    expect(sarif.version).toBe('2.1.0');
    const results = sarif.runs[0]?.results ?? [];
    expect(results.some((r) => r.level === 'error')).toBe(true);
    expect(results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).toBe('bad/.mcp.json');
    expect(summary).toContain('### mcp-guard scan');
    expect(summary).toContain('bad/.mcp.json');
    // The secret is reported masked, never in full, in every output the action produces.
    for (const text of [readFileSync(sarifPath, 'utf8'), summary, result.stdout, result.stderr]) {
      expect(text).not.toContain(token);
    }
  });

  it('puts the report in the job summary as escaped <pre> text that a config cannot break out of', () => {
    const name = 'x```\n</pre><img src=x onerror=alert(1)>\r# Forged heading';
    mkdirSync(path.join(dir, 'markup'));
    writeFileSync(
      path.join(dir, 'markup', '.mcp.json'),
      JSON.stringify({ mcpServers: { [name]: { command: 'node', args: ['a.js'] } } }),
    );
    const { result, summary } = runStep('markup', 'markup');
    expect(result.status, result.stderr).toBe(0);
    const lines = summary.split('\n');
    expect(lines.slice(0, 3)).toEqual(['### mcp-guard scan', '', '<pre>']);
    expect(lines.filter((l) => l.includes('<') || l.includes('>'))).toEqual(['<pre>', '</pre>']);
    expect(summary).toContain(
      'x```\\n&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;&lt;U+000D&gt;# Forged heading',
    );
    expect(lines.some((l) => l.startsWith('#') && l !== '### mcp-guard scan')).toBe(false);
  });

  it('sets exit-code=0 for a clean tree, with a path that has a space in it', () => {
    const { result, outputs } = runStep('clean dir\n', 'clean');
    expect(result.status, result.stderr).toBe(0);
    expect(outputs['exit-code']).toBe('0');
  });

  it('scans every path given on separate lines', () => {
    const { result, outputs, summary } = runStep('clean dir\nbad', 'both');
    expect(result.status, result.stderr).toBe(0);
    expect(outputs['exit-code']).toBe('1');
    expect(summary).toContain('bad/.mcp.json');
  });

  it('fails the step with exit 2 and uploads nothing when a path does not exist', () => {
    const { result, outputs } = runStep('no-such-folder', 'missing');
    expect(result.status).toBe(2);
    expect(outputs['exit-code']).toBe('2');
    expect(outputs['sarif-file']).toBeUndefined();
    expect(result.stdout).toContain('::error');
  });
});

describe('.github/workflows/scan-example.yml', () => {
  it('runs the action on pull requests with the permission upload-sarif needs', () => {
    expect(workflow.on.pull_request?.paths).toEqual(expect.arrayContaining(['**/.mcp.json', 'action.yml']));
    expect(workflow.permissions['security-events']).toBe('write');
    const scan = workflow.jobs['scan']?.steps ?? [];
    expect(scan[0]?.uses).toMatch(/^actions\/checkout@/);
    expect(scan.find((s) => s.uses === './')?.with?.['fail-on']).toBe('high');
  });

  it('scans folders that exist, and self-tests that the action fails on high findings', () => {
    for (const job of Object.values(workflow.jobs)) {
      for (const s of job.steps) {
        const paths = s.uses === './' ? (s.with?.['paths'] ?? '.') : undefined;
        if (paths === undefined) continue;
        for (const p of paths.split(/\s+/).filter(Boolean))
          expect(existsSync(path.join(ROOT, p)), p).toBe(true);
      }
    }
    const selfTest = workflow.jobs['fails-on-high-findings']?.steps ?? [];
    const bad = selfTest.find((s) => s.id === 'bad');
    expect(bad?.['continue-on-error']).toBe(true);
    expect(selfTest.at(-1)?.if).toBe("steps.bad.outcome != 'failure'");
  });
});
