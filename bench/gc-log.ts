/**
 * A bench child's GC log (`GC_LOG=FILE`): its GC events (PerformanceObserver: kind, flags, duration)
 * and, every 50 ms, its old and young space, RSS and ArrayBuffers, each line with the phase the child
 * said it is in; appended to FILE at exit under the child's pid and peak RSS. Used by the pull-peak
 * probe on the p2p sync's pulling child (bench/p2p-child.ts; docs/performance.md).
 */
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const spaceMiB = (name: string, key: 'space_used_size' | 'space_size'): number =>
  Math.round(getHeapSpaceStatistics().find((s) => s.space_name === name)![key] / 1048576);

/** Starts logging to `file`; the returned function names the phase from then on. */
export function startGcLog(file: string, peakRssMiB: () => number): (phase: string) => void {
  let phase = 'open';
  const log: string[] = [];
  const spaces = (): string => `old=${spaceMiB('old_space', 'space_used_size')} young=${spaceMiB('new_space', 'space_size')}`;
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      const detail = (e as { detail?: { kind?: number; flags?: number } }).detail;
      log.push(`${Math.round(e.startTime)} ${phase} gc kind=${detail?.kind} flags=${detail?.flags} dur=${e.duration.toFixed(1)} ${spaces()}`);
    }
  }).observe({ entryTypes: ['gc'] });
  const tick = setInterval(() => {
    const m = process.memoryUsage();
    log.push(`${Math.round(performance.now())} ${phase} ${spaces()} rss=${Math.round(m.rss / 1048576)} ab=${Math.round(m.arrayBuffers / 1048576)}`);
  }, 50);
  process.on('exit', () => {
    clearInterval(tick);
    appendFileSync(file, `=== pid ${process.pid} peak ${peakRssMiB()}\n${log.join('\n')}\n`);
  });
  return (p) => void (phase = p);
}
