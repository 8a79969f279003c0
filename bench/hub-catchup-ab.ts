/**
 * A/B of a follower's catch-up through a real hub (WebSocket on loopback), between another tree
 * (BENCH_BASE) and this one, in one process: per tree a hub (SQLite store, or PostgreSQL with
 * BENCH_HUB_MODE=postgres) holding a database of BENCH_HISTORY (12,001) single-row commits, and a
 * client of that tree that connects again and again BENCH_BEHIND changes behind (a list: `1,100,12001`)
 * and pulls until caught up (not following: the session ends there). The hub reads each catch-up from
 * the store (no follower keeps a group's frames). Per scenario and tree: messages and bytes the
 * client reads per catch-up after the welcome (payload, and with the WebSocket header a server's
 * unmasked frame carries), then the process's CPU (hub + client) per catch-up in BENCH_ROUNDS (6)
 * alternating blocks. With `batch-caught-up` negotiated (every client of both trees announces it),
 * this tree's hub pairs the catch-up's last batch with its caught-up; the base sends them apart.
 *
 *   BENCH_BASE=/work/wt/hub-catchup-base node --disable-warning=ExperimentalWarning bench/hub-catchup-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const HISTORY = Number(process.env.BENCH_HISTORY ?? 12_001);
const BEHIND = (process.env.BENCH_BEHIND ?? `1,100,${HISTORY}`).split(',').map(Number);
const POSTGRES = process.env.BENCH_HUB_MODE === 'postgres';
const PG_URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
if (!process.env.BENCH_BASE) throw new Error('BENCH_BASE=/path/to/base-worktree is required');
const roots: [string, string][] = [['base', process.env.BENCH_BASE], ['this', here]];

/** The WebSocket header of a server's (unmasked) frame of `n` payload bytes. */
const wsHeader = (n: number): number => (n < 126 ? 2 : n < 65_536 ? 4 : 10);

async function setup(label: string, root: string) {
  const { startHub, TokenAuthenticator } = await import(`${root}/test/support/hub.ts`);
  const { MemFeed, NOTES } = await import(`${root}/test/support/mem-feed.ts`);
  const { proofOf } = await import(`${root}/test/support/identity.ts`);
  const { runSession } = await import(`${root}/src/sync/client.ts`);
  const { dialWs } = await import(`${root}/src/transport/ws/dial.ts`);
  const auth = new TokenAuthenticator();
  auth.issue('t', 'alice');
  const dir = mkdtempSync(join(tmpdir(), 'hcab-'));
  const schema = `ddcp_hubcatchup_bench_${randomBytes(4).toString('hex')}`;
  let hub;
  let dropSchema: (() => Promise<void>) | undefined;
  if (POSTGRES) {
    const { HubServer } = await import(`${root}/src/hub/server.ts`);
    const { PgHubStore } = await import(`${root}/src/hub/storage/postgres/store.ts`);
    const { default: postgres } = await import('postgres');
    const store = await PgHubStore.open({ url: PG_URL, schema });
    hub = await HubServer.start({ store, auth, host: '127.0.0.1', port: 0 });
    dropSchema = async () => {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    };
  } else hub = await startHub(dir, auth);
  const url = `${hub.url}/db`;
  // The history: one commit at a time, each acknowledged before the next (one hub version each).
  const writer = new MemFeed(randomBytes(16));
  let acked = 0;
  let waiting: { at: number; resolve: () => void } | undefined;
  const stop = new AbortController();
  const pushing = runSession(await dialWs(url, { token: 't' }), {
    siteId: writer.siteId, proof: proofOf(writer.siteId), schema: NOTES, push: writer, follow: true, signal: stop.signal,
    onAck: (v: number) => {
      acked = Math.max(acked, v);
      if (waiting && acked >= waiting.at) waiting.resolve();
    },
  });
  for (let k = 0; k < HISTORY; k++) {
    const at = writer.commit(`row ${k}`);
    if (acked < at) await new Promise<void>((resolve) => (waiting = { at, resolve }));
  }
  stop.abort();
  await pushing.catch(() => {});

  const site = randomBytes(16);
  const proof = proofOf(site);
  /** One catch-up from `since` (0: everything); what the client read after its welcome. */
  async function catchUp(since: number, expect?: Uint8Array) {
    const got = { messages: 0, payload: 0, wire: 0, changes: 0, version: -1, hub: undefined as Uint8Array | undefined };
    const ch = await dialWs(url, { token: 't' });
    let welcomed = false;
    const counted = {
      send: (f: Uint8Array, o?: unknown) => ch.send(f, o),
      close: (o?: unknown) => ch.close(o),
      abort: (e: Error) => ch.abort(e),
      release: (f: Uint8Array) => ch.release?.(f),
      async *[Symbol.asyncIterator]() {
        for await (const f of ch) {
          if (welcomed) {
            got.messages++;
            got.payload += f.length;
            got.wire += f.length + wsHeader(f.length);
          }
          welcomed = true;
          yield f;
        }
      },
    };
    await runSession(counted, {
      siteId: site, proof, schema: NOTES,
      pull: {
        from: () => ({ since, ...(expect ? { expect } : {}), held: [] }),
        welcome: (w: { siteId: Uint8Array }) => void (got.hub = w.siteId),
        batch: (b: { changes: unknown[] }) => void (got.changes += b.changes.length),
        caughtUp: (v: number) => void (got.version = v),
      },
    });
    return got;
  }
  const all = await catchUp(0);
  if (all.changes !== HISTORY) throw new Error(`${label}: ${all.changes} changes of ${HISTORY} pulled`);
  const top = all.version;
  const hubSite = all.hub!;
  return {
    label,
    top,
    /** A catch-up `behind` of the hub's versions behind its newest (one per commit). */
    catchUp: (behind: number) => catchUp(Math.max(0, top - behind), hubSite),
    async close() {
      await hub.stop();
      await dropSchema?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const trees = [];
for (const [label, root] of roots) trees.push(await setup(label, root));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`hub ${POSTGRES ? 'PostgreSQL' : 'SQLite'}, history ${HISTORY} single-row commits (hub version ${trees.map((t) => `${t.label} ${t.top}`).join(', ')}); load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
for (const behind of BEHIND) {
  const block = behind >= 1_000 ? 10 : 100;
  for (const t of trees) {
    const g = await t.catchUp(behind);
    console.log(`behind ${behind}: ${t.label}: ${g.changes} changes, ${g.messages} messages, ${g.payload} payload bytes, ${g.wire} with WebSocket headers; caught up at ${g.version}`);
  }
  // Warm-up, then alternated blocks.
  for (const t of trees) for (let i = 0; i < block; i++) await t.catchUp(behind);
  const per: Record<string, number[]> = { base: [], this: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? trees : [...trees].reverse()) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < block; i++) await t.catchUp(behind);
      const c = process.cpuUsage(c0);
      per[t.label]!.push((c.user + c.system) / block);
    }
  }
  for (const l of ['base', 'this']) console.log(`behind ${behind}: ${l}: µs per catch-up ${per[l]!.map((x) => x.toFixed(0)).join(' ')}; median ${median(per[l]!).toFixed(0)}, least ${Math.min(...per[l]!).toFixed(0)}`);
  console.log(`behind ${behind}: median of paired (this − base): ${median(per.this!.map((x, i) => x - per.base![i]!)).toFixed(1)} µs per catch-up`);
}
for (const t of trees) await t.close();
