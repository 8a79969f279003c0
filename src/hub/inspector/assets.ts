/**
 * The inspector's third-party script: Chart.js's UMD build, found where Node resolves the `chart.js`
 * package from this module at run time — node_modules of the clone, or of the app that installed
 * ddcp — and read once. Served as a file of the page's own origin, so the page's CSP allows only
 * 'self' scripts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let chart: Buffer | undefined;

/** Chart.js (UMD, minified: defines `window.Chart`). */
export function chartJs(): Buffer {
  // The package exports only its module entries; the UMD file sits beside them in dist/.
  chart ??= readFileSync(join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'));
  return chart;
}
