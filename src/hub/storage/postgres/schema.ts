/**
 * The hub's tables in PostgreSQL, in one schema of their own, and their migrations: a numbered list
 * applied at start, each once, in a transaction holding an advisory lock, so several hub processes
 * starting together migrate once and a half-applied migration never stays.
 *
 * All state lives here (no process keeps any of its own), so any hub process can serve any client:
 * - `databases`: one row per hosted database — owner, its site id, its db_version counter
 *   (`open_version`, locked by every merge so versions commit in order), its CRR tables;
 * - `cells`: the CRR state of every database, one row per cell (or row sentinel, cid `-1`) with its
 *   clock and current value (packed as cr-sqlite packs values, so every SQLite type survives);
 * - `tracked`: the version of each pusher a database holds; `pending`: incomplete pushed batches;
 * - `databases.identity`: the database's Ed25519 key (libp2p's encoding), proving its site id;
 * - `site_owners`: the address each pushing site id is bound to (first binding wins, as the engine's
 *   owners.ts); `direct_versions`: versions merged straight from their origin site (the feed leaves a
 *   site's own changes out for it only at those versions, as the engine does);
 * - `documents` (migration 3): each database's JSON documents as JSONB with a GIN index on
 *   `content`, kept by every merge (documents.ts);
 * - `conflicts` (migration 4): concurrent cells merges met, the newest 10 000 per database (conflicts.ts).
 */
import type { Sql } from 'postgres';

/** A schema name: also the prefix of the notification channel. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

export function checkSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new RangeError(`invalid PostgreSQL schema name ${JSON.stringify(schema)}: use 1-48 of a-z, 0-9 and '_', not starting with a digit`);
}

/** The migrations, in order; `MIGRATIONS[i]` brings the schema to version i + 1. `S` is the schema. */
export const MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.databases (
      id bigserial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      app text NOT NULL,
      owner text NOT NULL,
      site_id bytea NOT NULL,
      open_version bigint NOT NULL DEFAULT 1,
      tables jsonb NOT NULL DEFAULT '[]',
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ${s}.shares (
      db bigint NOT NULL REFERENCES ${s}.databases (id) ON DELETE CASCADE,
      "user" text NOT NULL,
      policy jsonb NOT NULL,
      PRIMARY KEY (db, "user")
    );
    CREATE TABLE ${s}.cells (
      db bigint NOT NULL,
      tbl text NOT NULL,
      pk bytea NOT NULL,
      cid text NOT NULL,
      val bytea,
      col_version bigint NOT NULL,
      db_version bigint NOT NULL,
      site bytea NOT NULL,
      seq integer NOT NULL,
      PRIMARY KEY (db, tbl, pk, cid)
    );
    CREATE INDEX cells_by_version ON ${s}.cells (db, db_version, seq);
    CREATE TABLE ${s}.tracked (
      db bigint NOT NULL,
      site_id bytea NOT NULL,
      version bigint NOT NULL,
      PRIMARY KEY (db, site_id)
    );
    CREATE TABLE ${s}.pending (
      db bigint NOT NULL,
      site_id bytea NOT NULL,
      n bigserial,
      changes bytea NOT NULL,
      PRIMARY KEY (db, site_id, n)
    );`,
  // Site ids bound to identities (sync protocol 3): each database's own key, the owner each pushing
  // site id is bound to (first binding wins), and the versions merged straight from their origin.
  (s) => `
    ALTER TABLE ${s}.databases ADD COLUMN identity bytea;
    CREATE TABLE ${s}.site_owners (
      db bigint NOT NULL REFERENCES ${s}.databases (id) ON DELETE CASCADE,
      site_id bytea NOT NULL,
      owner text NOT NULL,
      PRIMARY KEY (db, site_id)
    );
    CREATE TABLE ${s}.direct_versions (
      db bigint NOT NULL REFERENCES ${s}.databases (id) ON DELETE CASCADE,
      db_version bigint NOT NULL,
      site bytea NOT NULL,
      PRIMARY KEY (db, db_version)
    );`,
  // JSON documents materialized as JSONB (hub/storage/postgres/documents.ts), queryable by SQL.
  (s) => `
    CREATE TABLE ${s}.documents (
      db bigint NOT NULL REFERENCES ${s}.databases (id) ON DELETE CASCADE,
      collection text NOT NULL,
      id text NOT NULL,
      version bigint NOT NULL,
      revision text NOT NULL,
      content jsonb NOT NULL,
      PRIMARY KEY (db, collection, id)
    );
    CREATE INDEX documents_content ON ${s}.documents USING gin (content);`,
  // Conflicts merges met (conflicts.ts), as the engine's ddcp_conflicts, per database.
  (s) => `
    CREATE TABLE ${s}.conflicts (
      id bigserial PRIMARY KEY,
      db bigint NOT NULL REFERENCES ${s}.databases (id) ON DELETE CASCADE,
      at bigint NOT NULL,
      db_version bigint,
      source text,
      tbl text NOT NULL,
      pk bytea NOT NULL,
      cid text NOT NULL,
      local_val bytea,
      local_col_version bigint NOT NULL,
      local_site bytea NOT NULL,
      incoming_val bytea,
      incoming_col_version bigint NOT NULL,
      incoming_site bytea NOT NULL,
      winner text NOT NULL
    );
    CREATE INDEX conflicts_by_db ON ${s}.conflicts (db, id);`,
];

/** The schema version this code needs. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `schema` to {@link SCHEMA_VERSION}: creates it if missing and applies the migrations it
 * lacks, all in one transaction under an advisory lock. Returns the migrations applied. A schema
 * newer than this code is refused (an older hub must not write to it).
 */
export async function migrate(sql: Sql, schema: string): Promise<number[]> {
  checkSchemaName(schema);
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${`ddcp-hub:${schema}`}))`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${schema}.migrations (version integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`);
    const [row] = await tx.unsafe(`SELECT coalesce(max(version), 0)::int AS v FROM ${schema}.migrations`);
    const at = Number(row!.v);
    if (at > SCHEMA_VERSION) throw new Error(`hub schema ${schema} is at version ${at}, newer than this hub (${SCHEMA_VERSION}): upgrade the hub`);
    const applied: number[] = [];
    for (let v = at + 1; v <= SCHEMA_VERSION; v++) {
      await tx.unsafe(MIGRATIONS[v - 1]!(schema));
      await tx.unsafe(`INSERT INTO ${schema}.migrations (version) VALUES ($1)`, [v]);
      applied.push(v);
    }
    return applied;
  });
}
