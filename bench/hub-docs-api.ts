/**
 * The hub's JSON document API from a raw WebSocket client (embedded SQLite store, hub in this
 * process on 127.0.0.1): `update_document` round trips one at a time (each answered once the hosted
 * database merged it), the same requests pipelined (sent all at once, answered in order), and the
 * latency from a JSON edit's reply to the event of a subscriber connected as another user.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-docs-api.ts      (BENCH_DOCS_OPS, default 500)
 */
import { cpuUsage } from 'node:process';
import WebSocket from 'ws';
import { startHub, TokenAuthenticator } from '../test/support/hub.ts';
import { Scratch } from './util.ts';

/** Median and 99th percentile of samples (ms). */
function timing(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]! };
}

const OPS = Number(process.env.BENCH_DOCS_OPS ?? 500);
const scratch = new Scratch();
const auth = new TokenAuthenticator();
const hub = await startHub(`${scratch.dir}/hub`, auth);
const http = hub.url.replace(/^ws/, 'http');

type Msg = { id?: number; ok?: boolean; event?: string; doc?: string; patch?: { value: number }[] };

async function client(token: string): Promise<{ ws: WebSocket; onMessage: (f: (m: Msg) => void) => void }> {
  const ws = new WebSocket(`${hub.url}/v1/docs/bench`, { headers: { authorization: `Bearer ${token}` } });
  const listeners: ((m: Msg) => void)[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as Msg;
    if (m.event === 'ready') ready();
    for (const l of listeners) l(m);
  });
  await isReady;
  return { ws, onMessage: (f) => listeners.push(f) };
}

const ann = await client(auth.issue('ann', 'ann'));
let next = 0;
const waiting = new Map<number, (m: Msg) => void>();
ann.onMessage((m) => {
  if (typeof m.id === 'number') waiting.get(m.id)?.(m);
});
const request = (body: object): Promise<Msg> => {
  const id = ++next;
  const p = new Promise<Msg>((resolve) => waiting.set(id, resolve));
  ann.ws.send(JSON.stringify({ id, ...body }));
  return p;
};
const ok = async (body: object): Promise<Msg> => {
  const r = await request(body);
  if (!r.ok) throw new Error(JSON.stringify(r));
  return r;
};

await ok({ type: 'create_document', collection: 'c', doc: 'd', content: { n: 0 } });
// bob, whom ann shares the database with, subscribes through his own connection (his own replica)
await fetch(`${http}/v1/databases/bench/shares/bob`, { method: 'PUT', headers: { authorization: 'Bearer ann' }, body: JSON.stringify({ read: 'all', write: 'all' }) });
const bob = await client(auth.issue('bob', 'bob'));
const seen = new Map<number, number>();
bob.onMessage((m) => {
  if (m.event === 'updated') seen.set(m.patch![0]!.value, performance.now());
});
bob.ws.send(JSON.stringify({ id: 1, type: 'subscribe', collection: 'c' }));

const patch = (n: number) => ({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/n', value: n }] });

let n = 0;
const cpu0 = cpuUsage();
const rt: number[] = [];
const replied = new Map<number, number>();
const t0 = performance.now();
for (let i = 0; i < OPS; i++) {
  const s = performance.now();
  await ok(patch(++n));
  replied.set(n, performance.now());
  rt.push(performance.now() - s);
}
const t1 = performance.now();
const cpu1 = cpuUsage(cpu0);
await Promise.all(Array.from({ length: OPS }, () => ok(patch(++n))));
const t2 = performance.now();
while (seen.size < n) await new Promise((r) => setTimeout(r, 10));
const fan = [...replied].map(([v, at]) => seen.get(v)! - at);

const r = timing(rt);
const f = timing(fan);
console.log(`one at a time: ${Math.round(OPS / ((t1 - t0) / 1000))} updates/s, round trip median ${r.median.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms; hub-process CPU ${((cpu1.user + cpu1.system) / 1000 / OPS).toFixed(2)} ms/update (client in the same process)`);
console.log(`pipelined:     ${Math.round(OPS / ((t2 - t1) / 1000))} updates/s`);
console.log(`another user's subscriber: event after the writer's reply, median ${f.median.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms`);
ann.ws.close();
bob.ws.close();
await hub.stop();
scratch.cleanup();
