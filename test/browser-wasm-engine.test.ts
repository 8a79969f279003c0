/**
 * The engine on SQLite's WebAssembly build (src/browser/wasm-connection.ts), run here in Node
 * (sqlite-wasm's Node build, the same adapter code the browser runs): the same writes give the same
 * changes, rows and merges as on node:sqlite, and the adapter keeps node:sqlite's semantics the
 * engine relies on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openBrowserDatabase } from '../src/browser/sqlite.ts';
import { Engine, openDatabase, type Change, type SqliteConnection } from '../src/engine/index.ts';
import { registerFunctions } from '../src/engine/index.ts';
import { LocalReplica } from '../src/browser/replica.ts';

const SCHEMA = 'CREATE TABLE item (id INTEGER PRIMARY KEY NOT NULL, name TEXT, score REAL, data BLOB, n INTEGER)';

/** What a change says, without the site ordinal mapping (the same site ids on both). */
const plain = (c: Change) => ({ ...c, siteId: Buffer.from(c.siteId).toString('hex'), pk: Buffer.from(c.pk).toString('hex') });

type Op = { kind: 'insert' | 'update' | 'delete'; id: number; name: string; score: number; data: number[]; n: bigint };

function run(db: SqliteConnection, ops: Op[]): void {
  for (const op of ops) {
    if (op.kind === 'insert') db.prepare('INSERT OR REPLACE INTO item VALUES (?, ?, ?, ?, ?)').run(BigInt(op.id), op.name, op.score, Uint8Array.from(op.data), op.n);
    else if (op.kind === 'update') db.prepare('UPDATE item SET name = :name, score = :score WHERE id = :id').get({ name: op.name, score: op.score, id: BigInt(op.id) });
    else db.prepare('DELETE FROM item WHERE id = ?').run(BigInt(op.id));
  }
}

describe('the engine on sqlite-wasm', () => {
  it('gives the same changes, rows and merges as on node:sqlite (property)', async () => {
    const op = fc.record({
      kind: fc.constantFrom('insert' as const, 'update' as const, 'delete' as const),
      id: fc.integer({ min: 1, max: 8 }),
      name: fc.string({ unit: 'grapheme', maxLength: 6 }),
      score: fc.double({ noNaN: true, noDefaultInfinity: true }),
      data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 5 }),
      n: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }), async (commits) => {
        const wasm = await openBrowserDatabase('conformance');
        const node = openDatabase(':memory:');
        try {
          const engines = [Engine.open(wasm), Engine.open(node)];
          const site = engines[0]!.siteId;
          for (const e of engines) {
            e.db.exec(SCHEMA);
            e.asCrr('item');
          }
          // the same site id on both, so their changes compare byte for byte
          node.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(site);
          const nodeEngine = Engine.open(node);
          for (const ops of commits) {
            run(wasm, ops);
            run(node, ops);
            engines[0]!.seal();
            nodeEngine.seal();
          }
          const [fromWasm, fromNode] = [[...engines[0]!.changesSince(0)], [...nodeEngine.changesSince(0)]];
          assert.deepEqual(fromWasm.map(plain), fromNode.map(plain));
          const rows = (db: SqliteConnection) => db.prepare('SELECT id, name, score, hex(data) AS data, CAST(n AS TEXT) AS n, typeof(score) AS t FROM item ORDER BY id').all().map((r) => ({ ...(r as object) }));
          assert.deepEqual(rows(wasm), rows(node));
          // and merging the node replica's changes into a fresh wasm one gives the same rows
          const other = await openBrowserDatabase('conformance-2');
          try {
            const e = Engine.open(other);
            e.db.exec(SCHEMA);
            e.asCrr('item');
            e.applyChanges(fromNode);
            assert.deepEqual(rows(other), rows(node));
          } finally {
            other.close();
          }
        } finally {
          wasm.close();
          node.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('keeps node:sqlite semantics: bindings, read modes, statements, functions, errors', async () => {
    const db = await openBrowserDatabase('semantics');
    try {
      db.exec('CREATE TABLE v (x)'); // no affinity: values stay as bound
      const ins = db.prepare('INSERT INTO v VALUES (?)');
      ins.run(1);
      ins.run(1n);
      ins.run('1');
      ins.run(new Uint8Array(0));
      ins.run(null);
      assert.deepEqual(db.prepare('SELECT typeof(x) AS t FROM v').all().map((r) => (r as { t: string }).t), ['real', 'integer', 'text', 'blob', 'null']);
      const big = db.prepare('SELECT 9007199254740993 AS n');
      assert.throws(() => big.get(), RangeError, 'past 2^53 as a number throws');
      big.setReadBigInts(true);
      assert.deepEqual(big.get(), { n: 9007199254740993n });
      const arrays = db.prepare('SELECT 1 AS a, 2 AS b');
      arrays.setReturnArrays(true);
      assert.deepEqual(arrays.get(), [1, 2]);
      // named parameters, unknown names allowed only when asked
      assert.deepEqual(db.prepare('SELECT ?2 - ?1 AS d').get(1n, 5n), { d: 4 }, '?NNN binds by position');
      const named = db.prepare('SELECT :a + ? AS s');
      assert.deepEqual(named.get({ a: 1n }, 2n), { s: 3 });
      assert.throws(() => named.get({ a: 1n, b: 2n }, 1n), /Unknown named parameter 'b'/);
      (named as { setAllowUnknownNamedParameters(e: boolean): void }).setAllowUnknownNamedParameters(true);
      assert.deepEqual(named.get({ a: 1n, b: 2n }, 1n), { s: 2 });
      // an iteration left early gives its statement back; a nested one of the same SQL works
      const each = db.prepare('WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < 3) SELECT value FROM s');
      for (const _ of each.iterate()) break;
      const outer = [...each.iterate()].length;
      let nested = 0;
      for (const _ of each.iterate()) for (const __ of each.iterate()) nested++;
      assert.deepEqual([outer, nested], [3, 9]);
      // a function's error comes out of the statement as thrown
      const engine = Engine.open(db);
      registerFunctions(engine);
      assert.throws(() => db.prepare("SELECT crsql_as_crr('nope')").get(), /nope/);
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, x TEXT)');
      assert.deepEqual(db.prepare("SELECT crsql_as_crr('t') AS r").get(), { r: 'OK' });
      assert.equal(engine.crrs().length, 1);
      // transactions and SQL errors
      assert.equal(db.isTransaction, false);
      db.exec('BEGIN');
      assert.equal(db.isTransaction, true);
      db.exec('ROLLBACK');
      assert.throws(() => db.prepare('SELECT * FROM missing'), (e: Error & { errcode?: number }) => /no such table: missing/.test(e.message) && e.errcode === 1);
      assert.throws(() => db.exec('INSERT INTO t VALUES (1, 1); INSERT INTO t VALUES (1, 2)'), /UNIQUE constraint failed/);
    } finally {
      db.close();
    }
  });

  it('LocalReplica: several statements apply all or nothing; local writes are sealed and heard', async () => {
    const r = await LocalReplica.open({ name: 'local' });
    try {
      const heard: number[] = [];
      r.onChange((c) => heard.push(c.version));
      assert.throws(() => r.exec("CREATE TABLE n (id TEXT PRIMARY KEY NOT NULL, b TEXT); INSERT INTO n VALUES ('a', 'x'); INSERT INTO n VALUES ('a', 'y')"), /UNIQUE constraint failed/);
      assert.deepEqual(r.query("SELECT name FROM sqlite_schema WHERE name = 'n'"), [], 'nothing of the failed batch is left');
      r.exec('CREATE TABLE n (id TEXT PRIMARY KEY NOT NULL, b TEXT)');
      r.asCrr('n');
      const w = r.exec('INSERT INTO n VALUES (?, ?)', ['a', 'x']);
      assert.equal(w.changes, 1);
      assert.equal(heard.at(-1), w.version);
      assert.ok(r.engine.recentChanges({ table: 'n' }).some((c) => c.cid === 'b' && c.dbVersion === w.version), 'the write is a sealed change');
      const doc = r.callDocs('create', ['tasks', { title: 't' }, { id: 'd1' }]) as { content: unknown };
      assert.deepEqual(doc.content, { title: 't' });
      assert.throws(() => r.callDocs('engine', []), /no method engine/);
    } finally {
      await r.close();
    }
  });
});
