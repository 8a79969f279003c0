#!/usr/bin/env -S node --max-semi-space-size=4
// ddcp needs Node.js 24 (node:sqlite, TypeScript type stripping). The project ships Node 24 as the
// `node` npm package; when an older node on PATH runs this file, hand over to that one. The shebang's
// flag (see node-flags.js) keeps peak memory flat however many changes stream through.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { MEMORY_FLAGS } from './node-flags.js';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  let node;
  try {
    node = createRequire(import.meta.url).resolve('node/bin/node');
  } catch {
    process.stderr.write(`ddcp: error: Node.js 24 or newer is required (found ${process.version}); run 'npm install' in the ddcp package\n`);
    process.exit(70);
  }
  const result = spawnSync(node, ['--disable-warning=ExperimentalWarning', ...MEMORY_FLAGS, ...process.argv.slice(1)], { stdio: 'inherit' });
  if (result.signal) process.kill(process.pid, result.signal);
  process.exit(result.status ?? 70);
}
// Cache compiled code between runs: a CLI starts often.
(await import('node:module')).enableCompileCache?.();
process.removeAllListeners('warning');
process.on('warning', (w) => { if (w.name !== 'ExperimentalWarning') process.stderr.write(`${w.name}: ${w.message}\n`); });
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
