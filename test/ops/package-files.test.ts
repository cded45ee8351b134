/**
 * What `npm publish` would ship, from `npm pack --dry-run --json` (scripts off: this inspects the dist/
 * the suite built; the real `prepack` rebuilds dist/ from scratch first). The package holds the CLI and
 * everything it imports, LICENSE, the docs and the config's JSON Schema; not the tools, the test servers,
 * source maps (their sources are not shipped), sources or tests.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

interface PackEntry {
  readonly path: string;
}

let files: string[] = [];
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  license: string;
};

beforeAll(async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts'],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, out) => (err ? reject(err) : resolve(out)),
    ),
  );
  files = (JSON.parse(stdout) as Array<{ files: PackEntry[] }>)[0]?.files.map((f) => f.path) ?? [];
});

describe('the npm package', () => {
  it('ships LICENSE (Apache-2.0, as package.json says), the README, the docs and the JSON Schema', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(files).toContain('LICENSE');
    expect(readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toMatch(
      /^\s*Apache License\s+Version 2\.0, January 2004/,
    );
    for (const name of ['README.md', 'package.json', 'mcp-guard.schema.json']) expect(files).toContain(name);
    for (const doc of readdirSync(path.join(ROOT, 'docs'))) expect(files).toContain(`docs/${doc}`);
    // Every docs/ link of the README leads to a shipped file.
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const [, link] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) expect(files).toContain(link);
  });

  it('ships the CLI and the dashboard', () => {
    for (const bin of Object.values(pkg.bin)) expect(files).toContain(bin.replace(/^\.\//, ''));
    expect(files.filter((f) => f.startsWith('dist/ui/static/')).length).toBeGreaterThan(0);
  });

  it('leaves out tools, test servers, source maps, sources and tests', () => {
    const unwanted = files.filter(
      (f) =>
        /^dist\/(tools|test-servers)\//.test(f) ||
        f.endsWith('.map') ||
        /\.test\.js$/.test(f) ||
        /^(src|test|bench|scripts|docker|\.ci|\.github)\//.test(f) ||
        /^(tsconfig.*|biome|vitest\.config)\./.test(f),
    );
    expect(unwanted).toEqual([]);
  });

  it('holds every module the shipped code imports (nothing left out by the exclusions)', () => {
    const shipped = new Set(files);
    const missing: string[] = [];
    for (const file of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
      const code = readFileSync(path.join(ROOT, file), 'utf8');
      for (const [, spec] of code.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec as string));
        if (!shipped.has(target)) missing.push(`${file} → ${spec}`);
      }
    }
    expect(missing).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).length).toBeGreaterThan(50);
  });
});
