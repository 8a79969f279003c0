/**
 * A browser replica's identity: an Ed25519 key kept in its own database (so it persists with it in
 * OPFS, and a copied database would carry it — as a repository's `.ddcp/identity` does), whose
 * address claims the database's site id in every session (sync/proof.ts). Signing is @noble's
 * (synchronous, as the session's proof is made synchronously).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { addressOf } from '../base/address.ts';
import type { SqliteConnection } from '../engine/index.ts';
import { makeSiteProof, type SiteProof } from '../sync/proof.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS ddcp_browser_identity (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)';

export interface BrowserIdentity {
  /** The replica's address (`12D3KooW…`). */
  address: string;
  /** Its signed claim of `siteId`. */
  proof(siteId: Uint8Array): SiteProof;
}

/** The identity stored in `db`, made on first use. */
export function loadIdentity(db: SqliteConnection): BrowserIdentity {
  db.exec(SCHEMA);
  let row = db.prepare('SELECT secret FROM ddcp_browser_identity WHERE id = 1').get() as { secret: Uint8Array } | undefined;
  if (!row) {
    db.prepare('INSERT INTO ddcp_browser_identity (id, secret) VALUES (1, ?)').run(ed25519.utils.randomSecretKey());
    row = db.prepare('SELECT secret FROM ddcp_browser_identity WHERE id = 1').get() as { secret: Uint8Array };
  }
  const secret = new Uint8Array(row.secret);
  const address = addressOf(ed25519.getPublicKey(secret));
  return { address, proof: (siteId) => makeSiteProof(siteId, address, (message) => ed25519.sign(message, secret)) };
}
