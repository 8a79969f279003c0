/**
 * Issue 8, findings 1 and 3: a site id is bound to its database's identity. A database that claims
 * another's site id (a forger, a copied or restored file) is refused with a clear message instead of
 * silently stopping sync, and a change stamped with a database's site id that reaches it through
 * others is delivered to it like any other, so honest peers converge. Real repositories through the
 * real CLI; the forger's database is edited with plain SQLite, as an attacker would.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ddcp, ok, tempDir } from './support/cli.ts';
import { cliNoteIds, notesRepo as libRepo } from './support/notes.ts';
import { BundleReader } from '../src/bundle/reader.ts';
import { writeBundle } from '../src/bundle/writer.ts';
import { toHex } from '../src/base/hex.ts';
import { runSession } from '../src/sync/client.ts';
import { ProtocolError } from '../src/sync/messages.ts';
import { serveSession } from '../src/sync/server.ts';
import { framePair } from '../src/transport/memory.ts';

/** Runs SQL on a repository's database as any SQLite client would (ddcp's triggers track it). */
function sql<T>(dir: string, run: (db: DatabaseSync) => T, file = 'ddcp.db'): T {
  const db = new DatabaseSync(join(dir, file));
  try {
    return run(db);
  } finally {
    db.close();
  }
}

const siteOf = (dir: string, file?: string): string =>
  toHex(sql(dir, (db) => (db.prepare('SELECT site_id FROM ddcp_site_id WHERE ordinal = 0').get() as { site_id: Uint8Array }).site_id, file));

/** A repository with the CRR `notes`, made through the library (the CLI is what the tests exercise). */
async function notesRepo(root: string, name: string): Promise<string> {
  (await libRepo(root, name)).close();
  return join(root, name);
}

/** A new temporary folder with a notes repository for each of `names`: the folder, then their paths. */
async function repos<Names extends string[]>(...names: Names): Promise<[string, ...{ [K in keyof Names]: string }]> {
  const root = tempDir();
  const dirs: string[] = [];
  for (const name of names) dirs.push(await notesRepo(root, name));
  return [root, ...dirs] as [string, ...{ [K in keyof Names]: string }];
}

const note = (dir: string, id: string, file?: string): void => void sql(dir, (db) => db.prepare('INSERT INTO notes VALUES (?, ?)').run(id, `from ${id}`), file);

/** Makes the database of `dir` claim `siteId` as its own, at a huge db_version (what a forger does). */
function forgeSite(dir: string, siteId: string, version: bigint): void {
  sql(dir, (db) => {
    db.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(Buffer.from(siteId, 'hex'));
    db.prepare(`UPDATE ddcp_state SET value = ? WHERE key = 'open_version'`).run(version);
  });
}

/** Adds each of `names` (a sibling repository) as a remote of `dir`, under its own name. */
function addRemotes(dir: string, ...names: string[]): void {
  for (const name of names) ok(dir, ['remote', 'add', name, `../${name}`]);
}

/** Runs the CLI in `dir` expecting it to fail with a message matching `reason`. */
function refused(dir: string, args: string[], reason: RegExp, why?: string): ReturnType<typeof ddcp> {
  const r = ddcp(dir, args);
  assert.notEqual(r.code, 0, why);
  assert.match(r.stderr, reason);
  return r;
}

/** Repositories a, b and c, where c's database claims b's site id; b and c have a note each (b1, c1). */
async function forgedTrio(): Promise<{ root: string; a: string; b: string; c: string }> {
  const [root, a, b, c] = await repos('a', 'b', 'c');
  forgeSite(c, siteOf(b), 9007199254740000n);
  note(b, 'b1');
  note(c, 'c1');
  return { root, a, b, c };
}

/** After the forger was refused, sync of `a` with the real b (holding b1) goes on: b2 arrives. */
function syncWithBGoesOn(a: string, b: string): void {
  note(b, 'b2');
  ok(a, ['pull', 'b']);
  assert.deepEqual(cliNoteIds(a), ['b1', 'b2']);
}

describe('finding 1: a site id is bound to its identity', () => {
  it('a peer claiming another database’s site id is refused, and sync with the real one goes on', async () => {
    const { a, b } = await forgedTrio();
    addRemotes(a, 'b', 'c');
    ok(a, ['pull', 'b']);
    const forged = refused(a, ['pull', 'c'], /two identities claim site id/, 'a database claiming b’s site id is refused');
    assert.equal(forged.stderr.trim().split('\n').length, 1, forged.stderr);
    syncWithBGoesOn(a, b);
  });

  it('whoever claims a site id first, the second identity is refused loudly, never ignored', async () => {
    const { a } = await forgedTrio();
    addRemotes(a, 'b', 'c');
    ddcp(a, ['pull', 'c']);
    const r = ddcp(a, ['pull', 'b']);
    // Either b's changes arrive, or the pull fails saying why — never "up to date" with b1 missing.
    if (r.code === 0) assert.ok(cliNoteIds(a).includes('b1'), 'b’s note arrived');
    else assert.match(r.stderr, /two identities claim site id/);
    assert.ok(r.code !== 0 || cliNoteIds(a).includes('b1'));
  });

  it('a bundle claiming another database’s site id is refused', async () => {
    const { root, a, b, c } = await forgedTrio();
    addRemotes(a, 'b');
    ok(a, ['pull', 'b']);
    ok(c, ['bundle', 'create', join(root, 'c.bundle')]);
    refused(a, ['bundle', 'apply', join(root, 'c.bundle')], /two identities claim site id/);
    syncWithBGoesOn(a, b);
  });
});

describe('finding 3: a change stamped with a database’s site id reaches it', () => {
  it('C forges a change under B’s site id; A takes it from C; B, following A, gets it too', async () => {
    const [, a, b, c] = await repos('a', 'b', 'c');
    note(b, 'b1');
    const line = JSON.parse(ok(b, ['changes']).trim().split('\n')[0]!) as Record<string, unknown>;
    // The same shape as B's change, another row: what C can write under B's site id.
    const forged = { ...line, pk: '010b02' + Buffer.from('zz').toString('hex'), val: '010b05' + Buffer.from('fromC').toString('hex'), db_version: 1 };
    ok(c, ['apply'], JSON.stringify(forged) + '\n');
    addRemotes(a, 'c');
    addRemotes(b, 'a');
    ok(a, ['pull', 'c']);
    ok(b, ['pull', 'a']);
    addRemotes(a, 'b');
    ok(a, ['pull', 'b']);
    addRemotes(c, 'a');
    ok(c, ['pull', 'a']);
    assert.deepEqual(cliNoteIds(a), ['b1', 'zz']);
    assert.deepEqual(cliNoteIds(b), ['b1', 'zz'], 'the change stamped with B’s site id reached B');
    assert.deepEqual(cliNoteIds(c), ['b1', 'zz']);
  });

  it('a copied database is detected (two identities, one site id) and init --new-site fixes it', async () => {
    const [root, a, b] = await repos('a', 'b');
    note(b, 'b1');
    addRemotes(a, 'b');
    ok(a, ['pull', 'b']);
    // The copy: b's database file, adopted by a new repository (a new identity, b's site id).
    const copy = join(root, 'copy');
    mkdirSync(copy);
    copyFileSync(join(b, 'ddcp.db'), join(copy, 'notes.db'));
    ok(copy, ['init', '--db', 'notes.db']);
    note(copy, 'k1', 'notes.db');
    note(b, 'b2');
    addRemotes(a, 'copy');
    refused(a, ['pull', 'copy'], /two identities claim site id .*init --new-site/);
    const before = siteOf(copy, 'notes.db');
    ok(copy, ['init', '--new-site']);
    assert.notEqual(siteOf(copy, 'notes.db'), before);
    note(copy, 'k2', 'notes.db');
    ok(a, ['pull', 'copy']);
    ok(a, ['pull', 'b']);
    assert.deepEqual(cliNoteIds(a), ['b1', 'b2', 'k1', 'k2']);
    addRemotes(b, 'a');
    ok(b, ['pull', 'a']);
    assert.deepEqual(cliNoteIds(b), ['b1', 'b2', 'k1', 'k2'], 'the copy’s first note, made under b’s old site id, reached b too');
  });

  it('a whole repository copied with cp -a is refused when it meets its original', async () => {
    const [root, b] = await repos('b');
    note(b, 'b1');
    const copy = join(root, 'copy');
    cpSync(b, copy, { recursive: true });
    note(copy, 'k1');
    addRemotes(copy, 'b');
    refused(copy, ['pull', 'b'], /copy.*init --new-site/);
    ok(copy, ['init', '--new-site']);
    ok(copy, ['pull', 'b']);
    addRemotes(b, 'copy');
    ok(b, ['pull', 'copy']);
    assert.deepEqual(cliNoteIds(b), ['b1', 'k1']);
  });
});

describe('a restored database is detected', () => {
  it('a peer holding more of its changes than it has refuses it until init --new-site; then both get everything', async () => {
    const [root, a, b] = await repos('a', 'b');
    note(b, 'b1');
    sql(b, (db) => db.exec(`VACUUM INTO '${join(root, 'backup.db')}'`));
    ok(b, ['shell'], "INSERT INTO notes VALUES ('b2', 'two'); INSERT INTO notes VALUES ('b2x', 'versions');"); // a db_version each
    addRemotes(a, 'b');
    addRemotes(b, 'a');
    ok(a, ['pull', 'b']);
    copyFileSync(join(root, 'backup.db'), join(b, 'ddcp.db')); // b2 and b2x are lost here, a has them
    note(b, 'b3'); // one version where two were lost: a holds more of b than b has
    refused(a, ['pull', 'b'], /restored from a backup or copied; run 'ddcp init --new-site'/, 'not "up to date" with b3 missing');
    ok(b, ['init', '--new-site']);
    ok(a, ['pull', 'b']);
    ok(b, ['pull', 'a']);
    assert.deepEqual(cliNoteIds(a), ['b1', 'b2', 'b2x', 'b3']);
    assert.deepEqual(cliNoteIds(b), ['b1', 'b2', 'b2x', 'b3'], 'b got back what it had lost');
  });
});

describe('bundles carry the site proof and are signed whole', () => {
  it('changes swapped under a real source’s header are refused; an unsigned (older) bundle applies but records nothing', async () => {
    const root = tempDir();
    const a = await libRepo(root, 'a');
    const b = await libRepo(root, 'b');
    const c = await libRepo(root, 'c');
    try {
      b.db.exec("INSERT INTO notes VALUES ('b1', 'real')");
      c.db.exec("INSERT INTO notes VALUES ('c1', 'forged')");
      const real = join(root, 'b.ddcpb');
      b.createBundle(real);
      const h = BundleReader.open(real).header;
      assert.equal(h.siteProof?.length, 128, 'the header proves b’s site id');
      // c's changes under b's header (b's proof replayed, a huge version), signed by c or not at all.
      const forged = { ...h, version: 9007199254740000 };
      const theirs = [...c.engine.changesSince(0)];
      for (const sign of [(m: Uint8Array) => c.identity.sign(m), () => new Uint8Array(64)]) {
        const file = join(root, `forged-${sign.length}.ddcpb`);
        writeBundle(file, forged, theirs, { sign });
        assert.throws(() => a.applyBundle(file), { name: 'BundleError', message: /not signed by/ });
      }
      // A header whose proof is not b's signature is refused before anything is read.
      const badProof = join(root, 'bad-proof.ddcpb');
      writeBundle(badProof, { ...h, siteProof: toHex(c.siteProof().signature) }, theirs, { sign: (m) => c.identity.sign(m) });
      assert.throws(() => a.applyBundle(badProof), { name: 'BundleError', message: /proof of site id .* does not verify/ });
      assert.equal(a.engine.trackedVersion(b.engine.siteId), 0);
      assert.equal((a.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 0);
      // Unsigned, as older ddcp wrote them: the changes apply, but nothing is recorded of the source.
      const { siteProof: _, ...unsigned } = forged;
      const old = join(root, 'old.ddcpb');
      writeBundle(old, unsigned, theirs);
      const r = a.applyBundle(old);
      assert.equal(r.signed, false);
      assert.equal(r.tracked, false);
      assert.equal(a.engine.trackedVersion(b.engine.siteId), 0);
      // b's own signed bundle applies and is tracked.
      const ok = a.applyBundle(real);
      assert.equal(ok.signed, true);
      assert.equal(ok.tracked, true);
      assert.equal(a.engine.trackedVersion(b.engine.siteId), b.engine.dbVersion());
    } finally {
      for (const r of [a, b, c]) r.close();
    }
  });
});

describe('the handshake proves site ids', () => {
  it('a replayed or forged proof is refused, and nothing is recorded of the site it names', async () => {
    const root = tempDir();
    const alice = await libRepo(root, 'alice');
    const bob = await libRepo(root, 'bob');
    const mallory = await libRepo(root, 'mallory');
    const feed = alice.feed();
    const feeds = [mallory.feed(), bob.feed()] as const;
    const stop = new AbortController();
    try {
      // The transport authenticated mallory; mallory replays bob's proof (bob's site id, address, signature).
      const serveFor = (peerAddress: string) => {
        const [server, client] = framePair();
        void serveSession(server, feed, feed, { peer: peerAddress, peerAddress, proof: alice.siteProof(), signal: stop.signal });
        return client;
      };
      const asBob = { siteId: bob.engine.siteId, proof: bob.siteProof(), schema: bob.engine.crrs() };
      await assert.rejects(runSession(serveFor(mallory.address), { ...asBob, push: feeds[0] }), (e: ProtocolError) => e.code === 'identity' && e.message.includes(`it is ${mallory.address} but claims to be ${bob.address}`));
      const flipped = { ...bob.siteProof(), signature: bob.siteProof().signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
      await assert.rejects(runSession(serveFor(bob.address), { ...asBob, proof: flipped, push: feeds[1] }), (e: ProtocolError) => e.code === 'identity' && /does not verify/.test(e.message));
      assert.equal(alice.engine.siteOwner(bob.engine.siteId), undefined);
      assert.equal(alice.engine.trackedVersion(bob.engine.siteId), 0);
      // The client checks the server the same way: alice answering where mallory was dialled is refused.
      await assert.rejects(runSession(serveFor(bob.address), { ...asBob, peerAddress: mallory.address, pull: { from: () => ({ since: 0, held: [] }), welcome: () => {}, batch: () => {}, caughtUp: () => {} } }), (e: ProtocolError) => e.code === 'identity' && e.message.includes(`it is ${mallory.address} but claims to be ${alice.address}`));
      // Bob himself is let in and bound.
      await runSession(serveFor(bob.address), { ...asBob, pull: { from: () => ({ since: 0, held: [] }), welcome: () => {}, batch: () => {}, caughtUp: () => {} } });
      assert.equal(alice.engine.siteOwner(bob.engine.siteId), bob.address);
    } finally {
      stop.abort();
      for (const f of [feed, ...feeds]) f.stop();
      for (const r of [alice, bob, mallory]) r.close();
    }
  });
});
