/**
 * The embedded SQLite hub's feed answers the fan-out's `directVersions` for the versions it just
 * handed over (the group commits' merged changes, src/hub/storage/sqlite/feed.ts) from what those
 * merges did — each straight from its pusher — instead of reading the database once per wake; for
 * any range, what it answers is what the engine reads. Random single-row pushes from three sites,
 * in group commits of several sites' pushes or one, a follower on the fan-out taking each wake.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { packColumns } from '../src/engine/index.ts';
import { fanoutOf } from '../src/hub/fanout.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage } from '../src/sync/messages.ts';
import { tempDir } from './support/cli.ts';

/** A follower's channel: the highest caught-up version sent to it. */
class CaughtUp implements FrameChannel {
  version = -1;
  send(frame: Uint8Array): Promise<void> {
    const m = decodeMessage(frame);
    if (m.type === 'caught-up') this.version = Math.max(this.version, m.version);
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  abort(): void {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
}

const hex = (m: Map<number, Uint8Array>): [number, string][] => [...m].map(([v, s]): [number, string] => [v, Buffer.from(s).toString('hex')]).sort((a, b) => a[0] - b[0]);

describe('hub SQLite feed: direct versions of what it handed over', () => {
  it('answers without reading for handed versions, and always what the engine reads', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir);
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(fc.record({ site: fc.nat(2), id: fc.nat(3) }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }), async (rounds) => {
          const hosted = (await store.open(`d${n++}`, { app: 'a', user: 'u' }))!;
          await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
          const engine = (hosted as unknown as { engine: { directVersions(a: number, b: number): Map<number, Uint8Array> } }).engine;
          const read = engine.directVersions.bind(engine);
          let reads = 0;
          engine.directVersions = (a, b) => {
            reads++;
            return read(a, b);
          };
          const gate = new Gate(() => ({ read: 'all', write: 'all' }));
          const sites = [0, 1, 2].map((i) => ({ siteId: randomBytes(16), peer: 'u', source: `c${i}`, gate, v: 0 }));
          // as a session does at its start: nothing staged for the site, so its pushes merge straight
          for (const s of sites) await hosted.sink.dropIncomplete(s);
          const fanout = fanoutOf(hosted);
          const stop = new AbortController();
          const follower = new CaughtUp();
          const v0 = await hosted.feed.version();
          void fanout.send(follower, v0, { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal });
          try {
            for (const round of rounds) {
              // one round's pushes handed to the sink together: one group commit (or a few)
              await Promise.all(
                round.map(({ site, id }) => {
                  const s = sites[site]!;
                  const v = ++s.v;
                  return hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([id]), cid: 'body', val: `${site}.${v}`, colVersion: v, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s);
                }),
              );
              const now = await hosted.feed.version();
              for (let i = 0; follower.version < now; i++) {
                if (i > 1000) throw new Error('the fan-out did not catch up');
                await sleep(1);
              }
            }
            const { handedOver, groupReads } = fanout.stats;
            assert.ok(handedOver > 0, 'the fan-out took what the merges stored');
            assert.ok(reads <= groupReads, `the handed-over wakes read no direct versions (${reads} reads, ${groupReads} wakes read the store)`);
            const end = await hosted.feed.version();
            for (let a = v0; a <= end; a++) for (let b = a; b <= end; b++) assert.deepEqual(hex(await hosted.directVersions(a, b)), hex(read(a, b)), `(${a}, ${b}]`);
          } finally {
            stop.abort();
          }
        }),
        { numRuns: 15 },
      );
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
