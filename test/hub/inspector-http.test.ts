/**
 * The inspector over real HTTP on a real hub: /ui and its endpoints refuse without an admin session
 * (and with a forged one, or a cross-origin login), a login sets an HttpOnly SameSite=Strict cookie,
 * and with it the endpoints show the databases, users and their connected clients, a change a
 * client pushes (on the live feed, as Server-Sent Events), a conflict two clients made, and the
 * metrics sampled over time. Every response carries the CSP; no token is in a page or the log.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { AdminAccess } from '../../src/hub/inspector/admins.ts';
import { PostgresAdminStore } from '../../src/hub/inspector/postgres-store.ts';
import { SqliteAdminStore } from '../../src/hub/inspector/sqlite-store.ts';
import { siteText } from '../../src/hub/inspector/render.ts';
import { PgHubStore } from '../../src/hub/storage/postgres/store.ts';
import type { HubServer } from '../../src/hub/server.ts';
import type { Repository } from '../../src/index.ts';
import { tempDir } from '../support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from '../support/hub.ts';
import { dropSchema, testClient } from '../support/postgres.ts';
import { following, until } from './following.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

const auth = new TokenAuthenticator();
const dir = tempDir();
const log: string[] = [];
let hub: HubServer;
let base: string;
let admins: SqliteAdminStore;
let token: string;
const repos: Repository[] = [];

before(async () => {
  admins = new SqliteAdminStore(join(dir, 'auth.db'));
  const access = new AdminAccess({ store: admins, log: (level, line) => log.push(`${level}: ${line}`) });
  token = (await access.create('ops')).token;
  hub = await startHub(join(dir, 'hub'), auth, { inspector: { admins: access, sampleMs: 100, feed: { pollMs: 200 } }, log: (_l, m) => log.push(m) });
  base = hub.url.replace(/^ws/, 'http');
});
after(async () => {
  await hub.stop();
  await admins.close();
  for (const r of repos) r.close();
});

async function client(user: string, name: string, db: string): Promise<Repository> {
  const r = await hubClient(dir, name, hub.url, db, auth.issue(`tok-${name}`, user));
  repos.push(r);
  return r;
}

async function login(body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/ui/login`, { method: 'POST', body, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

let cookie = '';
const get = (path: string, c = cookie): Promise<Response> => fetch(`${base}${path}`, { headers: c ? { cookie: c } : {} });
const getJson = async <T>(path: string): Promise<T> => {
  const res = await get(path);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
};

type ConflictsAnswer = { recorded: boolean; conflicts: ({ at: number } & Record<string, unknown>)[] };

/**
 * The view of the conflict `first` and `second` (two clients of `user`) made on row `key` of notes in
 * database `db` — the same in SQLite and PostgreSQL mode: the second value is the greater, so it wins.
 */
function expectConflict(answer: ConflictsAnswer, db: string, key: string, user: string, first: Repository, second: Repository): void {
  assert.equal(answer.recorded, true);
  const found = answer.conflicts.filter((x) => x.db === db);
  assert.equal(found.length, 1, JSON.stringify(answer));
  const { at, ...view } = found[0]!;
  assert.ok(Math.abs(Date.now() - at) < 60_000);
  assert.deepEqual(view, {
    db,
    table: 'notes',
    key: `"${key}"`,
    column: 'body',
    winner: 'incoming', // 'from two' > 'from one', and it came second
    local: { value: '"from one"', site: siteText(first.engine.siteId) },
    incoming: { value: '"from two"', site: siteText(second.engine.siteId) },
    source: user,
  });
}

/** Reads Server-Sent Events from `path` into `events` until aborted. */
function sse(path: string, signal: AbortSignal, events: Record<string, unknown>[], at = base, c = cookie): Promise<void> {
  return (async () => {
    const res = await fetch(`${at}${path}`, { headers: { cookie: c }, signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const lines = text.slice(0, end).split('\n');
        const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        text = text.slice(end + 2);
        // `event: ready`: every database is watched from here on (recorded as { ready: true })
        if (lines.includes('event: ready')) events.push({ ready: true });
        else if (data) events.push(JSON.parse(data) as Record<string, unknown>);
      }
    }
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
}

describe('the inspector at /ui', () => {
  it('refuses without an admin session: the login form, 401 on every endpoint, CSP on every response', async () => {
    const page = await get('/ui', '');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/ui\/login"/);
    assert.doesNotMatch(html, /api\/overview|app\.js/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    for (const path of ['/ui/api/overview', '/ui/api/conflicts', '/ui/api/metrics', '/ui/api/feed']) {
      const res = await get(path, '');
      assert.equal(res.status, 401, path);
      assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'log in at /ui with an admin token' });
      assert.equal((await get(path, `ddcp_admin=${'A'.repeat(43)}`)).status, 401, `${path} with a forged session`);
    }
    const wrong = await login(`token=${token.replace(/.$/, (c) => (c === '0' ? '1' : '0'))}`);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.match(await wrong.text(), /Login failed\./);
    const crossSite = await login(`token=${token}`, { origin: 'http://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.equal(crossSite.headers.get('set-cookie'), null);
  });

  it('a login sets an HttpOnly SameSite=Strict session cookie; the page holds no secret', async () => {
    const res = await login(`token=${encodeURIComponent(token)}`, { origin: base });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/ui');
    const set = res.headers.get('set-cookie')!;
    assert.match(set, /^ddcp_admin=[A-Za-z0-9_-]{43}; Path=\/ui; Max-Age=28\d{3}; HttpOnly; SameSite=Strict$/);
    cookie = set.split(';')[0]!;
    const page = await get('/ui');
    const html = await page.text();
    assert.match(html, /<script src="\/ui\/app\.js"><\/script>/);
    assert.ok(!html.includes(token) && !html.includes(cookie.split('=')[1]!));
    assert.equal((await get('/ui/chart.js')).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await (await get('/ui/chart.js')).text(), /Chart\.js v4/);
    assert.ok(log.some((l) => /inspector login from 127\.0\.0\.1 with admin token [0-9a-f]{16} \(ops\)/.test(l)));
    assert.ok(log.every((l) => !l.includes(token)), 'the token is never logged');
  });

  it('shows a client\'s change live, its database and user, and the client while connected', async () => {
    const ac = new AbortController();
    const events: Record<string, unknown>[] = [];
    const ann = await client('ann', 'ann', 'tasks');
    ann.db.exec("INSERT INTO notes VALUES ('n1', 'first')");
    await ann.push('origin'); // creates the database
    const reading = sse('/ui/api/feed', ac.signal, events);
    await following(ann, async (follow) => {
      await until(() => follow.some((e) => e.type === 'connected'));
      await until(() => events.some((e) => e.ready === true)); // the feed watches 'tasks' from here on
      ann.db.exec("INSERT INTO notes VALUES ('n2', '<b>bold</b>')");
      await until(() => events.some((e) => e.db === 'tasks' && e.table === 'notes' && e.key === '"n2"' && e.column === 'body'));
      const set = events.find((e) => e.key === '"n2"' && e.column === 'body')!;
      assert.equal(set.value, '"<b>bold</b>"');
      assert.equal(set.kind, 'set');
      assert.match(set.site as string, /^[0-9a-f]{8}$/);
      const o = await getJson<{ databases: { name: string; owner: string; tables: { name: string; columns: string[] }[]; clients: number }[]; users: { user: string; owns: string[]; clients: { db: string }[] }[]; clients: { user: string; db: string; remote: string }[] }>('/ui/api/overview');
      const db = o.databases.find((d) => d.name === 'tasks')!;
      assert.equal(db.owner, 'ann');
      assert.deepEqual(db.tables, [{ name: 'notes', columns: ['id', 'body'] }]);
      assert.equal(db.clients, 1);
      assert.deepEqual(o.clients.map((c) => [c.user, c.db, c.remote]), [['ann', 'tasks', '127.0.0.1']]);
      const user = o.users.find((u) => u.user === 'ann')!;
      assert.deepEqual(user.owns, ['tasks']);
      assert.deepEqual(user.clients.map((c) => c.db), ['tasks']);
    });
    ac.abort();
    await reading;
  });

  it('shows a conflict two clients made on one cell', async () => {
    const bob = await client('bob', 'bob1', 'shared');
    bob.db.exec("INSERT INTO notes VALUES ('k', 'base')");
    await bob.push('origin');
    const bob2 = await client('bob', 'bob2', 'shared');
    await bob2.pull('origin');
    bob.db.exec("UPDATE notes SET body = 'from one' WHERE id = 'k'");
    bob2.db.exec("UPDATE notes SET body = 'from two' WHERE id = 'k'");
    await bob.push('origin');
    await bob2.push('origin');
    expectConflict(await getJson<ConflictsAnswer>('/ui/api/conflicts'), 'shared', 'k', 'bob', bob, bob2);
  });

  it('samples the metrics over time: connections and changes per second', async () => {
    type Samples = { samples: { at: number; connections: number; inPerSec: number; outPerSec: number }[] };
    // The earlier tests' sessions may all have begun and ended between two samples (100 ms apart):
    // a follower stays connected here until a sample has seen it.
    const carl = await client('carl', 'carl', 'sampled');
    carl.db.exec("INSERT INTO notes VALUES ('c', 'sampled')");
    await carl.push('origin');
    let { samples } = await getJson<Samples>('/ui/api/metrics');
    await following(carl, async () => {
      // Sampling runs on the hub's timer, which a busy test process delays: wait for three samples.
      for (const end = Date.now() + 10_000; (samples.length < 3 || !samples.some((s) => s.connections > 0)) && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 100));
        ({ samples } = await getJson<Samples>('/ui/api/metrics'));
      }
    });
    assert.ok(samples.length >= 3, `${samples.length} samples`);
    assert.ok(samples.every((s, i) => i === 0 || s.at > samples[i - 1]!.at));
    assert.ok(samples.some((s) => s.inPerSec > 0), 'a push shows as changes in per second');
    assert.ok(samples.some((s) => s.connections > 0), 'a connection shows');
  });

  it('logout ends the session', async () => {
    const res = await fetch(`${base}/ui/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.match(res.headers.get('set-cookie')!, /^ddcp_admin=; Path=\/ui; Max-Age=0; HttpOnly; SameSite=Strict$/);
    assert.equal((await get('/ui/api/overview')).status, 401);
  });
});

describe('the inspector of two hubs on one PostgreSQL', () => {
  const sql = testClient(2);
  const schema = pgSchemaName('inspector_http');
  const hubs: HubServer[] = [];
  const stores: PostgresAdminStore[] = [];

  after(async () => {
    for (const h of hubs) await h.stop();
    for (const a of stores) await a.close();
    await dropSchema(sql, `"${schema}"`);
    await sql.end();
  });

  it('a change pushed through one hub shows on the other\'s live feed and overview; a conflict made through both is shown', async () => {
    for (let i = 0; i < 2; i++) {
      const admins = await PostgresAdminStore.open(PG_URL, { schema, max: 1 });
      stores.push(admins);
      hubs.push(await startHub(join(dir, `pg-hub${i}`), auth, { store: await PgHubStore.open({ url: sql, schema }), inspector: { admins: new AdminAccess({ store: admins }), sampleMs: 100, feed: { pollMs: 200 } } }));
    }
    const [one, two] = hubs as [HubServer, HubServer];
    const made = await new AdminAccess({ store: stores[0]! }).create('ops');
    const res = await fetch(`${two.url.replace(/^ws/, 'http')}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: made.token }) });
    assert.equal(res.status, 303);
    const c2 = res.headers.get('set-cookie')!.split(';')[0]!;
    const at2 = two.url.replace(/^ws/, 'http');
    const ac = new AbortController();
    const events: Record<string, unknown>[] = [];
    const reading = sse('/ui/api/feed', ac.signal, events, at2, c2);
    let cy: Repository;
    try {
      cy = await hubClient(dir, 'cy', one.url, 'pgnotes', auth.issue('tok-cy', 'cy'));
      repos.push(cy);
      // The database is made by the first push, through hub one; hub two's feed follows it from when
      // it lists it, so rows are pushed until one shows there.
      for (let i = 0; !events.some((e) => e.db === 'pgnotes'); i++) {
        cy.db.exec(`INSERT INTO notes VALUES ('p${i}', 'via one ${i}')`);
        await cy.push('origin');
        await sleep(150);
      }
      const e = events.find((x) => x.db === 'pgnotes' && x.column === 'body')!;
      assert.match(e.value as string, /^"via one \d+"$/);
      assert.deepEqual([e.table, e.kind], ['notes', 'set']);
    } finally {
      ac.abort();
      await reading;
    }
    const o = (await (await fetch(`${at2}/ui/api/overview`, { headers: { cookie: c2 } })).json()) as { databases: { name: string; owner: string }[]; clients: unknown[] };
    assert.deepEqual(o.databases.map((d) => [d.name, d.owner]), [['pgnotes', 'cy']]);
    assert.deepEqual(o.clients, [], 'clients are per hub process');
    const none = (await (await fetch(`${at2}/ui/api/conflicts`, { headers: { cookie: c2 } })).json()) as ConflictsAnswer;
    assert.deepEqual(none, { recorded: true, conflicts: [] });
    // Two clients change one cell from the same base, one through each hub.
    const cy2 = await hubClient(dir, 'cy2', two.url, 'pgnotes', auth.issue('tok-cy2', 'cy'));
    repos.push(cy2);
    await cy2.pull('origin');
    cy.db.exec("UPDATE notes SET body = 'from one' WHERE id = 'p0'");
    cy2.db.exec("UPDATE notes SET body = 'from two' WHERE id = 'p0'");
    await cy.push('origin');
    await cy2.push('origin');
    expectConflict((await (await fetch(`${at2}/ui/api/conflicts`, { headers: { cookie: c2 } })).json()) as ConflictsAnswer, 'pgnotes', 'p0', 'cy', cy, cy2);
  });
});
