/**
 * The hub's CPU per wake of a database on its fan-out path, real sockets included, in one process:
 * per tree (this one and, with BENCH_BASE=DIR, that one), an embedded SQLite hosted database whose
 * fan-out has BENCH_F (10) followers, each a WebSocket frame stream (that tree's transport) to a
 * client in a drain process (which reads and drops what it gets: its CPU is not counted), two of
 * them the writers whose own changes are left out for them; each round pushes one single-row change
 * through the database's sink (one group commit, one wake) and waits until its frames left. µs of
 * this process's CPU per wake (merge and group commit, the group's wake and encoding, each
 * follower's frames and socket write), BENCH_ROUNDS (300) rounds, 7 times per tree, alternating.
 * No push decoding, no acks (the session layer's): bench/hub-wake-ab.ts measures the whole hub.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-fanout-ab.ts
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const F = Number(process.env.BENCH_F ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
const REPS = Number(process.env.BENCH_REPS ?? 7);

if (process.argv[2] === 'drain') {
  // The followers' ends: connect, read everything, drop it.
  const [url, n] = [process.argv[3]!, Number(process.argv[4])];
  const open: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', () => {});
    open.push(new Promise((resolve) => ws.once('open', () => resolve())));
  }
  await Promise.all(open);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  /** F server-side sockets, connected from a drain process. */
  async function sockets(): Promise<{ list: WebSocket[]; close: () => void }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const list: WebSocket[] = [];
    const all = new Promise<void>((resolve) => wss.on('connection', (ws) => list.push(ws) === F && resolve()));
    const { port } = wss.address() as { port: number };
    const drain = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), 'drain', `ws://127.0.0.1:${port}`, String(F)], { stdio: ['pipe', 'inherit', 'inherit'] });
    await all;
    return {
      list,
      close: () => {
        drain.stdin!.end();
        for (const ws of list) ws.terminate();
        wss.close();
      },
    };
  }

  async function setup(root: string) {
    const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
    const { Gate } = await import(`${root}/src/sync/gate.ts`);
    const { fanoutOf } = await import(`${root}/src/hub/fanout.ts`);
    const { WsFrameStream } = await import(`${root}/src/transport/ws/frames.ts`);
    const { packColumns } = await import(`${root}/src/engine/index.ts`);
    const dir = mkdtempSync(join(tmpdir(), 'fab-'));
    const store = new SqliteHubStore(dir);
    const hosted = await store.open('db1', { app: 'a', user: 'u' });
    await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
    const gate = new Gate(() => ({ read: 'all', write: 'all' }));
    const fanout = fanoutOf(hosted);
    const stop = new AbortController();
    const socks = await sockets();
    const sites = [randomBytes(16), randomBytes(16)];
    const v0 = await hosted.feed.version();
    socks.list.forEach((ws, f) => {
      const stream = new WsFrameStream(ws, { remotePeer: `f${f}` });
      void fanout.send(stream, v0, { exceptSite: f < sites.length ? sites[f]! : randomBytes(16), follow: true, signal: stop.signal });
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
  for (let rep = 0; rep < REPS; rep++) {
    for (const [k] of rep % 2 === 0 ? roots : [...roots].reverse()) {
      const e = envs[k]!;
      for (let i = 0; i < 30; i++) await e.round();
      const t = process.cpuUsage();
      for (let i = 0; i < ROUNDS; i++) await e.round();
      const d = process.cpuUsage(t);
      (res[k] ??= []).push((d.user + d.system) / ROUNDS);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  console.log(`F=${F}, one change per wake:`, Object.entries(res).map(([k, a]) => `${k} ${med(a).toFixed(1)} µs per wake (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)})`).join('  →  '));
  // Each rep ran both trees back to back: the median of the paired differences cancels the machine's drift.
  if (res.base && res.this) {
    const diffs = res.this.map((x, i) => x - res.base![i]!);
    console.log(`paired (this − base) per wake: median ${med(diffs).toFixed(1)} µs, ${diffs.filter((d) => d < 0).length} of ${diffs.length} reps lower`);
  }
  for (const e of Object.values(envs)) await e.done();
}
