/**
 * One end-to-end pull in its own process, so its peak memory is its own: `node pull-child.ts DIR`
 * pulls remote "alice" into the repository DIR and prints {ms, changes, maxRssMiB} as JSON.
 */
import { readFileSync } from 'node:fs';
import { Repository } from '../src/index.ts';

/**
 * Peak RSS of this process image. Linux's VmHWM starts afresh at exec; getrusage's maxRSS does not
 * (it keeps the forking parent's peak), so prefer VmHWM where there is one.
 */
function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

const repo = Repository.open(process.argv[2]!);
const t0 = performance.now();
const r = await repo.pull('alice');
const ms = performance.now() - t0;
repo.close();
process.stdout.write(JSON.stringify({ ms, changes: r.merge.received, maxRssMiB: peakRssMiB() }) + '\n');
