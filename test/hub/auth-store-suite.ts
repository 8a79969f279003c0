/**
 * The conformance suite every {@link AuthStore} passes (the automerge-repo habit): each store's own
 * test is a few lines that say how to open two stores on one storage and how to clean up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthStore, CredentialRecord, Revocation } from '../../src/hub/auth/store.ts';

export interface AuthStoreFixture {
  /** Opens a store on the suite's storage (called twice: two stores, e.g. two hub processes, on one storage). */
  open(): Promise<AuthStore>;
  /** Removes the storage (after both stores are closed). */
  cleanup(): Promise<void>;
}

/** The next revocation `store` reports, or a rejection after `ms`. */
export function nextRevocation(store: AuthStore, ms = 10_000): Promise<Revocation> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no revocation within ${ms} ms`))), ms);
    const off = store.onRevoked((r) => {
      clearTimeout(timer);
      off();
      resolve(r);
    });
  });
}

const credential = (key: string, app: string, createdAt: number): CredentialRecord => ({ key, app, sealedSecret: Uint8Array.of(1, 2, 3, key.length), createdAt });

export function authStoreSuite(name: string, setup: () => Promise<AuthStoreFixture>): void {
  describe(`${name} auth store (conformance)`, () => {
    let fixture: AuthStoreFixture;
    let a: AuthStore;
    let b: AuthStore;
    before(async () => {
      fixture = await setup();
      a = await fixture.open();
      b = await fixture.open();
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await fixture?.cleanup();
    });

    it('keeps credentials, lists them oldest first, and reads them back from another store', async () => {
      await a.addCredential(credential('k-old', 'notes', 1000));
      await a.addCredential({ ...credential('k-idp', 'notes', 2000), idp: { issuer: 'https://id.example', jwksUrl: 'http://127.0.0.1:1/jwks' } });
      assert.deepEqual(await b.credential('k-old'), credential('k-old', 'notes', 1000));
      assert.deepEqual((await b.credential('k-idp'))?.idp, { issuer: 'https://id.example', jwksUrl: 'http://127.0.0.1:1/jwks' });
      assert.equal(await b.credential('nope'), undefined);
      assert.deepEqual((await b.credentials()).map((c) => c.key).filter((k) => k.startsWith('k-')), ['k-old', 'k-idp']);
      await assert.rejects(a.addCredential(credential('k-old', 'other', 3000))); // a key is unique
    });

    it('revokes a key once and tells the listeners of both stores', async () => {
      await a.addCredential(credential('k-rev', 'tasks', 5000));
      const here = nextRevocation(a);
      const there = nextRevocation(b);
      assert.deepEqual(await a.revokeCredential('k-rev', 6000), { app: 'tasks', key: 'k-rev' });
      assert.deepEqual(await here, { app: 'tasks', key: 'k-rev' });
      assert.deepEqual(await there, { app: 'tasks', key: 'k-rev' });
      assert.equal((await b.credential('k-rev'))?.revokedAt, 6000);
      assert.equal(await b.revokeCredential('k-rev', 7000), undefined, 'already revoked');
      assert.equal(await b.revokeCredential('unknown', 7000), undefined);
      assert.equal((await a.credential('k-rev'))?.revokedAt, 6000, 'the first revocation time stays');
    });

    it('accepts a nonce once until it expires, across stores', async () => {
      assert.equal(await a.addNonce('hmac', 'sig-1', 2000, 1000), true);
      assert.equal(await b.addNonce('hmac', 'sig-1', 2000, 1500), false, 'a replay on the other store');
      assert.equal(await a.addNonce('challenge', 'sig-1', 2000, 1500), true, 'scopes are apart');
      assert.equal(await b.addNonce('hmac', 'sig-1', 3000, 2000), true, 'expired: new again');
      const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).addNonce('hmac', 'race', 9000, 1000)));
      assert.equal(claims.filter(Boolean).length, 1, 'concurrent claims: exactly one wins');
    });

    it('takes a challenge nonce once, and never an expired one', async () => {
      await a.addNonce('challenge', 'n-1', 2000, 1000);
      await a.addNonce('challenge', 'n-2', 2000, 1000);
      assert.equal(await b.takeNonce('challenge', 'n-1', 1500), true);
      assert.equal(await a.takeNonce('challenge', 'n-1', 1500), false, 'used');
      assert.equal(await a.takeNonce('challenge', 'n-2', 2000), false, 'expired');
      assert.equal(await a.takeNonce('challenge', 'never', 1000), false);
    });

    it('enrolls a device to one app, moves it between that app\'s users, removes it with a revocation', async () => {
      assert.equal(await a.enrollDevice({ address: 'addr-1', app: 'notes', user: 'ann', createdAt: 1 }), true);
      assert.equal(await b.enrollDevice({ address: 'addr-1', app: 'notes', user: 'bob', createdAt: 2 }), true);
      assert.deepEqual(await a.device('addr-1'), { address: 'addr-1', app: 'notes', user: 'bob', createdAt: 2 });
      assert.equal(await b.enrollDevice({ address: 'addr-1', app: 'other', user: 'eve', createdAt: 3 }), false, 'another app');
      assert.equal((await a.device('addr-1'))?.app, 'notes');
      assert.equal(await a.removeDevice('addr-1', 'other'), false, 'not that app\'s');
      const there = nextRevocation(b);
      assert.equal(await a.removeDevice('addr-1', 'notes'), true);
      assert.deepEqual(await there, { app: 'notes', address: 'addr-1' });
      assert.equal(await b.device('addr-1'), undefined);
      assert.equal(await a.removeDevice('addr-1', 'notes'), false);
    });

    it("a change of an app's database access reaches the listeners of another store as a revocation with neither key nor address", async () => {
      const seen = nextRevocation(b);
      await a.accessChanged('shared-app', 9500);
      assert.deepEqual(await seen, { app: 'shared-app' });
    });

    it('stops telling a listener once it unsubscribed', async () => {
      await a.addCredential(credential('k-off', 'quiet', 8000));
      let told = 0;
      const off = b.onRevoked(() => told++);
      off();
      const seen = nextRevocation(b); // another listener proves the revocation arrived
      await a.revokeCredential('k-off', 9000);
      await seen;
      assert.equal(told, 0);
    });
  });
}
