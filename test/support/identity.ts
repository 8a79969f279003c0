/**
 * Identities for tests and benches that build hellos and session options by hand: a real Ed25519
 * key (repo/identity.ts) and its real proof of a site id (sync/proof.ts).
 */
import { identityFromKeyFile, newKeyFile, type Identity } from '../../src/repo/identity.ts';
import { makeSiteProof, type SiteProof } from '../../src/sync/proof.ts';

/** A new identity, kept in memory. */
export function testIdentity(): Identity {
  return identityFromKeyFile(newKeyFile(), 'a test identity');
}

/** `identity`'s (by default a new one's) proof that it owns `siteId`. */
export function proofOf(siteId: Uint8Array, identity: Identity = testIdentity()): SiteProof {
  return makeSiteProof(siteId, identity.address, (m) => identity.sign(m));
}
