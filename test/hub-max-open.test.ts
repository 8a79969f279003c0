/**
 * What idle hosted databases cost is bounded: besides the idle time (`--idle-close`), a hub holds at
 * most `--max-open` databases open; opening one more first closes the least recently released ones
 * nobody holds and with nothing in flight, never one in use — and if all are in use it opens anyway
 * and counts it in /metrics. Without the cap, a hub opening more databases within the idle time than
 * it had file handles for (each open embedded database holds 5 to 21 here) failed. Both options are
 * taken by a real `ddcp hub serve` and applied; bad values are usage errors.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { Leases, type Leasable } from '../src/hub/storage/leases.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Repository } from '../src/index.ts';
import { BIN, ddcp, tempDir } from './support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';
import { handlesUnder } from './support/handles.ts';

const NOBODY = new Uint8Array(16);
const LONG = 60_000;


/** A database of the leases' tests: records its close; `busy` while work is in flight. */
class Fake implements Leasable {
  busyNow = false;
  readonly name: string;
  private readonly closed: string[];
  constructor(name: string, closed: string[]) {
    this.name = name;
    this.closed = closed;
  }
  busy(): boolean {
    return this.busyNow;
  }
  close(): void {
    this.closed.push(this.name);
  }
}

describe('leases: the cap on open databases', () => {
  const setup = (maxOpen: number) => {
    const closed: string[] = [];
    const leases = new Leases<Fake>({ idleMs: LONG, maxOpen });
    const acquire = (name: string): Promise<Fake> => leases.acquire(name, async () => new Fake(name, closed)) as Promise<Fake>;
    return { closed, leases, acquire };
  };

  it('an open past the cap closes the least recently released idle ones first, never a held one', async () => {
    const { closed, leases, acquire } = setup(3);
    for (const n of ['a', 'b', 'c']) await acquire(n);
    leases.release('b');
    leases.release('a'); // released: b, then a; c held
    await acquire('d');
    assert.deepEqual(closed, ['b'], 'the least recently released');
    await acquire('e');
    assert.deepEqual(closed, ['b', 'a']);
    assert.equal(leases.size, 3);
    assert.equal(leases.opensOverCap, 0);
    // All held: opened anyway, and counted.
    await acquire('f');
    assert.deepEqual(closed, ['b', 'a'], 'nothing held is closed');
    assert.equal(leases.size, 4);
    assert.equal(leases.opensOverCap, 1);
    // Held again after its release: no longer idle; released again, it is the most recent.
    leases.release('d');
    leases.release('e');
    await acquire('d');
    leases.release('d'); // released: e, then d
    leases.release('f'); // then f
    await acquire('g'); // 4 open (c, d, e, f): two go, e first, then d
    assert.deepEqual(closed, ['b', 'a', 'e', 'd']);
    assert.equal(leases.size, 3);
    assert.ok(leases.has('c') && leases.has('f') && leases.has('g'));
  });

  it('one with work in flight is skipped; the next idle one goes', async () => {
    const { closed, leases, acquire } = setup(2);
    const a = await acquire('a');
    await acquire('b');
    a.busyNow = true;
    leases.release('a');
    leases.release('b');
    await acquire('c');
    assert.deepEqual(closed, ['b']);
    assert.ok(leases.has('a'), 'busy: kept open');
    a.busyNow = false;
    await acquire('d');
    assert.deepEqual(closed, ['b', 'a']);
  });

  it('a database closed for the cap opens again (a new one) when used', async () => {
    const { closed, leases, acquire } = setup(1);
    const a1 = await acquire('a');
    leases.release('a');
    await acquire('b');
    leases.release('b');
    const a2 = await acquire('a');
    assert.notEqual(a2, a1);
    assert.deepEqual(closed, ['a', 'b']);
  });
});

/** Opens `name` (made if missing), with its table and a few reads that fill its read pool, then releases it. */
async function use(store: SqliteHubStore | PgHubStore, name: string): Promise<HubDatabase> {
  const db = (await store.open(name, { app: 'a', user: 'u' }))!;
  await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }] as never);
  await Promise.all(Array.from({ length: 4 }, async () => {
    for await (const _ of db.feed.batches(0, { exceptSite: NOBODY }));
  }));
  return db;
}

describe('hub (SQLite): the cap bounds open databases and their file handles', () => {
  it('with --max-open 4 and a long idle time, 20 databases used one after another keep 4 open; a held one stays open and usable', async () => {
    const dir = tempDir();
    const files = `${dir}/databases/`;
    const store = new SqliteHubStore(dir, { idleCloseMs: LONG, maxOpen: 4 });
    try {
      const held = await use(store, 'held');
      const perDb = handlesUnder(files);
      assert.ok(perDb >= 3, `an open database holds file handles (${perDb})`);
      for (let i = 0; i < 20; i++) (await use(store, `db${i}`)).release!();
      assert.equal(store.openDatabases, 4);
      assert.ok(handlesUnder(files) <= 4 * perDb, `handles bounded: ${handlesUnder(files)} ≤ 4 × ${perDb}`);
      assert.ok(handlesUnder(`${files}held.db`) >= 1, 'the held database is open');
      assert.equal(store.opensOverCap, 0);
      await held.declare([{ name: 'more', pks: ['id'], columns: ['x'] }] as never);
      assert.deepEqual((await held.info()).tables.map((t) => t.name).sort(), ['more', 'notes']);
      held.release!();
    } finally {
      await store.close();
    }
    assert.equal(handlesUnder(files), 0);
  });

  it('without the cap (the default 1,000), the same 20 stay open until their idle time', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir, { idleCloseMs: LONG });
    try {
      for (let i = 0; i < 20; i++) (await use(store, `db${i}`)).release!();
      assert.equal(store.openDatabases, 20);
    } finally {
      await store.close();
    }
  });
});

describe('hub: opens past the cap, all databases being in use, are counted in /metrics', () => {
  it('ddcp_hub_opens_over_cap_total counts them; nothing held is closed', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(`${dir}/hub`, { idleCloseMs: LONG, maxOpen: 1 });
    const hub = await startHub(`${dir}/hub`, new TokenAuthenticator(), { store });
    const over = async (): Promise<number> => Number(/^ddcp_hub_opens_over_cap_total (\d+)/m.exec(await (await fetch(`${hub.url.replace('ws://', 'http://')}/metrics`)).text())?.[1]);
    try {
      assert.equal(await over(), 0);
      const a = (await store.open('a', { app: 'a', user: 'u' }))!;
      const b = (await store.open('b', { app: 'a', user: 'u' }))!;
      assert.equal(await over(), 1);
      assert.equal(store.openDatabases, 2, 'both open: a is held');
      const c = (await store.open('c', { app: 'a', user: 'u' }))!;
      assert.equal(await over(), 2);
      assert.equal(await over(), 2, 'counted once per open, not per scrape');
      for (const d of [a, b, c]) d.release!();
      await store.open('d', { app: 'a', user: 'u' });
      assert.equal(store.openDatabases, 1, 'released: all three closed for d');
      assert.equal(await over(), 2);
    } finally {
      await hub.stop();
    }
  });
});

describe('hub (PostgreSQL): the cap bounds the databases cached', () => {
  it('with maxOpen 2, a third database drops the least recently released one', async () => {
    const sql = testClient();
    const schema = testSchema();
    const store = await PgHubStore.open({ url: sql, schema, idleCloseMs: LONG, maxOpen: 2 });
    try {
      const a = (await store.open('a', { app: 'a', user: 'u' }))!;
      const b = (await store.open('b', { app: 'a', user: 'u' }))!;
      b.release!();
      a.release!();
      const c = (await store.open('c', { app: 'a', user: 'u' }))!;
      assert.equal(store.openDatabases, 2);
      const a2 = (await store.open('a'))!;
      assert.equal(a2, a, 'a, released last, was kept');
      assert.equal(store.openDatabases, 2, 'b made room for c; a was open');
      c.release!();
      a2.release!();
    } finally {
      await store.close();
      await dropSchema(sql, schema);
      await sql.end();
    }
  });
});

describe('ddcp hub serve --idle-close / --max-open', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  const repos: Repository[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const r of repos) r.close();
  });

  /** A real hub with `args`, an app's credentials, and a client of `db` for a user of the app. */
  const serve = async (args: string[]) => {
    const dir = tempDir();
    const made = ddcp(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const app = JSON.parse(made.stdout) as { key: string; secret: string };
    const hub = spawn(process.execPath, [BIN, 'hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0', ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(hub);
    hub.stderr.resume();
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      hub.stdout.on('data', (chunk: Buffer) => {
        out += String(chunk);
        const m = /hub listening on (ws:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      hub.once('exit', () => reject(new Error(`hub exited: ${out}`)));
    });
    const http = url.replace(/^ws/, 'http');
    let n = 0;
    const client = async (db: string): Promise<Repository> => {
      const body = JSON.stringify({ ttl_seconds: 600 });
      const res = await fetch(`${http}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'alice@example.com', body }) } });
      assert.equal(res.status, 200);
      const r = await hubClient(dir, `c${++n}`, url, db, ((await res.json()) as { token: string }).token);
      repos.push(r);
      return r;
    };
    const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${http}/metrics`)).text())?.[1]);
    return { hub, client, metric };
  };

  const push = async (c: Repository, id: string): Promise<void> => {
    c.db.exec(`INSERT INTO notes VALUES ('${id}', 'x')`);
    const pushed = await c.push('origin');
    assert.equal(pushed.refused.length, 0);
  };

  it('--idle-close 0.3 closes a database within a second of its last use (the default 5 s would not)', async () => {
    const { hub, client, metric } = await serve(['--idle-close', '0.3']);
    await push(await client('notes'), 'n1');
    const start = Date.now();
    while ((await metric('ddcp_hub_open_databases')) !== 0 && Date.now() - start < 2_500) await sleep(50);
    assert.equal(await metric('ddcp_hub_open_databases'), 0, 'closed after 0.3 s');
    hub.kill('SIGTERM');
  });

  it('--max-open 1 keeps one database open (a long idle time): opening another closes the idle one, which reopens with its data', async () => {
    const { hub, client, metric } = await serve(['--idle-close', '60', '--max-open', '1']);
    const one = await client('one');
    await push(one, 'o1');
    await push(await client('two'), 't1');
    assert.equal(await metric('ddcp_hub_open_databases'), 1, 'one closed to make room for two');
    assert.equal(await metric('ddcp_hub_opens_over_cap_total'), 0);
    // Reopened, the first still has its data.
    const again = await client('one');
    await again.pull('origin');
    assert.deepEqual((again.db.prepare('SELECT id FROM notes').all() as { id: string }[]).map((r) => r.id), ['o1']);
    assert.equal(await metric('ddcp_hub_open_databases'), 1);
    hub.kill('SIGTERM');
  });

  for (const [option, value] of [
    ['--idle-close', 'soon'],
    ['--idle-close', '-1'],
    ['--idle-close', ''],
    ['--max-open', '0'],
    ['--max-open', '2.5'],
    ['--max-open', 'lots'],
  ] as const) {
    it(`${option} ${JSON.stringify(value)} is a usage error (exit 2, one line)`, () => {
      const r = ddcp(tempDir(), ['hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0', option, value]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr.trim(), new RegExp(`^ddcp: error: bad ${option} "${value}": expected`));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }
});
