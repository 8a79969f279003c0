/**
 * Event-loop delay of a process, preloaded with `node --import bench/hub-loop-probe.ts …` (the hub
 * of bench/hub.ts through `BENCH_HUB_NODE_FLAGS`, base or new tree alike): `monitorEventLoopDelay`
 * at 2 ms resolution, its percentiles taken and reset every second. Writes one JSON line
 * `{ pid, windows: [[epoch ms at the window's end, samples, p50, p90, p99, max] …] }` (ms) to the file
 * in `BENCH_HUB_LOOP_FILE` when the process exits; bench/hub-loop-report.ts matches the windows to
 * the bench's phases (from its `BENCH_HUB_GC` file).
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const h = monitorEventLoopDelay({ resolution: 2 });
// The main thread's loop only (worker threads inherit --import: the hub's checkpoint thread).
if (isMainThread) h.enable();
const ms = (ns: number): number => +(ns / 1e6).toFixed(3);
const windows: [number, number, number, number, number, number][] = [];
if (isMainThread) setInterval(() => {
  windows.push([Math.round(performance.timeOrigin + performance.now()), h.count, ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)), ms(h.max)]);
  h.reset();
}, 1000).unref();
if (isMainThread) process.on('exit', () => {
  const file = process.env.BENCH_HUB_LOOP_FILE;
  if (file) writeFileSync(file, `${JSON.stringify({ pid: process.pid, windows })}\n`, { flag: 'a' });
});
