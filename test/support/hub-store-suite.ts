/**
 * The behaviour every hub store shares (src/hub/storage/port.ts), as a node:test suite run against a
 * factory of empty storage locations: the SQLite data folder, a PostgreSQL schema. Each store's own
 * test is a few lines (`runHubStoreTests('sqlite', setup)`).
 *
 * Results of the feed and sink are awaited, so stores whose ports answer with promises pass too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine, openDatabase, packColumns, type TableInfo } from '../../src/engine/index.ts';
import { readBatches } from '../../src/repo/feed.ts';
import type { Batch } from '../../src/sync/batches.ts';
import { Gate } from '../../src/sync/gate.ts';
import type { PeerPolicy } from '../../src/sync/policy.ts';
import type { PushOrigin } from '../../src/sync/ports.ts';
import type { HubDatabase, HubStore } from '../../src/hub/storage/port.ts';

/** One empty storage location. */
export interface HubStoreFixture {
  /** A store over this location; may be called again after the previous store was closed (a restart). */
  open(): Promise<HubStore>;
  /** Removes the location (stores are closed by then). */
  cleanup(): Promise<void>;
}

const ALICE = { app: 'notes-app', user: 'alice' };
const NOTES: TableInfo = { name: 'notes', pks: ['id'], columns: ['body'] };

/** A client database with the notes table, whose changes the tests push. */
function client(): { engine: Engine; exec(sql: string): void; close(): void } {
  const db = openDatabase(':memory:');
  const engine = Engine.open(db);
  db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  engine.asCrr('notes');
  return {
    engine,
    exec: (sql) => {
      db.exec(sql);
      engine.seal();
    },
    close: () => db.close(),
  };
}

/** The client's changes after `since` as batches (the last one empty and complete). */
const batchesOf = (engine: Engine, since = 0): Batch[] => [...readBatches(engine, since, { exceptSite: new Uint8Array(16) })];

const gateOf = (policy: PeerPolicy): Gate => new Gate(() => policy);
const ALL = gateOf({ read: 'all', write: 'all' });
const origin = (siteId: Uint8Array, gate: Gate = ALL): PushOrigin => ({ siteId, peer: 'alice', source: 'alice', gate });

/** Pushes every batch of the client's changes after `since`; returns what the last complete one said. */
async function push(db: HubDatabase, engine: Engine, gate: Gate = ALL, since = 0) {
  let last;
  for (const b of batchesOf(engine, since)) if (b.changes.length > 0) last = (await db.sink.receive(b, origin(engine.siteId, gate))) ?? last;
  return last;
}

/** Every change the feed holds after `since` for a reader who is not the client. */
async function read(db: HubDatabase, since = 0, request: Parameters<HubDatabase['feed']['batches']>[1] = { exceptSite: new Uint8Array(16) }) {
  const out = [];
  for await (const b of db.feed.batches(since, request)) out.push(...b.changes);
  return out;
}

const cells = (changes: { table: string; cid: string; val: unknown }[]): string[] =>
  changes
    .filter((c) => c.cid !== '-1')
    .map((c) => `${c.table}.${c.cid}=${String(c.val)}`)
    .sort();

/** Runs the hub store conformance suite against stores made by `setup`. */
export function runHubStoreTests(name: string, setup: () => Promise<HubStoreFixture>): void {
  describe(`hub store: ${name}`, () => {
    /** Runs `fn` with a fresh location and a store over it; closes and cleans up after. */
    const withStore = (fn: (store: HubStore, fixture: HubStoreFixture, reopen: () => Promise<HubStore>) => Promise<void>) => async () => {
      const fixture = await setup();
      const stores: HubStore[] = [await fixture.open()];
      const reopen = async (): Promise<HubStore> => {
        await stores.at(-1)!.close();
        stores.push(await fixture.open());
        return stores.at(-1)!;
      };
      try {
        await fn(stores[0]!, fixture, reopen);
      } finally {
        await stores.at(-1)!.close();
        await fixture.cleanup();
      }
    };

    it(
      'open: a missing database is undefined unless created, then owned, empty, listed and the same when opened again',
      withStore(async (store, _f, reopen) => {
        assert.equal(await store.open('notes'), undefined);
        assert.deepEqual(await store.list(), []);
        const db = (await store.open('notes', ALICE))!;
        assert.equal(db.name, 'notes');
        assert.deepEqual(await db.info(), { name: 'notes', owner: ALICE, shares: {}, tables: [] });
        assert.equal(await store.open('notes'), db, 'every caller gets the same open database');
        // creating again does not change the owner
        const again = await store.open('notes', { app: 'notes-app', user: 'bob' });
        assert.deepEqual((await again!.info()).owner, ALICE);
        assert.equal(db.feed.siteId.length, 16);
        const site = db.feed.siteId;
        const later = await reopen();
        assert.deepEqual((await later.list()).map((i) => [i.name, i.owner]), [['notes', ALICE]]);
        assert.deepEqual((await later.open('notes'))!.feed.siteId, site, 'the database keeps its site id');
      }),
    );

    it(
      'names are checked: a bad name is refused by name, nothing created',
      withStore(async (store) => {
        for (const bad of ['', 'Notes', '../x', 'a/b', 'a b', '-x', 'x'.repeat(64)]) {
          await assert.rejects(store.open(bad, ALICE), (e: Error) => e.name === 'DatabaseNameError' && e.message.includes(JSON.stringify(bad)));
        }
        assert.deepEqual(await store.list(), []);
      }),
    );

    it(
      'declare: creates tables, grows by added columns and tables, is idempotent, and a narrower schema changes nothing',
      withStore(async (store, _f, reopen) => {
        const db = (await store.open('notes', ALICE))!;
        await db.declare([NOTES]);
        assert.deepEqual(await db.feed.schema(), [NOTES]);
        await db.declare([NOTES]);
        await db.declare([{ name: 'notes', pks: ['id'], columns: ['body', 'tag'] }, { name: 'tags', pks: ['a', 'b'], columns: [] }]);
        const grown = [
          { name: 'notes', pks: ['id'], columns: ['body', 'tag'] },
          { name: 'tags', pks: ['a', 'b'], columns: [] },
        ];
        assert.deepEqual(await db.feed.schema(), grown);
        await db.declare([NOTES]); // a client that has not migrated yet
        assert.deepEqual((await db.info()).tables, grown);
        const later = await reopen();
        assert.deepEqual((await (await later.open('notes'))!.info()).tables, grown);
      }),
    );

    it(
      'declare: a schema that cannot fit is refused naming table and column, and nothing of it is applied',
      withStore(async (store) => {
        const db = (await store.open('notes', ALICE))!;
        await db.declare([NOTES]);
        const refused = async (tables: TableInfo[], table: string, column?: string): Promise<void> => {
          await assert.rejects(db.declare(tables), (e: Error & { table?: string; column?: string }) => {
            assert.equal(e.name, 'SchemaDeclareError', e.message);
            assert.equal(e.table, table);
            assert.equal(e.column, column);
            assert.ok(e.message.includes(table) && (column === undefined || e.message.includes(column)), e.message);
            return true;
          });
        };
        await refused([{ name: 'other', pks: ['k'], columns: [] }, { name: 'notes', pks: ['id', 'body'], columns: [] }], 'notes');
        await refused([{ name: 'notes', pks: ['body'], columns: ['id'] }], 'notes');
        await refused([{ name: 'ddcp_x', pks: ['k'], columns: [] }], 'ddcp_x');
        await refused([{ name: 'x', pks: ['k'], columns: ['k'] }], 'x', 'k');
        await refused([{ name: 'y', pks: [], columns: ['v'] }], 'y');
        assert.deepEqual(await db.feed.schema(), [NOTES], 'the table declared beside a misfit was not created');
      }),
    );

    it(
      'pushed changes are merged once, tracked, read back, and kept across a restart',
      withStore(async (store, _f, reopen) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare(c.engine.crrs());
          c.exec("INSERT INTO notes VALUES ('a', 'one'), ('b', 'two')");
          c.exec("UPDATE notes SET body = 'ONE' WHERE id = 'a'");
          const got = (await push(db, c.engine))!;
          assert.equal(got.version, c.engine.dbVersion());
          assert.ok(got.applied > 0);
          assert.deepEqual(got.refused, []);
          assert.equal(await db.sink.trackedVersion(c.engine.siteId), c.engine.dbVersion());
          assert.deepEqual(cells(await read(db)), ['notes.body=ONE', 'notes.body=two']);
          assert.deepEqual(await read(db, 0, { exceptSite: c.engine.siteId }), [], 'never the pusher its own changes back');
          const version = await db.feed.version();
          assert.ok(version > 0);
          // the same batches again change nothing
          assert.equal((await push(db, c.engine))!.applied, 0);
          const later = (await (await reopen()).open('notes'))!;
          assert.equal(await later.sink.trackedVersion(c.engine.siteId), c.engine.dbVersion());
          assert.equal(await later.feed.version(), version);
          assert.deepEqual(cells(await read(later)), ['notes.body=ONE', 'notes.body=two']);
          // new changes after the tracked version only
          c.exec("DELETE FROM notes WHERE id = 'b'");
          const tracked = await later.sink.trackedVersion(c.engine.siteId);
          assert.equal((await push(later, c.engine, ALL, tracked))!.version, c.engine.dbVersion());
          assert.deepEqual(cells(await read(later)), ['notes.body=ONE']);
          assert.deepEqual(cells(await read(later, version)), [], 'only the delete came after');
          assert.equal((await read(later, version)).length, 1);
        } finally {
          c.close();
        }
      }),
    );

    it(
      'clocks are 64-bit: col_versions and causal lengths beyond 2^53 are merged and read back exactly',
      withStore(async (store, _f, reopen) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare(c.engine.crrs());
          c.exec("INSERT INTO notes VALUES ('a', 'one')");
          const [b] = batchesOf(c.engine);
          // 2^60 + 1 and 2^60 are one float64 apart from nothing: a store that rounds them sees a
          // tie and lets the greater value ('zzz') win; an exact one keeps the higher col_version.
          const HIGH = 2n ** 60n + 1n;
          const CL = 2n ** 59n + 1n; // odd: the row is alive
          const at = (colVersion: bigint, val: string) =>
            b!.changes.map((x) => ({ ...x, colVersion: x.cid === '-1' ? CL : colVersion, cl: CL, dbVersion: 2n ** 60n + 7n, val: x.cid === '-1' ? null : val }));
          const from = origin(c.engine.siteId);
          assert.ok((await db.sink.receive({ changes: at(HIGH, 'one'), version: b!.version, complete: true }, from))!.applied > 0);
          assert.equal((await db.sink.receive({ changes: at(HIGH - 1n, 'zzz'), version: b!.version, complete: true }, from))!.applied, 0, 'a lower col_version loses');
          const check = async (d: HubDatabase): Promise<void> => {
            const body = (await read(d)).find((x) => x.cid === 'body')!;
            assert.equal(body.val, 'one');
            assert.equal(body.colVersion, HIGH, 'col_version exact');
            assert.equal(body.cl, CL, 'causal length exact');
          };
          await check(db);
          await check((await (await reopen()).open('notes'))!);
        } finally {
          c.close();
        }
      }),
    );

    it(
      'a transaction larger than a batch waits whole: nothing lands until its last batch, and a cut session forgets it',
      withStore(async (store) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare(c.engine.crrs());
          c.exec("INSERT INTO notes VALUES ('a', 'one'), ('b', 'two')");
          const [whole] = batchesOf(c.engine);
          const half = (complete: boolean, changes = whole!.changes.slice(0, 1)): Batch => ({ changes, version: whole!.version, complete });
          assert.equal(await db.sink.receive(half(false), origin(c.engine.siteId)), undefined);
          assert.deepEqual(await read(db), [], 'nothing merged yet');
          await db.sink.dropIncomplete(origin(c.engine.siteId));
          const got = await db.sink.receive(half(true, whole!.changes.slice(1)), origin(c.engine.siteId));
          assert.deepEqual(cells(await read(db)), ['notes.body=two'], 'the dropped part is gone; only what came after it landed');
          assert.equal(got!.version, whole!.version);
          await db.sink.receive(half(false), origin(c.engine.siteId));
          await db.sink.receive(half(true, whole!.changes.slice(1)), origin(c.engine.siteId));
          assert.deepEqual(cells(await read(db)), ['notes.body=one', 'notes.body=two']);
        } finally {
          c.close();
        }
      }),
    );

    it(
      "the pusher's write policy refuses a transaction whole and names the rule; the rest lands",
      withStore(async (store) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare(c.engine.crrs());
          c.exec("INSERT INTO notes VALUES ('ok1', 'fine')");
          c.exec("INSERT INTO notes VALUES ('no', 'not allowed')");
          const got = (await push(db, c.engine, gateOf({ read: 'all', write: [{ table: 'notes', where: "id LIKE 'ok%'" }] })))!;
          assert.equal(got.refused.length, 1);
          assert.match(got.refused[0]!.message, /id LIKE 'ok%'/);
          assert.deepEqual(cells(await read(db)), ['notes.body=fine']);
          assert.equal(await db.sink.trackedVersion(c.engine.siteId), c.engine.dbVersion(), 'refused counts as handled');
        } finally {
          c.close();
        }
      }),
    );

    it(
      'a change outside the declared schema is refused naming table and column, nothing of it lands',
      withStore(async (store) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare([{ name: 'notes', pks: ['id'], columns: [] }]);
          c.exec("INSERT INTO notes VALUES ('a', 'one')");
          await assert.rejects(async () => push(db, c.engine), (e: Error & { misfit?: { table: string; column?: string } }) => e.name === 'SchemaFitError' && e.misfit?.table === 'notes' && e.misfit.column === 'body');
          assert.deepEqual(await read(db), []);
        } finally {
          c.close();
        }
      }),
    );

    it(
      'the feed reads through a read filter, and changed() wakes when a push lands',
      withStore(async (store) => {
        const c = client();
        try {
          const db = (await store.open('notes', ALICE))!;
          await db.declare(c.engine.crrs());
          const ac = new AbortController();
          const woke = db.feed.changed(ac.signal);
          c.exec("INSERT INTO notes VALUES ('pub', 'public'), ('sec', 'secret')");
          await push(db, c.engine);
          await woke; // the test's timeout bounds this
          const read_ = gateOf({ read: [{ table: 'notes', where: "body = 'public'" }], write: 'none' }).readFilter('bob');
          assert.deepEqual(cells(await read(db, 0, { exceptSite: new Uint8Array(16), read: read_! })), ['notes.body=public']);
          const aborted = new AbortController();
          const waiting = db.feed.changed(aborted.signal);
          aborted.abort();
          await waiting; // an abort ends the wait too
        } finally {
          c.close();
        }
      }),
    );

    it(
      'share sets, replaces and removes a user policy, kept across a restart',
      withStore(async (store, _f, reopen) => {
        const db = (await store.open('team', ALICE))!;
        const bobs: PeerPolicy = { read: 'all', write: [{ table: 'notes', where: 'owner = :peer' }] };
        await db.share('bob', bobs);
        await db.share('carol', { read: [{ table: 'notes', columns: ['body'] }], write: 'none' });
        assert.deepEqual((await db.info()).shares, { bob: bobs, carol: { read: [{ table: 'notes', columns: ['body'] }], write: 'none' } });
        await db.share('carol', undefined);
        await db.share('bob', { read: 'all', write: 'all' });
        const later = (await (await reopen()).open('team'))!;
        assert.deepEqual((await later.info()).shares, { bob: { read: 'all', write: 'all' } });
      }),
    );
    it(
      "listFor: the databases a user owns or is shared with, with their shares, nobody else's",
      withStore(async (store) => {
        const team = (await store.open('team', ALICE))!;
        await team.share('bob', { read: 'all', write: 'none' });
        (await store.open('alices', ALICE))!;
        (await store.open('bobs', { app: ALICE.app, user: 'bob' }))!;
        (await store.open('other-app', { app: 'other', user: 'bob' }))!;
        assert.ok(store.listFor, 'the store lists from its metadata');
        assert.deepEqual(await store.listFor({ app: ALICE.app, user: 'bob' }), [
          { name: 'bobs', owner: { app: ALICE.app, user: 'bob' }, shares: {} },
          { name: 'team', owner: ALICE, shares: { bob: { read: 'all', write: 'none' } } },
        ]);
        assert.deepEqual((await store.listFor(ALICE)).map((d) => d.name), ['alices', 'team']);
        assert.deepEqual(await store.listFor({ app: ALICE.app, user: 'carol' }), []);
      }),
    );

    it(
      'conflicts: a cell two clients changed from the same base is recorded, whichever side won, newest first',
      withStore(async (store) => {
        const db = (await store.open('notes', ALICE))!;
        await db.declare([NOTES]);
        const [a, b, c] = [client(), client(), client()];
        try {
          a.exec("INSERT INTO notes VALUES ('k', 'base')");
          await push(db, a.engine);
          for (const x of [b, c]) x.engine.applyChanges(batchesOf(a.engine).flatMap((batch) => batch.changes));
          a.exec("UPDATE notes SET body = 'from one' WHERE id = 'k'");
          b.exec("UPDATE notes SET body = 'from two' WHERE id = 'k'");
          c.exec("UPDATE notes SET body = 'a low one' WHERE id = 'k'");
          await push(db, a.engine);
          assert.deepEqual(await db.conflicts!(10), [], 'a sequential overwrite is no conflict');
          await push(db, b.engine); // the greater value arrives: it wins
          await push(db, c.engine); // a lesser one: the value held wins
          const found = await db.conflicts!(10);
          const side = (value: string, siteId: Uint8Array) => ({ value, colVersion: 2, siteId });
          const common = { table: 'notes', pk: packColumns(['k']), cid: 'body', source: 'alice' };
          assert.deepEqual(
            found.map(({ id: _i, at: _a, dbVersion: _v, ...rest }) => rest),
            [
              { ...common, local: side('from two', b.engine.siteId), incoming: side('a low one', c.engine.siteId), winner: 'local' },
              { ...common, local: side('from one', a.engine.siteId), incoming: side('from two', b.engine.siteId), winner: 'incoming' },
            ],
          );
          assert.ok(found[0]!.id > found[1]!.id && found[0]!.at >= found[1]!.at);
          assert.equal(found[0]!.dbVersion, undefined, 'the merge that lost changed nothing');
          assert.equal(typeof found[1]!.dbVersion, 'number');
          assert.equal((await db.conflicts!(1)).length, 1);
          const other = (await store.open('other', ALICE))!;
          assert.deepEqual(await other.conflicts!(10), [], 'conflicts are per database');
        } finally {
          for (const x of [a, b, c]) x.close();
        }
      }),
    );
  });
}
