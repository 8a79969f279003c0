/**
 * Who a site id belongs to, and which merges came straight from a site's owner.
 *
 * A site id is only a random 16-byte name; anyone can claim one. The layers above authenticate the
 * database they talk to (its address: a signature, or a transport that proved the key) and bind the
 * site id it claims to that owner here — the first binding wins, so a second identity claiming a
 * bound site id (a forger, or a copied or restored database) is refused, never believed silently.
 *
 * A merge whose changes came straight from their origin's owner is remembered by version: the origin
 * holds those changes, so a feed may leave them out when that origin asks. A change stamped with a
 * site id that arrived any other way (relayed, applied from a file, forged) is not known to be held
 * by the site it names, so it is sent to that site too: it converges there or is refused there.
 */
import { DdcpError } from '../base/errors.ts';
import { toHex } from '../base/hex.ts';
import type { SqliteConnection, Statement } from './sqlite.ts';

export const OWNERS_SCHEMA = `
CREATE TABLE IF NOT EXISTS ddcp_site_owners (site_id BLOB PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ddcp_direct_versions (db_version INTEGER PRIMARY KEY, site INTEGER NOT NULL);`;

/** Another identity already owns the site id a database claims. Nothing was recorded. */
export class SiteClaimError extends DdcpError {
  override name = 'SiteClaimError';
  readonly siteId: Uint8Array;
  /** Who it belongs to (bound first) and who claimed it now. */
  readonly owner: string;
  readonly claimant: string;
  constructor(siteId: Uint8Array, owner: string, claimant: string) {
    super(
      `two identities claim site id ${toHex(siteId)}: it belongs to ${owner}, and ${claimant} claims it too; ` +
        `if ${claimant} is a copied or restored database, run 'ddcp init --new-site' in it`,
    );
    this.siteId = siteId;
    this.owner = owner;
    this.claimant = claimant;
  }
}

/** The site id → owner table (first binding wins). */
export class SiteOwners {
  private readonly get: Statement;
  private readonly insert: Statement;
  constructor(db: SqliteConnection) {
    this.get = db.prepare('SELECT owner FROM ddcp_site_owners WHERE site_id = ?');
    this.insert = db.prepare('INSERT INTO ddcp_site_owners (site_id, owner) VALUES (?, ?) ON CONFLICT DO NOTHING');
  }

  ownerOf(siteId: Uint8Array): string | undefined {
    return (this.get.get(siteId) as { owner: string } | undefined)?.owner;
  }

  /** Binds `siteId` to `owner` unless bound already; throws {@link SiteClaimError} if bound to another. */
  bind(siteId: Uint8Array, owner: string): void {
    this.insert.run(siteId, owner);
    const bound = this.ownerOf(siteId);
    if (bound !== owner) throw new SiteClaimError(siteId, bound ?? '?', owner);
  }
}

/**
 * The condition leaving out, for a site asking, the changes it holds: those of merges that came
 * straight from it (one parameter: the site's ordinal). Such a merge holds what that site sent —
 * its own changes, or what it relayed (a hub relays other users' changes; a pull merges what the
 * server held) — so sending it back would only echo it. Its changes that arrived any other way are
 * still sent to it.
 */
export const EXCEPT_DIRECT = exceptDirect('c.db_version');

/** {@link EXCEPT_DIRECT} for a change whose db_version is the SQL expression `dbVersion`. */
export function exceptDirect(dbVersion: string): string {
  return `NOT EXISTS (SELECT 1 FROM ddcp_direct_versions d WHERE d.db_version = ${dbVersion} AND d.site = ?)`;
}
