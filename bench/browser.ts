/**
 * The browser benchmark (issue 13): the engine on sqlite-wasm in headless Chromium — in memory and
 * in OPFS (opfs-sahpool), in a dedicated worker — beside the engine on node:sqlite (in memory) in the
 * same run, with the same workload (bench/browser-workload.ts): insert and merge rates. And the size
 * of ddcp/browser as shipped (minified JS + sqlite3.wasm), raw and gzip.
 *
 *   node bench/browser.ts                # BENCH_BROWSER_ROWS=50000, best of BENCH_BROWSER_REPS=3
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildBrowser } from '../scripts/build-browser.ts';
import { openDatabase } from '../src/engine/index.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { serveStatic } from '../test/support/browser-app.ts';
import { runWorkload, type WorkloadResult } from './browser-workload.ts';

export interface BrowserBenchResults {
  rows: number;
  reps: number;
  runs: { engine: string; changes: number; insertPerSec: number; mergePerSec: number }[];
  /** ddcp/browser as a page loads it: index.js, worker.js, the shared chunk(s) and sqlite3.wasm. */
  bundle: { files: { file: string; raw: number; gzip: number }[]; raw: number; gzip: number };
  chromium: string;
}

const TARGET_MERGE_PER_SEC = 100_000;
const TARGET_GZIP_BYTES = 1.5 * 1024 * 1024;

const perSec = (n: number, ms: number): number => (n * 1000) / ms;

export async function measureBrowser(rows: number, reps: number, log: (m: string) => void = () => {}): Promise<BrowserBenchResults> {
  const outdir = join(tmpdir(), `ddcp-bench-browser-${process.pid}`);
  try {
    log('browser: bundling ddcp/browser (minified) and the bench worker');
    const shipped = await buildBrowser(outdir);
    const files = Object.keys(shipped.outputs)
      .map((f) => f.split('/').pop()!)
      .concat('sqlite3.wasm')
      .filter((f) => f !== 'local.js') // a page that uses the worker doesn't load the in-thread entry
      .map((file) => {
        const bytes = readFileSync(join(outdir, file));
        return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
      });
    const bundle = { files, raw: files.reduce((s, f) => s + f.raw, 0), gzip: files.reduce((s, f) => s + f.gzip, 0) };
    // the bench worker in its own build beside it (not part of what ships)
    await buildBrowser(join(outdir, 'bench'), { extraEntries: { bench: 'bench/browser-worker.ts' } });
    writeFileSync(join(outdir, 'bench', 'bench.html'), '<!doctype html><meta charset="utf-8"><title>ddcp bench</title>');

    const runs: BrowserBenchResults['runs'] = [];
    const add = (engine: string, r: WorkloadResult): void => {
      runs.push({ engine, changes: r.changes, insertPerSec: perSec(r.rows, r.insertMs), mergePerSec: perSec(r.changes, r.mergeMs) });
      log(`browser: ${engine}: insert ${Math.round(perSec(r.rows, r.insertMs))} rows/s, merge ${Math.round(perSec(r.changes, r.mergeMs))} changes/s`);
    };
    log(`browser: node:sqlite in memory, ${rows} rows × ${reps}`);
    add('node:sqlite (memory), Node', await runWorkload(async () => openDatabase(':memory:'), async (_t, db) => db.close(), rows, reps, () => performance.now()));

    const site = await serveStatic(join(outdir, 'bench'));
    const browser = await launchBrowser();
    try {
      const chromium = browser.version();
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${site.url}/bench.html`);
      for (const storage of ['memory', 'opfs'] as const) {
        log(`browser: sqlite-wasm (${storage}) in Chromium's worker, ${rows} rows × ${reps}`);
        const out = (await page.evaluate(
          `new Promise((resolve) => { const w = new Worker('./bench.js', { type: 'module' }); w.onmessage = (m) => { resolve(m.data); w.terminate(); }; w.postMessage(${JSON.stringify({ rows, reps, storage })}); })`,
        )) as { ok: boolean; result?: WorkloadResult; error?: string };
        if (!out.ok) throw new Error(`the browser run (${storage}) failed: ${out.error}`);
        add(`sqlite-wasm (${storage === 'opfs' ? 'OPFS, opfs-sahpool' : 'memory'}), Chromium ${chromium}`, out.result!);
      }
      return { rows, reps, runs, bundle, chromium };
    } finally {
      await browser.close();
      await site.close();
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
const kib = (b: number): string => `${(b / 1024).toFixed(0)} KiB`;

export function browserReport(r: BrowserBenchResults): string {
  const wasmMemory = r.runs.find((x) => x.engine.startsWith('sqlite-wasm (memory)'));
  const lines = [
    '',
    `## In the browser: ${fmt(r.rows)} rows, best of ${r.reps}`,
    '',
    '| engine on | insert + seal | merge into an empty replica |',
    '|---|---:|---:|',
    ...r.runs.map((x) => `| ${x.engine} | ${fmt(x.insertPerSec)} rows/s | ${fmt(x.mergePerSec)} changes/s |`),
    '',
    `ddcp/browser as a page loads it: ${r.bundle.files.map((f) => `${f.file} ${kib(f.raw)} (${kib(f.gzip)} gzip)`).join(', ')} — ${kib(r.bundle.raw)} raw, **${kib(r.bundle.gzip)} gzip**.`,
    '',
    `Targets: merge in the browser ≥ ${fmt(TARGET_MERGE_PER_SEC)} changes/s in memory — ${wasmMemory && wasmMemory.mergePerSec >= TARGET_MERGE_PER_SEC ? 'PASS' : 'MISS'}; bundle ≤ 1.5 MiB gzip with the wasm — ${r.bundle.gzip <= TARGET_GZIP_BYTES ? 'PASS' : 'MISS'}.`,
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = Number(process.env.BENCH_BROWSER_ROWS ?? 50_000);
  const reps = Number(process.env.BENCH_BROWSER_REPS ?? 3);
  const r = await measureBrowser(rows, reps, (m) => process.stderr.write(`[bench] ${m}\n`));
  process.stdout.write(browserReport(r));
}
