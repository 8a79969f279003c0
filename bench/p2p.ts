/**
 * Peer-to-peer sync over libp2p on 127.0.0.1 (TCP, Noise, Yamux; no mDNS, no DHT), each peer in its
 * own process: the initial sync of N rows (≈3N changes) from a serving peer to one that pulls once,
 * and the latency of live push between two serving peers, one following the other.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { ITEMS_DDL, makeItems, type Scratch } from './util.ts';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS, PULL_FLAGS, SERVE_FLAGS } from '../bin/node-flags.js';

export interface P2pSyncResult {
  rows: number;
  changes: number;
  ms: number;
  changesPerSec: number;
  /** Of `ms`: the fetch (transfer into staging) and the merge. */
  fetchMs: number;
  mergeMs: number;
  /** CPU seconds (user + system) of the serving side while it served, and of the pulling side's pull. */
  serverCpuS: number;
  clientCpuS: number;
  /** Of `clientCpuS`: the fetch's. */
  fetchCpuS: number;
  /** Peak RSS (VmHWM) of the serving process (alice) and of the pulling one (bob). */
  serverMaxRssMiB: number;
  clientMaxRssMiB: number;
  /** TCP bytes alice sent / received on the connection(s) bob opened, per change. */
  wireBytesSent: number;
  wireBytesReceived: number;
  wireBytesPerChange: number;
}

/** Push throughput: changes sent, merged and acknowledged per second. */
export interface P2pPushResult {
  rows: number;
  changes: number;
  ms: number;
  changesPerSec: number;
  /** CPU seconds of the receiving side (alice, serving) and of the pushing one during the push. */
  serverCpuS: number;
  clientCpuS: number;
  serverMaxRssMiB: number;
  clientMaxRssMiB: number;
}

export interface P2pLatencyResult {
  commits: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

// BENCH_P2P_CHILD: another build of p2p-child (e.g. compiled against dist/, as a package runs; bench/p2p-dist.ts).
const child = (): string => process.env.BENCH_P2P_CHILD || fileURLToPath(new URL('./p2p-child.ts', import.meta.url));
// The serving child runs with the flags of `ddcp serve`, the pulling one with those of `ddcp pull`
// (bin/ddcp); the pushing one, as before, with the serving flags (a running node serves and pushes to
// its remotes). BENCH_P2P_FLAGS: Node.js flags for every child instead (A/B runs of memory settings);
// BENCH_P2P_PULL_FLAGS: for the pulling child only (bench/p2p-flags-ab.ts).
const flagsOf = (v: string): string[] => v.split(/\s+/).filter(Boolean);
const nodeArgs = (mode: string): string[] => {
  const pull = mode === 'pull' ? process.env.BENCH_P2P_PULL_FLAGS : undefined;
  const own = mode === 'pull' ? [...(MEMORY_FLAGS as string[]), ...(PULL_FLAGS as string[])] : [...(MEMORY_FLAGS as string[]), ...(SERVE_FLAGS as string[])];
  const flags = pull !== undefined ? flagsOf(pull) : process.env.BENCH_P2P_FLAGS !== undefined ? flagsOf(process.env.BENCH_P2P_FLAGS) : own;
  return ['--disable-warning=ExperimentalWarning', ...flags, child()];
};

// The children run with Node's compile cache in the folder the \`ddcp\` command uses (bin/ddcp.js
// enables it for every command, in $NODE_COMPILE_CACHE or $TMPDIR/node-compile-cache), so they load
// code as \`ddcp serve\` and \`ddcp pull\` do from their second run on: a clone's TypeScript comes back
// stripped, and Node's type stripper (WebAssembly, ~20 MiB kept for good) is never loaded; a
// package's JavaScript comes with V8's code cache. Each child's code runs once, in a tiny sync and
// push, before it is measured (see warmUp). BENCH_P2P_COMPILE_CACHE=0: without it (a first run).
const compileCache = (): string | undefined => (process.env.BENCH_P2P_COMPILE_CACHE === '0' ? undefined : process.env.NODE_COMPILE_CACHE || join(tmpdir(), 'node-compile-cache'));
const childEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  const cache = compileCache();
  if (cache) env.NODE_COMPILE_CACHE = cache;
  else delete env.NODE_COMPILE_CACHE;
  return env;
};

/** A child process speaking JSON lines. */
class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  private readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [...nodeArgs(args[0]!), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    this.lines = createInterface({ input: this.proc.stdout });
    this.lines.on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(l);
      } else this.queue.push(l);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  async next<T>(): Promise<T> {
    const l = this.queue.shift();
    if (l !== undefined) return JSON.parse(l) as T;
    const line = await Promise.race([
      new Promise<string>((resolve) => (this.waiting = resolve)),
      this.exited.then((code) => {
        throw new Error(`p2p child ${this.proc.spawnargs.slice(-2).join(' ')} exited (${code}) before answering`);
      }),
    ]);
    return JSON.parse(line) as T;
  }

  send(line: string): void {
    this.proc.stdin.write(line + '\n');
  }

  async stop(): Promise<void> {
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill(), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function makePair(scratch: Scratch, tag: string): Promise<{ alice: Repository; bob: Repository }> {
  const alice = await Repository.init(join(scratch.dir, `p2p-alice-${tag}`));
  const bob = await Repository.init(join(scratch.dir, `p2p-bob-${tag}`));
  for (const r of [alice, bob]) {
    r.db.exec(ITEMS_DDL);
    r.engine.asCrr('items');
  }
  alice.allow(bob.address);
  return { alice, bob };
}

interface Report {
  bytesWritten: number;
  bytesRead: number;
  connections: number;
  maxRssMiB: number;
  cpuS: number;
}

/** Commits `rows` items in one transaction and seals them. */
function insertItems(repo: Repository, rows: number): void {
  const ins = repo.db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  repo.db.exec('BEGIN');
  for (const item of makeItems(rows)) ins.run(...item);
  repo.db.exec('COMMIT');
  repo.engine.seal();
}

/** The 127.0.0.1 TCP multiaddr a serving child announces. */
async function tcpTarget(server: Child): Promise<string> {
  const { addresses } = await server.next<{ addresses: string[] }>();
  const target = addresses.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'));
  if (!target) throw new Error(`alice listens on no 127.0.0.1 TCP address: ${addresses.join(', ')}`);
  return target;
}

/**
 * Two repositories prepared by `setup`, then closed; alice is served by a child process (stopped
 * again if it announces no 127.0.0.1 address) at `target`, and bob's folder is for the other child.
 */
async function servedPair(scratch: Scratch, tag: string, setup: (alice: Repository, bob: Repository) => void): Promise<{ server: Child; target: string; bobDir: string }> {
  const { alice, bob } = await makePair(scratch, tag);
  setup(alice, bob);
  const aliceDir = alice.root;
  const bobDir = bob.root;
  alice.close();
  bob.close();
  const server = new Child(['serve', aliceDir]);
  try {
    return { server, target: await tcpTarget(server), bobDir };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** The children whose code has run once with the compile cache (see compileCache). */
const warmed = new Set<string>();

/** Fills the compile cache for the current child's code: a tiny sync and push, not measured. */
async function warmUp(scratch: Scratch): Promise<void> {
  if (!compileCache() || warmed.has(child())) return;
  warmed.add(child());
  await syncOnce(scratch, 10, 'warm-');
  await pushOnce(scratch, 10, 'warm-');
}

/** Initial sync: alice (serving, own process) → bob (one `pull` over a dial-only node, own process). */
export async function measureP2pSync(scratch: Scratch, rows: number): Promise<P2pSyncResult> {
  await warmUp(scratch);
  return syncOnce(scratch, rows);
}

async function syncOnce(scratch: Scratch, rows: number, tag = ''): Promise<P2pSyncResult> {
  const { server, target, bobDir } = await servedPair(scratch, `${tag}sync-${rows}`, (alice) => insertItems(alice, rows));
  try {
    const client = new Child(['pull', bobDir, target]);
    const pulled = await client.next<{ ms: number; fetchMs: number; mergeMs: number; cpuS: number; fetchCpuS: number; changes: number; maxRssMiB: number }>();
    await client.stop();
    server.send('report');
    const rep = await server.next<Report>();
    return {
      rows,
      changes: pulled.changes,
      ms: pulled.ms,
      changesPerSec: (pulled.changes * 1000) / pulled.ms,
      fetchMs: pulled.fetchMs,
      mergeMs: pulled.mergeMs,
      serverCpuS: rep.cpuS,
      clientCpuS: pulled.cpuS,
      fetchCpuS: pulled.fetchCpuS,
      serverMaxRssMiB: rep.maxRssMiB,
      clientMaxRssMiB: pulled.maxRssMiB,
      wireBytesSent: rep.bytesWritten,
      wireBytesReceived: rep.bytesRead,
      wireBytesPerChange: rep.bytesWritten / pulled.changes,
    };
  } finally {
    await server.stop();
  }
}

/** Push: bob (own process, a dial-only node) pushes N rows to alice (serving, own process), who lets him write. */
export async function measureP2pPush(scratch: Scratch, rows: number): Promise<P2pPushResult> {
  await warmUp(scratch);
  return pushOnce(scratch, rows);
}

async function pushOnce(scratch: Scratch, rows: number, tag = ''): Promise<P2pPushResult> {
  const { server, target, bobDir } = await servedPair(scratch, `${tag}push-${rows}`, (alice, bob) => {
    alice.setPolicy(bob.address, { read: 'all', write: 'all' });
    insertItems(bob, rows);
  });
  try {
    const client = new Child(['push', bobDir, target]);
    const pushed = await client.next<{ ms: number; cpuS: number; changes: number; maxRssMiB: number }>();
    await client.stop();
    server.send('report');
    const rep = await server.next<Report>();
    return {
      rows,
      changes: pushed.changes,
      ms: pushed.ms,
      changesPerSec: (pushed.changes * 1000) / pushed.ms,
      serverCpuS: rep.cpuS,
      clientCpuS: pushed.cpuS,
      serverMaxRssMiB: rep.maxRssMiB,
      clientMaxRssMiB: pushed.maxRssMiB,
    };
  } finally {
    await server.stop();
  }
}

/**
 * Live push: alice and bob both serve (own processes), bob follows alice. `commits` single-row
 * INSERTs on alice, each from a plain node:sqlite connection (as an app would write), one after the
 * other; after each, bob's database is polled every millisecond until the row is there.
 */
export async function measureP2pLatency(scratch: Scratch, commits: number): Promise<P2pLatencyResult> {
  await warmUp(scratch);
  const { alice, bob } = await makePair(scratch, 'live');
  const aliceDir = alice.root;
  const aliceDbPath = alice.dbPath;
  const bobDir = bob.root;
  alice.close();
  const aliceServer = new Child(['serve', aliceDir]);
  let bobServer: Child | undefined;
  try {
    const { addresses } = await aliceServer.next<{ addresses: string[] }>();
    const target = addresses.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))!;
    bob.addRemote('alice', target);
    const bobDb = bob.dbPath;
    bob.close();
    bobServer = new Child(['serve', bobDir]);
    await bobServer.next<{ addresses: string[] }>();

    const aliceDb = new DatabaseSync(aliceDbPath);
    aliceDb.exec('PRAGMA busy_timeout = 5000');
    const reader = new DatabaseSync(bobDb, { readOnly: true });
    reader.exec('PRAGMA busy_timeout = 5000');
    const insert = aliceDb.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
    const seen = reader.prepare('SELECT 1 FROM items WHERE id = ?');
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const waitFor = async (id: bigint, timeoutMs: number): Promise<void> => {
      const deadline = performance.now() + timeoutMs;
      while (seen.get(id) === undefined) {
        if (performance.now() > deadline) throw new Error(`row ${id} did not reach bob within ${timeoutMs} ms`);
        await sleep(1);
      }
    };
    // Warm-up: the follow session connects and the first pushes go through.
    for (let i = 1; i <= 10; i++) {
      insert.run(BigInt(-i), `warm ${i}`, 0n, 0.5);
      await waitFor(BigInt(-i), 30_000);
    }
    const lat: number[] = [];
    for (let i = 1; i <= commits; i++) {
      const id = BigInt(i);
      const t0 = performance.now();
      insert.run(id, `item ${i}`, BigInt(i % 100), i + 0.25);
      await waitFor(id, 10_000);
      lat.push(performance.now() - t0);
    }
    aliceDb.close();
    reader.close();
    lat.sort((a, b) => a - b);
    const q = (p: number): number => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)]!;
    return {
      commits,
      medianMs: round2(q(0.5)),
      p99Ms: round2(q(0.99)),
      maxMs: round2(lat[lat.length - 1]!),
      meanMs: round2(lat.reduce((a, b) => a + b, 0) / lat.length),
    };
  } finally {
    await bobServer?.stop();
    await aliceServer.stop();
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
