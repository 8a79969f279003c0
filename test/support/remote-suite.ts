/**
 * The behaviour every kind of remote shares, as a node:test suite run against a factory that makes
 * one repository reachable from another (a folder linked in-process, an in-memory channel, libp2p
 * on 127.0.0.1): initial sync both ways, live follow both ways on one session, push, resume after a
 * cut in each direction, and refusal by the receiver's write policy. Every kind goes through the
 * same sync client and server; only how the channel is made differs.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, it } from 'node:test';
import { Repository } from '../../src/index.ts';
import type { Dial } from '../../src/sync/protocol.ts';
import { cutAfter } from './channels.ts';
import { tempDir } from './cli.ts';
import { notesRepo } from './notes.ts';

/** `server` made reachable from `client`: dial sessions with `dial`, then `close`. */
export interface Reach {
  /** Where the client's remote 'origin' points (a folder, a multiaddr). */
  location: string;
  dial: Dial;
  close(): Promise<void>;
}

export interface RemoteKind {
  /** Makes `server` reachable from `client`. */
  reach(server: Repository, client: Repository): Promise<Reach>;
}

const NOTES = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)';

const repo = (dir: string, name: string): Promise<Repository> => notesRepo(dir, name, NOTES);

/**
 * Every row, in key order, as one string SQLite builds (quote() spells each value unambiguously:
 * NULL, 'text', X'blob'), so two replicas' tables are compared whole without making a JavaScript
 * object of each of their up to 60,000 rows.
 */
const rows = (r: Repository): string =>
  (r.db.prepare("SELECT group_concat(quote(id) || ',' || quote(body), char(10) ORDER BY id) AS t FROM notes").get() as { t: string | null }).t ?? '';
const count = (r: Repository): number => Number((r.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n);

/** Many versions, so a transfer has many complete batches to be cut between. */
function many(r: Repository, prefix: string, versions = 30, perVersion = 500): number {
  const ins = r.db.prepare('INSERT INTO notes VALUES (?, ?)');
  for (let v = 0; v < versions; v++) {
    r.db.exec('BEGIN');
    for (let i = 0; i < perVersion; i++) ins.run(`${prefix}${v}-${i}`, `body ${v} ${i}`);
    r.db.exec('COMMIT');
    r.engine.seal();
  }
  return versions * perVersion;
}

/** Waits (polling) until `check` holds; the test's timeout bounds it. */
async function until(what: string, check: () => boolean): Promise<void> {
  while (!check()) await sleep(10);
  void what;
}

/** Changes merged into `r` by its merges (each change counted once per merge it arrived in). */
const mergedReceived = (r: Repository): number =>
  r.engine.history({ limit: 100_000 }).reduce((n, e) => n + (e.kind === 'merge' ? e.received : 0), 0);

export function remoteSuite(kind: RemoteKind): void {
  const open: { close(): unknown }[] = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });

  /** A served repository and a client whose remote 'origin' reaches it. */
  async function pair(): Promise<{ server: Repository; client: Repository; reach: Reach }> {
    const dir = tempDir();
    const server = await repo(dir, 'server');
    const client = await repo(dir, 'client');
    server.allow(client.address); // reads everything, writes nothing until a test says otherwise
    const reach = await kind.reach(server, client);
    client.addRemote('origin', reach.location);
    open.push(server, client, reach);
    return { server, client, reach };
  }

  it('initial sync both ways: pull gets what the server has, push sends what the client has', async () => {
    const { server, client, reach } = await pair();
    server.db.exec("INSERT INTO notes VALUES ('s1', 'from server'), ('s2', 'too')");
    client.db.exec("INSERT INTO notes VALUES ('c1', 'from client')");
    const pulled = await client.pull('origin', { connect: reach.dial });
    assert.equal(pulled.merge.applied, 2);
    server.setPolicy(client.address, { read: 'all', write: 'all' });
    const pushed = await client.push('origin', { connect: reach.dial });
    assert.equal(pushed.changes, 1, 'only what the server lacks: never its own changes back');
    assert.deepEqual(pushed.refused, []);
    assert.equal(pushed.version, client.engine.dbVersion());
    assert.equal(rows(server), rows(client));
    // again: nothing new either way
    assert.equal((await client.push('origin', { connect: reach.dial })).changes, 0);
    assert.equal((await client.fetch('origin', { connect: reach.dial })).changes, 0);
  });

  it('live follow carries both directions on one session', async () => {
    const { server, client, reach } = await pair();
    server.setPolicy(client.address, { read: 'all', write: 'all' });
    const ac = new AbortController();
    const feed = client.feed();
    let sessions = 0;
    const following = client.follow('origin', reach.dial, { signal: ac.signal, push: feed, retryMs: 10, onEvent: (e) => void (e.type === 'connected' && sessions++) });
    try {
      server.db.exec("INSERT INTO notes VALUES ('live-s', 'server wrote')");
      await until('the server write to arrive', () => count(client) === 1);
      client.db.exec("INSERT INTO notes VALUES ('live-c', 'client wrote')");
      await until('the client write to arrive', () => count(server) === 2);
      assert.equal(rows(server), rows(client));
      assert.equal(sessions, 1, 'one session carried both');
    } finally {
      ac.abort();
      await following;
      feed.stop();
    }
  });

  it('a pull cut mid-transfer resumes after the last complete batch: nothing lost, nothing twice', async () => {
    const { server, client, reach } = await pair();
    const n = many(server, 's');
    // the first session is torn down after the welcome and two batches
    await assert.rejects(client.fetch('origin', { connect: async (signal) => cutAfter(await reach.dial(signal), 3) }));
    const partly = client.remoteStatus()[0]!.staged;
    assert.ok(partly > 0 && partly < n, `${partly} of ${n} staged before the cut`);
    const rest = await client.fetch('origin', { connect: reach.dial });
    assert.equal(partly + rest.changes, n, 'the second fetch sent only what was missing');
    assert.equal(client.merge('origin').received, n);
    assert.equal(rows(client), rows(server));
  });

  it('a push cut mid-transfer resumes after what the server merged: nothing lost, nothing twice', async () => {
    const { server, client, reach } = await pair();
    server.setPolicy(client.address, { read: 'all', write: 'all' });
    // more than the transports buffer, so the cut falls mid-transfer
    const n = many(client, 'c', 60, 1000);
    // the client's side is torn down after the welcome and two acknowledgements
    await assert.rejects(client.push('origin', { connect: async (signal) => cutAfter(await reach.dial(signal), 3) }));
    await until('the server to finish what it had', () => mergedReceived(server) > 0);
    const first = count(server);
    assert.ok(first > 0, 'complete batches landed before the cut');
    const rest = await client.push('origin', { connect: reach.dial });
    // (over a network the server may still merge frames it had buffered before it saw the cut)
    assert.ok(rest.changes <= n - first, `the second push sent only what the server lacked: ${rest.changes} of ${n}`);
    assert.equal(rows(server), rows(client));
    assert.equal(mergedReceived(server), n, 'every change was merged exactly once');
  });

  it('a pushed transaction larger than a batch lands whole, in one merge, with the small ones around it', async () => {
    const { server, client, reach } = await pair();
    server.setPolicy(client.address, { read: 'all', write: 'all' });
    client.db.exec("INSERT INTO notes VALUES ('before', 'small')");
    client.engine.seal();
    many(client, 'big', 1, 12_000); // one version of 12,000 changes: several batches, staged until the last
    client.db.exec("INSERT INTO notes VALUES ('after', 'small')");
    client.engine.seal();
    const pushed = await client.push('origin', { connect: reach.dial });
    assert.equal(pushed.changes, 12_002);
    assert.equal(rows(server), rows(client));
    const merges = server.engine.history({ limit: 100 }).filter((e) => e.kind === 'merge').map((e) => (e.kind === 'merge' ? e.received : 0));
    assert.equal(merges.reduce((a, b) => a + b, 0), 12_002, 'every change merged once');
    assert.ok(merges.some((n) => n >= 12_000), `the big transaction was split across merges: ${merges.reverse().join(', ')}`);
  });

  it('read policy: the client receives only the rows its predicate allows, live too', async () => {
    const { server, client, reach } = await pair();
    server.setPolicy(client.address, { read: [{ table: 'notes', where: "body LIKE 'public%'" }], write: 'none' });
    server.db.exec("INSERT INTO notes VALUES ('p1', 'public one'), ('s1', 'secret')");
    await client.pull('origin', { connect: reach.dial });
    assert.deepEqual(client.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => (x as { id: string }).id), ['p1']);
    const ac = new AbortController();
    const following = client.follow('origin', reach.dial, { signal: ac.signal, retryMs: 10 });
    try {
      server.db.exec("INSERT INTO notes VALUES ('s2', 'secret too'), ('p2', 'public two')");
      await until('the public row to arrive', () => count(client) === 2);
      assert.deepEqual(client.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => (x as { id: string }).id), ['p1', 'p2']);
    } finally {
      ac.abort();
      await following;
    }
  });

  it('refusal by policy: a transaction the receiver forbids is refused whole, the sender hears why, nothing of it lands', async () => {
    const { server, client, reach } = await pair();
    // the client may write only rows whose id starts with 'ok'
    server.setPolicy(client.address, { read: 'all', write: [{ table: 'notes', where: "id LIKE 'ok%'" }] });
    // three source transactions (sealed one by one: transactions sealed together share a version)
    for (const sql of ["INSERT INTO notes VALUES ('ok1', 'fine')", "BEGIN; INSERT INTO notes VALUES ('ok2', 'fine too'); INSERT INTO notes VALUES ('bad', 'not allowed'); COMMIT;", "INSERT INTO notes VALUES ('ok3', 'fine again')"]) {
      client.db.exec(sql);
      client.engine.seal();
    }
    const r = await client.push('origin', { connect: reach.dial });
    assert.equal(r.refused.length, 1, JSON.stringify(r.refused));
    assert.match(r.refused[0]!.message, /notes/);
    assert.match(r.refused[0]!.message, /id LIKE 'ok%'/);
    assert.deepEqual(server.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => (x as { id: string }).id), ['ok1', 'ok3']);
    // handled: the refused transaction is not sent again
    assert.equal((await client.push('origin', { connect: reach.dial })).changes, 0);
    // a peer that may write nothing is refused up front, and told how to be let in
    server.setPolicy(client.address, { read: 'all', write: 'none' });
    client.db.exec("INSERT INTO notes VALUES ('ok4', 'late')");
    await assert.rejects(client.push('origin', { connect: reach.dial }), /does not take our changes.*ddcp allow 12D3KooW\S+ --write/);
    assert.equal(count(server), 2);
  });

  it('a change that does not fit the receiver schema stops the session with its table and column named, lands nowhere, and a follower stops retrying', async () => {
    const { server, client, reach } = await pair();
    server.setPolicy(client.address, { read: 'all', write: 'all' });
    client.db.exec("INSERT INTO notes VALUES ('c1', 'fits')");
    await client.push('origin', { connect: reach.dial });
    // the client migrated (notes gained a column), the server has not
    client.engine.beginAlter('notes');
    client.db.exec('ALTER TABLE notes ADD COLUMN tag TEXT');
    client.engine.commitAlter('notes');
    client.db.exec("INSERT INTO notes VALUES ('c2', 'does not fit', 'x')");
    await assert.rejects(client.push('origin', { connect: reach.dial }), /notes\.tag, which this database lacks/);
    assert.deepEqual(server.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => (x as { id: string }).id), ['c1'], 'nothing of the misfit landed');
    // a follower doesn't retry what can't fit: it stops with the same error
    const ac = new AbortController();
    let sessions = 0;
    const feed = client.feed();
    try {
      const following = client.follow('origin', reach.dial, { signal: ac.signal, push: feed, retryMs: 1, maxRetryMs: 1, onEvent: (e) => void (e.type === 'connected' && sessions++) });
      let ended = false;
      const outcome = await Promise.race([
        following.then(
          () => 'ended without an error',
          (e: Error) => e,
        ),
        until('a second session', () => ended || sessions > 1).then(() => 'retried'),
      ]).finally(() => (ended = true));
      assert.ok(outcome instanceof Error && /notes\.tag, which this database lacks/.test(outcome.message), String(outcome));
      assert.equal(sessions, 1, 'not retried');
      assert.equal(count(server), 1);
      // the server goes on serving the client what fits
      server.db.exec("INSERT INTO notes VALUES ('s1', 'from server')");
      await client.pull('origin', { connect: reach.dial });
      assert.equal(count(client), 3);
    } finally {
      ac.abort();
      feed.stop();
    }
  });
}
