/**
 * A/B of the hub's CPU per wake (per change below saturation) between another source tree and this
 * one, on the same machine at the same time: two hub processes (each tree's bench/hub-child.ts,
 * embedded SQLite), each with its own clients (each tree's bench/hub-clients.ts, so the clients'
 * CPU is A/B'd too), all connected throughout; then, round after round, each hub in turn is offered
 * each rate for a few seconds while the other one's clients sit idle (order alternated per round:
 * A B, B A, …). Per phase: accepted changes/s, the hub's and the clients' CPU per change (/proc),
 * changes per batch frame a follower received (how many changes a wake carried), fan-out median and
 * p99, converged; at the end, per tree and rate, the median and range over the rounds.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-wake-ab.ts
 *
 * Knobs: AB_RATES (1000,2500 changes/s in all), AB_SECONDS (4 per phase), AB_ROUNDS (3),
 * AB_WARMUP_SECONDS (3: a first phase per tree and rate, left out: the JIT), AB_CLIENTS (1000),
 * AB_WRITERS (200), AB_DBS (100), AB_PROCS (2 client processes per hub), AB_INFLIGHT (20).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BUCKETS, bucketMs } from './hub-histogram.ts';

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const RATES = (process.env.AB_RATES ?? '1000,2500').split(',').map(Number);
const SECONDS = num('AB_SECONDS', 4);
const ROUNDS = num('AB_ROUNDS', 3);
const WARMUP = num('AB_WARMUP_SECONDS', 3);
const CLIENTS = num('AB_CLIENTS', 1000);
const WRITERS = num('AB_WRITERS', 200);
const DBS = num('AB_DBS', 100);
const PROCS = num('AB_PROCS', 2);
const INFLIGHT = num('AB_INFLIGHT', 20);
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const trees: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];

const log = (m: string): void => void process.stderr.write(`[hub-wake-ab] ${m}\n`);
/** User + system CPU time of a process (ms). */
const cpuMs = (pid: number): number => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const loadavg = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const pct = (hist: number[], p: number): number => {
  const total = hist.reduce((s, n) => s + n, 0);
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    seen += hist[b]!;
    if (seen >= (p / 100) * total && total > 0) return +bucketMs(b).toFixed(1);
  }
  return NaN;
};

/** A child speaking JSON lines. */
class Child {
  readonly proc: ChildProcess;
  private readonly pending: ((m: Record<string, unknown>) => void)[] = [];
  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.pending.shift()?.(JSON.parse(l) as Record<string, unknown>));
  }
  next<T>(): Promise<T> {
    return new Promise((resolve) => this.pending.push(resolve as (m: Record<string, unknown>) => void));
  }
  tell(m: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(m)}\n`);
  }
}

interface Side {
  label: string;
  hub: ChildProcess;
  children: Child[];
  committedBy: Record<string, Record<string, number>>;
  dir: string;
}

const specs = Array.from({ length: CLIENTS }, (_, i) => {
  const perDb = Math.max(1, Math.floor(CLIENTS / DBS));
  return { i, db: `db${Math.floor(i / perDb) % DBS}`, writer: i % perDb < Math.max(1, Math.floor(WRITERS / DBS)) };
});
const writers = specs.filter((s) => s.writer).length;
/**
 * Batch frames one wake of a database sends: to each of its clients but a writer whose changes are
 * all its own (one, at one change per wake; none when both writers' changes are in it): counted as
 * clients per database − 1, so wakes are estimated from the frames the clients received.
 */
const FRAMES_PER_WAKE = Math.max(1, Math.floor(CLIENTS / DBS) - 1);

async function start(label: string, root: string): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-wake-ab-'));
  const hub = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', `${root}/bench/hub-child.ts`, join(dir, 'hub'), String(DBS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let url = '';
  for await (const chunk of hub.stdout!) {
    out += String(chunk);
    const m = /listening (\S+) pid (\d+)/.exec(out);
    if (m) {
      url = m[1]!;
      break;
    }
  }
  if (!url) throw new Error(`${label}: the hub did not start: ${out}`);
  const children: Child[] = [];
  for (let p = 0; p < PROCS; p++) {
    const mine = specs.filter((s) => s.i % PROCS === p);
    children.push(new Child([`${root}/bench/hub-clients.ts`, url, JSON.stringify({ clients: mine, ratePerWriter: 1, maxInFlight: INFLIGHT })]));
  }
  const connected = await Promise.all(children.map((c) => c.next<{ errors: string[] }>()));
  const errors = connected.flatMap((c) => c.errors);
  log(`${label}: ${CLIENTS} clients connected to ${url}${errors.length ? `; ${errors.length} errors: ${errors[0]}` : ''}`);
  return { label, hub, children, committedBy: {}, dir };
}

interface Phase {
  /** Totals of the phase: changes committed, wakes (batch frames received ÷ the followers each wake reaches), CPU ms. */
  committed: number;
  wakes: number;
  hubMs: number;
  clientsMs: number;
  hubUsPerWake: number;
  accepted: number;
  hubUs: number;
  clientsUs: number;
  perFrame: number;
  median: number;
  p99: number;
  converged: boolean;
  load: number;
}

async function phase(s: Side, rate: number, seconds: number): Promise<Phase> {
  const clientsCpu = (): number => s.children.reduce((t, c) => t + cpuMs(c.proc.pid!), 0);
  const h0 = cpuMs(s.hub.pid!);
  const c0 = clientsCpu();
  for (const c of s.children) c.tell({ type: 'go', seconds, ratePerWriter: rate / writers });
  const written = await Promise.all(s.children.map((c) => c.next<{ committed: Record<string, number>; unacked: number; ackedAt: number; start: number }>()));
  const h1 = cpuMs(s.hub.pid!);
  const c1 = clientsCpu();
  const load = loadavg();
  let committed = 0;
  for (const w of written) {
    for (const [i, n] of Object.entries(w.committed)) {
      const db = specs[Number(i)]!.db;
      committed += n - (s.committedBy[db]?.[i] ?? 0);
      (s.committedBy[db] ??= {})[i] = n;
    }
  }
  const acceptedMs = Math.max(...written.map((w) => w.ackedAt)) - Math.min(...written.map((w) => w.start));
  for (const c of s.children) c.tell({ type: 'expect', perDb: s.committedBy });
  const results = await Promise.all(s.children.map((c) => c.next<{ hist: number[]; batchFrames: number; phaseReceived: number; missing: number; duplicates: number }>()));
  const hist = new Array<number>(BUCKETS).fill(0);
  for (const r of results) r.hist.forEach((n, b) => (hist[b]! += n));
  const frames = results.reduce((t, r) => t + r.batchFrames, 0);
  const wakes = frames / FRAMES_PER_WAKE;
  return {
    committed,
    wakes,
    hubMs: h1 - h0,
    clientsMs: c1 - c0,
    hubUsPerWake: Math.round(((h1 - h0) * 1000) / Math.max(1, wakes)),
    accepted: Math.round((committed * 1000) / acceptedMs),
    hubUs: Math.round(((h1 - h0) * 1000) / Math.max(1, committed)),
    clientsUs: Math.round(((c1 - c0) * 1000) / Math.max(1, committed)),
    perFrame: +(results.reduce((t, r) => t + r.phaseReceived, 0) / Math.max(1, results.reduce((t, r) => t + r.batchFrames, 0))).toFixed(2),
    median: pct(hist, 50),
    p99: pct(hist, 99),
    converged: results.every((r) => r.missing === 0 && r.duplicates === 0) && written.every((w) => w.unacked === 0),
    load,
  };
}

const sides: Side[] = [];
try {
  for (const [label, root] of trees) sides.push(await start(label, root));
  if (WARMUP > 0) for (const s of sides) for (const rate of RATES) await phase(s, rate, WARMUP);
  const got: Record<string, Phase[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const rate of RATES) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        const p = await phase(s, rate, SECONDS);
        (got[`${s.label} ${rate}`] ??= []).push(p);
        log(`round ${r + 1} ${s.label.padEnd(4)} ${rate}/s: accepted ${p.accepted}/s, hub ${p.hubUsPerWake} µs per wake, hub ${p.hubUs} + clients ${p.clientsUs} µs per change, ${p.perFrame} changes per frame, median ${p.median} / p99 ${p.p99} ms, load ${p.load}${p.converged ? '' : ' NOT CONVERGED'}`);
      }
    }
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  // CPU = perWake × wakes + perChange × changes, least squares over every phase of a tree (hub, clients).
  const fit = (ps: Phase[], k: 'hubMs' | 'clientsMs'): [number, number] => {
    let ww = 0, wc = 0, cc = 0, wy = 0, cy = 0;
    for (const p of ps) {
      ww += p.wakes * p.wakes;
      wc += p.wakes * p.committed;
      cc += p.committed * p.committed;
      wy += p.wakes * p[k] * 1000;
      cy += p.committed * p[k] * 1000;
    }
    const det = ww * cc - wc * wc;
    return [Math.round((wy * cc - cy * wc) / det), Math.round((ww * cy - wc * wy) / det)];
  };
  for (const [label] of trees) {
    const ps = Object.entries(got).filter(([k]) => k.startsWith(`${label} `)).flatMap(([, v]) => v);
    const [hw, hc] = fit(ps, 'hubMs');
    const [cw, cc] = fit(ps, 'clientsMs');
    console.log(`${label.padEnd(4)} fit over ${ps.length} phases: hub ${hw} µs per wake + ${hc} µs per change; clients ${cw} µs per wake + ${cc} µs per change`);
  }
  for (const rate of RATES) {
    for (const [label] of trees) {
      const ps = got[`${label} ${rate}`]!;
      const f = (k: keyof Phase): string => `${med(ps.map((p) => p[k] as number))} (${Math.min(...ps.map((p) => p[k] as number))}–${Math.max(...ps.map((p) => p[k] as number))})`;
      console.log(`${label.padEnd(4)} ${rate}/s: hub µs/wake ${f('hubUsPerWake')}, hub µs/change ${f('hubUs')}, clients ${f('clientsUs')}, changes/frame ${f('perFrame')}, median ms ${f('median')}, p99 ${f('p99')}, accepted ${f('accepted')}, load ${f('load')}`);
    }
  }
} finally {
  for (const s of sides) {
    for (const c of s.children) c.tell({ type: 'stop' });
    await Promise.all(s.children.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
    s.hub.kill('SIGTERM');
    await new Promise((r) => (s.hub.exitCode !== null ? r(null) : s.hub.once('exit', r)));
    rmSync(s.dir, { recursive: true, force: true });
  }
}
