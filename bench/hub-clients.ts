/**
 * Clients of the hub load run (bench/hub.ts), in a process of their own: light protocol clients
 * over WebSocket — no repository, but the real sync protocol (hello with a signed site claim,
 * welcome, batches decoded and validated, acks) — each following one database; writers also push
 * single-row changes from an in-memory feed. Driven by JSON lines on stdin, answering on stdout:
 *
 *   argv: URL CONFIG_JSON   ({clients: [{i, db, writer}], ratePerWriter, maxInFlight})
 *   → {type:'connected'}                               every session welcomed and caught up
 *   ← {type:'go', seconds, ratePerWriter?}  → {type:'written', committed: {i: n}, ackedAt}
 *                           (again for a later phase: latencies counted afresh, committed in all)
 *   ← {type:'expect', perDb: {db: {i: n}}}  → {type:'result', …}   once converged (or 60 s)
 *   ← {type:'stop'}
 */
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch } from '../src/sync/batches.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { runSession, type PullTarget } from '../src/sync/client.ts';
import { dialWs } from '../src/transport/ws/dial.ts';
import { proofOf } from '../test/support/identity.ts';
import { MemFeed, NOTES } from '../test/support/mem-feed.ts';
import { BUCKETS, bucketOf } from './hub-histogram.ts';
import { TRACE, traced, Tracer } from './hub-trace.ts';

const SCHEMA = NOTES;

/** A writer's database in memory: each commit one new row `<i>:<version>` whose body is its commit time. */
class Writer extends MemFeed {
  private readonly i: number;
  constructor(i: number) {
    super(randomBytes(16));
    this.i = i;
  }
  override commit(): number {
    const k = this.log.length + 1;
    const at = epoch();
    if (tracer && traced(k)) tracer.note('commit', `${this.i}:${k}`, at);
    return super.commit(`${this.i}:${k}`, `${at.toFixed(3)} ${this.i} ${k}`);
  }
}

const epoch = (): number => performance.timeOrigin + performance.now();
/** BENCH_HUB_TRACE=1: each traced change's stages in this process (bench/hub-trace.ts). */
const tracer = TRACE ? new Tracer() : undefined;

/** WebSocket framing of a server frame (unmasked): 2 bytes, 4 past 125, 10 past 65,535. */
const wsHeader = (n: number): number => (n < 126 ? 2 : n < 65_536 ? 4 : 10);

interface ClientSpec {
  i: number;
  db: string;
  writer: boolean;
}


/** What a client got: every writer's rows (one bit each), the latency of each, bytes on the wire. */
class Received implements PullTarget {
  seen = new Map<number, Uint8Array>();
  changes = 0;
  /** Changes received in this phase. */
  measuringChanges = 0;
  duplicates = 0;
  bytes = 0;
  batchBytes = 0;
  /** Batch frames received while measuring (changes per frame: how much each wake of the hub carried). */
  batchFrames = 0;
  caughtUps = 0;
  measuring = false;
  readonly hist = new Array<number>(BUCKETS).fill(0);
  from() {
    return { since: 0, held: [] };
  }
  welcome(): void {}
  batch(b: Batch): void {
    const at = epoch();
    for (const c of b.changes) {
      if (c.cid !== 'body' || typeof c.val !== 'string') continue;
      // `${t} ${i} ${k}`, read without splitting (this runs for every change at every follower)
      const v = c.val;
      const a = v.indexOf(' ');
      const b = v.indexOf(' ', a + 1);
      const i = Number(v.slice(a + 1, b));
      const n = Number(v.slice(b + 1));
      let bits = this.seen.get(i);
      if (!bits || bits.length * 8 <= n) {
        const more = new Uint8Array(Math.max(64, (n >> 3) * 2 + 1));
        if (bits) more.set(bits);
        this.seen.set(i, (bits = more));
      }
      if (bits[n >> 3]! & (1 << (n & 7))) {
        this.duplicates++;
        continue;
      }
      bits[n >> 3]! |= 1 << (n & 7);
      this.changes++;
      if (this.measuring) this.measuringChanges++;
      if (this.measuring) this.hist[bucketOf(at - Number(v.slice(0, a)))]!++;
      if (tracer && this.measuring && traced(n)) tracer.note('decoded', `${i}:${n}`, at);
    }
  }
  caughtUp(): void {
    this.caughtUps++;
  }
  count(i: number): number {
    const bits = this.seen.get(i);
    let n = 0;
    if (bits) for (const byte of bits) for (let b = byte; b; b &= b - 1) n++;
    return n;
  }
}

/**
 * Counts what is read from a channel, as it is on the wire (frame and WebSocket header). The bench's
 * own measuring, which no real client does: a plain iterator over the channel's, not an async
 * generator around it (a generator's resume, await and yield per received frame were a few % of
 * these processes' CPU).
 */
function counted(channel: FrameChannel, r: Received): FrameChannel {
  const count = (x: IteratorResult<Uint8Array>): IteratorResult<Uint8Array> => {
    if (!x.done && r.measuring) {
      const f = x.value;
      r.bytes += f.length + wsHeader(f.length);
      // A batch (3), or a batch paired with its caught-up (8: batch-caught-up, which these clients
      // announce as every real client does): one batch frame each.
      if (f[0] === 3 || f[0] === 8) {
        r.batchBytes += f.length + wsHeader(f.length);
        r.batchFrames++;
      }
    }
    return x;
  };
  return {
    send: (f, o) => {
      if (tracer && r.measuring) tracer.noteFrame('pushed', f);
      return channel.send(f, o);
    },
    close: (o) => channel.close(o),
    abort: (e) => channel.abort(e),
    [Symbol.asyncIterator]() {
      const it = channel[Symbol.asyncIterator]();
      return {
        next: () => it.next().then(count),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value })),
        [Symbol.asyncIterator]() {
          return this;
        },
      } as AsyncIterableIterator<Uint8Array>;
    },
  };
}

interface Client {
  spec: ClientSpec;
  got: Received;
  feed?: Writer;
  acked: number;
  /** A writer's offset in its commit period, as a fraction of it (see 'go'). */
  phase?: number;
  /** A writer's commits before this phase. */
  base?: number;
  done: Promise<unknown>;
}

const send = (m: unknown): void => void process.stdout.write(`${JSON.stringify(m)}\n`);

async function main(): Promise<void> {
  const url = process.argv[2]!;
  const config = JSON.parse(process.argv[3]!) as { clients: ClientSpec[]; ratePerWriter: number; maxInFlight: number };
  const stop = new AbortController();
  const clients: Client[] = [];
  const errors: string[] = [];
  // connect, a few at a time
  const queue = [...config.clients];
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) {
        const got = new Received();
        const feed = spec.writer ? new Writer(spec.i) : undefined;
        const siteId = feed?.siteId ?? randomBytes(16);
        const c: Client = { spec, got, acked: 0, done: Promise.resolve(), ...(feed ? { feed } : {}) };
        const channel = counted(await dialWs(`${url}/${spec.db}`, { token: 'bench' }), got);
        c.done = runSession(channel, {
          siteId,
          proof: proofOf(siteId),
          schema: SCHEMA,
          pull: got,
          ...(feed ? { push: feed, onAck: (v: number) => (c.acked = Math.max(c.acked, v)) } : {}),
          follow: true,
          signal: stop.signal,
        }).catch((err: Error) => errors.push(`client ${spec.i}: ${err.message}`));
        clients.push(c);
        while (got.caughtUps === 0 && errors.length === 0) await sleep(5);
      }
    }),
  );
  send({ type: 'connected', errors });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const m = JSON.parse(line) as { type: string; seconds?: number; ratePerWriter?: number; perDb?: Record<string, Record<string, number>> };
    if (m.type === 'go') {
      for (const c of clients) {
        c.got.measuring = true;
        c.got.hist.fill(0); // this phase's latencies only
        c.got.batchFrames = 0;
        c.got.measuringChanges = 0;
      }
      const ratePerWriter = m.ratePerWriter ?? config.ratePerWriter;
      tracer?.reset();
      const writers = clients.filter((c) => c.feed);
      // Each writer commits at its own phase of the period, as independent users do: all of them
      // due at the same instant would offer the hub bursts of one change per writer, and every
      // change of a burst would wait for the whole burst (the rate is the same either way).
      for (const w of writers) {
        w.phase = Math.random();
        w.base = w.feed!.log.length; // commits of earlier phases
      }
      const start = epoch();
      const end = start + m.seconds! * 1000;
      // each writer commits at its rate, as long as no more than maxInFlight of its changes wait for
      // the hub's ack (a saturated hub then sets the pace: what it accepts is its throughput)
      // The loop sleeps until the next writer's commit is due (at least 2 ms): at a low rate a fixed
      // 2 ms tick woke each client process 500 times a second for nothing, CPU taken from the hub.
      const periodMs = 1000 / ratePerWriter;
      while (epoch() < end) {
        const elapsed = ((epoch() - start) / 1000) * ratePerWriter; // in periods of one writer
        let next = Infinity; // periods from the start until the next commit due
        for (const w of writers) {
          const due = w.base! + Math.floor(elapsed + w.phase!);
          while (w.feed!.log.length < due && w.feed!.log.length - w.acked < config.maxInFlight) w.feed!.commit();
          // held back by its changes in flight: look again at the next tick
          next = Math.min(next, w.feed!.log.length < due ? elapsed : Math.floor(elapsed + w.phase!) + 1 - w.phase!);
        }
        await sleep(Math.max(2, Math.min(end - epoch(), (next - elapsed) * periodMs)));
      }
      const deadline = epoch() + 60_000;
      while (writers.some((w) => w.acked < w.feed!.log.length) && epoch() < deadline) await sleep(5);
      if (tracer) process.stderr.write(`[bench hub] ${tracer.health(`clients ${process.pid}`)}\n`);
      send({ type: 'written', committed: Object.fromEntries(writers.map((w) => [w.spec.i, w.feed!.log.length])), unacked: writers.reduce((s, w) => s + w.feed!.log.length - w.acked, 0), ackedAt: epoch(), start });
    } else if (m.type === 'expect') {
      const perDb = m.perDb!;
      const missing = (c: Client): number => Object.entries(perDb[c.spec.db] ?? {}).reduce((s, [i, n]) => (Number(i) === c.spec.i ? s : s + Math.max(0, n - c.got.count(Number(i)))), 0);
      const deadline = epoch() + 60_000;
      while (clients.some((c) => missing(c) > 0) && epoch() < deadline) await sleep(20);
      const hist = new Array<number>(BUCKETS).fill(0);
      for (const c of clients) c.got.hist.forEach((n, b) => (hist[b]! += n));
      send({
        type: 'result',
        hist,
        bytes: clients.reduce((s, c) => s + c.got.bytes, 0),
        batchBytes: clients.reduce((s, c) => s + c.got.batchBytes, 0),
        batchFrames: clients.reduce((s, c) => s + c.got.batchFrames, 0),
        received: clients.reduce((s, c) => s + c.got.changes, 0),
        phaseReceived: clients.reduce((s, c) => s + c.got.measuringChanges, 0),
        duplicates: clients.reduce((s, c) => s + c.got.duplicates, 0),
        missing: clients.reduce((s, c) => s + missing(c), 0),
        behind: clients.filter((c) => missing(c) > 0).length,
        errors,
        ...(tracer ? { trace: tracer.trace } : {}),
      });
    } else if (m.type === 'stop') {
      stop.abort();
      await Promise.race([Promise.all(clients.map((c) => c.done)), sleep(5_000)]);
      process.exit(0);
    }
  }
}

await main();
