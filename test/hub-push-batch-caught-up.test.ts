/**
 * The negotiated `push-batch-caught-up` feature through a real hub over WebSocket: a pushing client
 * whose hub took it up sends each commit as one message (its batch and caught-up paired) and is
 * answered with one ack; a client from before (no features) and a hub from before (features [], or
 * one that takes up only the follower-side `batch-caught-up`) keep a batch and a caught-up per commit
 * and an ack for each. A paired push from a client that did not negotiate it is refused, nothing stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HubServer } from '../src/hub/server.ts';
import { BATCH_CHANGES, type Batch } from '../src/sync/batches.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { runSession, type PullTarget } from '../src/sync/client.ts';
import { FEATURE_BATCH_CAUGHT_UP, FEATURE_PUSH_BATCH_CAUGHT_UP } from '../src/sync/features.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Welcome } from '../src/sync/messages.ts';
import { dialWs } from '../src/transport/ws/dial.ts';
import { tempDir } from './support/cli.ts';
import { proofOf } from './support/identity.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { MemFeed, NOTES } from './support/mem-feed.ts';

const T_BATCH = 3;
const T_CAUGHT_UP = 4;
const T_ACK = 6;
const T_BATCH_CAUGHT_UP = 8;

/** The channel, keeping the type byte of every frame it sends and reads after the handshake's. */
function recorded(channel: FrameChannel, sent: number[], read: number[]): FrameChannel {
  return {
    send: (f, o) => {
      sent.push(f[0]!);
      return channel.send(f, o);
    },
    close: (o) => channel.close(o),
    abort: (e) => channel.abort(e),
    release: (f) => channel.release?.(f),
    async *[Symbol.asyncIterator]() {
      for await (const f of channel) {
        read.push(f[0]!);
        yield f;
      }
    },
  };
}

class Pulled implements PullTarget {
  values: string[] = [];
  caughtUp_ = 0;
  from() {
    return { since: 0, held: [] };
  }
  welcome(_w: Welcome): void {}
  batch(b: Batch): void {
    for (const c of b.changes) this.values.push(String(c.val));
  }
  caughtUp(v: number): void {
    this.caughtUp_ = v;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('hub: a pushed commit in one message (the negotiated push-batch-caught-up feature)', () => {
  const auth = new TokenAuthenticator();
  auth.issue('alice-token', 'alice');
  let dir: string;
  let hub: HubServer;
  let legacyHub: HubServer;
  let followerOnlyHub: HubServer;
  before(async () => {
    dir = tempDir();
    [hub, legacyHub, followerOnlyHub] = await Promise.all([
      startHub(join(dir, 'hub'), auth),
      startHub(join(dir, 'legacy'), auth, { features: [] }),
      // A hub from before this feature: it takes up only the follower side.
      startHub(join(dir, 'follower-only'), auth, { features: [FEATURE_BATCH_CAUGHT_UP] }),
    ]);
  });
  after(async () => {
    await Promise.all([hub?.stop(), legacyHub?.stop(), followerOnlyHub?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Everything `db` on `server` holds, as a plain pull reads it. */
  async function pullAll(server: HubServer, db: string): Promise<string[]> {
    const site = randomBytes(16);
    const pull = new Pulled();
    await runSession(await dialWs(`${server.url}/${db}`, { token: 'alice-token' }), { siteId: site, proof: proofOf(site), schema: NOTES, pull });
    return pull.values;
  }

  /**
   * A following writer with `pending` commits before it connects, then `n` more one at a time, each
   * once the one before is acknowledged; returns the frame types it sent and read after the handshake.
   */
  async function push(server: HubServer, db: string, pending: number, n: number, features?: string[]) {
    const writer = new MemFeed(randomBytes(16));
    for (let k = 0; k < pending; k++) writer.commit();
    const sent: number[] = [];
    const read: number[] = [];
    let acked = 0;
    let welcome: Welcome | undefined;
    const stop = new AbortController();
    const session = runSession(recorded(await dialWs(`${server.url}/${db}`, { token: 'alice-token' }), sent, read), {
      siteId: writer.siteId,
      proof: proofOf(writer.siteId),
      schema: NOTES,
      push: writer,
      follow: true,
      signal: stop.signal,
      onAck: (v) => (acked = Math.max(acked, v)),
      ...(features ? { features } : {}),
    }).then((r) => (welcome = r.welcome));
    await until(() => acked >= pending, 'the pending commits acknowledged');
    const first = { sent: sent.slice(1), read: read.slice(1) }; // after hello / welcome
    const mark = { sent: sent.length, read: read.length };
    for (let k = pending + 1; k <= pending + n; k++) {
      writer.commit();
      await until(() => acked >= k, `commit ${k} acknowledged`);
    }
    // Let any further answers arrive before counting (an ack per caught-up comes after the batch's).
    await sleep(50);
    const live = { sent: sent.slice(mark.sent), read: read.slice(mark.read) };
    stop.abort();
    await session;
    assert.deepEqual(await pullAll(server, db), writer.log.map((c) => String(c.val)), 'every commit stored, once, in order');
    return { first, live, welcome: welcome! };
  }

  it('a client whose hub took it up sends one message per commit and reads one ack; a backlog of several batches goes as batches, the last one paired', async () => {
    const n = 10;
    const r = await push(hub, 'paired', (3 * BATCH_CHANGES) / 2, n);
    assert.deepEqual(r.welcome.features, [FEATURE_BATCH_CAUGHT_UP, FEATURE_PUSH_BATCH_CAUGHT_UP]);
    const k = r.first.sent.length;
    assert.ok(k >= 2, `the backlog fills several batches (${k} frames)`);
    assert.deepEqual(r.first.sent, [...new Array(k - 1).fill(T_BATCH), T_BATCH_CAUGHT_UP], 'the backlog: batches, the last paired with its caught-up');
    assert.deepEqual(r.live.sent, new Array(n).fill(T_BATCH_CAUGHT_UP), 'one message per commit');
    assert.deepEqual(r.live.read, new Array(n).fill(T_ACK), 'one ack per commit');
  });

  for (const [what, server, features] of [
    ['a client from before (no features in its hello) against this hub', () => hub, []],
    ['a client announcing only batch-caught-up (from before this feature) against this hub', () => hub, [FEATURE_BATCH_CAUGHT_UP]],
    ['this client against a hub from before features (features [])', () => legacyHub, undefined],
    ['this client against a hub that takes up only batch-caught-up (from before this feature)', () => followerOnlyHub, undefined],
  ] as [string, () => HubServer, string[] | undefined][]) {
    it(`${what}: a batch and a caught-up per commit, an ack for each, as always`, async () => {
      const n = 6;
      const r = await push(server(), `compat-${Math.random().toString(36).slice(2, 8)}`, 1, n, features);
      assert.ok(!r.welcome.features?.includes(FEATURE_PUSH_BATCH_CAUGHT_UP));
      assert.deepEqual(r.live.sent, Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? T_BATCH : T_CAUGHT_UP)));
      assert.deepEqual(r.live.read, new Array(2 * n).fill(T_ACK));
    });
  }

  it('a paired push from a client that did not negotiate it is refused with a clear error, and nothing of it is stored', async () => {
    await push(hub, 'refused', 1, 0); // the database, holding v1 (another writer's)
    const writer = new MemFeed(randomBytes(16));
    writer.commit('x', 'not stored');
    const ch = await dialWs(`${hub.url}/refused`, { token: 'alice-token' });
    await ch.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: writer.siteId, proof: proofOf(writer.siteId), schema: NOTES, since: 0, held: [], follow: false, pull: false, push: true, features: [FEATURE_BATCH_CAUGHT_UP] }));
    const it = ch[Symbol.asyncIterator]();
    const welcome = decodeMessage((await it.next()).value as Uint8Array);
    assert.equal(welcome.type, 'welcome');
    assert.deepEqual(welcome.type === 'welcome' && welcome.features, [FEATURE_BATCH_CAUGHT_UP]);
    await ch.send(encodeMessage({ type: 'batch-caught-up', version: 1, batch: { type: 'batch', version: 1, complete: true, changes: writer.log } }));
    const answers: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) {
      const m = decodeMessage(r.value);
      answers.push(m.type === 'error' ? `${m.code}: ${m.message}` : m.type);
    }
    assert.deepEqual(answers, ['unexpected: unexpected batch-caught-up from the client (the push-batch-caught-up feature was not negotiated in this session)']);
    assert.deepEqual(await pullAll(hub, 'refused'), ['v1'], 'nothing of it stored');
  });
});
