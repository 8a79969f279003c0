/**
 * Repository sync end to end: `pull` of N rows (≈3N changes) between two repositories on this
 * machine — time, peak memory of the pulling process, and the size of a bundle per change.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { ITEMS_DDL, makeItems, type Scratch } from './util.ts';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS, PULL_FLAGS } from '../bin/node-flags.js';

export interface PullResult {
  rows: number;
  changes: number;
  ms: number;
  changesPerSec: number;
  maxRssMiB: number;
  bundleBytesPerChange: number;
}

const CHILD = fileURLToPath(new URL('./pull-child.ts', import.meta.url));

export async function measurePull(scratch: Scratch, rows: number): Promise<PullResult> {
  const alice = await Repository.init(join(scratch.dir, `alice-${rows}`));
  const bob = await Repository.init(join(scratch.dir, `bob-${rows}`));
  for (const r of [alice, bob]) {
    r.db.exec(ITEMS_DDL);
    r.engine.asCrr('items');
  }
  const ins = alice.db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  alice.db.exec('BEGIN');
  for (const item of makeItems(rows)) ins.run(...item);
  alice.db.exec('COMMIT');
  alice.engine.seal();
  const bundle = join(scratch.dir, `items-${rows}.bundle`);
  const b = alice.createBundle(bundle, { since: 0 });
  bob.addRemote('alice', alice.root);
  alice.close();
  bob.close();
  const out = JSON.parse(execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', ...(MEMORY_FLAGS as string[]), ...(PULL_FLAGS as string[]), CHILD, join(scratch.dir, `bob-${rows}`)], { encoding: 'utf8' })) as {
    ms: number;
    changes: number;
    maxRssMiB: number;
  };
  return {
    rows,
    changes: out.changes,
    ms: out.ms,
    changesPerSec: (out.changes * 1000) / out.ms,
    maxRssMiB: out.maxRssMiB,
    bundleBytesPerChange: statSync(bundle).size / b.changes,
  };
}
