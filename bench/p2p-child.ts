/**
 * One side of the peer-to-peer benchmark in its own process (so its peak memory is its own):
 *
 *   node p2p-child.ts serve DIR            serves DIR on 127.0.0.1 (no mDNS, no DHT), following its
 *                                          remotes; prints {addresses} as a JSON line, then on each
 *                                          stdin line "report" prints {bytesWritten, bytesRead,
 *                                          maxRssMiB, cpuS (CPU seconds since it announced)};
 *                                          stdin closing stops it.
 *   node p2p-child.ts pull DIR MULTIADDR   adds MULTIADDR as remote "alice" of DIR, pulls it once
 *                                          (fetch, then merge) over a dial-only node and prints
 *                                          {ms, fetchMs, mergeMs, cpuS, changes, maxRssMiB}.
 *   node p2p-child.ts push DIR MULTIADDR   pushes DIR to MULTIADDR the same way; prints
 *                                          {ms, cpuS, changes, maxRssMiB}.
 *
 * Bytes on the wire are the TCP sockets' own counters (`socket.bytesWritten` / `bytesRead` of every
 * connection accepted on 127.0.0.1): everything libp2p sends, Noise, Yamux and multistream included.
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Repository } from '../src/index.ts';
import { peakRssMiB } from './util.ts';
import { Server } from '../src/peer/server.ts';
import { withNetwork } from '../src/peer/temporary.ts';

export const LISTEN = ['/ip4/127.0.0.1/tcp/0'];


// Every TCP connection a net.Server in this process accepts (libp2p's TCP listener is one).
const accepted: net.Socket[] = [];
const emit = net.Server.prototype.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'connection') {
    const s = args[0] as net.Socket;
    if (s.remoteAddress === '127.0.0.1' || s.remoteAddress === '::ffff:127.0.0.1') accepted.push(s);
  }
  return emit.call(this, event, ...args);
} as typeof net.Server.prototype.emit;

/** CPU seconds (user + system) this process spent since `from` (since it started if omitted). */
function cpuSeconds(from?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

const out = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const [mode, dir, target] = process.argv.slice(2);
if (mode === 'serve') {
  const repo = Repository.open(dir!);
  const server = await Server.start(repo, { listen: LISTEN, mdns: false, dht: false });
  server.on('error', (err) => process.stderr.write(`[p2p-child ${dir}] ${err.message}\n`));
  out({ addresses: server.addresses() });
  const ready = process.cpuUsage();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'report') {
      out({
        bytesWritten: accepted.reduce((n, s) => n + s.bytesWritten, 0),
        bytesRead: accepted.reduce((n, s) => n + s.bytesRead, 0),
        connections: accepted.length,
        maxRssMiB: peakRssMiB(),
        cpuS: cpuSeconds(ready),
      });
    }
  });
  rl.on('close', () => {
    void server.stop().then(() => {
      repo.close();
      process.exit(0);
    });
  });
} else if (mode === 'pull') {
  // GC_LOG=FILE: the pulling side's GC events and heap spaces by phase (bench/gc-log.ts)
  const phase = process.env.GC_LOG ? (await import('./gc-log.ts')).startGcLog(process.env.GC_LOG, peakRssMiB) : () => {};
  const repo = Repository.open(dir!);
  repo.addRemote('alice', target!);
  const r = await withNetwork(repo, [target!], async (dial) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    phase('fetch');
    const fetched = await repo.fetch('alice', { dial });
    const t1 = performance.now();
    const fetchCpuS = cpuSeconds(cpu0);
    phase('merge');
    const merged = repo.merge('alice', { dial });
    const t2 = performance.now();
    phase('end');
    if (merged.received !== fetched.changes) throw new Error(`fetched ${fetched.changes} changes but merged ${merged.received}`);
    return { ms: t2 - t0, fetchMs: t1 - t0, mergeMs: t2 - t1, cpuS: cpuSeconds(cpu0), fetchCpuS, changes: merged.received };
  });
  repo.close();
  out({ ...r, maxRssMiB: peakRssMiB() });
  process.exit(0);
} else if (mode === 'push') {
  const repo = Repository.open(dir!);
  repo.addRemote('alice', target!);
  const r = await withNetwork(repo, [target!], async (dial) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await repo.push('alice', { dial });
    if (r.refused.length > 0) throw new Error(`alice refused ${r.refused.length} transactions`);
    return { ms: performance.now() - t0, cpuS: cpuSeconds(cpu0), changes: r.changes };
  });
  repo.close();
  out({ ...r, maxRssMiB: peakRssMiB() });
  process.exit(0);
} else {
  throw new Error(`usage: p2p-child.ts serve DIR | pull DIR MULTIADDR | push DIR MULTIADDR`);
}
