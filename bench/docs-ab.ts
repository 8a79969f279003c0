/**
 * A/B of the documents bench's workload (one field replaced per patch, P = 20,000 on D = 2,000
 * documents) on the checkout given — run it on two trees, interleaved, to compare them on a shared
 * machine: rates by this process's CPU time, and wire bytes per patch. A tree whose Documents has
 * no batch() gets a plain transaction around each 1,000 patches.
 *
 *   git worktree add /tmp/old <commit>; ln -s $PWD/node_modules /tmp/old/
 *   for t in /tmp/old $PWD; do TX=1000 node --disable-warning=ExperimentalWarning bench/docs-ab.ts $t; done
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
const tree = resolve(process.argv[2] ?? '.');
const { Engine } = await import(`${tree}/src/engine/engine.ts`);
const { openDatabase } = await import(`${tree}/src/engine/sqlite.ts`);
const { transaction } = await import(`${tree}/src/engine/transaction.ts`);
const { Documents } = await import(`${tree}/src/docs/documents.ts`);
const { encodeChanges } = await import(`${tree}/src/sync/codec.ts`);
const P = 20000, D = 2000, TX = Number(process.env.TX ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'ddcp-docs-ab-'));
const f = (n: string): string => join(dir, `${n}.db`);
const a = Engine.open(openDatabase(f('a'))), b = Engine.open(openDatabase(f('b')));
const da = new Documents(a), db = new Documents(b);
for (let i = 0; i < D; i++) da.create('tasks', { title: `task ${i}`, status: 'todo', priority: 2, note: '' }, { id: `doc-${i}` });
const created = a.dbVersion();
db.applyChanges([...a.changesSince(0)]);
let seed = 12345; const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
const F = ['title', 'status', 'priority', 'note'];
const edits = Array.from({ length: P }, (_, i) => ({ doc: rand(D), field: F[rand(4)]!, value: `v${i}` }));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let c0 = cpu();
for (let i = 0; i < P; i += TX) {
  const run = () => { for (const e of edits.slice(i, i + TX)) da.update('tasks', `doc-${e.doc}`, [{ op: 'replace', path: `/${e.field}`, value: e.value }]); };
  if (TX === 1) run(); else if (da.batch) da.batch(run); else transaction(a.db, run);
}
const apply = cpu() - c0;
a.seal();
const sealed = cpu() - c0;
const changes = [...a.changesSince(created)];
const bytes = encodeChanges(changes).length / P;
c0 = cpu();
db.applyChanges(changes);
const merge = cpu() - c0;
a.db.close();
b.db.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ tree: tree.split('/').pop(), TX, applyPerSecCpu: Math.round(P / apply * 1000), sealedPerSecCpu: Math.round(P / sealed * 1000), mergePerSecCpu: Math.round(P / merge * 1000), bytes: bytes.toFixed(1) }));
