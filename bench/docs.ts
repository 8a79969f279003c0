/**
 * JSON documents (issue 12): P patches (JSON Patch, one field replaced each) on D documents applied
 * locally, then merged into a second replica — patches/s each way and bytes per patch on the wire —
 * beside Automerge and Yjs doing the same edits in the same run (one CRDT document per document).
 *
 *   node --disable-warning=ExperimentalWarning bench/docs.ts   # P = 100,000 on D = 10,000
 *   BENCH_DOC_PATCHES=20000 BENCH_DOCS=2000 node … bench/docs.ts
 *
 * ddcp's wire size is its sync codec (sync/codec.ts) over every change the patches made: the field
 * rows and the history rows (forward and reverse patch, the state after). Automerge's is the size of
 * its binary changes, Yjs's that of its update messages. Each patch is its own transaction (as an app
 * making one edit at a time would do), and, for ddcp, also 1,000 patches to a `Documents.batch`.
 * Rates are given by wall time and by this process's CPU time (steadier on a shared machine).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as Automerge from '@automerge/automerge';
import * as Y from 'yjs';
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import type { Change } from '../src/engine/index.ts';
import { Documents } from '../src/docs/documents.ts';
import { encodeChanges } from '../src/sync/codec.ts';
import { gc, now, Scratch } from './util.ts';

export interface DocsEngineResult {
  name: string;
  /** Local edits per second (creating the documents not included). */
  appliedPerSec: number;
  /** Patches merged into a second replica (that already had the documents) per second. */
  mergedPerSec: number;
  /** ddcp only: local edits per second counting the seal (the engine stamping the logged writes, done before changes are read). */
  appliedSealedPerSec?: number;
  /** The same three rates by CPU time of this process (the machine is shared: CPU time is steadier than wall time). */
  cpu?: { appliedPerSec: number; appliedSealedPerSec?: number; mergedPerSec: number };
  bytesPerPatch: number;
}

export interface DocsResults {
  docs: number;
  patches: number;
  engines: DocsEngineResult[];
}

type Fields = { title: string; status: string; priority: number; note: string };
const STATUSES = ['todo', 'doing', 'done'];

/** The workload, the same for all: which document and field each patch sets, and to what. */
interface Edit {
  doc: number;
  field: keyof Fields;
  value: string | number;
}

function workload(docs: number, patches: number): { initial: Fields[]; edits: Edit[] } {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const initial: Fields[] = [];
  for (let i = 0; i < docs; i++) initial.push({ title: `task ${i}`, status: 'todo', priority: 2, note: '' });
  const edits: Edit[] = [];
  for (let i = 0; i < patches; i++) {
    const doc = rand(docs);
    switch (rand(4)) {
      case 0: edits.push({ doc, field: 'title', value: `task ${doc} v${i}` }); break;
      case 1: edits.push({ doc, field: 'status', value: STATUSES[rand(3)]! }); break;
      case 2: edits.push({ doc, field: 'priority', value: rand(5) }); break;
      default: edits.push({ doc, field: 'note', value: `note ${i}` });
    }
  }
  return { initial, edits };
}

const perSec = (n: number, ms: number): number => Math.round((n * 1000) / ms);
/** CPU time of this process (user + system), in ms. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function measureDdcp(scratch: Scratch, initial: Fields[], edits: Edit[], perTransaction: number): DocsEngineResult {
  const a = Engine.open(openDatabase(scratch.file('docs-a')));
  const b = Engine.open(openDatabase(scratch.file('docs-b')));
  try {
    const docsA = new Documents(a);
    const docsB = new Documents(b);
    const ids = initial.map((content, i) => docsA.create('tasks', content, { id: `doc-${i}` }).id);
    const created = a.dbVersion();
    docsB.applyChanges([...a.changesSince(0)]);
    gc();
    const t0 = now();
    const c0 = cpuMs();
    for (let i = 0; i < edits.length; i += perTransaction) {
      const run = (): void => {
        for (const e of edits.slice(i, i + perTransaction)) docsA.update('tasks', ids[e.doc]!, [{ op: 'replace', path: `/${e.field}`, value: e.value }]);
      };
      if (perTransaction === 1) run();
      else docsA.batch(run);
    }
    const applyMs = now() - t0;
    const applyCpu = cpuMs() - c0;
    a.seal();
    const sealedMs = now() - t0;
    const sealedCpu = cpuMs() - c0;
    const changes: Change[] = [...a.changesSince(created)];
    const bytes = encodeChanges(changes).length;
    gc();
    const t1 = now();
    const c1 = cpuMs();
    docsB.applyChanges(changes);
    const mergeMs = now() - t1;
    const mergeCpu = cpuMs() - c1;
    const same = JSON.stringify(docsA.get('tasks', ids[edits.at(-1)!.doc]!)) === JSON.stringify(docsB.get('tasks', ids[edits.at(-1)!.doc]!));
    if (!same) throw new Error('ddcp replicas differ after the merge');
    const n = edits.length;
    return {
      name: perTransaction === 1 ? 'ddcp (a transaction per patch)' : `ddcp (batch() of ${perTransaction} patches)`,
      appliedPerSec: perSec(n, applyMs),
      appliedSealedPerSec: perSec(n, sealedMs),
      mergedPerSec: perSec(n, mergeMs),
      bytesPerPatch: bytes / n,
      cpu: { appliedPerSec: perSec(n, applyCpu), appliedSealedPerSec: perSec(n, sealedCpu), mergedPerSec: perSec(n, mergeCpu) },
    };
  } finally {
    a.db.close();
    b.db.close();
  }
}

function measureAutomerge(initial: Fields[], edits: Edit[]): DocsEngineResult {
  let docs = initial.map((c) => Automerge.from<Fields>({ ...c }));
  // The second replica starts from the first's documents (as ddcp's does).
  let replicas = docs.map((d) => Automerge.clone(d));
  const base = docs.map((d) => Automerge.getHeads(d));
  gc();
  const t0 = now();
  const c0 = cpuMs();
  for (const e of edits) {
    docs[e.doc] = Automerge.change(docs[e.doc]!, (d) => {
      (d as Record<string, unknown>)[e.field] = e.value;
    });
  }
  const applyMs = now() - t0;
  const applyCpu = cpuMs() - c0;
  const changes = docs.map((d, i) => Automerge.getChanges(Automerge.view(d, base[i]!), d));
  let bytes = 0;
  for (const list of changes) for (const c of list) bytes += c.length;
  gc();
  const t1 = now();
  const c1 = cpuMs();
  replicas = replicas.map((r, i) => Automerge.applyChanges(r, changes[i]!)[0]);
  const mergeMs = now() - t1;
  const mergeCpu = cpuMs() - c1;
  const last = edits.at(-1)!.doc;
  if (JSON.stringify(replicas[last]) !== JSON.stringify(docs[last])) throw new Error('automerge replicas differ');
  docs = [];
  const n = edits.length;
  return { name: `Automerge ${versionOf('@automerge/automerge')}`, appliedPerSec: perSec(n, applyMs), mergedPerSec: perSec(n, mergeMs), bytesPerPatch: bytes / n, cpu: { appliedPerSec: perSec(n, applyCpu), mergedPerSec: perSec(n, mergeCpu) } };
}

function measureYjs(initial: Fields[], edits: Edit[]): DocsEngineResult {
  const docs = initial.map((c) => {
    const d = new Y.Doc();
    const m = d.getMap('content');
    for (const [k, v] of Object.entries(c)) m.set(k, v);
    return d;
  });
  const replicas = docs.map((d) => {
    const r = new Y.Doc();
    Y.applyUpdate(r, Y.encodeStateAsUpdate(d));
    return r;
  });
  const updates: Uint8Array[][] = docs.map(() => []);
  docs.forEach((d, i) => d.on('update', (u: Uint8Array) => updates[i]!.push(u)));
  gc();
  const t0 = now();
  const c0 = cpuMs();
  for (const e of edits) {
    const d = docs[e.doc]!;
    d.transact(() => d.getMap('content').set(e.field, e.value));
  }
  const applyMs = now() - t0;
  const applyCpu = cpuMs() - c0;
  let bytes = 0;
  for (const list of updates) for (const u of list) bytes += u.length;
  gc();
  const t1 = now();
  const c1 = cpuMs();
  updates.forEach((list, i) => {
    for (const u of list) Y.applyUpdate(replicas[i]!, u);
  });
  const mergeMs = now() - t1;
  const mergeCpu = cpuMs() - c1;
  const last = edits.at(-1)!.doc;
  if (JSON.stringify(replicas[last]!.getMap('content').toJSON()) !== JSON.stringify(docs[last]!.getMap('content').toJSON())) throw new Error('yjs replicas differ');
  const n = edits.length;
  return { name: `Yjs ${versionOf('yjs')}`, appliedPerSec: perSec(n, applyMs), mergedPerSec: perSec(n, mergeMs), bytesPerPatch: bytes / n, cpu: { appliedPerSec: perSec(n, applyCpu), mergedPerSec: perSec(n, mergeCpu) } };
}

/** An installed package's version (from its package.json). */
function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export function measureDocs(scratch: Scratch, docs: number, patches: number, log: (line: string) => void = () => {}): DocsResults {
  const { initial, edits } = workload(docs, patches);
  const engines: DocsEngineResult[] = [];
  log('documents: ddcp, a transaction per patch');
  engines.push(measureDdcp(scratch, initial, edits, 1));
  log('documents: ddcp, 1,000 patches a transaction');
  engines.push(measureDdcp(scratch, initial, edits, 1000));
  log('documents: automerge');
  engines.push(measureAutomerge(initial, edits));
  log('documents: yjs');
  engines.push(measureYjs(initial, edits));
  return { docs, patches, engines };
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

export function docsReport(r: DocsResults): string {
  const lines = [
    '',
    `## JSON documents: ${fmt(r.patches)} patches on ${fmt(r.docs)} documents`,
    '',
    'Wall time (CPU time of this process in brackets: steadier on a shared machine).',
    '',
    '| | applied locally | applied, seal included | merged into a second replica | bytes per patch on the wire |',
    '|---|---:|---:|---:|---:|',
    ...r.engines.map(
      (e) =>
        `| ${e.name} | ${fmt(e.appliedPerSec)} /s (${fmt(e.cpu?.appliedPerSec ?? 0)}) | ${e.appliedSealedPerSec === undefined ? '' : `${fmt(e.appliedSealedPerSec)} /s (${fmt(e.cpu?.appliedSealedPerSec ?? 0)})`} | ${fmt(e.mergedPerSec)} /s (${fmt(e.cpu?.mergedPerSec ?? 0)}) | ${e.bytesPerPatch.toFixed(1)} |`,
    ),
    '',
    'Target: ≥ 50,000 patches/s applied and merged, fewer bytes per patch than Automerge.',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const int = (name: string, fallback: number): number => {
    const n = Number(process.env[name] ?? fallback);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
    return n;
  };
  const scratch = new Scratch();
  try {
    const r = measureDocs(scratch, int('BENCH_DOCS', 10_000), int('BENCH_DOC_PATCHES', 100_000), (l) => process.stderr.write(`[bench] ${l}\n`));
    process.stdout.write(docsReport(r));
  } finally {
    scratch.cleanup();
  }
}
