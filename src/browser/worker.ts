/**
 * The dedicated worker behind each tab (see index.ts). Every tab of an origin starts one; they elect
 * one leader per database with a Web Lock. The leader opens the database (OPFS's sahpool VFS admits
 * one connection per origin) and runs the hub sync; the others forward their page's requests to it
 * over a BroadcastChannel and relay its change and connection events back. When the leader's tab
 * closes, its lock is released and the next waiting worker takes over: it opens the same OPFS file —
 * every commit was already durable there — and answers what was still unanswered.
 */
import { LocalReplica } from './replica.ts';
import { errorShape, type Op, type PageRequest, type TabMessage, type WorkerMessage } from './protocol.ts';
import { opfsAvailable, type Storage } from './sqlite.ts';
import type { HubConnection } from './sync.ts';

interface WorkerScope {
  postMessage(m: WorkerMessage): void;
  onmessage: ((ev: { data: PageRequest }) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;

/** What this worker uses of BroadcastChannel and Web Locks (declared here: no DOM library in the build). */
interface Channel {
  postMessage(m: TabMessage): void;
  onmessage: ((ev: { data: TabMessage }) => void) | null;
}
interface Locks {
  request(name: string, fn: () => Promise<void>): Promise<void>;
}
const BroadcastChannelCtor = (globalThis as unknown as { BroadcastChannel: new (name: string) => Channel }).BroadcastChannel;
const me = globalThis.crypto.randomUUID();

let channel: Channel | undefined;
let replica: LocalReplica | undefined;
/** The hub to follow, as the last `connect` (from any tab) said: a new leader follows it too. */
let hub: HubConnection | undefined;
/** Whether some tab listens to document events (a new leader reports them too). */
let watchingDocs = false;
/** Whether this worker, leading, reports its replica's document events. */
let reportingDocs = false;
/** This page's requests sent to the leader and not answered yet (sent again to a new leader). */
const forwarded = new Map<number, Op>();
/** Answers the leader gave, by requester and id: a request sent again is answered, not run again. */
const answered = new Map<string, TabMessage>();

const post = (m: WorkerMessage): void => scope.postMessage(m);
let leaderSeen: (() => void) | undefined;

scope.onmessage = (ev) => {
  const m = ev.data;
  if (m.op === 'open') {
    open(m.name, m.storage).then(
      () => post({ id: m.id, ok: true, value: null }),
      (err) => post({ id: m.id, ok: false, error: errorShape(err) }),
    );
    return;
  }
  const { id, ...op } = m;
  if (op.op === 'connect') hub = op.hub;
  if (op.op === 'watchDocs') watchingDocs = true;
  if (replica) {
    run(op as Op).then(
      (value) => post({ id, ok: true, value }),
      (err) => post({ id, ok: false, error: errorShape(err) }),
    );
  } else {
    forwarded.set(id, op as Op);
    channel?.postMessage({ kind: 'req', from: me, id, request: op as Op } satisfies TabMessage);
  }
};

async function open(name: string, wanted: Storage | 'auto'): Promise<void> {
  if (channel) throw new Error('this worker already opened a replica');
  const storage: Storage = wanted === 'auto' ? (opfsAvailable() ? 'opfs' : 'memory') : wanted;
  channel = new BroadcastChannelCtor(`ddcp:${name}`);
  channel.onmessage = (ev) => void onTab(ev.data);
  post({ event: 'role', role: 'follower' });
  let opened!: () => void;
  let failed!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => ((opened = resolve), (failed = reject)));
  // Failing after this tab joined another's leader: its page hears it as the connection's error.
  ready.catch((err: unknown) => post({ event: 'state', state: 'offline', error: `this tab could not take over the database: ${(err as Error).message}` }));
  const locks = (globalThis as unknown as { navigator?: { locks?: Locks } }).navigator?.locks;
  if (!locks) {
    await lead(name, storage);
    return;
  }
  // Held until this worker ends (its tab closes): then the next tab's worker gets it.
  void locks.request(`ddcp:${name}`, () =>
    lead(name, storage).then(
      () => {
        opened();
        return new Promise<void>(() => {});
      },
      (err) => failed(err),
    ),
  );
  // Ready once the database is open here, or another tab's leader answered our hello.
  const leaderKnown = new Promise<void>((resolve) => (leaderSeen = resolve));
  channel.postMessage({ kind: 'hello' });
  await Promise.race([ready, leaderKnown]);
}

async function lead(name: string, storage: Storage): Promise<void> {
  replica = await LocalReplica.open({ name, storage });
  replica.onChange((c) => {
    post({ event: 'change', version: c.version, origin: c.origin });
    channel!.postMessage({ kind: 'change', version: c.version, origin: c.origin } satisfies TabMessage);
  });
  replica.onState((state, error) => {
    post({ event: 'state', state, ...(error !== undefined ? { error } : {}) });
    channel!.postMessage({ kind: 'state', state, ...(error !== undefined ? { error } : {}) } satisfies TabMessage);
  });
  if (watchingDocs) reportDocs();
  post({ event: 'role', role: 'leader' });
  channel!.postMessage({ kind: 'leader', leader: me } satisfies TabMessage);
  if (hub) await replica.connect(hub);
  // What this page asked while another led and got no answer: run here now.
  for (const [id, op] of forwarded) {
    forwarded.delete(id);
    run(op).then(
      (value) => post({ id, ok: true, value }),
      (err) => post({ id, ok: false, error: errorShape(err) }),
    );
  }
}

/** The leader reports its replica's document events to its page and every other tab. */
function reportDocs(): void {
  if (reportingDocs) return;
  reportingDocs = true;
  replica!.onDocs((doc) => {
    post({ event: 'doc', doc });
    channel!.postMessage({ kind: 'doc', doc } satisfies TabMessage);
  });
}

async function onTab(m: TabMessage): Promise<void> {
  switch (m.kind) {
    case 'req': {
      if (!replica) return; // not the leader (or not ready): the requester sends it again to the leader
      const key = `${m.from}/${m.id}`;
      const done = answered.get(key);
      if (done) return channel!.postMessage(done);
      let res: TabMessage;
      try {
        res = { kind: 'res', to: m.from, id: m.id, ok: true, value: await run(m.request) };
      } catch (err) {
        res = { kind: 'res', to: m.from, id: m.id, ok: false, error: errorShape(err) };
      }
      answered.set(key, res);
      if (answered.size > 100) answered.delete(answered.keys().next().value!);
      channel!.postMessage(res);
      return;
    }
    case 'res':
      if (m.to !== me || !forwarded.delete(m.id)) return;
      return post(m.ok ? { id: m.id, ok: true, value: m.value } : { id: m.id, ok: false, error: m.error });
    case 'hello':
      if (replica) channel!.postMessage({ kind: 'leader', leader: me });
      return;
    case 'leader':
      leaderSeen?.();
      // A new leader: what it may not have seen goes to it again.
      for (const [id, request] of forwarded) channel!.postMessage({ kind: 'req', from: me, id, request } satisfies TabMessage);
      return;
    case 'hub':
      hub = m.hub;
      return;
    case 'change':
      return post({ event: 'change', version: m.version, origin: m.origin });
    case 'state':
      return post({ event: 'state', state: m.state, ...(m.error !== undefined ? { error: m.error } : {}) });
    case 'doc':
      return post({ event: 'doc', doc: m.doc });
    case 'watchDocs':
      watchingDocs = true;
      return;
  }
}

/** Runs a request on the replica this worker leads. */
async function run(op: Op): Promise<unknown> {
  const r = replica!;
  switch (op.op) {
    case 'exec':
      return r.exec(op.sql, op.params as never);
    case 'query':
      return r.query(op.sql, op.params as never);
    case 'asCrr':
      return r.asCrr(op.table);
    case 'docs':
      return r.callDocs(op.method, op.args);
    case 'connect':
      hub = op.hub;
      channel!.postMessage({ kind: 'hub', hub: op.hub });
      await r.connect(op.hub);
      return null;
    case 'setToken':
      if (hub) channel!.postMessage({ kind: 'hub', hub: (hub = { ...hub, token: op.token }) });
      return r.setToken(op.token);
    case 'disconnect':
      hub = undefined;
      channel!.postMessage({ kind: 'hub' });
      return r.disconnect();
    case 'watchDocs':
      watchingDocs = true;
      channel!.postMessage({ kind: 'watchDocs' });
      reportDocs();
      return null;
    case 'info':
      return { name: r.name, storage: r.storage, siteId: r.siteId, address: r.address, version: r.version, state: r.state };
  }
}
