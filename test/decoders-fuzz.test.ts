/**
 * Fuzzing the readers of external input — JSON lines (`ddcp apply`), bundles and sync messages —
 * with random and mutated inputs, raw (bytes and text) and structure-aware (hostile field values
 * encoded correctly, so they reach the merge). Whatever comes in:
 * - it is refused with a typed one-line error, or applied;
 * - the database is unchanged, or exactly what a clean apply of the decoded changes gives;
 * - local writes afterwards work, and syncing with an honest peer still converges.
 * Runs per property: FUZZ_RUNS (default 25, enough to cover each mutation kind; raise it to hunt).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { Engine } from '../src/engine/engine.ts';
import type { Change } from '../src/engine/change.ts';
import { packColumns } from '../src/engine/pack.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { DdcpError } from '../src/base/errors.ts';
import { Gate } from '../src/sync/gate.ts';
import { formatChange, parseChanges } from '../src/sync/jsonl.ts';
import { encodeMessage, decodeMessage, PROTOCOL_VERSION } from '../src/sync/messages.ts';
import { decodeChanges, encodeChanges } from '../src/sync/codec.ts';
import { applyBundle } from '../src/bundle/apply.ts';
import { writeBundle } from '../src/bundle/writer.ts';
import { BundleReader } from '../src/bundle/reader.ts';
import { proofOf } from './support/identity.ts';
import { engineWithSite } from './support/fixed-site.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SITE_T = new Uint8Array(16).fill(0x22);
const SITE_H = new Uint8Array(16).fill(0x33);
const SCHEMA = `CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body);
CREATE TABLE nums (n INTEGER PRIMARY KEY NOT NULL, r REAL, b BLOB);`;

/** A replica with a fixed site id (so two builds are the same database), its tables and some rows. */
function replica(site: Uint8Array, rows: (e: Engine) => void): { db: DatabaseSync; engine: Engine } {
  const { db, engine: e } = engineWithSite(site);
  db.exec(SCHEMA);
  e.asCrr('notes');
  e.asCrr('nums');
  rows(e);
  e.seal();
  return { db, engine: e };
}

/**
 * A fixture made once: `make`'s database as bytes, and each call a fresh copy opened as an engine —
 * what reopening the saved repository gives (rows, clocks, log, site ids alike). The checks below
 * make up to five replicas per run; building each again was most of this file's CPU.
 */
const images = new Map<string, Uint8Array>();
function madeOnce(name: string, make: () => { db: DatabaseSync; engine: Engine }): Engine {
  let bytes = images.get(name);
  if (!bytes) {
    const { db } = make();
    bytes = db.serialize();
    db.close();
    images.set(name, bytes);
  }
  const db = openDatabase(':memory:');
  db.deserialize(bytes);
  return Engine.open(db);
}

/** The honest peer: rows, updates, a delete and a revival. */
const honest = (): Engine =>
  madeOnce('honest', () => replica(SITE_H, (e) => {
    e.db.exec(`INSERT INTO notes VALUES ('a', 'h1'), ('b', 'h2'), ('c', 3), ('é', x'00ff');
      INSERT INTO nums VALUES (1, 1.5, x'01'), (9007199254740993, -0.0, NULL), (-5, 1e300, 'x');`);
    e.seal();
    e.db.exec(`UPDATE notes SET body = 'h1b' WHERE id = 'a'; DELETE FROM notes WHERE id = 'c'; UPDATE nums SET r = 2.5 WHERE n = 1`);
    e.seal();
    e.db.exec(`INSERT INTO notes VALUES ('c', 'back')`);
  }));

/** The target: its own rows, and part of what the honest peer has. */
const target = (): Engine =>
  madeOnce('target', () => replica(SITE_T, (e) => {
    e.db.exec(`INSERT INTO notes VALUES ('a', 't1'), ('z', 't2'); INSERT INTO nums VALUES (2, 0.5, NULL)`);
    e.seal();
    e.applyChanges([...honest().changesSince(0)].slice(0, 4));
  }));

/** Rows with exact integers. */
function big(e: Engine, sql: string): unknown[] {
  const s = e.db.prepare(sql);
  s.setReadBigInts(true);
  return s.all();
}
const text = (rows: unknown[]): string => JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

/** Everything sync could differ on (times left out). */
function dump(e: Engine, tracked = true): string {
  const q = (sql: string): string => JSON.stringify(big(e, sql), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? hex(v) : v));
  return [
    'SELECT id, typeof(id) t, body, typeof(body) tb FROM notes ORDER BY id, t',
    'SELECT n, r, b FROM nums ORDER BY n',
    'SELECT * FROM notes__ddcp_clock ORDER BY key, cid',
    'SELECT * FROM nums__ddcp_clock ORDER BY key, cid',
    'SELECT * FROM notes__ddcp_pks ORDER BY __key',
    'SELECT * FROM nums__ddcp_pks ORDER BY __key',
    'SELECT * FROM ddcp_site_id ORDER BY ordinal',
    tracked ? 'SELECT site_id, version FROM ddcp_tracked_peers ORDER BY site_id' : 'SELECT 0',
    `SELECT value FROM ddcp_state WHERE key = 'open_version'`,
  ]
    .map(q)
    .join('\n');
}

/** What must agree after a full exchange: the rows, and each cell's version and origin. */
function state(e: Engine): string {
  const cells = [...e.changesSince(0)].map((c) => `${c.table} ${hex(c.pk)} ${c.cid} v${c.colVersion} cl${c.cl} @${hex(c.siteId)}`).sort();
  return `${text(big(e, 'SELECT quote(id), quote(body) FROM notes ORDER BY 1'))}\n${text(big(e, 'SELECT n, quote(r), quote(b) FROM nums ORDER BY n'))}\n${cells.join('\n')}`;
}

/** Our own input (no peer policy): the gate checks schema fit only, as `ddcp apply` and bundles do. */
const gate = Gate.default;

/** Asserts the outcome of feeding one input: a typed one-line refusal and no change, or a clean apply. */
function check(run: (e: Engine) => Change[] | undefined): void {
  const t = target();
  const before = dump(t);
  let decoded: Change[] | undefined;
  try {
    decoded = run(t);
  } catch (err) {
    assert.ok(err instanceof DdcpError, `a typed error, got ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
    assert.ok(!err.message.includes('\n') && err.message.length > 0, `one line: ${JSON.stringify(err.message)}`);
    assert.equal(dump(t), before, `unchanged after: ${err.message}`);
  }
  if (decoded) {
    // The same changes merged into a fresh copy give the same database: nothing half applied.
    const clean = target();
    clean.applyChanges(decoded);
    // (A bundle also records its source as a tracked peer: the engine's trackPeer, not the merge.)
    assert.equal(dump(t, false), dump(clean, false));
  }
  // Local writes still work (no clock pushed past its range), and an honest peer still converges.
  t.db.exec(`UPDATE notes SET body = 'later'; DELETE FROM nums WHERE n = 1; INSERT OR REPLACE INTO notes VALUES ('new', 'x')`);
  t.seal();
  const h = honest();
  const wire = (from: Engine): Change[] => decodeChanges(encodeChanges([...from.changesSince(0)]));
  gate.admit(t, wire(h));
  gate.admit(h, wire(t));
  gate.admit(t, wire(h));
  assert.equal(state(t), state(h));
}

// --- mutations ---

/** Tokens a hostile writer would try in text. */
const TOKENS = ['9223372036854775807', '9223372036854775808', '9007199254740993', '-1', '0', '1e400', '1.5', 'NaN', '"', '{', '}', ',', ':', '"cl":3', '"seq":1', '\n', '\\u0000', '00000000000000000000000000000000', '01027ff8000000000000', '010901', 'ff', '[]', 'null', 'é'];

const textEdit = fc.oneof(
  fc.record({ at: fc.nat(), del: fc.nat(8), put: fc.constantFrom(...TOKENS) }),
  fc.record({ at: fc.nat(), del: fc.nat(3), put: fc.string({ maxLength: 4 }) }),
);
function editText(text: string, edits: { at: number; del: number; put: string }[]): string {
  for (const e of edits) {
    const at = text.length === 0 ? 0 : e.at % (text.length + 1);
    text = text.slice(0, at) + e.put + text.slice(at + e.del);
  }
  return text;
}

const byteEdit = fc.oneof(
  fc.record({ at: fc.nat(), del: fc.nat(4), put: fc.uint8Array({ maxLength: 4 }) }),
  fc.record({ at: fc.nat(), del: fc.constant(1), put: fc.constantFrom(Uint8Array.of(0xff), Uint8Array.of(0x80), Uint8Array.of(0)) }),
);
function editBytes(bytes: Uint8Array, edits: { at: number; del: number; put: Uint8Array }[]): Uint8Array {
  let b = Buffer.from(bytes);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    b = Buffer.concat([b.subarray(0, at), e.put, b.subarray(at + e.del)]);
  }
  return new Uint8Array(b);
}

const BIG: (number | bigint)[] = [0, 1, 2, 3, 2 ** 53 - 1, 2n ** 53n, 2n ** 62n + 1n, 2n ** 63n - 2n ** 32n, 2n ** 63n - 2n ** 32n + 1n, 2n ** 63n - 1n];
const sqlValue: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(1n, 0n, -1n),
  fc.double(),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('1', ' 2 ', '1e3', 'a'),
  fc.uint8Array({ maxLength: 4 }),
);
type ChangeEdit = { i: number; field: string; v: unknown };
const changeEdit: fc.Arbitrary<ChangeEdit> = fc.oneof(
  fc.record({ i: fc.nat(), field: fc.constantFrom('colVersion', 'cl', 'dbVersion', 'seq'), v: fc.constantFrom(...BIG) }),
  fc.record({ i: fc.nat(), field: fc.constant('pk'), v: fc.array(sqlValue, { minLength: 1, maxLength: 2 }).map((vs) => packColumns(vs)) }),
  fc.record({ i: fc.nat(), field: fc.constant('val'), v: sqlValue }),
  fc.record({ i: fc.nat(), field: fc.constant('siteId'), v: fc.constantFrom(new Uint8Array(16), SITE_T, SITE_H, new Uint8Array(16).fill(0x99)) }),
  fc.record({ i: fc.nat(), field: fc.constant('table'), v: fc.constantFrom('notes', 'nums', 'nope', 'notes__ddcp_clock') }),
  fc.record({ i: fc.nat(), field: fc.constant('cid'), v: fc.constantFrom('-1', 'body', 'r', 'b', 'id', 'zz') }),
  fc.record({ i: fc.nat(), field: fc.constant('dup'), v: fc.constant(0) }),
);
function editChanges(changes: readonly Change[], edits: ChangeEdit[]): Change[] {
  const out = changes.map((c) => ({ ...c }));
  for (const e of edits) {
    const i = e.i % out.length;
    if (e.field === 'dup') out.splice(i, 0, { ...out[i]! });
    else (out[i] as unknown as Record<string, unknown>)[e.field] = e.v;
  }
  return out;
}

let dir: string;
let honestChanges: Change[];
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ddcp-fuzz-'));
  honestChanges = [...honest().changesSince(0)];
});
after(() => rmSync(dir, { recursive: true, force: true }));

const lines = (text: string): Change[] => [...parseChanges(text.split('\n'))];

describe('JSON lines', () => {
  it('mutated text: refused with one line, or applied exactly; sync converges after', () => {
    const text = honestChanges.map(formatChange).join('\n');
    fc.assert(
      fc.property(fc.array(textEdit, { minLength: 1, maxLength: 4 }), (edits) => {
        const input = editText(text, edits);
        check((t) => {
          gate.admit(t, parseChanges(input.split('\n')), { context: 'line' });
          return lines(input);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('hostile field values, well formed: refused with one line, or applied exactly; sync converges after', () => {
    fc.assert(
      fc.property(fc.array(changeEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        const input = editChanges(honestChanges, edits).map(formatChange).join('\n');
        check((t) => {
          gate.admit(t, parseChanges(input.split('\n')));
          return lines(input);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('random text: refused with one line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (input) => {
        check((t) => {
          gate.admit(t, parseChanges(input.split('\n')));
          return lines(input);
        });
      }),
      { numRuns: RUNS },
    );
  });
});

describe('bundles', () => {
  const header = { siteId: hex(SITE_H), schema: [{ table: 'notes', pks: ['id'], columns: ['body'] }, { table: 'nums', pks: ['n'], columns: ['r', 'b'] }], schemaFingerprint: '0'.repeat(32), since: 0, version: 3, createdAt: new Date(0).toISOString() };
  const fromFile = (file: string): Change[] => {
    const r = BundleReader.open(file);
    try {
      return [...r.changes()];
    } finally {
      r.close();
    }
  };

  it('mutated bytes: refused with one line, or applied exactly; sync converges after', () => {
    const file = join(dir, 'honest.ddcpb');
    writeBundle(file, header, honestChanges);
    const bytes = readFileSync(file);
    fc.assert(
      fc.property(fc.array(byteEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        const bad = join(dir, 'bad.ddcpb');
        writeFileSync(bad, editBytes(bytes, edits));
        check((t) => {
          applyBundle(t, gate, bad);
          return fromFile(bad);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('hostile field values in an intact bundle: refused with one line, or applied exactly; sync converges after', () => {
    fc.assert(
      fc.property(fc.array(changeEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        const file = join(dir, 'hostile.ddcpb');
        try {
          writeBundle(file, header, editChanges(honestChanges, edits));
        } catch (err) {
          assert.ok(err instanceof DdcpError, String(err)); // values no encoder writes (a negative version…)
          return;
        }
        check((t) => {
          applyBundle(t, gate, file);
          return fromFile(file);
        });
      }),
      { numRuns: RUNS },
    );
  });
});

describe('sync messages', () => {
  const batchOf = (m: ReturnType<typeof decodeMessage>): Change[] | undefined => (m.type === 'batch' ? m.changes : undefined);

  it('mutated frames: refused with one line, or applied exactly; sync converges after', () => {
    const frames = [
      encodeMessage({ type: 'batch', version: 3, complete: true, changes: honestChanges }),
      encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: SITE_H, proof: proofOf(SITE_H), schema: [{ name: 'notes', pks: ['id'], columns: ['body'] }], since: 0, held: [{ siteId: SITE_T, version: 1 }], follow: false, pull: true, push: false }),
      encodeMessage({ type: 'caught-up', version: 3 }),
    ];
    fc.assert(
      fc.property(fc.nat(frames.length - 1), fc.array(byteEdit, { minLength: 1, maxLength: 3 }), (f, edits) => {
        const frame = editBytes(frames[f]!, edits);
        check((t) => {
          const changes = batchOf(decodeMessage(frame));
          if (!changes) return undefined;
          gate.admit(t, changes);
          return changes;
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('hostile field values in a well-formed batch: refused with one line, or applied exactly; sync converges after', () => {
    fc.assert(
      fc.property(fc.array(changeEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        let frame: Uint8Array;
        try {
          frame = encodeMessage({ type: 'batch', version: 3, complete: true, changes: editChanges(honestChanges, edits) });
        } catch (err) {
          assert.ok(err instanceof DdcpError, String(err));
          return;
        }
        check((t) => {
          const changes = batchOf(decodeMessage(frame))!;
          gate.admit(t, changes);
          return changes;
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('random frames: refused with one line', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (frame) => {
        check((t) => {
          const changes = batchOf(decodeMessage(frame));
          if (changes) gate.admit(t, changes);
          return changes;
        });
      }),
      { numRuns: RUNS },
    );
  });
});
