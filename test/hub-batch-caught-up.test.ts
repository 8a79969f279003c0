/**
 * The negotiated `batch-caught-up` feature through a real hub over WebSocket: a follower that
 * announces it gets one message per change of the database (the batch and its caught-up paired),
 * made once for all followers; a follower that does not (a client from before) and a hub that does
 * not take it up (a hub from before) keep the two messages, and both still converge. A follower
 * that connects behind (its catch-up read from the store, in both storage modes) gets that read's
 * last batch paired too. The client refuses a paired frame it did not negotiate; the hub refuses
 * one pushed to it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubServer } from '../src/hub/server.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { BATCH_CHANGES, type Batch } from '../src/sync/batches.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { runSession, type PullTarget } from '../src/sync/client.ts';
import { FEATURE_BATCH_CAUGHT_UP, KNOWN_FEATURES } from '../src/sync/features.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Welcome } from '../src/sync/messages.ts';
import { serveSession } from '../src/sync/server.ts';
import { dialWs } from '../src/transport/ws/dial.ts';
import { framePair } from '../src/transport/memory.ts';
import { tempDir } from './support/cli.ts';
import { proofOf } from './support/identity.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { MemFeed, NOTES } from './support/mem-feed.ts';

const SCHEMA = NOTES;
const T_BATCH = 3;
const T_CAUGHT_UP = 4;
const T_BATCH_CAUGHT_UP = 8;


/** What a follower pulled: the values, in order, and every caught-up. */
class Pulled implements PullTarget {
  values: string[] = [];
  caughtUps: number[] = [];
  welcomed: Welcome | undefined;
  from() {
    return { since: 0, held: [] };
  }
  welcome(w: Welcome): void {
    this.welcomed = w;
  }
  batch(b: Batch): void {
    for (const c of b.changes) this.values.push(String(c.val));
  }
  caughtUp(v: number): void {
    this.caughtUps.push(v);
  }
}

/** The channel, keeping every frame it reads (the messages as they came off the socket). */
function recorded(channel: FrameChannel, frames: Uint8Array[]): FrameChannel {
  return {
    send: (f, o) => channel.send(f, o),
    close: (o) => channel.close(o),
    abort: (e) => channel.abort(e),
    release: (f) => channel.release?.(f),
    async *[Symbol.asyncIterator]() {
      for await (const f of channel) {
        frames.push(f.slice());
        yield f;
      }
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('hub: batch and caught-up in one message (the negotiated batch-caught-up feature)', () => {
  const auth = new TokenAuthenticator();
  auth.issue('alice-token', 'alice');
  let dir: string;
  let hub: HubServer;
  let legacyHub: HubServer;
  let pgHub: HubServer;
  const sql = testClient(2);
  const schema = testSchema();
  before(async () => {
    dir = tempDir();
    [hub, legacyHub, pgHub] = await Promise.all([startHub(join(dir, 'hub'), auth), startHub(join(dir, 'legacy'), auth, { features: [] }), PgHubStore.open({ url: PG_URL, schema }).then((store) => HubServer.start({ store, auth, host: '127.0.0.1', port: 0 }))]);
  });
  after(async () => {
    await Promise.all([hub?.stop(), legacyHub?.stop(), pgHub?.stop()]);
    await dropSchema(sql, schema);
    await sql.end();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * One writer and three followers of a new database on `server`: `newFollowers` of them announce
   * the feature (the default), the rest say hello as a client from before. The writer commits
   * `n` changes one at a time, each once every follower has the one before (one wake each).
   */
  async function run(server: HubServer, db: string, n: number, followers: { features?: string[] }[]) {
    const stop = new AbortController();
    const sessions: Promise<unknown>[] = [];
    const writer = new MemFeed(randomBytes(16));
    const session = (feed: MemFeed | undefined, pull: Pulled | undefined, frames: Uint8Array[], features?: string[]) => {
      const siteId = feed?.siteId ?? randomBytes(16);
      return dialWs(`${server.url}/${db}`, { token: 'alice-token' }).then((ch) =>
        runSession(recorded(ch, frames), { siteId, proof: proofOf(siteId), schema: SCHEMA, ...(pull ? { pull } : {}), ...(feed ? { push: feed } : {}), follow: true, signal: stop.signal, ...(features ? { features } : {}) }),
      );
    };
    // The writer first: its push creates the database.
    writer.commit();
    const writerFrames: Uint8Array[] = [];
    let acked = 0;
    sessions.push(
      dialWs(`${server.url}/${db}`, { token: 'alice-token' }).then((ch) =>
        runSession(recorded(ch, writerFrames), { siteId: writer.siteId, proof: proofOf(writer.siteId), schema: SCHEMA, push: writer, follow: true, signal: stop.signal, onAck: (v) => (acked = Math.max(acked, v)) }),
      ),
    );
    await until(() => acked >= 1, 'the first push acknowledged');
    const got = followers.map((f) => ({ pull: new Pulled(), frames: [] as Uint8Array[], ...f }));
    for (const g of got) sessions.push(session(undefined, g.pull, g.frames, g.features));
    await until(() => got.every((g) => g.pull.values.length === 1 && g.pull.caughtUps.length > 0), 'the followers caught up');
    const before = got.map((g) => g.frames.length);
    for (let k = 2; k <= n + 1; k++) {
      writer.commit();
      await until(() => got.every((g) => g.pull.values.length === k && g.pull.caughtUps.at(-1)! >= k - 0), `change ${k} at every follower`);
    }
    stop.abort();
    await Promise.allSettled(sessions);
    return got.map((g, i) => ({ ...g, wakeFrames: g.frames.slice(before[i]) }));
  }

  it('a follower that announces it gets one message per wake (batch-caught-up), the same object for every follower; the welcome says the feature was taken up', async () => {
    const n = 12;
    const got = await run(hub, 'paired', n, [{}, {}, {}]);
    for (const g of got) {
      assert.deepEqual(g.pull.welcomed?.features, [...KNOWN_FEATURES], 'everything it announced (the default: all it knows)');
      assert.deepEqual(g.pull.values, Array.from({ length: n + 1 }, (_, i) => `v${i + 1}`), 'every change, once, in order');
      assert.deepEqual(g.wakeFrames.map((f) => f[0]), new Array(n).fill(T_BATCH_CAUGHT_UP), 'one message per wake');
      const decoded = g.wakeFrames.map((f) => decodeMessage(f));
      assert.deepEqual(decoded.map((m) => (m.type === 'batch-caught-up' ? m.version : -1)), Array.from({ length: n }, (_, i) => i + 2));
    }
    // The three followers were sent the same bytes (one frame made per wake).
    assert.deepEqual(got[1]!.wakeFrames, got[0]!.wakeFrames);
    assert.deepEqual(got[2]!.wakeFrames, got[0]!.wakeFrames);
  });

  it('a client from before (no features in its hello) is sent a batch and a caught-up per wake, as always, beside paired followers', async () => {
    const n = 8;
    const [paired, legacy] = await run(hub, 'mixed', n, [{}, { features: [] }]);
    assert.equal(legacy!.pull.welcomed?.features, undefined, 'nothing taken up');
    assert.ok(!new TextDecoder().decode(legacy!.frames[0]).includes('features'), 'its welcome is byte for byte one from before: no features field');
    assert.deepEqual(legacy!.wakeFrames.map((f) => f[0]), Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? T_BATCH : T_CAUGHT_UP)));
    assert.deepEqual(legacy!.pull.values, paired!.pull.values);
    assert.equal(paired!.pull.values.length, n + 1);
    assert.deepEqual(paired!.wakeFrames.map((f) => f[0]), new Array(n).fill(T_BATCH_CAUGHT_UP));
  });

  it('a hub that does not take the feature up (as one from before) is followed as always: two messages per wake, nothing missed', async () => {
    const n = 8;
    const [g] = await run(legacyHub, 'legacy', n, [{}]);
    assert.equal(g!.pull.welcomed?.features, undefined);
    assert.deepEqual(g!.wakeFrames.map((f) => f[0]), Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? T_BATCH : T_CAUGHT_UP)));
    assert.deepEqual(g!.pull.values, Array.from({ length: n + 1 }, (_, i) => `v${i + 1}`));
  });

  /**
   * A writer pushes more changes than one batch holds to database `db` of `server`; then two
   * followers connect behind (the store holds the history; no group frames cover it): one that
   * announces the feature and one from before. Then one more change. Returns both.
   */
  async function behind(server: HubServer, db: string) {
    const stop = new AbortController();
    const sessions: Promise<unknown>[] = [];
    const writer = new MemFeed(randomBytes(16));
    // More changes than one batch holds: the catch-up is several batches.
    const n = 2 * BATCH_CHANGES + 1;
    for (let k = 0; k < n; k++) writer.commit();
    let acked = 0;
    sessions.push(
      dialWs(`${server.url}/${db}`, { token: 'alice-token' }).then((ch) =>
        runSession(ch, { siteId: writer.siteId, proof: proofOf(writer.siteId), schema: SCHEMA, push: writer, follow: true, signal: stop.signal, onAck: (v) => (acked = Math.max(acked, v)) }),
      ),
    );
    await until(() => acked >= n, 'the history pushed');
    const got = [{}, { features: [] as string[] }].map((f) => ({ pull: new Pulled(), frames: [] as Uint8Array[], ...f }));
    for (const g of got) {
      const siteId = randomBytes(16);
      sessions.push(
        dialWs(`${server.url}/${db}`, { token: 'alice-token' }).then((ch) =>
          runSession(recorded(ch, g.frames), { siteId, proof: proofOf(siteId), schema: SCHEMA, pull: g.pull, follow: true, signal: stop.signal, ...(g.features ? { features: g.features } : {}) }),
        ),
      );
    }
    // (The hub's versions are its own: a follower is caught up when it has every change and a caught-up after it.)
    const caughtUpAfter = (g: (typeof got)[number], values: number): boolean => g.pull.values.length === values && g.pull.caughtUps.length === g.frames.filter((f) => f[0] === T_CAUGHT_UP || f[0] === T_BATCH_CAUGHT_UP).length && g.frames.at(-1)![0] !== T_BATCH;
    await until(() => got.every((g) => caughtUpAfter(g, n)), 'the followers caught up');
    const first = got.map((g) => g.pull.caughtUps.slice());
    writer.commit();
    await until(() => got.every((g) => caughtUpAfter(g, n + 1) && g.pull.caughtUps.length > first[0]!.length), 'the next change at both');
    stop.abort();
    await Promise.allSettled(sessions);
    return { n, got };
  }

  for (const [kind, server] of [['SQLite', () => hub], ['PostgreSQL', () => pgHub]] as const) {
    it(`a follower that connects behind (history in the store) gets its catch-up as batches with the last one paired, no separate caught-up; a client from before gets batches and a caught-up, as always; both converge (${kind} hub)`, async () => {
      const { n, got } = await behind(server(), 'behind');
      const [paired, legacy] = got;
      const batches = Math.ceil(n / BATCH_CHANGES);
      // After the welcome: the catch-up, then the one wake.
      assert.deepEqual(paired!.frames.slice(1).map((f) => f[0]), [...new Array(batches - 1).fill(T_BATCH), T_BATCH_CAUGHT_UP, T_BATCH_CAUGHT_UP]);
      assert.deepEqual(legacy!.frames.slice(1).map((f) => f[0]), [...new Array(batches).fill(T_BATCH), T_CAUGHT_UP, T_BATCH, T_CAUGHT_UP]);
      assert.equal(paired!.pull.caughtUps.length, 2);
      assert.deepEqual(legacy!.pull.caughtUps, paired!.pull.caughtUps, 'the same caught-up versions');
      assert.deepEqual(paired!.pull.values, Array.from({ length: n + 1 }, (_, i) => `v${i + 1}`), 'every change, once, in order');
      assert.deepEqual(legacy!.pull.values, paired!.pull.values);
    });
  }

  it('the hub refuses a batch-caught-up frame pushed to it (a server → client frame), closing the session with a clear error', async () => {
    const writer = new MemFeed(randomBytes(16));
    writer.commit();
    const ch = await dialWs(`${hub.url}/refused`, { token: 'alice-token' });
    await ch.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: writer.siteId, proof: proofOf(writer.siteId), schema: SCHEMA, since: 0, held: [], follow: false, pull: false, push: true, features: [FEATURE_BATCH_CAUGHT_UP] }));
    const it = ch[Symbol.asyncIterator]();
    const welcome = decodeMessage((await it.next()).value as Uint8Array);
    assert.equal(welcome.type, 'welcome');
    await ch.send(encodeMessage({ type: 'batch-caught-up', version: 1, batch: { type: 'batch', version: 1, complete: true, changes: writer.log } }));
    let error: ReturnType<typeof decodeMessage> | undefined;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      const m = decodeMessage(r.value);
      if (m.type === 'error') error = m;
    }
    assert.equal(error?.type, 'error');
    assert.match(error.type === 'error' ? `${error.code}: ${error.message}` : '', /^unexpected: unexpected batch-caught-up from the client/);
  });
});

describe('client: batch-caught-up only where negotiated', () => {
  /** A server from before (no features), or one that breaks the rule: it sends what `frames` says after its welcome. */
  async function against(announce: string[] | undefined, welcomeFeatures: string[], frames: (feed: MemFeed) => Uint8Array[]) {
    const [server, client] = framePair();
    const feed = new MemFeed(randomBytes(16));
    feed.commit();
    const serverSite = randomBytes(16);
    const pull = new Pulled();
    const serving = (async () => {
      const it = server[Symbol.asyncIterator]();
      const hello = decodeMessage((await it.next()).value as Uint8Array);
      assert.equal(hello.type, 'hello');
      await server.send(encodeMessage({ type: 'welcome', protocol: PROTOCOL_VERSION, siteId: serverSite, proof: proofOf(serverSite), schema: SCHEMA, version: 1, yours: 0, push: false, features: welcomeFeatures }));
      for (const f of frames(feed)) await server.send(f);
      await server.close();
      return hello;
    })();
    const clientSite = randomBytes(16);
    const session = runSession(client, { siteId: clientSite, proof: proofOf(clientSite), schema: SCHEMA, pull, ...(announce ? { features: announce } : {}) });
    const [hello, result] = await Promise.allSettled([serving, session]);
    return { hello: hello.status === 'fulfilled' ? hello.value : undefined, result, pull };
  }
  const batch = (feed: MemFeed) => ({ type: 'batch' as const, version: 1, complete: true, changes: feed.log });

  it('announces the feature in its hello and reads a paired frame once the server took it up', async () => {
    const r = await against(undefined, [FEATURE_BATCH_CAUGHT_UP], (feed) => [encodeMessage({ type: 'batch-caught-up', version: 1, batch: batch(feed) })]);
    assert.equal(r.result.status, 'fulfilled', String((r.result as PromiseRejectedResult).reason));
    assert.deepEqual(r.hello?.type === 'hello' && r.hello.features, [...KNOWN_FEATURES]);
    assert.ok(KNOWN_FEATURES.includes(FEATURE_BATCH_CAUGHT_UP));
    assert.deepEqual(r.pull.values, ['v1']);
    assert.deepEqual(r.pull.caughtUps, [1]);
  });

  it('with a server from before (its welcome lists nothing) it reads batch and caught-up as always', async () => {
    const r = await against(undefined, [], (feed) => [encodeMessage(batch(feed)), encodeMessage({ type: 'caught-up', version: 1 })]);
    assert.equal(r.result.status, 'fulfilled', String((r.result as PromiseRejectedResult).reason));
    assert.deepEqual(r.pull.values, ['v1']);
    assert.deepEqual(r.pull.caughtUps, [1]);
  });

  it('refuses a paired frame the server did not take up in its welcome, and one it did not announce itself', async () => {
    for (const [announce, welcomed] of [[undefined, []], [[], [FEATURE_BATCH_CAUGHT_UP]]] as [string[] | undefined, string[]][]) {
      const r = await against(announce, welcomed, (feed) => [encodeMessage({ type: 'batch-caught-up', version: 1, batch: batch(feed) })]);
      assert.equal(r.result.status, 'rejected');
      const err = (r.result as PromiseRejectedResult).reason as { code?: string; message: string };
      assert.equal(err.code, 'unexpected');
      assert.match(err.message, /unexpected batch-caught-up from the server \(a feature this session did not negotiate\)/);
      assert.deepEqual(r.pull.values, [], 'nothing of it taken');
    }
  });

  it('a server serving with features [] answers without any (serveSession), and one with the default takes up only what it knows', async () => {
    for (const [supported, announce, expected] of [
      [[], [FEATURE_BATCH_CAUGHT_UP], []],
      [undefined, ['some-future-feature', FEATURE_BATCH_CAUGHT_UP, FEATURE_BATCH_CAUGHT_UP], [FEATURE_BATCH_CAUGHT_UP]],
      [undefined, ['some-future-feature'], []],
    ] as [string[] | undefined, string[], string[]][]) {
      const [server, client] = framePair();
      const feed = new MemFeed(randomBytes(16));
      const serverProof = proofOf(feed.siteId);
      const sink = { trackedVersion: async () => 0, bindSite: async () => {}, receive: async () => undefined, caughtUp: async () => {}, dropIncomplete: async () => {} };
      const stop = new AbortController();
      const serving = serveSession(server, feed, sink as never, { peer: 'p', proof: serverProof, signal: stop.signal, ...(supported ? { features: supported } : {}) });
      const site = randomBytes(16);
      const pull = new Pulled();
      await runSession(client, { siteId: site, proof: proofOf(site), schema: SCHEMA, pull, features: announce });
      await serving;
      assert.deepEqual(pull.welcomed?.features ?? [], expected);
    }
  });
});
