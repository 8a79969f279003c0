/**
 * The browser entry bundles for browsers: esbuild (platform=browser) builds it, and no Node.js
 * builtin or the `ws` library is in it — a `node:` import would break the build for browsers, and
 * this says which module brought it in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildBrowser } from '../scripts/build-browser.ts';

describe('the ddcp/browser bundle', () => {
  it('builds for platform=browser with no node: builtin and no ws', async () => {
    const out = join(import.meta.dirname, '..', 'tmp', `browser-bundle-test-${process.pid}`);
    try {
      const b = await buildBrowser(out, { minify: false });
      const banned = b.inputs.filter((i) => i.startsWith('node:') || /(^|\/)node_modules\/ws\//.test(i) || /^(fs|path|crypto|events|net|http|os)$/.test(i));
      assert.deepEqual(banned, [], `Node-only modules in the browser bundle: ${banned.join(', ')}`);
      // the engine, the sync client and the browser transport are in it
      for (const must of ['src/engine/engine.ts', 'src/sync/client.ts', 'src/transport/ws/browser.ts', 'src/docs/documents.ts']) assert.ok(b.inputs.includes(must), `${must} is bundled`);
      for (const file of ['index.js', 'worker.js', 'local.js', 'sqlite3.wasm']) assert.ok(existsSync(join(out, file)), `${file} written`);
      // the page's entry is the small proxy: the engine and SQLite stay in the worker's chunks
      assert.ok(b.outputs[join(out, 'index.js').slice(join(import.meta.dirname, '..').length + 1)]! < 20_000, 'index.js is small');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
