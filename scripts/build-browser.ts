/**
 * Builds `ddcp/browser` with esbuild: ESM for browsers, into `outdir` — `index.js` (the page's API,
 * small), `worker.js` (the dedicated worker holding the replica), `local.js` (the replica in the
 * calling thread), their shared chunks, and `sqlite3.wasm` beside them (sqlite-wasm loads it
 * relative to its own module). `npm run build` runs it into dist/browser; tests into tmp/.
 *
 *   node scripts/build-browser.ts [OUTDIR]
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BrowserBuild {
  outdir: string;
  /** Every input module bundled (paths relative to the repository). */
  inputs: string[];
  /** The files written, with their sizes in bytes. */
  outputs: Record<string, number>;
}

/** The sqlite3.wasm file the bundle ships. */
export function sqliteWasmPath(): string {
  const req = createRequire(join(root, 'package.json'));
  return join(dirname(req.resolve('@sqlite.org/sqlite-wasm/package.json')), 'dist', 'sqlite3.wasm');
}

/** Bundles the browser entries into `outdir` (emptied first unless `clean: false`: dist/browser also holds tsc's .d.ts). */
export async function buildBrowser(outdir: string, options: { minify?: boolean; clean?: boolean; extraEntries?: Record<string, string> } = {}): Promise<BrowserBuild> {
  if (options.clean !== false) rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { index: 'src/browser/index.ts', worker: 'src/browser/worker.ts', local: 'src/browser/local.ts', ...options.extraEntries },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir,
    minify: options.minify ?? true,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
  });
  copyFileSync(sqliteWasmPath(), join(outdir, 'sqlite3.wasm'));
  const meta: Metafile = result.metafile;
  const outputs: Record<string, number> = {};
  for (const [file, o] of Object.entries(meta.outputs)) outputs[file] = o.bytes;
  return { outdir, inputs: Object.keys(meta.inputs), outputs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildBrowser(process.argv[2] ?? join(root, 'dist', 'browser'), { clean: false });
  process.stdout.write(`browser bundle: ${Object.keys(out.outputs).length} files in ${out.outdir}\n`);
}
