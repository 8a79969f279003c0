/**
 * Real cr-sqlite 0.16 (the `@vlcn.io/crsqlite-wasm` build) under Node, for interop tests and the
 * benchmark. The package loads its wasm with `fetch` and registers an IndexedDB VFS at start-up;
 * we hand it a `fetch` that reads the local file and an IndexedDB that never opens (we only use
 * `:memory:` databases, which never touch it).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CrDb {
  exec(sql: string, bind?: unknown[]): Promise<void>;
  execA<T = unknown[]>(sql: string, bind?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface CrSqlite {
  open(filename?: string): Promise<CrDb>;
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
