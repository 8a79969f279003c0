/**
 * Convergence through a hub (issue 10's proof): three client repositories make random writes (the
 * generators of test/convergence.test.ts) and sync through a real hub on 127.0.0.1 — push, pull,
 * fetch, in random order and repeated, and a client's whole history delivered to the hub's store a
 * second time — in SQLite mode and in PostgreSQL mode. After each client pushes and then pulls once
 * more, every client must hold the same rows (type and value) and the same clocks (per cell: value,
 * col_version, origin site; per row: causal length), and the hub's copy the same clocks.
 *
 * One hub per mode serves every run (a database per run), so a run costs its sessions only.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Change, SqlValue } from '../src/engine/index.ts';
import type { HubServer } from '../src/hub/server.ts';
import type { HubStore } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { Repository } from '../src/index.ts';
import { Gate } from '../src/sync/gate.ts';
import { tempDir } from './support/cli.ts';
import { hex, repr, SCHEMA, TABLES, write, writeArb, type Write } from './support/convergence.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';

const CLIENTS = 3;
const RUNS = Number(process.env.DDCP_HUB_CONVERGENCE_RUNS ?? 15);

type Op =
  | { k: 'write'; r: number; w: Write }
  | { k: 'seal'; r: number }
  | { k: 'push' | 'pull' | 'fetch'; r: number }
  /** The client's whole history merged into the hub's store again, as one batch (a duplicate delivery). */
  | { k: 'redeliver'; r: number };

const r = fc.nat(CLIENTS - 1);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), r, w: writeArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('seal' as const), r }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('push' as const), r }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('pull' as const), r }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fetch' as const), r }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('redeliver' as const), r }) },
);

/** Clocks as a feed states them: per cell its value, col_version and origin; per row its causal length. */
function clocksOf(changes: Iterable<Change>): { cells: string[]; cls: string[] } {
  const cells: string[] = [];
  const cls = new Set<string>();
  for (const c of changes) {
    const row = `${c.table}[${hex(c.pk)}]`;
    cls.add(`${row} cl ${c.cl}`);
    if (c.cid !== '-1') cells.push(`${row}.${c.cid} ${repr(c.val)} v${c.colVersion} @${hex(c.siteId)}`);
  }
  return { cells: cells.sort(), cls: [...cls].sort() };
}

/** Every row of every table, with exact types. */
function rowsOf(repo: Repository): string[] {
  const out: string[] = [];
  for (const [t, { pks }] of Object.entries(TABLES)) {
    const s = repo.db.prepare(`SELECT * FROM "${t}" ORDER BY ${pks.map((p) => `"${p}"`).join(', ')}`);
    s.setReadBigInts(true);
    s.setReturnArrays(true);
    for (const row of s.all() as unknown as SqlValue[][]) out.push(`${t}(${row.map(repr).join(', ')})`);
  }
  return out;
}

const sql = testClient();
after(() => sql.end());

for (const mode of ['sqlite', 'postgres'] as const) {
  describe(`convergence through a hub (${mode} store)`, () => {
    const auth = new TokenAuthenticator();
    const dir = tempDir();
    const schema = testSchema();
    const token = auth.issue('alice-token', 'alice');
    const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
    let store: HubStore;
    /**
     * A second store on the same storage, as another hub process: reads the hub's copy from storage
     * (the SQLite store serves the hub's own followers from a log of recent batches, which may hold
     * superseded values of a cell, not a snapshot).
     */
    let other: HubStore;
    let hub: HubServer;
    let runs = 0;

    before(async () => {
      store = mode === 'sqlite' ? new SqliteHubStore(join(dir, 'hub')) : await PgHubStore.open({ url: sql, schema });
      hub = await startHub(join(dir, 'hub'), auth, { store });
      other = mode === 'sqlite' ? new SqliteHubStore(join(dir, 'hub')) : await PgHubStore.open({ url: sql, schema });
    });
    after(async () => {
      await hub.stop();
      await other.close();
      if (mode === 'postgres') await dropSchema(sql, schema);
      rmSync(dir, { recursive: true, force: true });
    });

    /** A client of database `db` (user alice, who owns it), with the convergence tables. */
    async function client(db: string, i: number): Promise<Repository> {
      const repo = await Repository.init(join(dir, `${db}-${i}`));
      repo.db.exec(SCHEMA);
      for (const t of Object.keys(TABLES)) repo.engine.asCrr(t);
      repo.addRemote('origin', `${hub.url}/${db}`);
      repo.hubTokens.set(`${hub.url}/${db}`, token);
      return repo;
    }

    // A few dozen sessions a run: more than the suite's default per-test timeout on a loaded machine.
    it('three clients with random writes, syncing in random order with duplicates, end with identical tables and clocks, equal to the hub copy', { timeout: 600_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 40, size: 'max' }), async (ops) => {
          const name = `conv${++runs}`;
          const clients: Repository[] = [];
          try {
            for (let i = 0; i < CLIENTS; i++) clients.push(await client(name, i));
            await clients[0]!.push('origin'); // creates the database (alice's), declaring the tables
            const hosted = (await store.open(name))!;
            for (const op of ops) {
              const c = clients[op.r]!;
              switch (op.k) {
                case 'write':
                  write(c.engine, op.w);
                  break;
                case 'seal':
                  c.engine.seal();
                  break;
                case 'push':
                  await c.push('origin');
                  break;
                case 'pull':
                  await c.pull('origin');
                  break;
                case 'fetch':
                  await c.fetch('origin');
                  break;
                case 'redeliver': {
                  c.engine.seal();
                  const changes = [...c.engine.changesSince(0)];
                  if (changes.length > 0) await hosted.sink.receive({ changes, version: c.engine.dbVersion(), complete: true }, { siteId: c.engine.siteId, peer: 'alice', source: 'test', gate: ALL });
                  break;
                }
              }
            }
            for (const c of clients) await c.push('origin');
            for (const c of clients) await c.pull('origin');
            const rows = clients.map(rowsOf);
            const clocks = clients.map((c) => clocksOf(c.engine.changesSince(0)));
            for (let i = 1; i < CLIENTS; i++) {
              assert.deepStrictEqual(rows[i], rows[0], `client ${i}'s rows differ from client 0's`);
              assert.deepStrictEqual(clocks[i], clocks[0], `client ${i}'s clocks differ from client 0's`);
            }
            const held: Change[] = [];
            for await (const b of (await other.open(name))!.feed.batches(0, { exceptSite: new Uint8Array(16) })) held.push(...b.changes);
            assert.deepStrictEqual(clocksOf(held), clocks[0], "the hub's copy differs from the clients'");
          } finally {
            for (const c of clients) c.close();
          }
        }),
        // DDCP_HUB_CONVERGENCE_SEED and _PATH replay a reported failure.
        { numRuns: RUNS, includeErrorInReport: true, ...(process.env.DDCP_HUB_CONVERGENCE_SEED ? { seed: Number(process.env.DDCP_HUB_CONVERGENCE_SEED), path: process.env.DDCP_HUB_CONVERGENCE_PATH, endOnFailure: true } : {}) },
      );
    });
  });
}
