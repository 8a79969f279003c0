/**
 * Per-frame CPU of sending over the WebSocket transport, as the hub's acks and fan-out and a pushing
 * client pay it: PAIRS loopback connections in one process; each round, every server-side stream
 * sends FRAMES small frames (awaited one after another, as a session answers its pushes) in one
 * callback, and the client sides read them all. CPU µs per frame (both ends and the kernel: the
 * receiving half is the same code in both trees), median of the rounds, this tree and, with
 * BENCH_BASE=DIR (another worktree), that one, interleaved in one process.
 *
 * With ISOLATED=1, the send path alone: a stand-in socket that takes each frame and does nothing
 * (the real-socket figure is mostly the kernel's: each round's write and read per connection).
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/ws-send-ab.ts
 *   ISOLATED=1 BENCH_BASE=… node --disable-warning=ExperimentalWarning bench/ws-send-ab.ts
 */
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: Record<string, string> = { ...(process.env.BENCH_BASE ? { base: process.env.BENCH_BASE } : {}), this: here };
const PAIRS = Number(process.env.PAIRS ?? 100);
const FRAMES = Number(process.env.FRAMES ?? 4);
const ROUNDS = Number(process.env.ROUNDS ?? 200);

interface Setup { send: () => Promise<void>; close: () => Promise<void> }

async function setup(root: string): Promise<Setup> {
  const { WsFrameStream } = await import(`${root}/src/transport/ws/frames.ts`);
  const { dialWs } = await import(`${root}/src/transport/ws/dial.ts`);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const servers: any[] = [];
  wss.on('connection', (ws) => servers.push(new WsFrameStream(ws, { remotePeer: 'client' })));
  const clients: any[] = [];
  for (let i = 0; i < PAIRS; i++) clients.push(await dialWs(`ws://127.0.0.1:${port}`));
  while (servers.length < PAIRS) await new Promise((r) => setTimeout(r, 5));
  let expected = 0;
  let got = 0;
  let onAll: (() => void) | undefined;
  for (const c of clients) void (async () => { for await (const _f of c) if (++got === expected) onAll?.(); })();
  const frame = new Uint8Array([6, 123, 34, 118, 34, 58, 49, 125]);
  return {
    send: async () => {
      expected += PAIRS * FRAMES;
      const all = new Promise<void>((r) => (onAll = r));
      await new Promise<void>((resolve) => setImmediate(() => {
        const done = servers.map(async (s) => { for (let k = 0; k < FRAMES; k++) await s.send(frame, { shared: true }); });
        void Promise.all(done).then(() => resolve());
      }));
      if (got < expected) await all;
    },
    close: async () => { for (const c of clients) c.abort(new Error('done')); for (const s of servers) s.abort(new Error('done')); wss.close(); },
  };
}

/** The send path alone: a stand-in socket that takes each frame and does nothing (no system calls, no receiver). */
async function isolated(root: string): Promise<(n: number) => Promise<void>> {
  const { WsFrameStream } = await import(`${root}/src/transport/ws/frames.ts`);
  const ws = { readyState: 1, OPEN: 1, bufferedAmount: 0, isPaused: false, binaryType: '', on() {}, send(_d: Uint8Array, _o: unknown, cb?: () => void) { cb?.(); }, pause() {}, resume() {}, close() {}, terminate() {} };
  const s = new WsFrameStream(ws, { remotePeer: 'fake' });
  const frame = new Uint8Array([6, 123, 34, 118, 34, 58, 49, 125]);
  return async (n) => { for (let i = 0; i < n; i++) await s.send(frame, { shared: true }); };
}
if (process.env.ISOLATED) {
  const fs: Record<string, (n: number) => Promise<void>> = {};
  for (const [k, r] of Object.entries(roots)) fs[k] = await isolated(r);
  const res: Record<string, number[]> = {};
  for (const f of Object.values(fs)) await f(200_000);
  for (let r = 0; r < 9; r++) for (const [k, f] of Object.entries(fs)) {
    const t = process.cpuUsage();
    await f(200_000);
    const d = process.cpuUsage(t);
    (res[k] ??= []).push(((d.user + d.system) * 1000) / 200_000);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  console.log('send path alone (awaited sends):', Object.entries(res).map(([k, a]) => `${k} ${med(a).toFixed(0)} ns/frame (min ${Math.min(...a).toFixed(0)})`).join('  →  '));
  process.exit(0);
}

const setups: Record<string, Setup> = {};
for (const [k, r] of Object.entries(roots)) setups[k] = await setup(r);
const res: Record<string, number[]> = {};
for (let warm = 0; warm < 50; warm++) for (const s of Object.values(setups)) await s.send();
for (let r = 0; r < 9; r++) for (const [k, s] of Object.entries(setups)) {
  const t = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await s.send();
  const d = process.cpuUsage(t);
  (res[k] ??= []).push((d.user + d.system) / (ROUNDS * PAIRS * FRAMES));
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(`${PAIRS} connections, ${FRAMES} frames each per round:`, Object.entries(res).map(([k, a]) => `${k} ${med(a).toFixed(2)} µs/frame (min ${Math.min(...a).toFixed(2)})`).join('  →  '));
for (const s of Object.values(setups)) await s.close();
process.exit(0);
