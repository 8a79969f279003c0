/**
 * Bad input at a hub: no or wrong credentials, a bad database name, garbage and oversized frames,
 * protocol violations, changes outside the declared schema — each refused with a clear code, the
 * connection closed where needed, nothing stored, and a client following meanwhile unaffected.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { HubServer } from '../src/hub/server.ts';
import type { Repository } from '../src/index.ts';
import { readBatches } from '../src/repo/feed.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '../src/sync/messages.ts';
import { dialWs } from '../src/transport/ws/dial.ts';
import type { WsFrameStream } from '../src/transport/ws/frames.ts';
import { tempDir } from './support/cli.ts';
import { proofOf } from './support/identity.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { notesRepo } from './support/notes.ts';

const MAX = 64 * 1024;

async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(10);
}

/** Every message the hub sends until it closes, and how the stream ended. */
async function answers(s: WsFrameStream): Promise<{ messages: Message[]; error?: Error }> {
  const messages: Message[] = [];
  try {
    for await (const f of s) messages.push(decodeMessage(f));
  } catch (err) {
    return { messages, error: err as Error };
  }
  return { messages };
}

/** One identity per site id, as a database has (a second address claiming it would be refused). */
const proofs = new Map<string, ReturnType<typeof proofOf>>();
const proofFor = (siteId: Uint8Array) => proofs.get(Buffer.from(siteId).toString('hex')) ?? proofs.set(Buffer.from(siteId).toString('hex'), proofOf(siteId)).get(Buffer.from(siteId).toString('hex'))!;

const hello = (siteId: Uint8Array, extra: Partial<Extract<Message, { type: 'hello' }>> = {}): Uint8Array =>
  encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId, proof: proofFor(siteId), schema: [{ name: 'notes', pks: ['id'], columns: ['body'] }], since: 0, held: [], follow: false, pull: false, push: true, ...extra });

describe('hub: bad input', () => {
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  let hub: HubServer;
  let alice: Repository;
  let bob: Repository;
  let bobFollowing: Promise<void>;
  const stopBob = new AbortController();
  let bobFeed: ReturnType<Repository['feed']>;
  const url = (db = 'notes'): string => `${hub.url}/${db}`;

  before(async () => {
    hub = await startHub(`${dir}/hub`, auth, { maxFrameBytes: MAX });
    auth.issue('alice', 'alice');
    alice = await notesRepo(dir, 'alice');
    alice.addRemote('origin', url());
    alice.hubTokens.set(url(), 'alice');
    alice.db.exec("INSERT INTO notes VALUES ('a0', 'first')");
    await alice.push('origin');
    // alice herself follows from a second repository while the bad input arrives
    bob = await notesRepo(dir, 'alice-2');
    bob.addRemote('origin', url());
    bob.hubTokens.set(url(), 'alice');
    bobFeed = bob.feed();
    bobFollowing = bob.follow('origin', bob.link(bob.remote('origin')).dial, { signal: stopBob.signal, push: bobFeed, retryMs: 20 });
    await until(() => bob.db.prepare("SELECT 1 FROM notes WHERE id = 'a0'").get() !== undefined);
  });
  after(async () => {
    stopBob.abort();
    await bobFollowing;
    bobFeed.stop();
    await hub.stop();
    alice.close();
    bob.close();
  });

  it('no token, a wrong token, a bad database name: refused before the upgrade, with one generic word for credentials', async () => {
    await assert.rejects(dialWs(url()), (e: Error & { status?: number; code?: string }) => e.status === 401 && e.code === 'unauthenticated' && /authentication failed/.test(e.message));
    await assert.rejects(dialWs(url(), { token: 'nope' }), (e: Error & { status?: number; code?: string }) => e.status === 401 && e.code === 'unauthenticated' && /authentication failed/.test(e.message));
    await assert.rejects(dialWs(url('Bad.Name'), { token: 'alice' }), (e: Error & { status?: number; code?: string }) => e.status === 400 && e.code === 'bad-request' && /invalid database name/.test(e.message));
    // a client without a token is told how to get one
    const c = await notesRepo(dir, 'no-token');
    c.addRemote('origin', url());
    await assert.rejects(c.pull('origin'), /the hub wants a token: run ddcp hub login ws:\/\/127\.0\.0\.1:\d+ \(or set DDCP_HUB_TOKEN\)/);
    c.close();
  });

  it('a path whose percent-encoding is broken is a bad request (400) naming it, on sync, documents and the share routes', async () => {
    for (const path of ['%E0%A4%A', 'v1/docs/%ZZ']) {
      await assert.rejects(dialWs(`${hub.url}/${path}`, { token: 'alice' }), (e: Error & { status?: number; code?: string }) => {
        assert.equal(e.status, 400, `${path}: ${e.message}`);
        assert.equal(e.code, 'bad-request');
        assert.match(e.message, /percent-encoding/);
        return true;
      });
    }
    const http = hub.url.replace(/^ws/, 'http');
    const res = await fetch(`${http}/v1/databases/%ZZ/shares/bob`, { method: 'PUT', headers: { authorization: 'Bearer alice' }, body: '{"read":"all","write":"none"}' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'bad-request');
    assert.match(body.message, /percent-encoding/);
  });

  it('garbage, a batch before hello, another protocol version: answered with an error code and closed', async () => {
    const cases: [Uint8Array, string][] = [
      [Uint8Array.of(0xff, 1, 2, 3), 'malformed'],
      [encodeMessage({ type: 'caught-up', version: 1 }), 'unexpected'],
      [hello(alice.engine.siteId, { protocol: PROTOCOL_VERSION + 1 }), 'version'],
    ];
    for (const [frame, code] of cases) {
      const s = await dialWs(url(), { token: 'alice' });
      await s.send(frame);
      const { messages } = await answers(s);
      assert.equal(messages.at(-1)?.type, 'error', JSON.stringify(messages));
      assert.equal((messages.at(-1) as { code: string }).code, code);
    }
  });

  it('a malformed control message and an oversized frame close the connection', async () => {
    const s = await dialWs(url(), { token: 'alice' });
    s.control({ type: 'nonsense' });
    assert.match(String((await answers(s)).error?.message), /closed the connection|reset/);
    const big = await dialWs(url(), { token: 'alice', maxFrameBytes: 4 * MAX });
    await big.send(new Uint8Array(MAX + 1)).catch(() => {});
    assert.match(String((await answers(big)).error?.message), /code 1009/);
  });

  it('changes outside the declared schema: refused naming table and column, nothing stored', async () => {
    const c = await notesRepo(dir, 'schemer');
    c.db.exec("INSERT INTO notes VALUES ('s1', 'x')");
    const [batch] = [...readBatches(c.engine, 0, { exceptSite: new Uint8Array(16) })];
    const s = await dialWs(url(), { token: 'alice' });
    await s.send(hello(c.engine.siteId));
    const forged = batch!.changes.map((ch) => ({ ...ch, cid: 'secret' }));
    await s.send(encodeMessage({ type: 'batch', version: batch!.version, complete: true, changes: forged }));
    const { messages } = await answers(s);
    const last = messages.at(-1) as { type: string; code: string; message: string };
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'schema');
    assert.match(last.message, /notes\.secret/);
    await alice.pull('origin');
    assert.equal(alice.db.prepare("SELECT 1 FROM notes WHERE id = 's1'").get(), undefined, 'nothing stored');
    c.close();
  });

  it('meanwhile the following client was unaffected, and the refusals are counted by reason', async () => {
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'after the noise')");
    await alice.push('origin');
    await until(() => bob.db.prepare("SELECT 1 FROM notes WHERE id = 'a1'").get() !== undefined);
    const metrics = await (await fetch(`${hub.url.replace(/^ws/, 'http')}/metrics`)).text();
    for (const reason of ['unauthenticated', 'bad-request', 'protocol', 'oversized', 'schema']) {
      assert.match(metrics, new RegExp(`ddcp_hub_refusals_total\\{reason="${reason}"\\} [1-9]`), reason);
    }
  });
});
