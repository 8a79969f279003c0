/**
 * Builds the task manager's web page into `outdir`: ddcp/browser's bundle (scripts/build-browser.ts)
 * with the page's module as one more entry (`tasks-web.js`, sharing the bundle's chunks), and
 * index.html beside it. Serve the folder as is (sqlite3.wasm as `application/wasm`).
 *
 *   node examples/tasks-web/build.ts [OUTDIR]      (default: dist/tasks-web)
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowser, type BrowserBuild } from '../../scripts/build-browser.ts';

export async function buildTasksWeb(outdir: string, options: { minify?: boolean } = {}): Promise<BrowserBuild> {
  const built = await buildBrowser(outdir, { ...options, extraEntries: { 'tasks-web': 'examples/tasks-web/app.ts' } });
  copyFileSync(join(import.meta.dirname, 'index.html'), join(outdir, 'index.html'));
  return built;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildTasksWeb(process.argv[2] ?? join(import.meta.dirname, '..', '..', 'dist', 'tasks-web'));
  process.stdout.write(`the task manager's page: ${out.outdir}/index.html\n`);
}
