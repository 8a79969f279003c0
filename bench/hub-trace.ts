/**
 * Tracing one change's path through the hub load run (bench/hub.ts with `BENCH_HUB_TRACE=1`): each
 * process notes, per traced change (writer `i`'s `k`-th commit, every `BENCH_HUB_TRACE_EVERY`-th),
 * when it passed a stage, on the clock all processes share (`performance.timeOrigin + now()`):
 *
 *   commit        the writer committed it (the time written in the change's value)
 *   pushed        the writer's session handed its batch frame to the WebSocket
 *   received      the hub read the frame off the socket
 *   queued        the hub handed it to the store's sink (its session's pipeline)
 *   committed     the store's group commit holding it committed (the sink answered)
 *   fanned        the hub handed a frame holding it to the first / last follower's WebSocket
 *   decoded       a follower decoded it (first, median and last of its followers)
 *
 * The driver prints, per step between stages, the median, p90 and p99 over the traced changes.
 * Tracing patches prototypes (WsFrameStream's receive and write) and wraps the databases' sinks, in
 * the bench's processes only; it decodes every batch frame it sees again, so trace a low rate (or
 * every n-th change) for figures that the tracing itself does not move.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { decodeMessage } from '../src/sync/messages.ts';
import type { ChangeSink, Received } from '../src/sync/ports.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { WsFrameStream } from '../src/transport/ws/frames.ts';
import { HostedFeed } from '../src/hub/storage/sqlite/feed.ts';
import { PgHubDatabase } from '../src/hub/storage/postgres/database.ts';

export const TRACE = process.env.BENCH_HUB_TRACE === '1';
const EVERY = Math.max(1, Number(process.env.BENCH_HUB_TRACE_EVERY ?? 1));

const threadCpuMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

export const epoch = (): number => performance.timeOrigin + performance.now();

/** Stage → change key (`i:k`) → times (ms, epoch). */
export type Trace = Record<string, Record<string, number[]>>;

const BATCH = 3; // a batch frame's first byte (messages.ts: T_BATCH)
const BATCH_CAUGHT_UP = 8; // a batch paired with its caught-up (messages.ts: T_BATCH_CAUGHT_UP)

/** Whether change `k` of a writer is traced. */
export const traced = (k: number): boolean => k % EVERY === 0;

/** The traced keys of a batch frame's changes (`i:k` from each value `${t} ${i} ${k}`). */
function keysOf(frame: Uint8Array): string[] {
  if (frame[0] !== BATCH && frame[0] !== BATCH_CAUGHT_UP) return [];
  const d = decodeMessage(frame);
  const m = d.type === 'batch-caught-up' ? d.batch : d;
  if (m.type !== 'batch') return [];
  const out: string[] = [];
  for (const c of m.changes) {
    if (typeof c.val !== 'string') continue;
    const [, i, k] = c.val.split(' ');
    if (traced(Number(k))) out.push(`${i}:${k}`);
  }
  return out;
}

export class Tracer {
  readonly trace: Trace = {};
  /** This process's event-loop delay and GC pauses while tracing. */
  private readonly loop = monitorEventLoopDelay({ resolution: 1 });
  private readonly gcs: number[] = [];
  /** Per traced change in the hub: wall and main-thread CPU ms from handed to the sink to its group commit's start. */
  readonly waits: [number, number][] = [];
  constructor() {
    this.loop.enable();
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) this.gcs.push(e.duration);
    }).observe({ entryTypes: ['gc'] });
  }
  /** Starts the trace and the health figures over (a write phase begins). */
  reset(): void {
    for (const k of Object.keys(this.trace)) delete this.trace[k];
    this.loop.reset();
    this.gcs.length = 0;
  }
  /** One line: the event loop's delay (median, p99, max ms) and GC pauses (count, total, max ms). */
  health(who: string): string {
    const ms = (ns: number): string => (ns / 1e6).toFixed(1);
    const gc = this.gcs.reduce((a, b) => a + b, 0);
    const w = [...this.waits].sort((a, b) => a[0] - b[0]);
    const mid = w[w.length >> 1];
    const waits = mid ? `; queued → flush-start median ${mid[0].toFixed(1)} ms wall, ${mid[1].toFixed(1)} ms of its CPU` : '';
    return `${who}${waits}: event-loop delay median ${ms(this.loop.percentile(50))} p99 ${ms(this.loop.percentile(99))} max ${ms(this.loop.max)} ms; GC ${this.gcs.length} pauses, ${gc.toFixed(0)} ms in all, longest ${Math.max(0, ...this.gcs).toFixed(1)} ms`;
  }
  note(stage: string, key: string, at = epoch()): void {
    ((this.trace[stage] ??= {})[key] ??= []).push(at);
  }
  noteFrame(stage: string, frame: Uint8Array, at = epoch()): void {
    for (const k of keysOf(frame)) this.note(stage, k, at);
  }
}

/** In the hub's process: frames received and written by every WebSocket stream, and what the sinks merged. */
export function traceHub(dbs: HubDatabase[]): Tracer {
  const t = new Tracer();
  const proto = WsFrameStream.prototype as unknown as { receivedFrame(f: Uint8Array): boolean; write(f: Uint8Array, o: unknown): Promise<void> };
  const receivedFrame = proto.receivedFrame;
  proto.receivedFrame = function (this: unknown, f: Uint8Array) {
    t.noteFrame('received', f);
    return receivedFrame.call(this, f);
  };
  // A fan-out frame is one object written to every follower: decoded once, each write noted.
  const keys = new WeakMap<Uint8Array, string[]>();
  const write = proto.write;
  proto.write = function (this: unknown, f: Uint8Array, o: unknown) {
    if (f[0] === BATCH || f[0] === BATCH_CAUGHT_UP) {
      let ks = keys.get(f);
      if (!ks) keys.set(f, (ks = keysOf(f)));
      const at = epoch();
      for (const k of ks) t.note('fanned', k, at);
    }
    return write.call(this, f, o);
  };
  // The embedded store's group commit: when it starts and ends, for the changes it holds.
  const queuedAt = new Map<string, [number, number]>();
  const feedProto = HostedFeed.prototype as unknown as { flush(): void; queue: { batch: { changes: { val: unknown }[] } }[] };
  const flush = feedProto.flush;
  feedProto.flush = function (this: typeof feedProto) {
    const ks: string[] = [];
    for (const q of this.queue) for (const c of q.batch.changes) if (typeof c.val === 'string') {
      const [, i, k] = c.val.split(' ');
      if (traced(Number(k))) ks.push(`${i}:${k}`);
    }
    const at = epoch();
    for (const k of ks) t.note('flush-start', k, at);
    const cpu = threadCpuMs();
    for (const k of ks) {
      const q = queuedAt.get(k);
      if (q) t.waits.push([at - q[0], cpu - q[1]]);
    }
    try {
      return flush.call(this);
    } finally {
      const end = epoch();
      for (const k of ks) t.note('flush-end', k, end);
    }
  };
  // The PostgreSQL store's group commit: a group is made once its database holds a merge turn
  // (flush-start), and its transaction ends at its COMMIT's answer (flush-end).
  const pgProto = PgHubDatabase.prototype as unknown as {
    takeGroup(): { pushes: { batch: { changes: { val: unknown }[] } }[] }[];
    mergeGroup(group: { pushes: { batch: { changes: { val: unknown }[] } }[] }[], ...rest: unknown[]): Promise<unknown>;
  };
  const keysOfGroup = (group: { pushes: { batch: { changes: { val: unknown }[] } }[] }[]): string[] => {
    const ks: string[] = [];
    for (const e of group) for (const q of e.pushes) for (const c of q.batch.changes) if (typeof c.val === 'string') {
      const [, i, k] = c.val.split(' ');
      if (traced(Number(k))) ks.push(`${i}:${k}`);
    }
    return ks;
  };
  const takeGroup = pgProto.takeGroup;
  pgProto.takeGroup = function (this: unknown) {
    const group = takeGroup.call(this);
    const ks = keysOfGroup(group);
    const at = epoch();
    const cpu = threadCpuMs();
    for (const k of ks) {
      t.note('flush-start', k, at);
      const q = queuedAt.get(k);
      if (q) t.waits.push([at - q[0], cpu - q[1]]);
    }
    return group;
  };
  const mergeGroup = pgProto.mergeGroup;
  pgProto.mergeGroup = function (this: unknown, group, ...rest) {
    const ks = keysOfGroup(group);
    const end = (): void => {
      const at = epoch();
      for (const k of ks) t.note('flush-end', k, at);
    };
    const p = mergeGroup.call(this, group, ...rest);
    p.then(end, () => {});
    return p;
  };
  for (const db of dbs) {
    const sink = db.sink;
    const wrapped: ChangeSink = {
      trackedVersion: (s) => sink.trackedVersion(s),
      bindSite: (s, a) => sink.bindSite(s, a),
      caughtUp: (v, f) => sink.caughtUp(v, f),
      dropIncomplete: (f) => sink.dropIncomplete(f),
      receive: (batch, from) => {
        const ks: string[] = [];
        for (const c of batch.changes) {
          if (typeof c.val !== 'string') continue;
          const [, i, k] = c.val.split(' ');
          if (traced(Number(k))) ks.push(`${i}:${k}`);
        }
        const at = epoch();
        for (const k of ks) t.note('queued', k, at);
        const cpu = threadCpuMs();
        for (const k of ks) queuedAt.set(k, [at, cpu]);
        const done = (r: Received | undefined): Received | undefined => {
          const at = epoch();
          for (const k of ks) t.note('committed', k, at);
          return r;
        };
        const r = sink.receive(batch, from) as Received | undefined | Promise<Received | undefined>;
        return (r instanceof Promise ? r.then(done) : done(r)) as ReturnType<ChangeSink['receive']>;
      },
    };
    Object.defineProperty(db, 'sink', { value: wrapped, configurable: true });
  }
  return t;
}

const q = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** The steps between stages over the traced changes: median, p90, p99 (ms), as text lines. */
export function traceReport(all: Trace[]): string[] {
  const merged: Trace = {};
  for (const tr of all) for (const [stage, m] of Object.entries(tr)) for (const [k, ts] of Object.entries(m)) ((merged[stage] ??= {})[k] ??= []).push(...ts);
  // Per key: commit, pushed, received, queued, committed (first of each), fanned first/last, decoded first/median/last.
  const first = (stage: string, k: string): number | undefined => {
    const ts = merged[stage]?.[k];
    return ts && ts.length > 0 ? Math.min(...ts) : undefined;
  };
  const sorted = (stage: string, k: string): number[] => [...(merged[stage]?.[k] ?? [])].sort((a, b) => a - b);
  const steps: [string, (k: string) => number | undefined][] = [
    ['commit', (k) => first('commit', k)],
    ['pushed', (k) => first('pushed', k)],
    ['received', (k) => first('received', k)],
    ['queued', (k) => first('queued', k)],
    ['flush-start', (k) => first('flush-start', k)],
    ['flush-end', (k) => first('flush-end', k)],
    ['committed', (k) => first('committed', k)],
    ['fanned (first follower)', (k) => first('fanned', k)],
    ['fanned (last follower)', (k) => sorted('fanned', k).at(-1)],
    ['decoded (first follower)', (k) => first('decoded', k)],
    ['decoded (median follower)', (k) => { const s = sorted('decoded', k); return s.length ? s[Math.floor(s.length / 2)] : undefined; }],
    ['decoded (last follower)', (k) => sorted('decoded', k).at(-1)],
  ];
  const keys = Object.keys(merged.commit ?? {});
  const lines = [`traced changes: ${keys.length}`, '| step | median ms | p90 ms | p99 ms | n |', '|---|---:|---:|---:|---:|'];
  const FANNED = 7; // the last follower's write and the decodes are measured from the first follower's write
  for (let s = 1; s < steps.length; s++) {
    const [name, at] = steps[s]!;
    const d: number[] = [];
    let fromName = '';
    for (const k of keys) {
      const b = at(k);
      if (b === undefined) continue;
      // from the stage before that this change passed (PostgreSQL mode has no group-commit marks)
      let f = s > FANNED ? FANNED : s - 1;
      while (f > 0 && steps[f]![1](k) === undefined) f--;
      const a = steps[f]![1](k);
      if (a === undefined) continue;
      fromName = steps[f]![0];
      d.push(b - a);
    }
    d.sort((x, y) => x - y);
    if (d.length) lines.push(`| ${fromName} → ${name} | ${q(d, 0.5).toFixed(2)} | ${q(d, 0.9).toFixed(2)} | ${q(d, 0.99).toFixed(2)} | ${d.length} |`);
  }
  const total: number[] = [];
  for (const k of keys) {
    const a = first('commit', k);
    for (const b of merged.decoded?.[k] ?? []) if (a !== undefined) total.push(b - a);
  }
  total.sort((x, y) => x - y);
  if (total.length) lines.push(`| commit → decoded (every follower) | ${q(total, 0.5).toFixed(2)} | ${q(total, 0.9).toFixed(2)} | ${q(total, 0.99).toFixed(2)} | ${total.length} |`);
  return lines;
}
