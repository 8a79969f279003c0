/**
 * One end-to-end pull in its own process, so its peak memory is its own: `node pull-child.ts DIR`
 * pulls remote "alice" into the repository DIR and prints {ms, changes, maxRssMiB} as JSON.
 */
import { Repository } from '../src/index.ts';
import { peakRssMiB } from './util.ts';

const repo = Repository.open(process.argv[2]!);
const t0 = performance.now();
const r = await repo.pull('alice');
const ms = performance.now() - t0;
repo.close();
process.stdout.write(JSON.stringify({ ms, changes: r.merge.received, maxRssMiB: peakRssMiB() }) + '\n');
