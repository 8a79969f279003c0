/**
 * A paired push (`push-batch-caught-up`, features.ts) through the session code peers share
 * (runSession / serveSession over an in-memory channel, as p2p and the hub use it): the sink is
 * handed the batch and then the caught-up, exactly as for the two messages; refusals still go out
 * one by one, before the one ack; with several pushes in flight (a pipelined sink) the answers keep
 * the client's order. And the other direction: a client following the shared server (a p2p peer)
 * gets each commit as one `batch-caught-up` message where it reads that frame, as two where not,
 * and so its catch-up when it connects behind (the last batch of the initial read paired).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { framePair } from '../transport/memory.ts';
import { proofOf } from '../../test/support/identity.ts';
import { MemFeed, NOTES } from '../../test/support/mem-feed.ts';
import { BATCH_CHANGES } from './batches.ts';
import type { FrameChannel } from './channel.ts';
import { runSession, type PullTarget } from './client.ts';
import { Gate } from './gate.ts';
import type { ChangeSink } from './ports.ts';
import { serveSession } from './server.ts';

/** The channel, keeping the type byte of every frame it sends and reads. */
function recorded(channel: FrameChannel, sent: number[], read: number[]): FrameChannel {
  return {
    send: (f, o) => (sent.push(f[0]!), channel.send(f, o)),
    close: (o) => channel.close(o),
    abort: (e) => channel.abort(e),
    async *[Symbol.asyncIterator]() {
      for await (const f of channel) {
        read.push(f[0]!);
        yield f;
      }
    },
  };
}

/** A sink that records what it is handed and refuses the transactions at `refuse` (a turn later each). */
function sink(calls: string[], refuse: number[]): ChangeSink {
  return {
    trackedVersion: () => 0,
    bindSite: () => {},
    receive: (batch) =>
      new Promise((resolve) =>
        setImmediate(() => {
          calls.push(`receive ${batch.version}`);
          const refused = refuse.includes(batch.version) ? [{ version: batch.version, message: 'no' }] : [];
          resolve({ version: batch.version, applied: batch.changes.length - refused.length, refused });
        }),
      ),
    caughtUp: (v) => new Promise((resolve) => setImmediate(() => (calls.push(`caught-up ${v}`), resolve()))),
    dropIncomplete: () => {},
  };
}

describe('a paired push through the shared session code', () => {
  for (const pipeline of [1, 8]) {
    it(`is handed to the sink as batch then caught-up, refusals before its one ack (pipeline ${pipeline})`, async () => {
      const feed = new MemFeed(randomBytes(16));
      const writer = new MemFeed(randomBytes(16));
      const calls: string[] = [];
      const [client, server] = framePair();
      const stop = new AbortController();
      const serving = serveSession(server, feed, sink(calls, [2]), { peer: 'client', proof: proofOf(feed.siteId), signal: stop.signal, gate: new Gate(() => ({ read: 'all', write: 'all' })), pipeline });
      const sent: number[] = [];
      const read: number[] = [];
      const refused: number[] = [];
      let acked = 0;
      const session = runSession(recorded(client, sent, read), { siteId: writer.siteId, proof: proofOf(writer.siteId), schema: NOTES, push: writer, follow: true, signal: stop.signal, onAck: (v) => (acked = v), onRefused: (r) => refused.push(r.version) });
      for (let k = 1; k <= 3; k++) {
        writer.commit();
        while (acked < k) await new Promise((r) => setTimeout(r, 2));
      }
      stop.abort();
      await session;
      await serving;
      assert.deepEqual(sent, [1, 8, 8, 8], 'hello, then one message per commit');
      assert.deepEqual(read, [2, 6, 7, 6, 6], 'welcome, an ack per commit, the refusal before its ack');
      assert.deepEqual(refused, [2]);
      assert.deepEqual(calls, ['receive 1', 'caught-up 1', 'receive 2', 'caught-up 2', 'receive 3', 'caught-up 3']);
    });
  }
});

describe('a client following the shared server (a p2p peer)', () => {
  for (const announce of [undefined, [] as string[]]) {
    it(`gets each commit as ${announce ? 'a batch and a caught-up (it announced no features)' : 'one batch-caught-up message (negotiated)'}`, async () => {
      const feed = new MemFeed(randomBytes(16));
      const [client, server] = framePair();
      const stop = new AbortController();
      const serving = serveSession(server, feed, sink([], []), { peer: 'client', proof: proofOf(feed.siteId), signal: stop.signal, gate: new Gate(() => ({ read: 'all', write: 'all' })) });
      const values: string[] = [];
      let caught = -1;
      const pull: PullTarget = {
        from: () => ({ since: 0, held: [] }),
        welcome: () => {},
        batch: (b) => void values.push(...b.changes.map((c) => String(c.val))),
        caughtUp: (v) => void (caught = v),
      };
      const site = randomBytes(16);
      const sent: number[] = [];
      const read: number[] = [];
      const session = runSession(recorded(client, sent, read), { siteId: site, proof: proofOf(site), schema: NOTES, pull, follow: true, signal: stop.signal, ...(announce ? { features: announce } : {}) });
      while (caught < 0) await new Promise((r) => setTimeout(r, 2));
      for (let k = 1; k <= 3; k++) {
        feed.commit();
        while (caught < k) await new Promise((r) => setTimeout(r, 2));
      }
      stop.abort();
      await session;
      await serving;
      assert.deepEqual(values, ['v1', 'v2', 'v3']);
      // welcome, the first caught-up (nothing to send yet), then each commit
      assert.deepEqual(read, announce ? [2, 4, 3, 4, 3, 4, 3, 4] : [2, 4, 8, 8, 8]);
    });

    it(`connecting behind (more history than one batch) gets its catch-up as ${announce ? 'batches and a caught-up (it announced no features)' : 'batches, the last one paired with the caught-up (negotiated)'}`, async () => {
      const feed = new MemFeed(randomBytes(16));
      const n = 2 * BATCH_CHANGES + 1;
      for (let k = 0; k < n; k++) feed.commit();
      const [client, server] = framePair();
      const stop = new AbortController();
      const serving = serveSession(server, feed, sink([], []), { peer: 'client', proof: proofOf(feed.siteId), signal: stop.signal, gate: new Gate(() => ({ read: 'all', write: 'all' })) });
      let values = 0;
      const caught: number[] = [];
      const pull: PullTarget = {
        from: () => ({ since: 0, held: [] }),
        welcome: () => {},
        batch: (b) => void (values += b.changes.length),
        caughtUp: (v) => void caught.push(v),
      };
      const site = randomBytes(16);
      const read: number[] = [];
      const session = runSession(recorded(client, [], read), { siteId: site, proof: proofOf(site), schema: NOTES, pull, follow: true, signal: stop.signal, ...(announce ? { features: announce } : {}) });
      while (caught.length === 0) await new Promise((r) => setTimeout(r, 2));
      stop.abort();
      await session;
      await serving;
      assert.equal(values, n);
      assert.deepEqual(caught, [n]);
      // welcome, batches (the sender's size), then the caught-up alone or with the last batch
      const batches = read.length - 2 + (announce ? 0 : 1);
      assert.ok(batches >= Math.ceil(n / BATCH_CHANGES), `several batches (${batches})`);
      assert.deepEqual(read, announce ? [2, ...new Array(batches).fill(3), 4] : [2, ...new Array(batches - 1).fill(3), 8]);
    });
  }
});
