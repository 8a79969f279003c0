/**
 * GC and heap figures of a process, preloaded with `node --import bench/hub-gc-probe.ts …` (the
 * hub of bench/hub.ts with `BENCH_HUB_GC=1`, base or new tree alike): every GC pause (kind,
 * duration), and the old generation's size sampled every second and after each mark-compact — the
 * size a full collection leaves is what the process really retains, so its slope is a leak's.
 * Writes one JSON line to the file in `BENCH_HUB_GC_FILE` when the process exits.
 */
import { writeFileSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const oldUsed = (): number => getHeapSpaceStatistics().reduce((s, x) => (x.space_name === 'old_space' || x.space_name === 'large_object_space' ? s + x.space_used_size : s), 0);
const kinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
/** [epoch ms, kind, pause ms, old generation bytes after a mark-compact (else −1)] */
const pauses: [number, string, number, number][] = [];
/** [epoch ms, old generation bytes, heap used bytes, rss bytes] */
const samples: [number, number, number, number][] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries() as (PerformanceEntry & { detail?: { kind: number } })[]) {
    const kind = kinds[e.detail?.kind ?? 0] ?? String(e.detail?.kind);
    pauses.push([Math.round(performance.timeOrigin + e.startTime), kind, +e.duration.toFixed(3), kind === 'major' ? oldUsed() : -1]);
  }
}).observe({ entryTypes: ['gc'] });
setInterval(() => {
  const m = process.memoryUsage();
  samples.push([Math.round(performance.timeOrigin + performance.now()), oldUsed(), m.heapUsed, m.rss]);
}, 1000).unref();
process.on('exit', () => {
  const file = process.env.BENCH_HUB_GC_FILE;
  if (file) writeFileSync(file, `${JSON.stringify({ pid: process.pid, origin: performance.timeOrigin, cpu: process.cpuUsage(), pauses, samples })}\n`, { flag: 'a' });
});

// BENCH_HUB_ALLOC_PROF=FILE: a sampling allocation profile of the process's whole life, garbage
// included (objects a scavenge or mark-compact collected stay in it), written to FILE at exit —
// what the process allocates per change, not only what it keeps.
const allocFile = process.env.BENCH_HUB_ALLOC_PROF;
if (allocFile) {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(allocFile, JSON.stringify(r.profile));
    });
  });
}
