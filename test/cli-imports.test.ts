/**
 * The CLI is a client of the public library API (issue 9, item 6): every file of src/cli imports
 * only Node's modules, commander, other CLI files and the package's public entries (`ddcp`,
 * `ddcp/peer`, `ddcp/docs`, `ddcp/bundle` — src/index.ts and the subpaths' index.ts), never a
 * library module directly. What the CLI can do, an app can do through those entries.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const CLI = join(SRC, 'cli');
/** The public entries, as files under src/ (package.json `exports` maps them). */
const PUBLIC = ['index.ts', 'peer/index.ts', 'docs/index.ts', 'bundle/index.ts', 'hub/index.ts'];

/** The CLI's source files (tests excluded), recursively. */
function cliFiles(dir: string = CLI): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return cliFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Every module specifier of a source text: static imports and re-exports, and `import('…')`. */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"`]([^'"`]+)['"`]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** Why `spec`, imported by `file`, is not allowed; undefined if it is. */
function violation(file: string, spec: string): string | undefined {
  if (spec.startsWith('node:') || spec === 'commander') return undefined;
  if (!spec.startsWith('.')) return `${spec} is a package other than commander`;
  const target = relative(SRC, resolve(dirname(file), spec));
  if (target.startsWith('cli/') || PUBLIC.includes(target)) return undefined;
  return `${target} is not a public entry (${PUBLIC.join(', ')})`;
}

describe('the CLI imports only the public library API', () => {
  it('finds imports of every kind (the scan itself)', () => {
    assert.deepEqual(specifiers(`import type { A } from '../a.ts';\nimport { b,\n c } from "./b.ts";\nexport { d } from '../d.ts';\nimport 'side';\nconst e = await import('../peer/server.ts');`), ['../a.ts', './b.ts', '../d.ts', 'side', '../peer/server.ts']);
    assert.ok(violation(join(CLI, 'x.ts'), '../repo/config.ts'));
    assert.ok(violation(join(CLI, 'shell', 'x.ts'), '../../engine/index.ts'));
    assert.equal(violation(join(CLI, 'shell', 'x.ts'), '../../index.ts'), undefined);
    assert.equal(violation(join(CLI, 'x.ts'), '../peer/index.ts'), undefined);
  });

  it('every src/cli file imports only node:*, commander, CLI files and the public entries', () => {
    const files = cliFiles();
    assert.ok(files.length > 20);
    const bad = files.flatMap((f) => specifiers(readFileSync(f, 'utf8')).flatMap((s) => {
      const why = violation(f, s);
      return why ? [`${relative(SRC, f)}: ${s} — ${why}`] : [];
    }));
    assert.deepEqual(bad, []);
  });
});
