/**
 * The two trees an engine A/B bench compares: `before`, the tree named by the first argument (a
 * worktree of the base revision), and `after`, this one — each with its own engine and SQLite modules,
 * so both run in one process, interleaved.
 */
import { resolve } from 'node:path';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

export interface EngineTree {
  label: 'before' | 'after';
  root: string;
  engine: EngineModule;
  sqlite: SqliteModule;
}

/** Loads both trees' engines; `script` names the bench in the usage error when no tree is given. */
export async function engineTrees(script: string): Promise<EngineTree[]> {
  const other = process.argv[2];
  if (!other) throw new Error(`usage: ${script} <other tree>`);
  const roots: [EngineTree['label'], string][] = [
    ['before', resolve(other)],
    ['after', resolve(import.meta.dirname, '..')],
  ];
  return Promise.all(
    roots.map(async ([label, root]) => ({
      label,
      root,
      engine: (await import(resolve(root, 'src/engine/engine.ts'))) as EngineModule,
      sqlite: (await import(resolve(root, 'src/engine/sqlite.ts'))) as SqliteModule,
    })),
  );
}
