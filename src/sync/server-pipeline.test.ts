/**
 * The serving side's pipelined pushes over a long session: while answers are pending, each read of
 * the client's next frame can give up at the first failure, and that costs nothing that grows with
 * the session (no promise that lives as long as the session gains a reaction per frame read).
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { packColumns, type TableInfo } from '../engine/index.ts';
import { framePair } from '../transport/memory.ts';
import { proofOf } from '../../test/support/identity.ts';
import type { Batch } from './batches.ts';
import { Gate } from './gate.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION } from './messages.ts';
import type { ChangeFeed, ChangeSink } from './ports.ts';
import { serveSession } from './server.ts';

const SCHEMA: TableInfo[] = [{ name: 'notes', pks: ['id'], columns: ['body'] }];
const PUSHES = 2_000;

it('a long pipelined session leaves no reaction per frame on a promise that lives as long as it', async () => {
  const serverSite = randomBytes(16);
  const clientSite = randomBytes(16);
  const feed: ChangeFeed = {
    siteId: serverSite,
    schema: () => SCHEMA,
    version: () => 0,
    async *batches(since) {
      yield { changes: [], version: since, complete: true };
    },
    changed: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
  };
  // Answers a turn later, so the session reads the client's next frames with answers pending.
  const sink: ChangeSink = {
    trackedVersion: () => 0,
    bindSite: () => {},
    receive: (batch) => new Promise((resolve) => setImmediate(() => resolve({ version: batch.version, applied: batch.changes.length, refused: [] }))),
    caughtUp: () => new Promise((resolve) => setImmediate(resolve)),
    dropIncomplete: () => {},
  };
  // Promises made by `then` on another (an await, a race), counted per parent promise.
  const children = new Map<number, number>();
  const hook = createHook({
    init(_id, type, parent) {
      if (type === 'PROMISE') children.set(parent, (children.get(parent) ?? 0) + 1);
    },
  });
  const [client, server] = framePair();
  const stop = new AbortController();
  hook.enable();
  try {
    const serving = serveSession(server, feed, sink, { peer: 'client', proof: proofOf(serverSite), signal: stop.signal, gate: new Gate(() => ({ read: 'all', write: 'all' })), pipeline: 8 });
    const it = client[Symbol.asyncIterator]();
    await client.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: clientSite, proof: proofOf(clientSite), schema: SCHEMA, since: 0, held: [], follow: false, pull: false, push: true }));
    assert.equal(decodeMessage((await it.next()).value as Uint8Array).type, 'welcome');
    let acked = 0;
    const reading = (async () => {
      for (let r = await it.next(); !r.done; r = await it.next()) {
        const m = decodeMessage(r.value);
        if (m.type === 'ack') acked = Math.max(acked, m.version);
      }
    })();
    for (let v = 1; v <= PUSHES; v++) {
      const batch: Batch = { changes: [{ table: 'notes', pk: packColumns([v]), cid: 'body', val: `n${v}`, colVersion: 1, dbVersion: v, siteId: clientSite, seq: 0, cl: 1 }], version: v, complete: true };
      await client.send(encodeMessage({ type: 'batch', ...batch }));
      await client.send(encodeMessage({ type: 'caught-up', version: v }));
    }
    await client.close();
    await serving;
    await reading;
    assert.equal(acked, PUSHES);
  } finally {
    hook.disable();
    stop.abort();
  }
  const most = Math.max(...children.values());
  assert.ok(most < PUSHES / 4, `one promise was awaited or raced ${most} times over ${PUSHES} pushes`);
});
