/**
 * bench/pull-child.ts with a look inside: `node pull-peak-child.ts DIR` pulls "alice" into DIR and prints
 * {ms, cpuMs, changes, maxRssMiB, phases} — the peak RSS, V8 old generation, external and ArrayBuffers
 * sampled every 10 ms, split by phase (fetch, merge).
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { Repository } from '../src/index.ts';
import { peakRssMiB } from './util.ts';

const MiB = 1024 * 1024;
type Peak = { rss: number; old: number; ext: number; ab: number; heapUsed: number };
const phases: Record<string, Peak> = {};
let phase = 'open';
function sample(): void {
  const m = process.memoryUsage();
  const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_size / MiB;
  const p = (phases[phase] ??= { rss: 0, old: 0, ext: 0, ab: 0, heapUsed: 0 });
  p.rss = Math.max(p.rss, m.rss / MiB);
  p.old = Math.max(p.old, old);
  p.ext = Math.max(p.ext, m.external / MiB);
  p.ab = Math.max(p.ab, m.arrayBuffers / MiB);
  p.heapUsed = Math.max(p.heapUsed, m.heapUsed / MiB);
}
const timer = process.env.PROBE_SAMPLE === '0' ? undefined : setInterval(sample, 10);
const repo = Repository.open(process.argv[2]!);
const c0 = process.cpuUsage();
const t0 = performance.now();
phase = 'fetch';
const f = await repo.fetch('alice');
sample();
phase = 'merge';
const m = repo.merge('alice');
sample();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(c0);
phase = 'end';
repo.close();
sample();
if (timer) clearInterval(timer);
process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, changes: m.received, fetched: f, maxRssMiB: peakRssMiB(), phases }) + '\n');
