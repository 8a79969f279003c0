/**
 * What a hosted database's close and reopen cost (embedded SQLite): BENCH_N (300) uses of one
 * database — open, a single-row push, a read of what is new, release — either kept open (an idle
 * time longer than the run) or closed after each use (idle time 0, the close awaited) so the next
 * use reopens it: CPU per use of each, alternated BENCH_RUNS (5) times in one process. The
 * difference is what a client pays, once per idle time, for its database having been released.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-reopen-cost.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packColumns } from '../src/engine/index.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { Gate } from '../src/sync/gate.ts';

const N = Number(process.env.BENCH_N ?? 300);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const gate = new Gate(() => ({ read: 'all', write: 'all' }));

async function usesCpuMs(idleCloseMs: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-reopen-'));
  const store = new SqliteHubStore(dir, { idleCloseMs });
  try {
    const first = (await store.open('db', { app: 'a', user: 'u' }))!;
    await first.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
    first.release!();
    const origin = { siteId: randomBytes(16), peer: 'u', source: 'c', gate };
    let cpu = 0;
    for (let v = 1; v <= N; v++) {
      const t = process.cpuUsage();
      const db = (await store.open('db'))!;
      db.sink.dropIncomplete(origin);
      const before = await db.feed.version();
      await db.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([BigInt(v)]), cid: 'body', val: `note ${v}`, colVersion: 1, dbVersion: v, siteId: origin.siteId, seq: 0, cl: 1 }] } as never, origin);
      for await (const _ of db.feed.batches(before, { exceptSite: new Uint8Array(16) })) {
        // a follower's read of what is new
      }
      db.release!();
      const used = process.cpuUsage(t);
      cpu += used.user + used.system;
      if (idleCloseMs === 0) {
        // The close (a timer's), counted too: waiting in between costs next to nothing.
        const c = process.cpuUsage();
        while (store.openDatabases > 0) await sleep(1);
        const closeCpu = process.cpuUsage(c);
        cpu += closeCpu.user + closeCpu.system;
      }
    }
    return cpu / 1000 / N;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const kept: number[] = [];
const reopened: number[] = [];
for (let r = 0; r < RUNS; r++) {
  kept.push(await usesCpuMs(600_000));
  reopened.push(await usesCpuMs(0));
  console.log(`run ${r + 1}: kept open ${kept.at(-1)!.toFixed(3)} ms CPU per use; closed and reopened each use ${reopened.at(-1)!.toFixed(3)} ms`);
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`median: kept ${med(kept).toFixed(3)} ms (best ${Math.min(...kept).toFixed(3)}), reopened ${med(reopened).toFixed(3)} ms (best ${Math.min(...reopened).toFixed(3)}) per use`);
