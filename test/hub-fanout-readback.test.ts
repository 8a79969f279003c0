/**
 * What the hub's fan-out (src/hub/fanout.ts) sends a follower is what reading the store gives: for
 * random concurrent pushes from several sites (their merges landing in one group commit or several,
 * overwriting and deleting each other's rows), every follower — unfiltered or under a read filter,
 * with its own site left out or none, following live or joining later from an earlier version — is
 * sent changes in (db_version, seq) order, whose newest per cell is exactly the store's read-back
 * (same value and clocks), with nothing the read-back lacks, and a replica built from what it was
 * sent holds what one built from the read-back holds. This is the contract any shortcut of the
 * fan-out's read (handing a merge's changes over instead of reading them back) must keep.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Engine, type Change, type ReadFilter } from '../src/engine/index.ts';
import { fanoutOf } from '../src/hub/fanout.ts';
import type { HubDatabase, HubStore } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { readBatches } from '../src/repo/feed.ts';
import type { FrameChannel, SendOptions } from '../src/sync/channel.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage } from '../src/sync/messages.ts';
import type { FeedRequest } from '../src/sync/ports.ts';
import { tempDir } from './support/cli.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { dropSchema, testClient } from './support/postgres.ts';

/** A channel that keeps the changes and caught-up versions sent to it. */
class Collect implements FrameChannel {
  changes: Change[] = [];
  caughtUp = -1;
  send(frame: Uint8Array, _options?: SendOptions): Promise<void> {
    const m = decodeMessage(frame);
    if (m.type === 'batch') this.changes.push(...m.changes);
    else if (m.type === 'caught-up') this.caughtUp = Math.max(this.caughtUp, m.version);
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  abort(): void {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const cell = (c: Change): string => `${c.table}/${hex(c.pk)}/${c.cid}`;
const whole = (c: Change): string =>
  JSON.stringify([cell(c), typeof c.val === 'bigint' ? `${c.val}n` : c.val instanceof Uint8Array ? hex(c.val) : c.val, String(c.colVersion), String(c.dbVersion), String(c.cl), String(c.seq), hex(c.siteId)]);

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 2000) throw new Error('timed out waiting for the fan-out');
    await sleep(2);
  }
}

/** One client's edit: upsert or delete row `id` (of a few, so sites collide), pushed at round `round`. */
interface Op {
  site: number;
  id: number;
  body: string | null;
  round: number;
}

const opArb = fc.record({ site: fc.nat(2), id: fc.nat(4), body: fc.option(fc.constantFrom('a1', 'a2', 'b1', 'b2'), { nil: null, freq: 4 }), round: fc.nat(3) });

const FILTER: ReadFilter = { rules: [{ table: 'notes', where: "body LIKE 'a%'", label: 'a' }], params: {} };

const NOBODY = new Uint8Array(16);

/**
 * A fresh replica's database with the notes CRR (each with a random site id of its own): a copy of one
 * made once (freshCopy), as making it anew (Engine.open, the table, asCrr) would give it.
 */
function notesReplica(): DatabaseSync {
  return freshCopy('hub-fanout-readback notes', (db, e) => {
    db.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT, n INTEGER)');
    e.asCrr('notes');
  });
}

/** Returns how many wakes of its fan-out took what the merges stored rather than reading it back. */
async function scenario(store: HubStore, name: string, ops: readonly Op[], lateFrom: number): Promise<number> {
  const dbs = [0, 1, 2].map(notesReplica);
  const stop = new AbortController();
  try {
    const engines = dbs.map((db) => Engine.open(db));
    const hosted = (await store.open(name, { app: 'a', user: 'u' })) as HubDatabase;
    await hosted.declare(engines[0]!.crrs());
    const gate = new Gate(() => ({ read: 'all', write: 'all' }));
    const fanout = fanoutOf(hosted);
    const v0 = await hosted.feed.version();
    const follow = (since: number, exceptSite: Uint8Array, read?: ReadFilter): { c: Collect; request: FeedRequest; since: number } => {
      const c = new Collect();
      const request: FeedRequest = { exceptSite, ...(read ? { read } : {}) };
      void fanout.send(c, since, { ...request, follow: true, signal: stop.signal });
      return { c, request, since };
    };
    const followers = [follow(v0, NOBODY), follow(v0, NOBODY, FILTER), ...engines.flatMap((e) => [follow(v0, e.siteId), follow(v0, e.siteId, FILTER)])];
    await until(() => followers.every((f) => f.c.caughtUp >= v0));

    // Rounds of edits; each round's pushes from every site are handed over at once (one group commit or a few).
    const pushed = engines.map(() => 0);
    for (let round = 0; round <= 3; round++) {
      const sends: unknown[] = [];
      for (const [i, e] of engines.entries()) {
        const mine = ops.filter((o) => o.round === round && o.site === i);
        if (mine.length === 0) continue;
        for (const o of mine) {
          if (o.body === null) dbs[i]!.prepare('DELETE FROM notes WHERE id = ?').run(o.id);
          else dbs[i]!.prepare('INSERT INTO notes VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body, n = excluded.n').run(o.id, o.body, round);
          e.seal(); // one version per edit: a push of several batches
        }
        for (const b of readBatches(e, pushed[i]!, { exceptSite: NOBODY })) {
          if (b.changes.length) sends.push(hosted.sink.receive(b, { siteId: e.siteId, peer: 'u', source: `c${i}`, gate }));
          pushed[i] = b.version;
        }
      }
      await Promise.all(sends);
      if (round === 1) await sleep(0); // sometimes a wake between rounds, sometimes not
    }
    const end = await hosted.feed.version();
    // Late joiners, from an earlier version: from the group's frames, inside a batch or not.
    const from = v0 + (lateFrom % (end - v0 + 1));
    followers.push(follow(from, NOBODY), follow(from, NOBODY, FILTER), follow(from, engines[1]!.siteId));
    await until(() => followers.every((f) => f.c.caughtUp >= end));

    for (const [k, f] of followers.entries()) {
      const label = `follower ${k} (from ${f.since}, ${f.request.read ? 'filtered' : 'all'}, ${f.request.exceptSite === NOBODY ? 'no site left out' : 'own site left out'})`;
      const readBack: Change[] = [];
      for await (const b of hosted.feed.batches(f.since, f.request)) readBack.push(...b.changes);
      const sent = f.c.changes;
      if (!f.request.read) {
        // Through a read filter a matching row comes whole (its older cells again): order is per read there.
        for (let i = 1; i < sent.length; i++) {
          const [a, b] = [sent[i - 1]!, sent[i]!];
          assert.ok(BigInt(a.dbVersion) < BigInt(b.dbVersion) || (BigInt(a.dbVersion) === BigInt(b.dbVersion) && BigInt(a.seq) < BigInt(b.seq)), `${label}: (db_version, seq) order`);
        }
        assert.ok(sent.every((c) => BigInt(c.dbVersion) > BigInt(f.since)), `${label}: nothing from before its version`);
      }
      const newest = new Map<string, Change>();
      for (const c of sent) {
        const had = newest.get(cell(c));
        if (!had || BigInt(had.dbVersion) < BigInt(c.dbVersion) || (BigInt(had.dbVersion) === BigInt(c.dbVersion) && BigInt(had.seq) <= BigInt(c.seq))) newest.set(cell(c), c);
      }
      for (const c of readBack) assert.equal(newest.has(cell(c)) ? whole(newest.get(cell(c))!) : undefined, whole(c), `${label}: the newest sent of a cell is the read-back's`);
      if (f.request.exceptSite !== NOBODY) {
        const direct = await hosted.directVersions(f.since, end);
        const own = sent.filter((c) => hex(direct.get(Number(c.dbVersion)) ?? NOBODY) === hex(f.request.exceptSite) && hex(c.siteId) === hex(f.request.exceptSite));
        assert.deepEqual(own.map(whole), [], `${label}: never its own changes back`);
      } else if (!f.request.read) {
        // Nothing the read-back lacks, but what a later change sent (of the cell, or the row's deletion) replaced.
        const stored = new Set(readBack.map(whole));
        sent.forEach((c, i) => {
          const replaced = sent.slice(i + 1).some((d) => cell(d) === cell(c) || (d.cid === '-1' && d.table === c.table && hex(d.pk) === hex(c.pk)));
          assert.ok(stored.has(whole(c)) || replaced, `${label}: ${whole(c)} is neither stored nor replaced`);
        });
        // A replica fed what was sent holds what one fed the read-back holds.
        const replica = (changes: Change[]): unknown[] => {
          const db = notesReplica();
          try {
            const e = Engine.open(db);
            if (changes.length) e.applyChanges(changes);
            return db.prepare('SELECT id, body, n FROM notes ORDER BY id').all().map((r) => ({ ...r }));
          } finally {
            db.close();
          }
        };
        assert.deepEqual(replica(sent), replica(readBack), `${label}: replicas agree`);
      }
    }
    return fanout.stats.handedOver;
  } finally {
    stop.abort();
    for (const db of dbs) db.close();
  }
}

function readBackSuite(kind: string, open: () => Promise<{ store: HubStore; cleanup: () => Promise<void> }>, runs: number, handsOver: boolean): void {
  describe(`hub fan-out sends what a read-back gives (${kind})`, () => {
    it('random concurrent pushes from three sites; followers under every read policy, own site or none, live and late', async () => {
      const { store, cleanup } = await open();
      let n = 0;
      let handed = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 24 }), fc.nat(), async (ops, lateFrom) => {
            handed += await scenario(store, `rb${n++}`, ops, lateFrom);
          }),
          { numRuns: runs },
        );
        // Both stores hand a group commit's merged changes to the unfiltered group: that path was taken.
        if (handsOver) assert.ok(handed > 0, 'no wake took the merged changes over');
      } finally {
        await store.close();
        await cleanup();
      }
    });
  });
}

readBackSuite(
  'SQLite',
  async () => {
    const dir = tempDir();
    return { store: new SqliteHubStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
  40,
  true,
);

const sql = testClient(10);
after(() => sql.end());
readBackSuite(
  'PostgreSQL',
  async () => {
    const schema = `t_hubrb_${randomBytes(4).toString('hex')}`;
    return { store: await PgHubStore.open({ url: sql, schema }), cleanup: () => dropSchema(sql, schema) };
  },
  10,
  true,
);
