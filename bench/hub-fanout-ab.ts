/**
 * The hub's CPU per wake of a database on its fan-out path, real sockets included, in one process:
 * per tree (this one and, with BENCH_BASE=DIR, that one), an embedded SQLite hosted database whose
 * fan-out has BENCH_F (10) followers, each a WebSocket frame stream (that tree's transport) to a
 * client in a reader process of that tree, two of them the writers whose own changes are left out
 * for them; each round pushes one single-row change through the database's sink (one group commit,
 * one wake) and waits until its frames left. µs of this process's CPU per wake (merge and group
 * commit, the group's wake and encoding, each follower's frames and socket write), BENCH_ROUNDS (300)
 * rounds, BENCH_REPS (7) times per tree, alternating. The followers announce what a real client of
 * their tree does (the `features` a tree without them ignores). The reader process reads each
 * frame as a client does (its tree's WebSocket dial, inbox and message decode, the batch's changes
 * read) and its CPU per wake is reported too (`clients`; it may trail the round's end by a frame).
 * No push decoding, no acks (the session layer's): bench/hub-wake-ab.ts measures the whole hub.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-fanout-ab.ts
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { WebSocketServer, type WebSocket } from 'ws';
import { hostedNotes } from './util.ts';

const F = Number(process.env.BENCH_F ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
const REPS = Number(process.env.BENCH_REPS ?? 7);

if (process.argv[2] === 'drain') {
  // The followers' ends, as a client reads: its tree's dial and inbox, each message decoded, the batch's changes read.
  const [url, n, root] = [process.argv[3]!, Number(process.argv[4]), process.argv[5]!];
  const { dialWs } = await import(`${root}/src/transport/ws/dial.ts`);
  const { decodeMessage } = await import(`${root}/src/sync/messages.ts`);
  let changes = 0;
  const streams = await Promise.all(Array.from({ length: n }, () => dialWs(url)));
  for (const stream of streams) {
    void (async () => {
      for await (const f of stream as AsyncIterable<Uint8Array>) {
        const m = decodeMessage(f) as { type: string; changes?: unknown[]; batch?: { changes: unknown[] } };
        changes += (m.type === 'batch' ? m.changes! : m.type === 'batch-caught-up' ? m.batch!.changes : []).length;
      }
    })().catch(() => {});
  }
  // A line on stdin asks for this process's CPU so far (µs).
  createInterface({ input: process.stdin }).on('line', () => {
    const u = process.cpuUsage();
    process.stdout.write(`${u.user + u.system} ${changes}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
} else {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  /** F server-side sockets, connected from a reader process of tree `root`; `cpu()` asks for that process's CPU (µs). */
  async function sockets(root: string): Promise<{ list: WebSocket[]; cpu: () => Promise<number>; changes: () => number; close: () => void }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const list: WebSocket[] = [];
    const all = new Promise<void>((resolve) => wss.on('connection', (ws) => list.push(ws) === F && resolve()));
    const { port } = wss.address() as { port: number };
    const drain = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), 'drain', `ws://127.0.0.1:${port}`, String(F), root], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers: ((us: number) => void)[] = [];
    let changes = 0; // changes the reader decoded, as of its last answer
    createInterface({ input: drain.stdout! }).on('line', (l) => {
      const [us, n] = l.split(' ').map(Number);
      changes = n!;
      answers.shift()?.(us!);
    });
    await all;
    return {
      list,
      changes: () => changes,
      cpu: () =>
        new Promise<number>((resolve) => {
          answers.push(resolve);
          drain.stdin!.write('cpu\n');
        }),
      close: () => {
        drain.stdin!.end();
        for (const ws of list) ws.terminate();
        wss.close();
      },
    };
  }

  async function setup(root: string) {
    const { store, hosted, gate, fanout, packColumns, dir, stop } = await hostedNotes(root, 'fab-');
    const { WsFrameStream } = await import(`${root}/src/transport/ws/frames.ts`);
    const socks = await sockets(root);
    const sites = [randomBytes(16), randomBytes(16)];
    const v0 = await hosted.feed.version();
    socks.list.forEach((ws, f) => {
      const stream = new WsFrameStream(ws, { remotePeer: `f${f}` });
      // What a real client of this tree announces (and its hub takes up): a tree from before ignores it.
      void fanout.send(stream, v0, { exceptSite: f < sites.length ? sites[f]! : randomBytes(16), follow: true, signal: stop.signal, features: ['batch-caught-up'] });
    });
    const origins = sites.map((siteId, i) => ({ siteId, peer: 'u', source: `c${i}`, gate, v: 0, i }));
    let k = 0;
    const round = async () => {
      const s = origins[k++ % origins.length]!;
      const v = ++s.v;
      await hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`${s.i}:${v}`]), cid: 'body', val: `${Date.now().toFixed(3)} ${s.i} ${v}`, colVersion: 1, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s);
      await turn();
      await turn();
    };
    return {
      round,
      clientsCpu: socks.cpu,
      /** Changes the reader decoded (a check that it read every frame: each round's change reaches F − 1 followers). */
      decoded: socks.changes,
      done: async () => {
        stop.abort();
        await turn();
        socks.close();
        await store.close?.();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
  for (const [k, r] of roots) envs[k] = await setup(r);
  const res: Record<string, number[]> = {};
  const cli: Record<string, number[]> = {};
  for (let rep = 0; rep < REPS; rep++) {
    for (const [k] of rep % 2 === 0 ? roots : [...roots].reverse()) {
      const e = envs[k]!;
      for (let i = 0; i < 30; i++) await e.round();
      const c0 = await e.clientsCpu();
      const t = process.cpuUsage();
      for (let i = 0; i < ROUNDS; i++) await e.round();
      const d = process.cpuUsage(t);
      await new Promise((r) => setTimeout(r, 20)); // the reader's last frames
      const c1 = await e.clientsCpu();
      (res[k] ??= []).push((d.user + d.system) / ROUNDS);
      (cli[k] ??= []).push((c1 - c0) / ROUNDS);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const line = (r: Record<string, number[]>) => Object.entries(r).map(([k, a]) => `${k} ${med(a).toFixed(1)} µs per wake (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)})`).join('  →  ');
  console.log(`F=${F}, one change per wake: hub`, line(res));
  console.log(`F=${F}, one change per wake: ${F} clients' reads`, line(cli));
  // Each rep ran both trees back to back: the median of the paired differences cancels the machine's drift.
  if (res.base && res.this) {
    const diffs = res.this.map((x, i) => x - res.base![i]!);
    console.log(`paired (this − base) hub per wake: median ${med(diffs).toFixed(1)} µs, ${diffs.filter((d) => d < 0).length} of ${diffs.length} reps lower`);
  }
  for (const [k] of roots) await envs[k]!.clientsCpu();
  console.log('changes decoded by the readers:', roots.map(([k]) => `${k} ${envs[k]!.decoded()}`).join(', '), `(each round's change reaches ${F - 1} followers)`);
  for (const e of Object.values(envs)) await e.done();
}
