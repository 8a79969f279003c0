/**
 * Property: several replicas make random writes and sync in random order, each receiving only what
 * its random read policy allows (the serving side filters with the gate's read filter, whatever the
 * changes' origin, so relaying is covered). After a final round of syncs, every replica's copy equals
 * what its policy allows of the converged state.
 *
 * "Allows", precisely: for each table with a rule, the rows of the converged state whose current
 * values satisfy the rule's WHERE (with :peer bound to the replica's address), projected on the key
 * and the rule's columns; for a table without a rule, nothing. The converged state is an oracle that
 * receives everything from everyone unfiltered.
 *
 * Restriction: predicates read only columns that never change after a row is inserted (`id`, and
 * `owner`, which is a fixed function of `id`), so rows never change owner. When a row leaves a
 * predicate, a replica keeps the last version it was allowed (tested on its own in
 * src/engine/filter.test.ts), which a model of the final state alone cannot express.
 * Writes respect the writer's own read policy (one edits what one sees).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from '../src/engine/engine.ts';
import type { SqlValue } from '../src/engine/sqlite.ts';
import { readFilterOf } from '../src/sync/gate.ts';
import type { PeerPolicy, TableRule } from '../src/sync/policy.ts';
import { freshCopy } from './support/fresh-copy.ts';

const N = 3;
const IDS = 4;
const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, owner TEXT, a, b);
CREATE TABLE tags (k INTEGER PRIMARY KEY NOT NULL, v);`;
const address = (i: number): string => `peer-${i}`;
const ownerOf = (id: number): string => address(id % N);

/** Row predicates over columns that never change; each with its meaning in JS, for choosing writes. */
const PREDICATES: { sql: string | undefined; holds: (id: number, peer: string) => boolean }[] = [
  { sql: undefined, holds: () => true },
  { sql: 'owner = :peer', holds: (id, peer) => ownerOf(id) === peer },
  { sql: 'owner <> :peer', holds: (id, peer) => ownerOf(id) !== peer },
  { sql: 'id % 2 = 0', holds: (id) => id % 2 === 0 },
];

interface Policy {
  items: { pred: number; columns: string[] | undefined } | undefined;
  tags: boolean;
}

const policyArb: fc.Arbitrary<Policy | 'all'> = fc.oneof(
  fc.constant('all' as const),
  fc.record({
    items: fc.option(
      fc.record({
        pred: fc.nat(PREDICATES.length - 1),
        // owner always readable: a replica inserting a row must be able to give it its owner.
        columns: fc.option(fc.subarray(['a', 'b']).map((c) => ['owner', ...c]), { nil: undefined }),
      }),
      { nil: undefined },
    ),
    tags: fc.boolean(),
  }),
);

function toPeerPolicy(p: Policy | 'all'): PeerPolicy {
  if (p === 'all') return { read: 'all', write: 'none' };
  const read: TableRule[] = [];
  if (p.items) {
    const sql = PREDICATES[p.items.pred]!.sql;
    read.push({ table: 'items', ...(p.items.columns ? { columns: p.items.columns } : {}), ...(sql ? { where: sql } : {}) });
  }
  if (p.tags) read.push({ table: 'tags' });
  return { read, write: 'none' };
}

type Step =
  | { kind: 'upsert'; peer: number; id: number; a: number; b: number }
  | { kind: 'delete'; peer: number; id: number }
  | { kind: 'tag'; peer: number; k: number; v: number }
  | { kind: 'sync'; from: number; to: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('upsert' as const), peer: fc.nat(N - 1), id: fc.nat(IDS - 1), a: fc.nat(3), b: fc.nat(3) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), peer: fc.nat(N - 1), id: fc.nat(IDS - 1) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('tag' as const), peer: fc.nat(N - 1), k: fc.nat(3), v: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat(N - 1), to: fc.nat(N - 1) }), weight: 4 },
);

/** A fresh replica (the schema, its CRRs), copied for each run. */
function open(): Engine {
  return Engine.open(
    freshCopy('policy-property', (db, e) => {
      db.exec(SCHEMA);
      e.asCrr('items');
      e.asCrr('tags');
    }),
  );
}

function rows(e: Engine, sql: string, params: Record<string, SqlValue> = {}): string {
  const s = e.db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  s.setAllowUnknownNamedParameters?.(true);
  return JSON.stringify(s.all(params as never), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** `from` serves `to` what `to`'s policy allows, since what `to` already holds of `from` (delta sync). */
function sync(from: Engine, to: Engine, policy: PeerPolicy, peer: string): void {
  if (from === to) return;
  const since = to.trackedVersion(from.siteId);
  const version = from.dbVersion();
  const changes = [...from.changesSince(since, { exceptSite: to.siteId, read: readFilterOf(policy, peer) })];
  to.applyChanges(changes, { trackPeer: { siteId: from.siteId, version } });
}

describe('read policies: property', () => {
  it('every replica ends with exactly what its policy allows of the converged state', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { minLength: N, maxLength: N }), fc.array(stepArb, { minLength: 10, maxLength: 80 }), (raw, steps) => {
        const policies = raw.map(toPeerPolicy);
        const peers = raw.map(() => open());
        const mayWrite = (i: number, id: number, col?: string): boolean => {
          const p = raw[i]!;
          if (p === 'all') return true;
          if (!p.items) return false;
          if (col && p.items.columns && !p.items.columns.includes(col)) return false;
          return PREDICATES[p.items.pred]!.holds(id, address(i));
        };
        for (const s of steps) {
          if (s.kind === 'sync') sync(peers[s.from]!, peers[s.to]!, policies[s.to]!, address(s.to));
          else if (s.kind === 'tag') {
            const p = raw[s.peer]!;
            if (p === 'all' || p.tags) peers[s.peer]!.db.prepare('INSERT INTO tags VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(s.k, s.v);
          } else if (mayWrite(s.peer, s.id)) {
            const db = peers[s.peer]!.db;
            if (s.kind === 'delete') db.prepare('DELETE FROM items WHERE id = ?').run(s.id);
            else {
              const cols = (['a', 'b'] as const).filter((c) => mayWrite(s.peer, s.id, c));
              const vals = cols.map((c) => (c === 'a' ? s.a : s.b));
              const exists = db.prepare('SELECT 1 FROM items WHERE id = ?').get(s.id) !== undefined;
              if (exists && cols.length > 0) db.prepare(`UPDATE items SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...vals, s.id);
              else if (!exists) db.prepare(`INSERT INTO items (id, owner${cols.map((c) => `, ${c}`).join('')}) VALUES (?, ?${cols.map(() => ', ?').join('')})`).run(s.id, ownerOf(s.id), ...vals);
            }
          }
        }
        // Quiescence: every ordered pair syncs, twice.
        for (let round = 0; round < 2; round++) for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) sync(peers[i]!, peers[j]!, policies[j]!, address(j));
        const oracle = open();
        for (const p of peers) oracle.applyChanges([...p.changesSince(0)]);
        peers.forEach((peer, i) => {
          const p = raw[i]!;
          const params = { peer: address(i) };
          const itemsRule = p === 'all' ? { pred: 0, columns: undefined } : p.items;
          if (itemsRule) {
            const cols = ['id', ...(itemsRule.columns ?? ['owner', 'a', 'b'])].join(', ');
            const where = PREDICATES[itemsRule.pred]!.sql ?? '1';
            assert.equal(rows(peer, `SELECT ${cols} FROM items ORDER BY id`), rows(oracle, `SELECT ${cols} FROM items WHERE ${where} ORDER BY id`, params), `items of peer ${i}`);
          } else assert.equal(rows(peer, 'SELECT * FROM items'), '[]', `peer ${i} may not read items`);
          if (p === 'all' || p.tags) assert.equal(rows(peer, 'SELECT * FROM tags ORDER BY k'), rows(oracle, 'SELECT * FROM tags ORDER BY k'), `tags of peer ${i}`);
          else assert.equal(rows(peer, 'SELECT * FROM tags'), '[]', `peer ${i} may not read tags`);
        });
      }),
      { numRuns: 60 },
    );
  });
});
