/**
 * The shared frame stream base stays usable in a browser (a browser WebSocket transport extends
 * it): it bundles for the browser platform, and the bundle names no Node-only global. Its
 * behaviour is tested through the transports built on it (frame-stream-suite.ts, run by
 * memory.test.ts, ws/frames.test.ts and p2p/node.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

it('the frame stream base bundles for the browser, without Node modules or globals', { timeout: 30_000 }, async () => {
  // esbuild fails on any node:* (or other Node-only) import when the platform is 'browser'
  const out = await build({
    entryPoints: [fileURLToPath(new URL('./frame-stream.ts', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.text;
  assert.match(code, /BaseFrameStream = class/);
  const nodeOnly = code.match(/\b(Buffer|setImmediate|process|require)\b/);
  assert.equal(nodeOnly, null, `the bundle uses Node's ${nodeOnly?.[0]}`);
});
