/**
 * Hub load run on loopback (issue 10's proof): one hub process (bench/hub-child.ts), embedded SQLite
 * or PostgreSQL, and CLIENTS connected clients in PROCS other processes (bench/hub-clients.ts: light
 * protocol clients over WebSocket), spread over DBS databases; WRITERS of them commit single-row
 * changes at RATE changes/s in all for SECONDS (each with at most INFLIGHT changes not yet
 * acknowledged: a saturated hub sets the pace), every client following its database.
 * Reports accepted changes/s (committed ÷ time until the last was acknowledged), the hub's CPU time
 * per accepted change, fan-out latency (commit at a writer → change decoded at each other client of
 * that database: median, p99), hub RSS before clients and with them connected and idle (per client),
 * bytes on the wire per change received (WebSocket frames, all of them / batches only), and
 * convergence (every client holds every other writer's every change of its database; none twice).
 * Then, with every client still connected, the latency-vs-offered-load curve: each rate of CURVE
 * (changes/s in all, every writer at its own phase of its period) for CURVE_SECONDS, with its
 * accepted rate, CPU per change (hub, clients), changes per batch frame a follower received, the
 * cores the bench and the whole machine kept busy, and fan-out median and p99. Each phase also
 * counts context switches per accepted change (/proc/PID/status): the hub's voluntary ones (it
 * waited for input: ~0 means it never went idle) and preempted ones (taken off its core while
 * runnable, on loopback mostly by the client processes its own writes woke), and the clients'.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub.ts             # both modes, defaults below
 *   BENCH_HUB_MODE=sqlite BENCH_HUB_CLIENTS=1000 BENCH_HUB_WRITERS=200 BENCH_HUB_DBS=100 \
 *   BENCH_HUB_PROCS=4 BENCH_HUB_RATE=30000 BENCH_HUB_INFLIGHT=20 BENCH_HUB_SECONDS=10 \
 *   BENCH_HUB_CURVE=250,1000,2500,5000,10000 BENCH_HUB_CURVE_SECONDS=3 node … bench/hub.ts   # CURVE=0: none
 *   BENCH_HUB_WARMUP_SECONDS=3 …   # default: a write phase first whose figures are left out (JIT warm-up); 0: none
 *   BENCH_HUB_GROUP=db …           # each database's clients in one process (default: client i in process i mod PROCS)
 *   BENCH_HUB_CLIENT_SCHED=batch … # client processes under SCHED_BATCH (Linux, `chrt`): a woken client does not preempt the hub
 *   BENCH_HUB_APART=1 …            # the hub in a session of its own (Linux autogroup: its own share of the CPU, not one with its clients)
 *   BENCH_HUB_GC=FILE BENCH_HUB_CLIENT_GC=1 …   # GC pauses of the hub and (CLIENT_GC) of every client process, one JSON line each in FILE (bench/hub-gc-report.ts wants the hub's alone)
 *   BENCH_HUB_TRACE=1 BENCH_HUB_TRACE_DUMP=FILE …  # also every process's raw trace to FILE (epoch ms), to match with the GC pauses
 *
 * The hub runs with the Node.js flags `ddcp hub serve` runs with (bin/node-flags.js), then BENCH_HUB_NODE_FLAGS.
 * PostgreSQL mode uses BENCH_HUB_PG_URL (default postgres://127.0.0.1:5432/test) and a schema of
 * its own, dropped after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS, SERVE_FLAGS } from '../bin/node-flags.js';
import { BUCKETS, bucketMs } from './hub-histogram.ts';
import { TRACE, traceReport, type Trace } from './hub-trace.ts';
import { Scratch } from './util.ts';

const int = (name: string, fallback: number): number => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return n;
};

export interface HubLoadOptions {
  mode: 'sqlite' | 'postgres';
  clients: number;
  writers: number;
  dbs: number;
  procs: number;
  rate: number;
  /** Changes a writer may have waiting for the hub's ack before it waits too. */
  inflight: number;
  /** How clients are spread over the processes: `client` (client i in process i mod procs) or `db` (a database's clients together). */
  group?: 'client' | 'db';
  seconds: number;
  /**
   * The latency-vs-offered-load curve, after the saturation phase: each rate (changes/s in all,
   * paced evenly: every writer at its own phase of its period) offered for `curveSeconds`, with
   * every client still connected. Empty: none.
   */
  curve: number[];
  curveSeconds: number;
  /** An extra phase (s; 0: none, the default), and its offered rate: `sustainedRate`, or `sustainedShare` of what the first accepted. */
  sustainedSeconds: number;
  /**
   * A write phase before the measured one, at the same offered rate, whose figures are left out
   * (0: none, the default): the measured phase then starts with the write path's code already
   * optimized by V8 (a process's one-time JIT warm-up, which a long-running hub and its clients pay once).
   */
  warmupSeconds?: number;
  sustainedShare: number;
  sustainedRate?: number;
}

export interface HubLoadResult extends HubLoadOptions {
  committed: number;
  accepted_per_s: number;
  unacked: number;
  hub_cpu_us_per_change: number;
  /** CPU time of the client processes (all of them) per accepted change, over the write phase. */
  clients_cpu_us_per_change: number;
  /** Load average (1 min) when the write phase ended: what else ran on the cores. */
  load: number;
  /** Cores the hub and the client processes kept busy over the write phase, and the machine's busy share (see {@link CurvePoint}). */
  bench_cores: number;
  machine_busy: number;
  /** Context switches per accepted change over the phase: the hub's (voluntary: it waited for input; preempted: taken off its core while runnable) and the client processes' preempted. */
  hub_switches_per_change: { voluntary: number; preempted: number };
  clients_preempted_per_change: number;
  changes_per_frame: number;
  fanout_ms: { median: number; p99: number; samples: number };
  /**
   * The second phase: fan-out latency at an offered rate the hub keeps up with (the first phase
   * offers more than the hub takes by default, so its latency is the writers' changes queued).
   */
  sustained?: { offered_per_s: number; accepted_per_s: number; hub_cpu_us_per_change: number; clients_cpu_us_per_change: number; load: number; fanout_ms: { median: number; p99: number; samples: number }; converged: boolean };
  /** One phase per rate of `curve`, in order. */
  curve_runs: CurvePoint[];
  hub_rss_mib: { before_clients: number; clients_idle: number; after_run: number };
  rss_per_idle_client_kib: number;
  wire_bytes_per_change: { all_frames: number; batches_only: number };
  received: number;
  expected: number;
  duplicates: number;
  missing: number;
  converged: boolean;
  errors: string[];
}

/** One fixed offered rate of the curve. */
export interface CurvePoint {
  offered_per_s: number;
  accepted_per_s: number;
  hub_cpu_us_per_change: number;
  clients_cpu_us_per_change: number;
  /** Cores the hub and the client processes kept busy over the phase (CPU time ÷ wall time). */
  bench_cores: number;
  /** The whole machine's busy share of all its cores over the phase (/proc/stat: everything else running too), 0–1. */
  machine_busy: number;
  /** Changes per batch frame a follower received: how many changes each wake of the hub carried to a follower. */
  /** Context switches per accepted change over the phase: the hub's (voluntary: it waited for input; preempted: taken off its core while runnable) and the client processes' preempted. */
  hub_switches_per_change: { voluntary: number; preempted: number };
  clients_preempted_per_change: number;
  changes_per_frame: number;
  load: number;
  fanout_ms: { median: number; p99: number; samples: number };
  converged: boolean;
}

const log = (m: string): void => void process.stderr.write(`[bench hub] ${m}\n`);
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
/** User + system CPU time of a process (ms). */
const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14, 15 (utime, stime) in clock ticks of 1/100 s
};

/** Context switches of a process so far: given up (waiting for input) and taken (preempted while runnable). */
const switches = (pid: number): { voluntary: number; preempted: number } => {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { voluntary: Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]), preempted: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]) };
};

/** The machine's CPU time so far, busy and in all (clock ticks, every core; /proc/stat's first line). */
const machineTicks = (): { busy: number; all: number } => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: all - f[3]! - f[4]!, all }; // idle, iowait
};

/** A child speaking JSON lines. */
class Child {
  readonly proc: ChildProcess;
  private readonly lines: Interface;
  private readonly pending: ((m: Record<string, unknown>) => void)[] = [];
  constructor(args: string[]) {
    // BENCH_HUB_CLIENT_PROFILE=DIR: CPU profiles of the client processes, written to DIR when they stop
    const prof = process.env.BENCH_HUB_CLIENT_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_HUB_CLIENT_PROFILE}`] : [];
    // BENCH_HUB_CLIENT_SCHED=batch: the client processes under Linux's SCHED_BATCH (`chrt -b 0`, which
    // execs node: the pid stays the child's), so a client woken by the hub's write does not preempt
    // the hub on its core — as clients on other machines never do (see hub-load in docs/performance.md).
    const sched = process.env.BENCH_HUB_CLIENT_SCHED === 'batch' ? ['chrt', '-b', '0'] : [];
    // BENCH_HUB_CLIENT_GC=1 (with BENCH_HUB_GC=FILE): the client processes' GC pauses too, one line each in FILE
    const gc = process.env.BENCH_HUB_CLIENT_GC === '1' && process.env.BENCH_HUB_GC ? ['--import', here('./hub-gc-probe.ts')] : [];
    const argv = [...sched, process.execPath, '--disable-warning=ExperimentalWarning', ...prof, ...gc, ...args];
    this.proc = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...(gc.length ? { BENCH_HUB_GC_FILE: process.env.BENCH_HUB_GC } : {}) } });
    this.lines = createInterface({ input: this.proc.stdout! });
    this.lines.on('line', (l) => this.pending.shift()?.(JSON.parse(l) as Record<string, unknown>));
  }
  next<T>(): Promise<T> {
    return new Promise((resolve) => this.pending.push(resolve as (m: Record<string, unknown>) => void));
  }
  tell(m: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(m)}\n`);
  }
}

async function startHub(mode: HubLoadOptions['mode'], scratch: Scratch, pgUrl: string, schema: string, dbs: number, traceFile: string): Promise<{ proc: ChildProcess; url: string; pid: number }> {
  const args = mode === 'sqlite' ? [join(scratch.dir, `hub-${randomBytes(3).toString('hex')}`)] : [pgUrl, schema];
  // BENCH_HUB_PROFILE=DIR: a CPU profile of the hub, written to DIR when it stops
  const prof = process.env.BENCH_HUB_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_HUB_PROFILE}`] : [];
  // BENCH_HUB_GC=FILE: the hub's GC pauses and old-generation size (bench/hub-gc-probe.ts), appended to FILE as it stops
  const gc = process.env.BENCH_HUB_GC ? ['--import', here('./hub-gc-probe.ts')] : [];
  // The hub runs with the Node.js flags `ddcp hub serve` runs with (bin/ddcp: a 16 MB young generation, an early
  // first full collection): without them V8 sized its young generation from the machine's memory and the load run
  // measured scavenges of tens of milliseconds that the command does not have (docs/performance.md, hub-p99).
  // BENCH_HUB_NODE_FLAGS: extra Node.js flags for the hub (e.g. V8's heap sizes; after these, so a flag given again wins);
  // BENCH_HUB_TREE=DIR: the hub of another checkout (DIR/bench/hub-child.ts, its src/), for A/B with the same driver and clients
  const flags = (process.env.BENCH_HUB_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const child = process.env.BENCH_HUB_TREE ? join(process.env.BENCH_HUB_TREE, 'bench', 'hub-child.ts') : here('./hub-child.ts');
  // BENCH_HUB_APART=1: the hub in a session of its own (setsid), so where the kernel groups CPU time by
  // session (autogroup) it is shared between the hub and its clients' session, not among all the bench's processes.
  const apart = process.env.BENCH_HUB_APART === '1';
  const proc = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...MEMORY_FLAGS, ...SERVE_FLAGS, ...prof, ...gc, ...flags, child, ...args, String(dbs)], { detached: apart, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_HUB_TRACE_FILE: traceFile, ...(process.env.BENCH_HUB_GC ? { BENCH_HUB_GC_FILE: process.env.BENCH_HUB_GC } : {}) } });
  // After its first line the hub's stdout is kept draining (e.g. --trace-gc in BENCH_HUB_NODE_FLAGS),
  // to BENCH_HUB_STDOUT=FILE if set: a stream left unread would block the hub once the pipe fills.
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += String(chunk);
      const m = /listening (\S+) pid (\d+)/.exec(out);
      if (!m) return;
      proc.stdout!.off('data', onData).off('end', onEnd);
      if (process.env.BENCH_HUB_STDOUT) proc.stdout!.pipe(createWriteStream(process.env.BENCH_HUB_STDOUT, { flags: 'a' }));
      else proc.stdout!.resume();
      resolve({ proc, url: m[1]!, pid: Number(m[2]) });
    };
    const onEnd = (): void => reject(new Error(`the hub did not start: ${out}`));
    proc.stdout!.on('data', onData).on('end', onEnd);
  });
}

const pct = (hist: number[], p: number): number => {
  const total = hist.reduce((s, n) => s + n, 0);
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    seen += hist[b]!;
    if (seen >= (p / 100) * total && total > 0) return +bucketMs(b).toFixed(b < 200 ? 2 : 1);
  }
  return NaN;
};

/** One load run (see the file comment). */
export async function measureHubLoad(o: HubLoadOptions): Promise<HubLoadResult> {
  const scratch = new Scratch();
  const pgUrl = process.env.BENCH_HUB_PG_URL ?? 'postgres://127.0.0.1:5432/test';
  const schema = `bench_hubfan_${randomBytes(4).toString('hex')}`;
  const traceFile = join(scratch.dir, 'hub-trace.json');
  const hub = await startHub(o.mode, scratch, pgUrl, schema, o.dbs, traceFile);
  const children: Child[] = [];
  const traces: Trace[] = [];
  let gcPhases: unknown[] = [];
  try {
    const rssBefore = rssKiB(hub.pid);
    const perDb = Math.max(1, Math.floor(o.clients / o.dbs));
    const writersPerDb = Math.max(1, Math.floor(o.writers / o.dbs));
    const specs = Array.from({ length: o.clients }, (_, i) => ({ i, db: `db${Math.floor(i / perDb) % o.dbs}`, writer: i % perDb < writersPerDb }));
    const writers = specs.filter((s) => s.writer).length;
    log(`${o.mode}: hub ${hub.url} RSS ${(rssBefore / 1024).toFixed(1)} MiB; connecting ${o.clients} clients from ${o.procs} processes to ${o.dbs} databases (${writers} writers)`);
    const t0 = performance.now();
    for (let p = 0; p < o.procs; p++) {
      // BENCH_HUB_GROUP=db: each database's clients in one process (a wake of a database then wakes one
      // client process, not every one); default: client i in process i mod PROCS.
      const mine = specs.filter((s) => (o.group === 'db' ? Number(s.db.slice(2)) : s.i) % o.procs === p);
      children.push(new Child([here('./hub-clients.ts'), hub.url, JSON.stringify({ clients: mine, ratePerWriter: o.rate / writers, maxInFlight: o.inflight })]));
    }
    const connected = await Promise.all(children.map((c) => c.next<{ errors: string[] }>()));
    const errors = connected.flatMap((c) => c.errors);
    log(`connected and caught up in ${Math.round(performance.now() - t0)} ms${errors.length ? `; ${errors.length} errors: ${errors[0]}` : ''}`);
    await new Promise((r) => setTimeout(r, 1_000));
    const rssIdle = rssKiB(hub.pid);
    const clientsCpu = (): number => children.reduce((t, c) => t + cpuMs(c.proc.pid!), 0);
    const clientsPreempted = (): number => children.reduce((t, c) => t + switches(c.proc.pid!).preempted, 0);
    const committedBy: Record<string, Record<string, number>> = {};
    // Each write phase's span (epoch ms, until converged), for BENCH_HUB_GC's figures per phase.
    const phases: { rate: number; seconds: number; from: number; to: number; committed: number; hubCpuMs: number }[] = [];
    gcPhases = phases;
    /** One write phase at `rate` changes/s offered, until every change is acknowledged and every client converged. */
    const phase = async (rate: number, seconds: number) => {
      const cpu0 = cpuMs(hub.pid);
      const ccpu0 = clientsCpu();
      const sw0 = switches(hub.pid);
      const csw0 = clientsPreempted();
      const m0 = machineTicks();
      const w0 = performance.now();
      const from = performance.timeOrigin + performance.now();
      log(`writing ${rate} changes/s for ${seconds} s`);
      for (const c of children) c.tell({ type: 'go', seconds, ratePerWriter: rate / writers });
      const written = await Promise.all(children.map((c) => c.next<{ committed: Record<string, number>; unacked: number; ackedAt: number; start: number }>()));
      const cpu1 = cpuMs(hub.pid);
      const ccpu1 = clientsCpu();
      const sw1 = switches(hub.pid);
      const csw1 = clientsPreempted();
      const m1 = machineTicks();
      const wallMs = performance.now() - w0;
      const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
      let committed = 0; // in this phase
      for (const w of written) {
        for (const [i, n] of Object.entries(w.committed)) {
          const db = specs[Number(i)]!.db;
          committed += n - (committedBy[db]?.[i] ?? 0);
          (committedBy[db] ??= {})[i] = n;
        }
      }
      const start = Math.min(...written.map((w) => w.start));
      const acceptedMs = Math.max(...written.map((w) => w.ackedAt)) - start;
      const unacked = written.reduce((s, w) => s + w.unacked, 0);
      log(`${committed} committed, all acknowledged after ${Math.round(acceptedMs)} ms (${unacked} not); waiting for convergence`);
      for (const c of children) c.tell({ type: 'expect', perDb: committedBy });
      const results = await Promise.all(children.map((c) => c.next<{ hist: number[]; bytes: number; batchBytes: number; batchFrames: number; phaseReceived: number; received: number; duplicates: number; missing: number; errors: string[]; trace?: Trace }>()));
      const hist = new Array<number>(BUCKETS).fill(0);
      for (const r of results) r.hist.forEach((n, b) => (hist[b]! += n));
      const received = results.reduce((s, r) => s + r.received, 0);
      let expected = 0;
      for (const s of specs) for (const [i, n] of Object.entries(committedBy[s.db] ?? {})) if (Number(i) !== s.i) expected += n;
      const missing = results.reduce((s, r) => s + r.missing, 0);
      const duplicates = results.reduce((s, r) => s + r.duplicates, 0);
      phases.push({ rate, seconds, from, to: performance.timeOrigin + performance.now(), committed, hubCpuMs: cpu1 - cpu0 });
      return {
        committed,
        accepted_per_s: Math.round((committed * 1000) / acceptedMs),
        unacked,
        hub_cpu_us_per_change: Math.round(((cpu1 - cpu0) * 1000) / Math.max(1, committed)),
        clients_cpu_us_per_change: Math.round(((ccpu1 - ccpu0) * 1000) / Math.max(1, committed)),
        bench_cores: +((cpu1 - cpu0 + ccpu1 - ccpu0) / wallMs).toFixed(2),
        machine_busy: +((m1.busy - m0.busy) / Math.max(1, m1.all - m0.all)).toFixed(2),
        hub_switches_per_change: { voluntary: +((sw1.voluntary - sw0.voluntary) / Math.max(1, committed)).toFixed(3), preempted: +((sw1.preempted - sw0.preempted) / Math.max(1, committed)).toFixed(3) },
        clients_preempted_per_change: +((csw1 - csw0) / Math.max(1, committed)).toFixed(3),
        changes_per_frame: +(results.reduce((s, r) => s + r.phaseReceived, 0) / Math.max(1, results.reduce((s, r) => s + r.batchFrames, 0))).toFixed(1),
        load,
        fanout_ms: { median: pct(hist, 50), p99: pct(hist, 99), samples: hist.reduce((s, n) => s + n, 0) },
        results,
        received,
        expected,
        missing,
        duplicates,
        converged: missing === 0 && duplicates === 0 && received === expected && unacked === 0,
      };
    };
    if (o.warmupSeconds) {
      const w = await phase(o.rate, o.warmupSeconds);
      log(`warm-up (left out): ${w.accepted_per_s} changes/s, hub ${w.hub_cpu_us_per_change} µs and clients ${w.clients_cpu_us_per_change} µs per change`);
    }
    const { committed, accepted_per_s, unacked, hub_cpu_us_per_change, clients_cpu_us_per_change, load, bench_cores, machine_busy, hub_switches_per_change, clients_preempted_per_change, changes_per_frame, fanout_ms, results, received, expected, missing, duplicates, converged } = await phase(o.rate, o.seconds);
    log(`saturation: accepted ${accepted_per_s}/s, hub ${hub_cpu_us_per_change} + clients ${clients_cpu_us_per_change} µs per change, ${changes_per_frame} changes per frame, bench ${bench_cores} cores, machine ${Math.round(machine_busy * 100)} % busy; hub ${hub_switches_per_change.voluntary} waits + ${hub_switches_per_change.preempted} preemptions, clients ${clients_preempted_per_change} preemptions per change; fan-out median ${fanout_ms.median} ms, p99 ${fanout_ms.p99} ms`);
    // The latency at fixed offered rates below (and around) what the hub takes, with every client still connected.
    const curve_runs: CurvePoint[] = [];
    for (const rate of o.curve) {
      const p = await phase(rate, o.curveSeconds);
      curve_runs.push({ offered_per_s: rate, accepted_per_s: p.accepted_per_s, hub_cpu_us_per_change: p.hub_cpu_us_per_change, clients_cpu_us_per_change: p.clients_cpu_us_per_change, bench_cores: p.bench_cores, machine_busy: p.machine_busy, hub_switches_per_change: p.hub_switches_per_change, clients_preempted_per_change: p.clients_preempted_per_change, changes_per_frame: p.changes_per_frame, load: p.load, fanout_ms: p.fanout_ms, converged: p.converged });
      log(`offered ${rate}/s: accepted ${p.accepted_per_s}/s, hub ${p.hub_cpu_us_per_change} + clients ${p.clients_cpu_us_per_change} µs per change, ${p.changes_per_frame} changes per frame, bench ${p.bench_cores} cores, machine ${Math.round(p.machine_busy * 100)} % busy; hub ${p.hub_switches_per_change.voluntary} waits + ${p.hub_switches_per_change.preempted} preemptions, clients ${p.clients_preempted_per_change} preemptions per change; fan-out median ${p.fanout_ms.median} ms, p99 ${p.fanout_ms.p99} ms`);
      if (o.sustainedSeconds === 0) for (const r of p.results) if (r.trace) traces.push(r.trace);
    }
    // The latency at a rate the hub keeps up with: a second phase offering a share of what the first accepted.
    let sustained: HubLoadResult['sustained'];
    if (o.sustainedSeconds > 0) {
      const rate = o.sustainedRate ?? Math.max(writers, Math.round(accepted_per_s * o.sustainedShare));
      const p = await phase(rate, o.sustainedSeconds);
      sustained = { offered_per_s: rate, accepted_per_s: p.accepted_per_s, hub_cpu_us_per_change: p.hub_cpu_us_per_change, clients_cpu_us_per_change: p.clients_cpu_us_per_change, load: p.load, fanout_ms: p.fanout_ms, converged: p.converged };
      for (const r of p.results) if (r.trace) traces.push(r.trace);
    } else if (o.curve.length === 0) for (const r of results) if (r.trace) traces.push(r.trace);
    return {
      ...o,
      committed,
      accepted_per_s,
      unacked,
      hub_cpu_us_per_change,
      clients_cpu_us_per_change,
      load,
      bench_cores,
      machine_busy,
      hub_switches_per_change,
      clients_preempted_per_change,
      changes_per_frame,
      fanout_ms,
      ...(sustained ? { sustained } : {}),
      curve_runs,
      hub_rss_mib: { before_clients: +(rssBefore / 1024).toFixed(1), clients_idle: +(rssIdle / 1024).toFixed(1), after_run: +(rssKiB(hub.pid) / 1024).toFixed(1) },
      rss_per_idle_client_kib: +((rssIdle - rssBefore) / o.clients).toFixed(1),
      wire_bytes_per_change: { all_frames: +(results.reduce((s, r) => s + r.bytes, 0) / Math.max(1, received)).toFixed(1), batches_only: +(results.reduce((s, r) => s + r.batchBytes, 0) / Math.max(1, received)).toFixed(1) },
      received,
      expected,
      duplicates,
      missing,
      converged: converged && curve_runs.every((p) => p.converged) && (sustained?.converged ?? true),
      errors: [...errors, ...results.flatMap((r) => r.errors)].slice(0, 5),
    };
  } finally {
    for (const c of children) c.tell({ type: 'stop' });
    await Promise.all(children.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
    hub.proc.kill('SIGTERM');
    await new Promise((r) => (hub.proc.exitCode !== null ? r(null) : hub.proc.once('exit', r)));
    if (TRACE && traces.length > 0) {
      try {
        traces.push(JSON.parse(readFileSync(traceFile, 'utf8')) as Trace);
      } catch {
        log('the hub wrote no trace');
      }
      for (const line of traceReport(traces)) log(line);
      // BENCH_HUB_TRACE_DUMP=FILE: every process's trace, one JSON line per process, appended (to match the
      // slowest traced changes with the GC pauses of BENCH_HUB_GC, on the same epoch clock)
      if (process.env.BENCH_HUB_TRACE_DUMP) for (const t of traces) appendFileSync(process.env.BENCH_HUB_TRACE_DUMP, `${JSON.stringify(t)}\n`);
    }
    if (o.mode === 'postgres') {
      const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await sql.end();
    }
    if (process.env.BENCH_HUB_GC) appendFileSync(process.env.BENCH_HUB_GC, `${JSON.stringify({ mode: o.mode, tree: process.env.BENCH_HUB_TREE ?? 'own', flags: process.env.BENCH_HUB_NODE_FLAGS ?? '', phases: gcPhases })}\n`);
    scratch.cleanup?.();
  }
}

/** The options from the environment (see the file comment). */
export function hubLoadOptions(mode: HubLoadOptions['mode']): HubLoadOptions {
  return {
    mode,
    clients: int('BENCH_HUB_CLIENTS', 1000),
    writers: int('BENCH_HUB_WRITERS', 200),
    dbs: int('BENCH_HUB_DBS', 100),
    procs: int('BENCH_HUB_PROCS', 4),
    // Offered above the 20,000/s target: offered exactly the target, the accepted rate can only fall
    // short of it (pacing lags of ~1–3 %) however much more the hub could take.
    rate: int('BENCH_HUB_RATE', 30_000),
    inflight: int('BENCH_HUB_INFLIGHT', 20),
    ...(process.env.BENCH_HUB_GROUP === 'db' ? { group: 'db' as const } : {}),
    seconds: int('BENCH_HUB_SECONDS', 10),
    curve: (process.env.BENCH_HUB_CURVE ?? '250,1000,2500,5000,10000').split(',').filter((r) => r.trim() !== '' && r.trim() !== '0').map((r) => {
      const n = Number(r);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_HUB_CURVE must be positive integers separated by commas, got ${process.env.BENCH_HUB_CURVE}`);
      return n;
    }),
    curveSeconds: int('BENCH_HUB_CURVE_SECONDS', 3),
    sustainedSeconds: process.env.BENCH_HUB_SUSTAINED_SECONDS ? Number(process.env.BENCH_HUB_SUSTAINED_SECONDS) : 0,
    // A running hub compiles its write path once; a 3 s phase first keeps that JIT warm-up (14 % of
    // the hub's CPU in a cold 10 s phase, by perf) out of the steady-state figures. 0: none.
    ...(process.env.BENCH_HUB_WARMUP_SECONDS === '0' ? {} : { warmupSeconds: int('BENCH_HUB_WARMUP_SECONDS', 3) }),
    sustainedShare: Number(process.env.BENCH_HUB_SUSTAINED_SHARE ?? 0.25),
    ...(process.env.BENCH_HUB_SUSTAINED_RATE ? { sustainedRate: int('BENCH_HUB_SUSTAINED_RATE', 1) } : {}),
  };
}

/** The modes BENCH_HUB_MODE asks for (default both). */
export function hubLoadModes(): HubLoadOptions['mode'][] {
  const m = process.env.BENCH_HUB_MODE ?? 'both';
  if (m === 'both') return ['sqlite', 'postgres'];
  if (m === 'sqlite' || m === 'postgres') return [m];
  throw new Error(`BENCH_HUB_MODE must be sqlite, postgres or both, got ${m}`);
}

/** The runs as a Markdown section, each figure beside its target (issue 10, on 2 cores). */
export function hubLoadReport(runs: HubLoadResult[]): string {
  const mark = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const latency = (f: { median: number; p99: number }): string => `${f.median} / ${f.p99} (${mark(f.median < 10 && f.p99 < 100)})`;
  const rows = runs.map(
    (r) =>
      `| ${r.mode} | ${r.clients} / ${r.writers} / ${r.dbs} | ${r.accepted_per_s.toLocaleString('en-US')} (${mark(r.accepted_per_s >= 20_000)}) | ${r.hub_cpu_us_per_change} | ${latency(r.fanout_ms)} | ${r.rss_per_idle_client_kib} (${mark(r.rss_per_idle_client_kib < 100)}) | ${r.wire_bytes_per_change.all_frames} (${mark(r.wire_bytes_per_change.all_frames < 100)}) | ${r.converged ? 'yes' : `NO (missing ${r.missing}, twice ${r.duplicates}, unacked ${r.unacked})`} |`,
  );
  // The latency-vs-offered-load curve: the saturation phase's row, then each fixed rate.
  const curve = runs.flatMap((r) => [
    ...r.curve_runs.map((p) => `| ${r.mode} | ${p.offered_per_s.toLocaleString('en-US')} | ${p.accepted_per_s.toLocaleString('en-US')} | ${p.changes_per_frame} | ${p.hub_cpu_us_per_change} + ${p.clients_cpu_us_per_change} | ${p.bench_cores} / ${Math.round(p.machine_busy * 100)} % | ${latency(p.fanout_ms)} |`),
    `| ${r.mode} | ${r.rate.toLocaleString('en-US')} (saturation) | ${r.accepted_per_s.toLocaleString('en-US')} | ${r.changes_per_frame} | ${r.hub_cpu_us_per_change} + ${r.clients_cpu_us_per_change} | ${r.bench_cores} / ${Math.round(r.machine_busy * 100)} % | ${latency(r.fanout_ms)} |`,
  ]);
  return [
    '',
    '## Hub load (bench/hub.ts)',
    '',
    '| store | clients / writers / databases | accepted changes/s (≥ 20,000) | hub CPU µs per change | fan-out ms median / p99 at saturation (< 10 / < 100) | RSS KiB per idle client (< 100) | wire bytes per change (< 100) | converged |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    'Fan-out latency against the offered load (evenly paced, every client connected):',
    '',
    '| store | offered changes/s | accepted changes/s | changes per frame to a follower | CPU µs per change, hub + clients | cores busy: bench / machine | fan-out ms median / p99 (< 10 / < 100) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...curve,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const mode of hubLoadModes()) console.log(JSON.stringify(await measureHubLoad(hubLoadOptions(mode)), null, 2));
}
