/**
 * Every pattern the scan applies to config text runs in linear time. Each case is a 1 MB value built to
 * make a backtracking regex rescan it from every position (long runs of URL-scheme characters,
 * unclosed `${`, `rm -rfrf…_`, trailing slashes, a flag word of c's…), put in every place a check
 * reads: command, shell script, arguments, env, headers, URL, docker mounts, package specs. Before the
 * fix one 100 KB argument took 4.5 s and 300 KB took 54 s; the bound below only guards against that.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlsIn } from '../../src/scan/check-secrets.js';
import { scan } from '../../src/scan/scan.js';
import { isReference } from '../../src/scan/secrets.js';
import { tempDir } from './helpers.js';

const MB = 1024 * 1024;
const fill = (unit: string, tail = '') => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB) + tail;

const CASES: Record<string, string> = {
  'scheme characters': fill('a'),
  'scheme characters with +': fill('a+'),
  'dotted words': fill('a.'),
  'unclosed ${': fill('${'),
  'unclosed {{': fill('{{'),
  'rm -rfrf…_': `rm -${fill('rf', '_')}`,
  'rm -rrr…1': `rm -${fill('r', '1')}`,
  'trailing slashes': fill('/', 'x'),
  'a flag word of c': `-${fill('c', '1')}`,
  'a package name and a line break': fill('a', '\nb'),
  'repeated glpat-': fill('glpat-'),
  'repeated Bearer': fill('Bearer '),
  'repeated key=': fill('token='),
  'repeated a://': fill('a://'),
  'repeated #': `git+${fill('#', '\n')}`,
};

let dir: string;

beforeAll(() => {
  dir = tempDir('mcp-guard-scan-linear-');
  for (const [i, value] of Object.values(CASES).entries()) {
    // Three files per case, each under the 5 MB read limit.
    const files = [
      {
        shell: { command: 'sh', args: ['-c', value] },
        runner: { command: 'uvx', args: [value] },
        env: { command: 'node', env: { API_TOKEN: value } },
        remote: { url: `https://x.example/${value}` },
      },
      {
        docker: { command: 'docker', args: ['run', '-v', value, 'mcp/x'] },
        npx: { command: 'npx', args: ['-y', value] },
        fs: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', value] },
        headers: { url: 'https://x.example/mcp', headers: { Authorization: value } },
      },
      {
        command: { command: value },
        image: { command: 'docker', args: ['run', value] },
        header: { url: 'https://x.example/mcp', headers: { 'X-Other': value } },
      },
    ];
    for (const [n, servers] of files.entries()) {
      const file = path.join(dir, `case-${i}-${n}`, '.mcp.json');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ mcpServers: servers }));
    }
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('1 MB values', () => {
  it('one 1 MB argument scans in well under a second (bound: 3 s)', async () => {
    const file = path.join(dir, 'one-arg', '.mcp.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify({ mcpServers: { s: { command: 'npx', args: ['-y', CASES['scheme characters']] } } }),
    );
    const started = performance.now();
    const result = await scan({ paths: ['one-arg'], cwd: dir });
    const ms = performance.now() - started;
    console.log(`one 1 MB argument: ${ms.toFixed(0)} ms`);
    expect(result.summary.files).toBe(1);
    expect(ms).toBeLessThan(3000);
  });

  // Each case puts 11 such values through every check (about 0.3 s idle). The quadratic code needed
  // minutes for a single one, so 10 s only guards against that, on a loaded 2-core CI machine too.
  for (const [i, name] of Object.keys(CASES).entries()) {
    it(`scan in linear time: ${name}`, async () => {
      const started = performance.now();
      const result = await scan({ paths: [0, 1, 2].map((n) => `case-${i}-${n}`), cwd: dir });
      const ms = performance.now() - started;
      console.log(`11 × 1 MB ${name}: ${ms.toFixed(0)} ms`);
      expect(result.summary.files).toBe(3);
      // All three files were read and checked, not refused as too large.
      expect(result.findings.some((f) => f.rule === 'MCP-CFG-002')).toBe(false);
      expect(ms).toBeLessThan(10_000);
    });
  }
});

describe('the linear replacements', () => {
  // A small deterministic generator, so a failure can be replayed.
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const sample = (alphabet: string[], max: number) =>
    Array.from(
      { length: Math.floor(random() * max) },
      () => alphabet[Math.floor(random() * alphabet.length)],
    ).join('');

  it('urlsIn finds exactly what the quadratic URL regex found', () => {
    const old = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
    const alphabet = ['a', 'Z', '1', '+', '.', '-', ':', '/', '://', ' ', '"', '<', '@', '?', '=', 'x://'];
    for (let i = 0; i < 5000; i++) {
      const text = sample(alphabet, 24);
      expect(urlsIn(text), JSON.stringify(text)).toEqual([...text.matchAll(old)].map((m) => m[0]));
    }
  });

  it('isReference answers as the regexes it replaces', () => {
    const old = (v: string) =>
      /\$\{[^}]*\}/.test(v) ||
      /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(v) ||
      /^%[A-Za-z_][A-Za-z0-9_]*%$/.test(v) ||
      /\{\{[^}]*\}\}/.test(v);
    const alphabet = ['$', '{', '}', '{{', '}}', '${', 'a', '%', ' ', '_'];
    for (let i = 0; i < 5000; i++) {
      const text = sample(alphabet, 12);
      expect(isReference(text), JSON.stringify(text)).toBe(old(text));
    }
  });
});
