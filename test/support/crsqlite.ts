/**
 * Real cr-sqlite 0.16 (the `@vlcn.io/crsqlite-wasm` build) under Node, for interop tests and the
 * benchmark. The package loads its wasm with `fetch` and registers an IndexedDB VFS at start-up;
 * we hand it a `fetch` that reads the local file and an IndexedDB that never opens (we only use
 * `:memory:` databases, which never touch it).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Change } from '../../src/engine/change.ts';
import { unpackValue } from '../../src/engine/pack.ts';
import type { SqlValue } from '../../src/engine/sqlite.ts';
import { textBytes } from '../../src/engine/text-bytes.ts';

export interface CrDb {
  exec(sql: string, bind?: unknown[]): Promise<void>;
  execA<T = unknown[]>(sql: string, bind?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface CrSqlite {
  open(filename?: string): Promise<CrDb>;
  /** wa-sqlite's API under the package's `DB` class (what {@link openCrDirect} calls). */
  readonly base: WaSqlite;
}

/** The part of wa-sqlite's API that {@link openCrDirect} uses (handles are numbers). */
interface WaSqlite {
  open_v2(filename: string, flags?: number, vfs?: string): Promise<number>;
  close(db: number): Promise<number>;
  str_new(db: number, sql: string): number;
  str_value(str: number): number;
  str_finish(str: number): void;
  prepare_v2(db: number, sql: number): Promise<{ stmt: number; sql: number } | null>;
  statements(db: number, sql: string): AsyncIterable<number>;
  bind(stmt: number, i: number, value: unknown): number;
  step(stmt: number): Promise<number>;
  column_count(stmt: number): number;
  row(stmt: number): unknown[];
  reset(stmt: number): Promise<number>;
  finalize(stmt: number): Promise<number>;
}

let loaded: Promise<CrSqlite> | undefined;

/** Loads cr-sqlite's wasm once per process. */
export function crsqlite(): Promise<CrSqlite> {
  loaded ??= (async () => {
    const wasmPath = fileURLToPath(import.meta.resolve('@vlcn.io/crsqlite-wasm/crsqlite.wasm'));
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: unknown, init?: unknown) => {
      if (String(input).endsWith('crsqlite.wasm')) {
        return new Response(await readFile(wasmPath), { headers: { 'content-type': 'application/wasm' } });
      }
      return realFetch(input as string, init as RequestInit);
    }) as typeof fetch;
    const g = globalThis as { indexedDB?: unknown };
    g.indexedDB ??= { open: () => ({ addEventListener() {} }) };
    const mod = (await import('@vlcn.io/crsqlite-wasm')) as unknown as { default: (locate?: (f: string) => string) => Promise<CrSqlite> };
    return mod.default(() => pathToFileURL(wasmPath).href);
  })();
  return loaded;
}

/** Opens an in-memory cr-sqlite database with `temp_store=memory` (there is no file system). */
export async function openCr(): Promise<CrDb> {
  const db = await (await crsqlite()).open(':memory:');
  await db.exec('PRAGMA temp_store = memory');
  return db;
}

const SQLITE_ROW = 100;
/** SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, as the package's `open` passes. */
const OPEN_FLAGS = 0x04 | 0x02 | 0x40;
/** Prepared statements kept per database (the rest are prepared and finalized per call). */
const KEPT_STATEMENTS = 32;

/**
 * Like {@link openCr}, for tests that run many small statements one after another: the same wasm
 * build, the same SQL, the same values in and out (wa-sqlite's `bind` and `row`, as the package's
 * `DB` uses), without the package's JS around them — a mutex and a result cache per call, and a new
 * prepare (SQL parse) of every statement every time. Here the last {@link KEPT_STATEMENTS}
 * single statements stay prepared and are reset and bound again. Calls must not overlap (the tests
 * await each one); the benchmark keeps {@link openCr}, cr-sqlite as its users run it.
 *
 * With `setup` (a script: tables and `crsql_as_crr`), the database starts as a copy of one that ran
 * it (see {@link copyOfImage}), which costs about half of running it again.
 */
export async function openCrDirect(setup?: string): Promise<CrDb> {
  const api = (await crsqlite()).base;
  const db = setup === undefined ? await api.open_v2(':memory:', OPEN_FLAGS) : await copyOfImage(api, setup);
  const kept = new Map<string, number>();

  const bindAll = (stmt: number, bind: unknown[] | undefined): void => {
    bind?.forEach((v, i) => api.bind(stmt, i + 1, typeof v === 'boolean' ? Number(v) : v));
  };
  const rowsOf = async (stmt: number): Promise<unknown[][]> => {
    const rows: unknown[][] = [];
    while ((await api.step(stmt)) === SQLITE_ROW) rows.push(api.row(stmt));
    return rows;
  };
  /** The rows of the first statement of `sql` that returns columns (as the package's execA). */
  const run = async (sql: string, bind?: unknown[], keep = true): Promise<unknown[][]> => {
    let stmt = kept.get(sql);
    if (stmt !== undefined) {
      kept.delete(sql); // most recently used last
      kept.set(sql, stmt);
    } else if (keep && !sql.includes(';')) {
      const str = api.str_new(db, sql);
      try {
        stmt = (await api.prepare_v2(db, api.str_value(str)))?.stmt;
      } finally {
        api.str_finish(str);
      }
      if (stmt === undefined) return [];
      if (kept.size === KEPT_STATEMENTS) {
        const [oldest, old] = kept.entries().next().value!;
        kept.delete(oldest);
        await api.finalize(old);
      }
      kept.set(sql, stmt);
    }
    if (stmt !== undefined) {
      try {
        bindAll(stmt, bind);
        return await rowsOf(stmt);
      } finally {
        await api.reset(stmt).catch(() => {}); // a failed step's error was thrown already
      }
    }
    // Several statements (a script), or one not to keep: prepared one by one, finalized after.
    let first: unknown[][] | undefined;
    for await (const s of api.statements(db, sql)) {
      bindAll(s, bind);
      const rows = await rowsOf(s);
      if (first === undefined && api.column_count(s) > 0) first = rows;
    }
    return first ?? [];
  };

  await run('PRAGMA temp_store = memory');
  return {
    exec: async (sql, bind) => {
      await run(sql, bind);
    },
    execA: async <T>(sql: string, bind?: unknown[]) => (await run(sql, bind)) as T[],
    async close() {
      for (const stmt of kept.values()) await api.finalize(stmt);
      kept.clear();
      await run('SELECT crsql_finalize()', undefined, false);
      await api.close(db);
    },
  };
}

/** Runs a script on a raw connection (no rows kept). */
async function script(api: WaSqlite, db: number, sql: string): Promise<void> {
  for await (const stmt of api.statements(db, sql)) while ((await api.step(stmt)) === SQLITE_ROW);
}

/** Per setup script: a connection holding the database that ran it, in SQLite's memdb VFS. */
const images = new Map<string, Promise<number>>();
/** Copies are made one at a time (they share the image's connection). */
let copying: Promise<unknown> = Promise.resolve();
let copies = 0;

/**
 * A new connection to a copy of the database `setup` made on a fresh cr-sqlite connection, with a
 * random site id of its own, as a fresh database gets: the image lives in SQLite's memdb VFS (in
 * memory, shared by name within the process), `VACUUM INTO` copies it to a new name (held by an
 * ATTACH of the image's connection until the copy's own connection opens it), and the copy's site id
 * — stored nowhere but in crsql_site_id (checked on the image) — is replaced before cr-sqlite loads
 * it on open. Building a replica anew (tables, crsql_as_crr and its triggers) costs about twice that.
 */
function copyOfImage(api: WaSqlite, setup: string): Promise<number> {
  let image = images.get(setup);
  if (!image) {
    image = (async () => {
      const db = await api.open_v2(`file:/crsqlite-image-${images.size}?vfs=memdb`, OPEN_FLAGS);
      await script(api, db, setup);
      const tables: unknown[][] = [];
      for await (const stmt of api.statements(db, "SELECT name FROM sqlite_master WHERE type = 'table'")) while ((await api.step(stmt)) === SQLITE_ROW) tables.push(api.row(stmt));
      // The site id is in crsql_site_id only: no other table holds a row yet but crsql_master's version.
      for (const [name] of tables) {
        if (name === 'crsql_site_id' || name === 'crsql_master') continue;
        for await (const stmt of api.statements(db, `SELECT count(*) FROM "${String(name).replaceAll('"', '""')}"`)) {
          await api.step(stmt);
          if (api.row(stmt)[0] !== 0) throw new Error(`the setup script of a cr-sqlite image left rows in ${String(name)}`);
        }
      }
      return db;
    })();
    images.set(setup, image);
  }
  const copy = copying.then(async () => {
    const from = await image;
    const name = `file:/crsqlite-copy-${++copies}?vfs=memdb`;
    await script(api, from, `ATTACH '${name}' AS copy; VACUUM main INTO '${name}'; UPDATE copy.crsql_site_id SET site_id = randomblob(length(site_id)) WHERE ordinal = 0`);
    try {
      return await api.open_v2(name, OPEN_FLAGS);
    } finally {
      await script(api, from, 'DETACH copy'); // the copy's own connection holds it now
    }
  });
  copying = copy.catch(() => {});
  return copy;
}

/**
 * cr-sqlite's changes (its `crsql_changes`) as ddcp's, values unpacked as ddcp unpacks them: those
 * after db_version `since`, without `exceptSite`'s if given.
 */
export async function crExport(db: CrDb, since = 0, exceptSite?: Uint8Array): Promise<Change[]> {
  const rows = await db.execA<unknown[]>(
    `SELECT "table", pk, cid, crsql_pack_columns(val), col_version, db_version, site_id, cl, seq FROM crsql_changes
     WHERE db_version > ?${exceptSite ? ' AND site_id IS NOT ?' : ''}`,
    exceptSite ? [since, exceptSite] : [since],
  );
  return rows.map((r) => ({
    table: r[0] as string,
    pk: new Uint8Array(r[1] as Uint8Array),
    cid: String(r[2]),
    val: unpackValue(new Uint8Array(r[3] as Uint8Array)),
    colVersion: Number(r[4]),
    dbVersion: Number(r[5]),
    siteId: new Uint8Array(r[6] as Uint8Array),
    cl: Number(r[7]),
    seq: Number(r[8]),
  }));
}

/**
 * A change's value as SQL for {@link crImport}: bound where the wasm binding keeps it exact, so the
 * INSERT is one of a few statements and stays prepared. A text goes in as its exact bytes (a bound
 * text stops at NUL; text that is not valid UTF-8 is carried escaped, text-bytes.ts), and an empty
 * blob or text binds as NULL, hence the coalesce; -0.0 and a REAL are spelled so no affinity applies.
 */
function crBound(v: SqlValue): [string, unknown[]] {
  switch (typeof v) {
    case 'bigint':
      return ['?', [v]];
    case 'string':
      return ["coalesce(CAST(? AS TEXT), '')", [textBytes(v)]];
    case 'number':
      return Object.is(v, -0) ? ['-0.0', []] : ['(CAST(? AS REAL) * 1.0)', [v]];
    default:
      return v === null ? ['NULL', []] : ["coalesce(?, X'')", [v]];
  }
}

/** Merges ddcp's changes into cr-sqlite (an INSERT into its `crsql_changes` each), in one transaction. */
export async function crImport(db: CrDb, changes: Iterable<Change>): Promise<void> {
  await db.exec('BEGIN');
  try {
    for (const c of changes) {
      const [val, binds] = crBound(c.val);
      await db.exec(`INSERT INTO crsql_changes ("table", pk, cid, val, col_version, db_version, site_id, cl, seq) VALUES (?, ?, ?, ${val}, ?, ?, ?, ?, ?)`, [
        c.table,
        c.pk,
        c.cid,
        ...binds,
        BigInt(c.colVersion),
        BigInt(c.dbVersion),
        c.siteId,
        BigInt(c.cl),
        BigInt(c.seq),
      ]);
    }
    await db.exec('COMMIT');
  } catch (err) {
    await db.exec('ROLLBACK');
    throw err;
  }
}
