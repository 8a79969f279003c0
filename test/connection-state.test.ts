/**
 * Connection states of followed remotes: a served repository (`Server`, what `ddcp serve` runs)
 * reports each remote it follows going `online`, `reconnecting` when the other side stops, `online`
 * again when it is back, and `offline` when following stops; `Documents.watchConnections` turns
 * them into `connection` events, filtered by remote. Against a real hub on 127.0.0.1 and a real
 * libp2p peer, each stopped and started again on the same port.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Documents, type DocumentConnectionEvent, type DocumentEvent } from '../src/docs/index.ts';
import type { HubServer } from '../src/hub/server.ts';
import type { Repository } from '../src/index.ts';
import { Server, type ConnectionChange } from '../src/peer/index.ts';
import { tempDir } from './support/cli.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { notesRepo } from './support/notes.ts';
import { until } from './hub/following.ts';

const LISTEN = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false };

/** The states in order, each run of repeats once. */
const runs = (events: { state: string }[]): string[] => events.map((e) => e.state).filter((s, i, all) => i === 0 || all[i - 1] !== s);

/** Watches `server`'s states through `docs`: the 'origin' subscription's events, a subscription of another remote's, and '*'. */
function watch(server: Server, docs: Documents, remote: string) {
  const mine: DocumentConnectionEvent[] = [];
  const others: DocumentConnectionEvent[] = [];
  const all: DocumentEvent[] = [];
  const fromServer: ConnectionChange[] = [];
  server.on('connection', (e) => fromServer.push(e));
  docs.on('connection', (e) => mine.push(e), { remote });
  docs.on('connection', (e) => others.push(e), { remote: 'elsewhere' });
  docs.on('*', (e) => all.push(e));
  const stop = docs.watchConnections(server);
  return { mine, others, all, fromServer, stop };
}

describe('connection states of followed remotes', () => {
  const dir = tempDir();
  const repos: Repository[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    for (const r of repos) r.close();
  });

  it('a follower of a hub sees online, reconnecting while the hub is down, online again, offline when it stops', async () => {
    const auth = new TokenAuthenticator();
    let hub: HubServer = await startHub(`${dir}/hub`, auth);
    cleanup.push(() => hub.stop());
    const port = Number(new URL(hub.url).port);
    const repo = await notesRepo(dir, 'follower');
    repos.push(repo);
    repo.addRemote('origin', `${hub.url}/notes`);
    repo.hubTokens.set(`${hub.url}/notes`, auth.issue('t-ann', 'ann'));
    const docs = new Documents(repo.engine);
    const server = await Server.start(repo, LISTEN);
    server.on('error', () => {}); // failed reconnects while the hub is down: expected here
    cleanup.push(() => server.stop());
    const w = watch(server, docs, 'origin');

    await until(() => w.mine.at(-1)?.state === 'online');
    assert.deepEqual(server.connectionStates(), [{ remote: 'origin', state: 'online' }]);
    await hub.stop();
    await until(() => w.mine.at(-1)?.state === 'reconnecting');
    assert.equal(server.connectionStates()[0]!.state, 'reconnecting');
    hub = await startHub(`${dir}/hub`, auth, { port });
    await until(() => w.mine.at(-1)?.state === 'online');
    await server.stop();
    assert.equal(w.mine.at(-1)!.state, 'offline');

    // The first event is the state when watching began (offline before the session opened, or online).
    const seen = runs(w.mine);
    assert.deepEqual(seen.slice(seen.indexOf('online')), ['online', 'reconnecting', 'online', 'offline']);
    assert.ok(w.mine.every((e) => e.type === 'connection' && e.remote === 'origin'));
    assert.ok(w.mine.find((e) => e.state === 'reconnecting')!.error, 'reconnecting says why the session ended');
    assert.deepEqual(runs(w.fromServer).slice(-3), ['reconnecting', 'online', 'offline']);
    assert.deepEqual(w.others, [], "another remote's subscription hears nothing of this one");
    assert.ok(!w.all.some((e) => (e as { type: string }).type === 'connection'), "'*' means document events only");
    w.stop();
  });

  it('a follower of a peer sees it go and come back on the same port', async () => {
    const alice = await notesRepo(dir, 'alice');
    const bob = await notesRepo(dir, 'bob');
    repos.push(alice, bob);
    alice.setPolicy(bob.address, { read: 'all', write: 'none' });
    let served = await Server.start(alice, LISTEN);
    const addr = served.addresses().find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))!;
    cleanup.push(() => served.stop());
    bob.addRemote('origin', addr);
    const docs = new Documents(bob.engine);
    const follower = await Server.start(bob, LISTEN);
    follower.on('error', () => {});
    cleanup.push(() => follower.stop());
    const w = watch(follower, docs, 'origin');

    await until(() => w.mine.at(-1)?.state === 'online');
    await served.stop();
    await until(() => w.mine.at(-1)?.state === 'reconnecting');
    served = await Server.start(alice, { ...LISTEN, listen: [addr.replace(/\/p2p\/.*$/, '')] });
    await until(() => w.mine.at(-1)?.state === 'online');
    const seen = runs(w.mine);
    assert.deepEqual(seen.slice(seen.indexOf('online')), ['online', 'reconnecting', 'online']);
  });
});
