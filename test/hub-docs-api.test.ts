/**
 * The hub's JSON document API (`ws://HOST:PORT/v1/docs/<db>`) driven by a raw WebSocket client (the
 * `ws` package; nothing of ddcp on the client side) against a real hub on 127.0.0.1: create, patch,
 * merge patch, history, list, delete; subscriptions receiving changes made by a library client
 * syncing through the hub (and the library client receiving the JSON client's); invalid patches and
 * other users' databases refused; garbage, binary and oversized messages. In SQLite mode, and in
 * PostgreSQL mode with two hub processes on one schema (a JSON client on each).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Documents } from '../src/docs/index.ts';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { handleAuthRequest } from '../src/hub/auth/http.ts';
import { openHubAuth } from '../src/hub/auth/open.ts';
import type { HubServer } from '../src/hub/server.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Repository } from '../src/index.ts';
import { ddcpAsync, tempDir } from './support/cli.ts';
import { serveHub, stopHub } from './support/hub-serve.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { notesRepo } from './support/notes.ts';
import { dropSchema, testClient } from './support/postgres.ts';
import { following, until } from './hub/following.ts';

type Message = Record<string, unknown> & { id?: unknown; ok?: boolean; event?: string; error?: { code: string; message: string } };

/** A raw JSON client: requests by id, every message it got, and how the connection closed. */
class JsonClient {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  private next = 0;
  readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as Message));
    ws.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
  }

  /** Connects and waits for `ready` (rejects with the HTTP status of a refused upgrade). */
  static async connect(url: string, token: string | undefined, options: { ready?: boolean } = {}): Promise<JsonClient> {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const client = new JsonClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body: JSON.parse(body) as unknown })));
      });
      ws.once('error', reject);
    });
    if (options.ready !== false) await client.waitFor((m) => m.event === 'ready');
    return client;
  }

  async waitFor(pred: (m: Message) => boolean): Promise<Message> {
    await until(() => this.messages.some(pred) || this.closed !== undefined);
    const m = this.messages.find(pred);
    if (!m) throw new Error(`connection closed (${this.closed?.code} ${this.closed?.reason}) before the awaited message; got ${JSON.stringify(this.messages)}`);
    return m;
  }

  /** Sends a request and resolves with its reply. */
  async request(body: Record<string, unknown>): Promise<Message> {
    const id = `r${++this.next}`;
    this.ws.send(JSON.stringify({ id, ...body }));
    return this.waitFor((m) => m.id === id);
  }

  async ok(body: Record<string, unknown>): Promise<Message> {
    const r = await this.request(body);
    assert.equal(r.ok, true, `${JSON.stringify(body)} → ${JSON.stringify(r)}`);
    return r;
  }

  close(): void {
    this.ws.close();
  }
}

const content = (r: Message): unknown => (r.document as { content: unknown }).content;
const version = (r: Message): number => (r.document as { version: number }).version;

/** A library client of `user` (documents opened) whose 'origin' is database `db` on the hub. */
async function libraryClient(dir: string, hub: HubServer, auth: TokenAuthenticator, user: string, db: string): Promise<{ repo: Repository; docs: Documents }> {
  const repo = await notesRepo(dir, `${user}-${randomBytes(3).toString('hex')}`);
  const docs = new Documents(repo.engine, { author: user });
  repo.addRemote('origin', `${hub.url}/${db}`);
  repo.hubTokens.set(`${hub.url}/${db}`, auth.issue(`test-app:${user}`, user));
  return { repo, docs };
}

describe('hub JSON document API (SQLite store), raw WebSocket client', () => {
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  let hub: HubServer;
  const repos: Repository[] = [];
  const clients: JsonClient[] = [];
  const alice = auth.issue('test-app:alice', 'alice');
  const bob = auth.issue('test-app:bob', 'bob');

  before(async () => {
    hub = await startHub(`${dir}/hub`, auth, { docs: { maxMessageBytes: 64 * 1024 } });
  });
  after(async () => {
    for (const c of clients) c.close();
    await hub.stop();
    for (const r of repos) r.close();
  });

  const connect = async (db: string, token: string | undefined, options: { ready?: boolean } = {}): Promise<JsonClient> => {
    const c = await JsonClient.connect(`${hub.url}/v1/docs/${db}`, token, options);
    clients.push(c);
    return c;
  };

  it('creates, reads, patches (RFC 6902 and 7396), lists, shows history and deletes documents', async () => {
    const c = await connect('tasks', alice);
    const ready = c.messages.find((m) => m.event === 'ready')!;
    assert.deepEqual(ready, { event: 'ready', database: 'tasks', user: 'alice', access: { read: 'all', write: 'all' } });

    const created = await c.ok({ type: 'create_document', collection: 'tasks', doc: 't1', content: { title: 'Write docs', status: 'open', tags: ['a'] } });
    assert.deepEqual(created.document, { ...(created.document as object), collection: 'tasks', id: 't1', version: 1, content: { title: 'Write docs', status: 'open', tags: ['a'] } });

    const patched = await c.ok({
      type: 'update_document', collection: 'tasks', doc: 't1',
      patch: [{ op: 'test', path: '/status', value: 'open' }, { op: 'replace', path: '/status', value: 'done' }, { op: 'add', path: '/tags/-', value: 'b' }],
    });
    assert.deepEqual(content(patched), { title: 'Write docs', status: 'done', tags: ['a', 'b'] });
    assert.equal(version(patched), 2);

    const merged = await c.ok({ type: 'update_document', collection: 'tasks', doc: 't1', merge_patch: { meta: { prio: 2 }, title: null } });
    assert.deepEqual(content(merged), { status: 'done', tags: ['a', 'b'], meta: { prio: 2 } });

    const other = await c.ok({ type: 'create_document', collection: 'tasks', content: { title: 'Second', status: 'open' } });
    const otherId = (other.document as { id: string }).id;
    assert.match(otherId, /^[0-9a-f-]{36}$/);

    const listed = await c.ok({ type: 'list_documents', collection: 'tasks', where: { '/status': 'open' } });
    assert.deepEqual((listed.documents as { id: string }[]).map((d) => d.id), [otherId]);

    const asFirst = await c.ok({ type: 'get_document', collection: 'tasks', doc: 't1', version: 1 });
    assert.deepEqual(content(asFirst), { title: 'Write docs', status: 'open', tags: ['a'] });

    const history = await c.ok({ type: 'history', collection: 'tasks', doc: 't1' });
    const entries = history.history as { op: string; author: string; forward: unknown[]; reverse: unknown[]; seq: number }[];
    assert.deepEqual(entries.map((e) => e.op), ['create', 'update', 'update']);
    assert.ok(entries.every((e) => e.author === 'alice' && Array.isArray(e.forward) && Array.isArray(e.reverse)));

    const undone = await c.ok({ type: 'undo', collection: 'tasks', doc: 't1' });
    assert.deepEqual(content(undone), { title: 'Write docs', status: 'done', tags: ['a', 'b'] });

    await c.ok({ type: 'delete_document', collection: 'tasks', doc: otherId });
    const gone = await c.request({ type: 'get_document', collection: 'tasks', doc: otherId });
    assert.equal(gone.ok, false);
    assert.equal(gone.error!.code, 'not-found');

    // What the JSON API wrote is in the hosted database: a library client of alice pulls it.
    const lib = await libraryClient(dir, hub, auth, 'alice', 'tasks');
    repos.push(lib.repo);
    await lib.repo.pull('origin');
    lib.docs.refresh();
    assert.deepEqual(lib.docs.get('tasks', 't1')!.content, { title: 'Write docs', status: 'done', tags: ['a', 'b'] });
    assert.equal(lib.docs.get('tasks', otherId), undefined);
    assert.deepEqual(lib.docs.history('tasks', 't1').map((e) => e.author), ['alice', 'alice', 'alice', 'alice']);
  });

  it("a connection's writes go on without waiting for each merge: pushed together, answered in order, all durable; its connection counted in /metrics", async () => {
    const c = await connect('piped', alice);
    const open = async (): Promise<number> => Number(/^ddcp_hub_docs_connections (\d+)/m.exec(await (await fetch(`${hub.url.replace('ws:', 'http:')}/metrics`)).text())?.[1]);
    const counted = await open();
    assert.ok(counted >= 1, 'JSON API connections are in /metrics');
    await c.ok({ type: 'create_document', collection: 'tasks', doc: 'p', content: { n: -1 } });
    const db = (await hub.store.open('piped'))!;
    const before = await db.feed.version();
    const N = 20;
    for (let i = 0; i < N; i++) c.ws.send(JSON.stringify({ id: `w${i}`, type: 'update_document', collection: 'tasks', doc: 'p', merge_patch: { n: i } }));
    await until(() => c.messages.filter((m) => typeof m.id === 'string' && m.id.startsWith('w')).length === N);
    const replies = c.messages.filter((m) => typeof m.id === 'string' && m.id.startsWith('w'));
    assert.deepEqual(replies.map((m) => m.id), Array.from({ length: N }, (_, i) => `w${i}`), 'replies in the order of the requests');
    assert.ok(replies.every((m) => m.ok === true), JSON.stringify(replies.find((m) => m.ok !== true)));
    assert.deepEqual(content(replies.at(-1)!), { n: N - 1 });
    // Each reply came once the database merged its write; one by one they would be N merges.
    const merges = (await db.feed.version()) - before;
    assert.ok(merges >= 1 && merges < N, `${N} writes merged in ${merges} versions`);
    c.close();
    await until(() => c.closed !== undefined);
    for (let i = 0; i < 100 && (await open()) !== counted - 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await open(), counted - 1, 'a closed connection is no longer counted');
  });

  it('refuses an invalid patch or a failed test with an error reply, changing nothing', async () => {
    const c = await connect('patches', alice);
    await c.ok({ type: 'create_document', collection: 'notes', doc: 'n1', content: { body: 'hello', n: 1 } });
    const failedTest = await c.request({ type: 'update_document', collection: 'notes', doc: 'n1', patch: [{ op: 'replace', path: '/n', value: 2 }, { op: 'test', path: '/body', value: 'bye' }] });
    assert.equal(failedTest.ok, false);
    assert.equal(failedTest.error!.code, 'invalid-patch');
    assert.match(failedTest.error!.message, /operation 1/);
    const badPath = await c.request({ type: 'update_document', collection: 'notes', doc: 'n1', patch: [{ op: 'remove', path: '/nope/deeper' }] });
    assert.equal(badPath.error!.code, 'invalid-patch');
    const notAPatch = await c.request({ type: 'update_document', collection: 'notes', doc: 'n1', patch: { op: 'add' } });
    assert.equal(notAPatch.error!.code, 'invalid-patch');
    const notAnObject = await c.request({ type: 'update_document', collection: 'notes', doc: 'n1', patch: [{ op: 'replace', path: '', value: [1] }] });
    assert.equal(notAnObject.error!.code, 'invalid-document');
    const missing = await c.request({ type: 'update_document', collection: 'notes', doc: 'nope', patch: [] });
    assert.equal(missing.error!.code, 'not-found');
    const exists = await c.request({ type: 'create_document', collection: 'notes', doc: 'n1', content: {} });
    assert.equal(exists.error!.code, 'exists');
    const bad = await c.request({ type: 'frobnicate' });
    assert.equal(bad.error!.code, 'bad-request');
    const both = await c.request({ type: 'update_document', collection: 'notes', doc: 'n1', patch: [], merge_patch: {} });
    assert.equal(both.error!.code, 'bad-request');
    const now = await c.ok({ type: 'get_document', collection: 'notes', doc: 'n1' });
    assert.deepEqual(content(now), { body: 'hello', n: 1 });
    assert.equal(version(now), 1);
    const history = await c.ok({ type: 'history', collection: 'notes', doc: 'n1' });
    assert.equal((history.history as unknown[]).length, 1);
    assert.equal(c.closed, undefined, 'bad requests do not close the connection');
  });

  it("pushes events for changes from any source: a library client syncing through the hub, and another user's JSON client", async () => {
    const c = await connect('shared', alice);
    await c.ok({ type: 'create_document', collection: 'tasks', doc: 'x', content: { title: 'X', status: 'open' } });
    const sub = await c.ok({ type: 'subscribe', collection: 'tasks' });
    const docSub = await c.ok({ type: 'subscribe', collection: 'tasks', doc: 'x' });
    const lib = await libraryClient(dir, hub, auth, 'alice', 'shared');
    repos.push(lib.repo);
    await following(lib.repo, async (events) => {
      await until(() => events.some((e) => e.type === 'caught-up'));
      await until(() => lib.docs.get('tasks', 'x') !== undefined || (lib.docs.refresh(), false));
      lib.docs.update('tasks', 'x', [{ op: 'replace', path: '/status', value: 'done' }]);
      const ev = await c.waitFor((m) => m.event === 'updated' && m.subscription === sub.subscription);
      assert.deepEqual(ev, { event: 'updated', subscription: sub.subscription, collection: 'tasks', doc: 'x', patch: [{ op: 'replace', path: '/status', value: 'done' }], change: ev.change, site: ev.site });
      await c.waitFor((m) => m.event === 'updated' && m.subscription === docSub.subscription);
      const now = await c.ok({ type: 'get_document', collection: 'tasks', doc: 'x' });
      assert.deepEqual(content(now), { title: 'X', status: 'done' });

      // and the other way: the JSON client's edit reaches the library client live
      await c.ok({ type: 'update_document', collection: 'tasks', doc: 'x', patch: [{ op: 'add', path: '/prio', value: 3 }] });
      await until(() => (lib.docs.refresh(), lib.docs.get('tasks', 'x')?.content.prio === 3));
    });

    // Bob, whom alice shares the database with, edits through his own JSON connection (his own replica).
    const http = hub.url.replace(/^ws/, 'http');
    const res = await fetch(`${http}/v1/databases/shared/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: JSON.stringify({ read: 'all', write: 'all' }) });
    assert.equal(res.status, 200);
    const b = await connect('shared', bob);
    const seen = await b.ok({ type: 'get_document', collection: 'tasks', doc: 'x' });
    assert.deepEqual(content(seen), { title: 'X', status: 'done', prio: 3 });
    await b.ok({ type: 'create_document', collection: 'tasks', doc: 'y', content: { title: 'from bob' } });
    const created = await c.waitFor((m) => m.event === 'created' && m.doc === 'y');
    assert.deepEqual(created.patch, [{ op: 'add', path: '', value: { title: 'from bob' } }]);
    const hist = await c.ok({ type: 'history', collection: 'tasks', doc: 'y' });
    assert.equal((hist.history as { author: string }[])[0]!.author, 'bob');

    await c.ok({ type: 'unsubscribe', subscription: sub.subscription });
    await c.ok({ type: 'unsubscribe', subscription: docSub.subscription });
    const before = c.messages.length;
    await b.ok({ type: 'update_document', collection: 'tasks', doc: 'y', patch: [{ op: 'add', path: '/n', value: 1 }] });
    const s2 = await c.ok({ type: 'subscribe', collection: 'tasks', doc: 'y' });
    await b.ok({ type: 'update_document', collection: 'tasks', doc: 'y', patch: [{ op: 'add', path: '/n', value: 2 }] });
    await c.waitFor((m) => m.event === 'updated' && m.subscription === s2.subscription);
    assert.ok(!c.messages.slice(before).some((m) => m.subscription === sub.subscription), 'no events after unsubscribe');
  });

  it('pushes a conflict event when a concurrent edit from a library client wins a field', async () => {
    const c = await connect('conflicts', alice);
    await c.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { title: 'x', other: 1 } });
    const sub = await c.ok({ type: 'subscribe', collection: 'c', doc: 'd' });
    const lib = await libraryClient(dir, hub, auth, 'alice', 'conflicts');
    repos.push(lib.repo);
    await lib.repo.pull('origin');
    lib.docs.refresh();
    // both edit /title without seeing each other; the library's value is greater, so it wins everywhere
    lib.docs.update('c', 'd', [{ op: 'replace', path: '/title', value: 'zzz from the library' }]);
    await c.ok({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/title', value: 'aaa from json' }] });
    await lib.repo.push('origin');
    const ev = await c.waitFor((m) => m.event === 'conflict' && m.subscription === sub.subscription);
    assert.deepEqual(ev, { event: 'conflict', subscription: sub.subscription, collection: 'c', doc: 'd', path: '/title', lost: 'aaa from json', kept: 'zzz from the library' });
    assert.deepEqual(content(await c.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { title: 'zzz from the library', other: 1 });
  });

  it('keeps serving when library clients grow the database with tables of their own', async () => {
    const c = await connect('mixed', alice);
    await c.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
    const sub = await c.ok({ type: 'subscribe', collection: 'c' });
    // a library client with an app table (notes) pushes a row of it and a document edit
    const lib = await libraryClient(dir, hub, auth, 'alice', 'mixed');
    repos.push(lib.repo);
    await lib.repo.pull('origin');
    lib.docs.refresh();
    lib.repo.db.exec("INSERT INTO notes VALUES ('n1', 'an app row')");
    lib.docs.update('c', 'd', [{ op: 'replace', path: '/v', value: 2 }]);
    await lib.repo.push('origin');
    const ev = await c.waitFor((m) => m.event === 'updated' && m.subscription === sub.subscription);
    assert.deepEqual(ev.patch, [{ op: 'replace', path: '/v', value: 2 }]);
    await c.ok({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/v', value: 3 }] });
    await lib.repo.pull('origin');
    lib.docs.refresh();
    assert.deepEqual(lib.docs.get('c', 'd')!.content, { v: 3 });
  });

  it("refuses another user's database without saying more, and a missing or wrong token", async () => {
    const a = await connect('private', alice);
    await a.ok({ type: 'create_document', collection: 'c', doc: 'secret', content: { s: 1 } });
    await assert.rejects(connect('private', bob), (err: Error & { status: number; body: { code: string; message: string } }) => {
      assert.equal(err.status, 403);
      assert.deepEqual(err.body, { code: 'forbidden', message: 'database private is not yours and not shared with you' });
      return true;
    });
    await assert.rejects(connect('private', undefined), (err: Error & { status: number }) => err.status === 401);
    await assert.rejects(connect('private', 'not-a-token'), (err: Error & { status: number }) => err.status === 401);
    await assert.rejects(connect('Bad%20Name', alice), (err: Error & { status: number }) => err.status === 400);
    // another app's user with the same user name gets nothing either
    const mallory = auth.issue('other-app:alice', 'alice', 'other-app');
    await assert.rejects(connect('private', mallory), (err: Error & { status: number }) => err.status === 403);
  });

  it('lets a read-only share read but not write', async () => {
    const a = await connect('readonly', alice);
    await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
    const http = hub.url.replace(/^ws/, 'http');
    const res = await fetch(`${http}/v1/databases/readonly/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: JSON.stringify({ read: 'all', write: 'none' }) });
    assert.equal(res.status, 200);
    const b = await connect('readonly', bob);
    assert.deepEqual(content(await b.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { v: 1 });
    const w = await b.request({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/v', value: 2 }] });
    assert.equal(w.error!.code, 'forbidden');
    assert.deepEqual(content(await a.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { v: 1 });
  });

  it("a user who writes only some tables cannot add the document tables to the owner's database by opening the API", async () => {
    // alice's database holds notes only (a library client without documents)
    const owner = await notesRepo(dir, `alice-plain-${randomBytes(3).toString('hex')}`);
    repos.push(owner);
    owner.addRemote('origin', `${hub.url}/plain`);
    owner.hubTokens.set(`${hub.url}/plain`, alice);
    owner.db.exec("INSERT INTO notes VALUES ('n1', 'x')");
    await owner.push('origin');
    const http = hub.url.replace(/^ws/, 'http');
    const res = await fetch(`${http}/v1/databases/plain/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: JSON.stringify({ read: 'all', write: [{ table: 'notes' }] }) });
    assert.equal(res.status, 200);
    const b = await connect('plain', bob, { ready: false });
    const failed = await b.waitFor((m) => m.ok === false || m.event === 'ready');
    assert.equal(failed.error?.code, 'unavailable', JSON.stringify(failed));
    assert.match(failed.error!.message, /database plain: table ddcpdoc_\w+ is not in its schema \(only its owner, or a user who may write everything, adds tables and columns\)/);
    const db = (await hub.store.open('plain'))!;
    try {
      assert.deepEqual((await db.info()).tables.map((t) => t.name), ['notes'], 'no table of the document API was added');
    } finally {
      db.release?.();
    }
  });

  it("refuses a change the user's write policy does not allow, changing nothing, and rebuilds the replica", async () => {
    const a = await connect('partial', alice);
    await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
    const http = hub.url.replace(/^ws/, 'http');
    // bob may write document rows but not their fields or history: every document change is refused at the gate
    const res = await fetch(`${http}/v1/databases/partial/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: JSON.stringify({ read: 'all', write: [{ table: 'ddcpdoc_docs' }] }) });
    assert.equal(res.status, 200);
    const b = await connect('partial', bob);
    const w = await b.request({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/v', value: 2 }] });
    assert.equal(w.ok, false);
    assert.equal(w.error!.code, 'refused');
    assert.match(w.error!.message, /refused/);
    await until(() => b.closed !== undefined);
    assert.equal(b.closed!.code, 1012);
    assert.deepEqual(content(await a.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { v: 1 });
    const again = await connect('partial', bob);
    const seen = await again.ok({ type: 'get_document', collection: 'c', doc: 'd' });
    assert.deepEqual(content(seen), { v: 1 });
    assert.equal(version(seen), 1);
  });

  it("a share removed or its policy changed ends the user's open connection (4403); nothing more is read or written under the old policy", async () => {
    const a = await connect('unshared', alice);
    await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
    const http = hub.url.replace(/^ws/, 'http');
    const share = (method: string, policy?: unknown) => fetch(`${http}/v1/databases/unshared/shares/bob`, { method, headers: { authorization: `Bearer ${alice}` }, ...(policy !== undefined && { body: JSON.stringify(policy) }) });
    assert.equal((await share('PUT', { read: 'all', write: 'all' })).status, 200);
    const b = await connect('unshared', bob);
    await b.ok({ type: 'subscribe', collection: 'c' });
    assert.equal((await share('PUT', { read: 'all', write: 'none' })).status, 200);
    await until(() => b.closed !== undefined);
    assert.equal(b.closed!.code, 4403);
    const b2 = await connect('unshared', bob);
    const w = await b2.request({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/v', value: 2 }] });
    assert.equal(w.error?.code, 'forbidden', 'the new connection runs under the new policy');
    await b2.ok({ type: 'subscribe', collection: 'c' });
    assert.equal((await share('DELETE')).status, 204);
    await until(() => b2.closed !== undefined);
    assert.equal(b2.closed!.code, 4403);
    await a.ok({ type: 'update_document', collection: 'c', doc: 'd', patch: [{ op: 'replace', path: '/v', value: 3 }] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!b2.messages.some((m) => m.event === 'updated'), 'no event of a change made after the share was removed');
    await assert.rejects(connect('unshared', bob), { status: 403 });
  });

  it("a user's cached replica is not served after their read policy narrowed while they were away", async () => {
    const a = await connect('narrowed', alice);
    await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { secret: 1 } });
    const http = hub.url.replace(/^ws/, 'http');
    const share = (policy: unknown) => fetch(`${http}/v1/databases/narrowed/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: JSON.stringify(policy) });
    assert.equal((await share({ read: 'all', write: 'none' })).status, 200);
    const b = await connect('narrowed', bob);
    assert.deepEqual(content(await b.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { secret: 1 });
    b.close();
    await until(() => b.closed !== undefined);
    assert.equal((await share({ read: [], write: 'none' })).status, 200);
    const again = await connect('narrowed', bob);
    const r = await again.request({ type: 'get_document', collection: 'c', doc: 'd' });
    assert.equal(r.error?.code, 'not-found', `bob may read nothing now, got ${JSON.stringify(r)}`);
  });

  it('ends a connection whose token is revoked (4401)', async () => {
    const carol = auth.issue('test-app:carol', 'carol');
    const c = await connect('revoked', carol);
    await c.ok({ type: 'list_documents', collection: 'c' });
    auth.revoke(carol);
    await until(() => c.closed !== undefined);
    assert.equal(c.closed!.code, 4401);
  });

  it('answers garbage with malformed and closes; closes on binary and oversized messages', async () => {
    const g = await connect('garbage', alice);
    g.ws.send('{not json');
    const m = await g.waitFor((x) => x.error?.code === 'malformed');
    assert.equal(m.id, null);
    await until(() => g.closed !== undefined);
    assert.equal(g.closed!.code, 1007);

    const bin = await connect('garbage', alice);
    bin.ws.send(Buffer.from([1, 2, 3]));
    await until(() => bin.closed !== undefined);
    assert.equal(bin.closed!.code, 1003);

    const big = await connect('garbage', alice);
    big.ws.send(JSON.stringify({ id: 1, type: 'create_document', collection: 'c', content: { blob: 'x'.repeat(100 * 1024) } }));
    await until(() => big.closed !== undefined);
    assert.equal(big.closed!.code, 1009);

    // the hub goes on serving
    const ok = await connect('garbage', alice);
    await ok.ok({ type: 'list_documents', collection: 'c' });
  });
});

describe('hub JSON document API from `ddcp hub serve --docs-cache`', () => {
  it('serves documents with a backend-minted token, and keeps the replica in the cache across a restart', async () => {
    const dir = tempDir();
    const made = await ddcpAsync(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const app = JSON.parse(made.stdout) as { key: string; secret: string };
    const serve = () => serveHub(dir, ['--data', 'hub', '--docs-cache', 'cache']);
    const stop = stopHub;
    let hub = await serve();
    try {
      const body = '{}';
      const res = await fetch(`${hub.url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'ann@example.com', body }) } });
      const { token } = (await res.json()) as { token: string };
      const a = await JsonClient.connect(`${hub.url}/v1/docs/cached`, token);
      await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
      a.close();
      await stop(hub);
      assert.deepEqual(readdirSync(`${dir}/cache`), ['cached'], 'the replica stays in the cache folder');
      // every user's readable documents are in it: only the hub's own user may look inside
      assert.equal(statSync(`${dir}/cache`).mode & 0o077, 0, 'the cache folder is private to the hub');
      hub = await serve();
      const b = await JsonClient.connect(`${hub.url}/v1/docs/cached`, token);
      assert.deepEqual(content(await b.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { v: 1 });
      b.close();
    } finally {
      await stop(hub);
    }
  });
});

describe('hub JSON document API at shutdown', () => {
  it('closes open connections with 1001 and stops', async () => {
    const auth = new TokenAuthenticator();
    const dir = tempDir();
    const hub = await startHub(`${dir}/hub`, auth);
    const token = auth.issue('t-ann', 'ann');
    const c = await JsonClient.connect(`${hub.url}/v1/docs/bye`, token);
    await c.ok({ type: 'create_document', collection: 'c', content: { v: 1 } });
    const stopping = hub.stop();
    await until(() => c.closed !== undefined);
    assert.equal(c.closed!.code, 1001);
    await stopping;
  });
});

describe("hub JSON document API with the hub's own authenticator", () => {
  const dir = tempDir();
  let hub: HubServer;
  let close: () => Promise<void>;
  let app: { key: string; secret: string };
  const clients: JsonClient[] = [];

  before(async () => {
    const opened = await openHubAuth({ dataDir: `${dir}/hub`, env: {}, create: true });
    close = opened.close;
    app = await opened.auth.credentials.create('notes');
    hub = await startHub(`${dir}/hub`, opened.auth, { http: (req, res) => handleAuthRequest(opened.auth, req, res) });
  });
  after(async () => {
    for (const c of clients) c.close();
    await hub.stop();
    await close();
  });

  /** A user token minted for `email` by the app's backend (a signed admin call). */
  async function tokenFor(email: string): Promise<string> {
    const body = '{}';
    const res = await fetch(`${hub.url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body }) } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { token: string }).token;
  }

  it('admits a minted user token in the Authorization header or ?access_token=, and refuses a forged one and another user', async () => {
    const ann = await tokenFor('ann@example.com');
    const a = await JsonClient.connect(`${hub.url}/v1/docs/annsdocs`, ann);
    clients.push(a);
    assert.equal(a.messages[0]!.user, 'ann@example.com');
    await a.ok({ type: 'create_document', collection: 'c', doc: 'd', content: { v: 1 } });
    const q = await JsonClient.connect(`${hub.url}/v1/docs/annsdocs?access_token=${encodeURIComponent(ann)}`, undefined);
    clients.push(q);
    assert.deepEqual(content(await q.ok({ type: 'get_document', collection: 'c', doc: 'd' })), { v: 1 });
    const forged = ann.slice(0, -4) + (ann.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await assert.rejects(JsonClient.connect(`${hub.url}/v1/docs/annsdocs`, forged), (err: Error & { status: number }) => err.status === 401);
    const bob = await tokenFor('bob@example.com');
    await assert.rejects(JsonClient.connect(`${hub.url}/v1/docs/annsdocs`, bob), (err: Error & { status: number }) => err.status === 403);
  });
});

describe('hub JSON document API (PostgreSQL store, two hub processes on one schema)', () => {
  const sql = testClient();
  const schema = `t_docsws_${randomBytes(5).toString('hex')}`;
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  const hubs: HubServer[] = [];
  const clients: JsonClient[] = [];
  const repos: Repository[] = [];
  const alice = auth.issue('test-app:alice', 'alice');

  before(async () => {
    for (const i of [1, 2]) hubs.push(await startHub(`${dir}/hub${i}`, auth, { store: await PgHubStore.open({ url: sql, schema }) }));
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const h of hubs) await h.stop();
    for (const r of repos) r.close();
    await dropSchema(sql, schema);
    await sql.end();
  });

  it('a subscriber on one hub sees JSON edits made on the other and a library client sees both', async () => {
    const one = await JsonClient.connect(`${hubs[0]!.url}/v1/docs/pgdocs`, alice);
    clients.push(one);
    await one.ok({ type: 'create_document', collection: 'tasks', doc: 'p1', content: { title: 'on hub 1' } });
    const sub = await one.ok({ type: 'subscribe', collection: 'tasks' });
    const two = await JsonClient.connect(`${hubs[1]!.url}/v1/docs/pgdocs`, alice);
    clients.push(two);
    assert.deepEqual(content(await two.ok({ type: 'get_document', collection: 'tasks', doc: 'p1' })), { title: 'on hub 1' });
    await two.ok({ type: 'update_document', collection: 'tasks', doc: 'p1', patch: [{ op: 'add', path: '/done', value: true }] });
    const ev = await one.waitFor((m) => m.event === 'updated' && m.subscription === sub.subscription);
    assert.deepEqual(ev.patch, [{ op: 'add', path: '/done', value: true }]);
    const bad = await two.request({ type: 'update_document', collection: 'tasks', doc: 'p1', patch: [{ op: 'test', path: '/done', value: false }] });
    assert.equal(bad.error!.code, 'invalid-patch');

    const lib = await libraryClient(dir, hubs[0]!, auth, 'alice', 'pgdocs');
    repos.push(lib.repo);
    await lib.repo.pull('origin');
    lib.docs.refresh();
    assert.deepEqual(lib.docs.get('tasks', 'p1')!.content, { title: 'on hub 1', done: true });
    assert.equal(lib.docs.history('tasks', 'p1').length, 2);
  });
});
