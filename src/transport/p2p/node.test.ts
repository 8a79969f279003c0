/**
 * The libp2p transport on this machine only: every node listens on 127.0.0.1, mDNS stays off in
 * this process (its test runs in a private network namespace), and every node is stopped after.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { frameStreamSuite, readAll, rejectsNamed, type StreamPair } from '../../../test/support/frame-stream-suite.ts';
import { encodeFrameLength, type FrameStream, type FrameStreamOptions } from '../frames.ts';
import { boundAs, checkPeerAddress, createNode, PeerUnreachableError, STREAM_WINDOW_BYTES, type NodeInit, type P2pNode } from './node.ts';

const TCP = '/ip4/127.0.0.1/tcp/0';
const WS = '/ip4/127.0.0.1/tcp/0/ws';

// errors must never escape as unhandled rejections or exceptions
const escaped: unknown[] = [];
const onEscape = (err: unknown): void => {
  escaped.push(err);
};
process.on('unhandledRejection', onEscape);
process.on('uncaughtException', onEscape);
after(() => {
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
  assert.deepEqual(escaped, [], 'errors escaped to the process');
});

/**
 * The mDNS scenario runs in a process of its own (a private network namespace) and shares nothing
 * with this one: started with the file, it runs beside the other tests (~3 s of its start-up and
 * discovery that the file no longer waits for at its end); its test awaits the outcome.
 */
const mdnsProbe = runMdnsProbe();

/** Every node a test starts, stopped after the whole file (and by tests that stop their own). */
const started = new Set<P2pNode>();
after(async () => {
  await Promise.all([...started].map((n) => n.stop()));
});

async function startNode(init: Partial<NodeInit> = {}): Promise<P2pNode> {
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [TCP, WS], mdns: false, dht: false, ...init });
  started.add(node);
  return node;
}

async function stopNode(node: P2pNode): Promise<void> {
  await node.stop();
  started.delete(node);
}

/** The node's address of one transport. */
function addressOf(node: P2pNode, transport: 'tcp' | 'ws'): string {
  const address = node.addresses().find((a) => a.startsWith('/ip4/127.0.0.1/') && a.includes('/ws/') === (transport === 'ws'));
  assert.ok(address, `${node.peerId} has no ${transport} address: ${node.addresses().join(' ')}`);
  return address;
}

/** Retries `fn` until it succeeds or `ms` pass. */
async function eventually<T>(fn: () => Promise<T>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw new Error(`${what}: still failing after ${ms} ms: ${(last as Error)?.message}`, { cause: last });
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Handler that echoes every frame back, then closes. */
async function echo(stream: FrameStream): Promise<void> {
  for await (const frame of stream) await stream.send(frame);
}

/** Pairs of frame streams from one node to another over `transport`, one new protocol per pair. */
function pairs(transport: 'tcp' | 'ws'): { pair: (options: FrameStreamOptions) => Promise<StreamPair>; setUp(): Promise<void> } {
  let a: P2pNode;
  let b: P2pNode;
  let n = 0;
  const release: Array<() => void> = [];
  after(() => release.forEach((r) => r()));
  return {
    async setUp() {
      a = await startNode({ listen: [transport === 'tcp' ? TCP : WS] });
      b = await startNode({ listen: [transport === 'tcp' ? TCP : WS] });
    },
    async pair(frames) {
      const protocol = `/ddcp-test/pair/${transport}/${++n}`;
      const accepted = Promise.withResolvers<FrameStream>();
      await b.handle(
        protocol,
        async (stream, remotePeer) => {
          assert.equal(remotePeer, a.peerId);
          accepted.resolve(stream);
          await new Promise<void>((resolve) => release.push(resolve)); // keep it until the file ends
        },
        { frames },
      );
      const opened = await a.open(addressOf(b, transport), protocol, { frames });
      assert.equal(opened.remotePeer, b.peerId);
      // the stream reaches b's handler once a's side has negotiated it
      const timer = setTimeout(() => accepted.reject(new Error('handler never saw the stream')), 5000);
      try {
        return { a: opened, b: await accepted.promise };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

for (const transport of ['tcp', 'ws'] as const) {
  describe(`FrameStream over libp2p (${transport === 'tcp' ? 'TCP' : 'WebSocket'})`, () => {
    const factory = pairs(transport);
    before(() => factory.setUp());
    frameStreamSuite({
      pair: factory.pair,
      // send backlog + what the Yamux window lets through (on the wire, in the paused read buffer, and
      // dispatched at once into the reader's queue on resume) + the reader's queue
      maxInFlight: (highWater) => 2 * highWater + 3 * STREAM_WINDOW_BYTES,
      backpressureBytes: 64 * 1024 * 1024,
      timeout: 30_000,
    });

    it('close() stops waiting for sends held by backpressure when its signal aborts', { timeout: 30_000 }, async () => {
      const { a, b } = await factory.pair({ highWaterBytes: 64 * 1024 });
      // b never reads: well over what its queue, the Yamux window and a's backlog can take
      const frame = new Uint8Array(256 * 1024);
      const sends = Array.from({ length: 80 }, () => a.send(frame));
      for (const s of sends) s.catch(() => {}); // they fail with the abort below
      await assert.rejects(a.close({ signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
      const done = new Error('done');
      done.name = 'DoneError';
      a.abort(done);
      await rejectsNamed(() => sends[sends.length - 1]!, 'DoneError');
      b.abort(done);
    });

    const detached = (f: Uint8Array): boolean => (f.buffer as ArrayBuffer).detached;

    it('release() frees a received frame at once (its buffer detached) and leaves other bytes alone', { timeout: 30_000 }, async () => {
      const { a, b } = await factory.pair({});
      const sent = [new Uint8Array(200_000).fill(7), text('second'), new Uint8Array(0)];
      const it = b[Symbol.asyncIterator]();
      for (const f of sent) await a.send(f);
      const first = (await it.next()).value as Uint8Array;
      assert.equal(first.length, 200_000);
      assert.equal(first[199_999], 7);
      b.release!(first);
      assert.equal(detached(first), true);
      assert.equal(first.length, 0);
      b.release!(first); // twice: nothing more happens
      // a frame it did not allocate, and a view into one, are not its to free
      const foreign = new Uint8Array(16);
      b.release!(foreign);
      assert.equal(detached(foreign), false);
      const second = (await it.next()).value as Uint8Array;
      b.release!(second.subarray(1));
      assert.equal(str(second), 'second');
      assert.equal(((await it.next()).value as Uint8Array).length, 0);
      // sending side: its frames are its own (the stream sent a copy)
      assert.equal(detached(sent[0]!), false);
      a.release!(sent[0]!);
      assert.equal(detached(sent[0]!), false);
      const done = new Error('done');
      a.abort(done);
      b.abort(done);
    });
  });
}

describe('P2pNode', () => {
  it('exposes its peer id and /p2p/ addresses on the loopback interface', { timeout: 10_000 }, async () => {
    const node = await startNode();
    try {
      assert.match(node.peerId, /^12D3KooW/);
      assert.equal(node.addresses().length, 2);
      for (const a of node.addresses()) {
        assert.ok(a.startsWith('/ip4/127.0.0.1/tcp/'), a);
        assert.ok(a.endsWith(`/p2p/${node.peerId}`), a);
      }
    } finally {
      await stopNode(node);
    }
  });

  it('opens by peer id once the address is known, reports connect/disconnect, and refuses the unknown', { timeout: 15_000 }, async () => {
    const a = await startNode();
    const b = await startNode();
    try {
      await b.handle('/ddcp-test/echo/1', echo);
      const connected: string[] = [];
      const disconnected: string[] = [];
      const offConnect = a.on('peer:connect', (id) => connected.push(id));
      a.on('peer:disconnect', (id) => disconnected.push(id));
      // unknown peer, no DHT, no mDNS: not found, at once
      const notFound = await rejectsNamed(() => a.open(b.peerId, '/ddcp-test/echo/1'), 'PeerNotFoundError');
      assert.ok(notFound instanceof PeerUnreachableError && notFound.message.includes(b.peerId));
      // by address, then by id alone over the same connection
      const first = await a.open(addressOf(b, 'tcp'), '/ddcp-test/echo/1');
      await first.send(text('via address'));
      await first.close();
      assert.deepEqual((await readAll(first)).map(str), ['via address']);
      const second = await a.open(b.peerId, '/ddcp-test/echo/1');
      await second.send(text('via id'));
      await second.close();
      assert.deepEqual((await readAll(second)).map(str), ['via id']);
      assert.deepEqual(connected, [b.peerId]);
      assert.deepEqual(a.peers(), [b.peerId]);
      offConnect();
      await stopNode(b);
      await eventually(async () => assert.deepEqual(disconnected, [b.peerId]), 5000, 'peer:disconnect');
      // a protocol nobody handles, an address nobody listens on, nonsense
      const c = await startNode();
      await assert.rejects(() => a.open(addressOf(c, 'tcp'), '/ddcp-test/nobody/1'));
      const refused = await rejectsNamed(() => a.open('/ip4/127.0.0.1/tcp/1', '/ddcp-test/echo/1'), 'PeerUnreachableError');
      assert.ok(refused instanceof PeerUnreachableError && refused.refused, refused.message);
      assert.match(refused.message, /connection refused$/);
      await rejectsNamed(() => a.open('not-a-peer', '/ddcp-test/echo/1'), 'P2pAddressError');
      assert.ok(new PeerUnreachableError('x', 'y') instanceof Error);
    } finally {
      await stopNode(a);
      await stopNode(b);
    }
  });

  it('a handler that throws aborts only its stream; the peer sees a reset', { timeout: 10_000 }, async () => {
    const a = await startNode();
    const b = await startNode();
    try {
      await b.handle('/ddcp-test/fail/1', async (stream) => {
        for await (const frame of stream) {
          if (str(frame) === 'boom') throw new Error('handler failed');
          await stream.send(frame);
        }
      });
      const s = await a.open(addressOf(b, 'tcp'), '/ddcp-test/fail/1');
      await s.send(text('ok'));
      await s.send(text('boom'));
      const got: string[] = [];
      await rejectsNamed(async () => {
        for await (const f of s) got.push(str(f));
      }, 'FrameStreamResetError');
      assert.deepEqual(got, ['ok']);
      // the node still serves
      const again = await a.open(b.peerId, '/ddcp-test/fail/1');
      await again.send(text('still here'));
      await again.close();
      assert.deepEqual((await readAll(again)).map(str), ['still here']);
    } finally {
      await stopNode(a);
      await stopNode(b);
    }
  });
});

describe('untrusted bytes on a raw stream', () => {
  const PROTOCOL = '/ddcp-test/strict/1';
  let server: P2pNode;
  let attacker: P2pNode;
  let honest: P2pNode;
  const outcomes: Array<{ frames: number; error: string | null }> = [];
  let settled: () => void = () => {};

  before(async () => {
    server = await startNode({ frames: { maxFrameBytes: 1024 * 1024 } });
    attacker = await startNode();
    honest = await startNode();
    await server.handle(PROTOCOL, async (stream) => {
      let frames = 0;
      try {
        for await (const frame of stream) {
          frames++;
          if (str(frame) === 'ping') await stream.send(text('pong'));
        }
        outcomes.push({ frames, error: null });
      } catch (err) {
        outcomes.push({ frames, error: (err as Error).name });
      }
      settled();
    });
  });
  afterEach(() => {
    outcomes.length = 0;
  });

  /** Sends `bytes` on a raw libp2p stream, optionally closing it, and returns the handler's outcome. */
  async function attack(bytes: Uint8Array[], end: 'close' | 'reset' | 'none'): Promise<{ outcome: { frames: number; error: string | null }; raw: Stream }> {
    const done = new Promise<void>((resolve) => {
      settled = resolve;
    });
    const raw = await attacker.libp2p.dialProtocol(multiaddr(addressOf(server, 'tcp')), PROTOCOL);
    raw.addEventListener('message', () => {}); // drain whatever comes back
    for (const b of bytes) raw.send(b);
    if (end === 'close') await raw.close().catch(() => {});
    if (end === 'reset') {
      await sleep(20);
      raw.abort(new Error('attacker hangs up'));
    }
    const timer = setTimeout(() => settled(), 5000);
    await done;
    clearTimeout(timer);
    assert.equal(outcomes.length, 1, 'the handler did not finish');
    return { outcome: outcomes[0]!, raw };
  }

  async function honestRoundTrip(): Promise<void> {
    const s = await honest.open(addressOf(server, 'ws'), PROTOCOL);
    const reading = readAll(s);
    reading.catch(() => {}); // awaited below; don't let a failure surface early as unhandled
    await s.send(text('ping'));
    await s.close();
    assert.deepEqual((await reading).map(str), ['pong']);
  }

  it('an oversized length is refused with FrameTooLargeError and the stream is reset', { timeout: 10_000 }, async () => {
    const { outcome, raw } = await attack([encodeFrameLength(1024 * 1024 + 1), new Uint8Array(1000)], 'none');
    assert.deepEqual(outcome, { frames: 0, error: 'FrameTooLargeError' });
    await eventually(async () => assert.ok(raw.status === 'reset' || raw.status === 'closed', raw.status), 3000, 'reset reaches the sender');
    await honestRoundTrip();
  });

  it('a never-ending length prefix is refused with FrameTooLargeError', { timeout: 10_000 }, async () => {
    const { outcome } = await attack([new Uint8Array(64).fill(0xff)], 'none');
    assert.deepEqual(outcome, { frames: 0, error: 'FrameTooLargeError' });
    await honestRoundTrip();
  });

  it('a stream ending inside a length prefix or a frame gives FrameTruncatedError', { timeout: 10_000 }, async () => {
    let r = await attack([Uint8Array.of(0x80)], 'close');
    assert.deepEqual(r.outcome, { frames: 0, error: 'FrameTruncatedError' });
    outcomes.length = 0;
    r = await attack([Uint8Array.of(2, 0x61, 0x62), Uint8Array.of(100, 1, 2, 3)], 'close');
    assert.deepEqual(r.outcome, { frames: 1, error: 'FrameTruncatedError' });
    await honestRoundTrip();
  });

  it('random garbage never crashes the node: frames or a named error, and it keeps serving', { timeout: 30_000 }, async () => {
    let seed = 42;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let run = 0; run < 25; run++) {
      outcomes.length = 0;
      const chunks = Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
        Uint8Array.from({ length: 1 + Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)),
      );
      // a garbage "length" may be within the limit: then only the end of the stream settles it
      const { outcome } = await attack(chunks, rand() < 0.6 ? 'close' : 'reset');
      if (outcome.error !== null) assert.match(outcome.error, /^Frame(TooLarge|Truncated|StreamReset)Error$/);
    }
    await honestRoundTrip();
  });
});

describe('backpressure end to end', () => {
  it('200 MB to a slow reader keeps memory bounded', { timeout: 60_000 }, async () => {
    const a = await startNode();
    const b = await startNode();
    try {
      const TOTAL = 200 * 1024 * 1024;
      const FRAME = 256 * 1024;
      let received = 0;
      const done = Promise.withResolvers<void>();
      done.promise.catch(() => {}); // awaited below
      await b.handle('/ddcp-test/sink/1', async (stream) => {
        try {
          let sinceNap = 0;
          for await (const frame of stream) {
            received += frame.length;
            sinceNap += frame.length;
            if (sinceNap >= 2 * 1024 * 1024) {
              sinceNap = 0;
              await sleep(10); // slow reader: at most ~200 MB/s, usually far less
            }
          }
          done.resolve();
        } catch (err) {
          done.reject(err);
        }
      });
      (globalThis as { gc?: () => void }).gc?.();
      const base = process.memoryUsage();
      let peakRss = base.rss;
      let peakHeap = base.heapUsed;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }, 10);
      const s = await a.open(addressOf(b, 'tcp'), '/ddcp-test/sink/1');
      const frame = new Uint8Array(FRAME).fill(0xab);
      let sent = 0;
      let maxAhead = 0;
      const t0 = Date.now();
      try {
        while (sent < TOTAL) {
          await s.send(frame);
          sent += FRAME;
          maxAhead = Math.max(maxAhead, sent - received);
        }
        await s.close();
        await done.promise;
      } finally {
        clearInterval(sampler);
      }
      const ms = Date.now() - t0;
      assert.equal(received, TOTAL);
      const rssGrowth = peakRss - base.rss;
      const heapGrowth = peakHeap - base.heapUsed;
      const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
      console.log(`200 MB in ${ms} ms: sender at most ${mb(maxAhead)} ahead of the reader; peak rss +${mb(rssGrowth)}, heap +${mb(heapGrowth)}`);
      assert.ok(maxAhead < 40 * 1024 * 1024, `sender ran ${mb(maxAhead)} ahead of the reader`);
      assert.ok(rssGrowth < 120 * 1024 * 1024, `rss grew by ${mb(rssGrowth)} for 200 MB`);
      assert.ok(heapGrowth < 64 * 1024 * 1024, `heap grew by ${mb(heapGrowth)} for 200 MB`);
    } finally {
      await stopNode(a);
      await stopNode(b);
    }
  });
});

// The DHT scenarios wait on lookups and bound time-outs, not the CPU: they run at once.
describe('finding peers', { concurrency: true }, () => {
  it('dials by peer id alone through a DHT bootstrap node, and finds it again after it moved', { timeout: 45_000 }, async () => {
    const dht = { dht: true, listen: [TCP] };
    const b = await startNode(dht);
    const bootstrap = [addressOf(b, 'tcp')];
    const a = await startNode({ ...dht, bootstrap });
    const cKey: PrivateKey = await generateKeyPair('Ed25519');
    let c = await startNode({ ...dht, bootstrap, privateKey: cKey });
    try {
      await c.handle('/ddcp-test/echo/1', echo);
      await eventually(async () => assert.ok(a.peers().includes(b.peerId) && c.peers().includes(b.peerId)), 10_000, 'bootstrap connections');
      // a was never given c's address: open() finds it through b's DHT (unless the DHT's own
      // housekeeping already connected them, which open() then reuses)
      const roundTrip = async (): Promise<void> => {
        const s = await a.open(c.peerId, '/ddcp-test/echo/1', { signal: AbortSignal.timeout(5000) });
        await s.send(text(`hi ${c.peerId}`));
        await s.close();
        assert.deepEqual((await readAll(s)).map(str), [`hi ${c.peerId}`]);
      };
      await eventually(roundTrip, 15_000, 'open by peer id via the DHT');
      const oldAddress = addressOf(c, 'tcp');
      const known = await a.libp2p.peerStore.get(peerIdFromString(c.peerId));
      assert.ok(known.addresses.some((x) => oldAddress.startsWith(x.multiaddr.toString())), 'a learned where c is');

      // c restarts on another port; a still remembers the old address, which now refuses
      // connections, so open() falls back to asking the DHT for c's current address
      await stopNode(c);
      c = await startNode({ ...dht, bootstrap, privateKey: cKey });
      await c.handle('/ddcp-test/echo/1', echo);
      const newAddress = addressOf(c, 'tcp');
      assert.notEqual(newAddress, oldAddress);
      await eventually(async () => assert.ok(c.peers().includes(b.peerId)), 10_000, 'c reconnects to b');
      await eventually(roundTrip, 15_000, 'open the moved peer by id');
      const remote = a.libp2p.getConnections().find((conn) => conn.remotePeer.toString() === c.peerId)?.remoteAddr.toString();
      assert.ok(remote != null && newAddress.startsWith(remote), `connected to ${remote}, expected ${newAddress}`);
      assert.ok((await a.findPeer(c.peerId)).some((ma) => newAddress.startsWith(ma)));
    } finally {
      await stopNode(a);
      await stopNode(b);
      await stopNode(c);
    }
  });

  it('gives up on a peer id nobody announces after lookupMs, with PeerNotFoundError', { timeout: 30_000 }, async () => {
    const b = await startNode({ dht: true, listen: [TCP] });
    const a = await startNode({ dht: true, listen: [], bootstrap: [addressOf(b, 'tcp')], lookupMs: 1000 });
    try {
      const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
      // without the bound the DHT query would wait forever; the test's timeout catches that
      const err = await rejectsNamed(() => a.open(nobody, '/ddcp-test/echo/1'), 'PeerNotFoundError');
      assert.match(err.message, new RegExp(`no address found for ${nobody} within 1000 ms`));
      // the caller's signal still wins
      await assert.rejects(() => a.open(nobody, '/ddcp-test/echo/1', { signal: AbortSignal.abort(new Error('gave up')) }), /gave up/);
    } finally {
      await stopNode(a);
      await stopNode(b);
    }
  });

  it('reports its listen addresses as bound (port 0 replaced), so the next run can listen there again', { timeout: 10_000 }, async () => {
    const node = await startNode({ listen: [TCP, WS] });
    try {
      const [tcp, ws] = node.listening();
      assert.equal(`${tcp}/p2p/${node.peerId}`, addressOf(node, 'tcp'));
      assert.equal(`${ws}/p2p/${node.peerId}`, addressOf(node, 'ws'));
      // a wildcard host matches any interface's address; a fixed port stays as given
      const bound = [multiaddr('/ip4/127.0.0.1/tcp/4101'), multiaddr('/ip4/10.0.0.2/tcp/4102/ws')];
      assert.equal(boundAs('/ip4/0.0.0.0/tcp/0', bound), '/ip4/0.0.0.0/tcp/4101');
      assert.equal(boundAs('/ip4/0.0.0.0/tcp/0/ws', bound), '/ip4/0.0.0.0/tcp/4102/ws');
      assert.equal(boundAs('/ip4/127.0.0.1/tcp/0/ws', bound), '/ip4/127.0.0.1/tcp/0/ws');
      assert.equal(boundAs('/ip4/127.0.0.1/tcp/9', bound), '/ip4/127.0.0.1/tcp/9');
    } finally {
      await stopNode(node);
    }
  });

  it('checks peer multiaddrs: a multiaddr ending in /p2p/<peer id>', () => {
    checkPeerAddress(`/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBQ4zpW1NjUGwd4pxzKiUoNLfRS6EGzHS7EMC6GFdBJeS`);
    assert.throws(() => checkPeerAddress('/ip4/127.0.0.1/tcp/1', 'bootstrap peer'), { name: 'P2pAddressError', message: /must end in \/p2p\/<peer id>/ });
    assert.throws(() => checkPeerAddress('nonsense'), { name: 'P2pAddressError', message: /is not a multiaddr/ });
    assert.throws(() => checkPeerAddress('/ip4/127.0.0.1/tcp/1/p2p/QmNope'), { name: 'P2pAddressError', message: /not a peer id/ });
  });

  it('discovers a peer by mDNS (in a private network namespace, loopback only)', { timeout: 30_000 }, async (t) => {
    const result = await mdnsProbe;
    if (result.skip) {
      console.log(`mDNS test skipped: ${result.skip}`);
      t.skip(result.skip);
      return;
    }
    assert.ok(result.ok, result.output);
    console.log(result.output.trim());
  });
});

/**
 * Runs two nodes with mDNS in a new network namespace (only a loopback interface, multicast routed
 * to it), so no multicast leaves this machine. Skips where namespaces or multicast are unavailable.
 */
async function runMdnsProbe(): Promise<{ ok: boolean; skip?: string; output: string }> {
  const nodeTs = new URL('./node.ts', import.meta.url).href;
  const probe = `
    import { createSocket } from 'node:dgram';
    import { generateKeyPair } from '@libp2p/crypto/keys';
    const { createNode } = await import(${JSON.stringify(nodeTs)});
    // is multicast delivered here at all?
    const multicast = await new Promise((resolve) => {
      const sock = createSocket({ type: 'udp4', reuseAddr: true });
      const timer = setTimeout(() => { sock.close(); resolve(false); }, 2000);
      sock.on('error', () => { clearTimeout(timer); sock.close(); resolve(false); });
      sock.on('message', () => { clearTimeout(timer); sock.close(); resolve(true); });
      sock.bind(54545, () => {
        sock.addMembership('224.0.0.251');
        sock.send('probe', 54545, '224.0.0.251');
      });
    });
    if (!multicast) { console.log('NO_MULTICAST'); process.exit(0); }
    const listen = ['/ip4/127.0.0.1/tcp/0'];
    const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen, dht: false, mdns: true });
    const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen, dht: false, mdns: true });
    const t0 = Date.now();
    try {
      await b.handle('/probe/1', async (s) => { for await (const f of s) await s.send(f); });
      let timer;
      const connected = new Promise((resolve) => a.on('peer:connect', (id) => { if (id === b.peerId) resolve(); }));
      const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no mDNS discovery in 15 s')), 15000); });
      try {
        await Promise.race([connected, late]);
      } finally {
        clearTimeout(timer);
      }
      const s = await a.open(b.peerId, '/probe/1', { signal: AbortSignal.timeout(5000) });
      await s.send(new TextEncoder().encode('over mdns'));
      await s.close();
      const got = [];
      for await (const f of s) got.push(new TextDecoder().decode(f));
      if (got.join() !== 'over mdns') throw new Error('echo mismatch: ' + got.join());
      console.log('MDNS_OK discovered, connected and echoed in ' + (Date.now() - t0) + ' ms');
    } finally {
      await a.stop();
      await b.stop();
    }
  `;
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
  const script = `${setup} || { echo NETNS_SETUP_FAILED >&2; exit 97; }; exec "$0" --disable-warning=ExperimentalWarning --input-type=module -e "$1"`;
  return new Promise((resolve) => {
    let output = '';
    let child;
    try {
      child = spawn('unshare', ['--net', 'sh', '-c', script, process.execPath, probe], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve({ ok: false, skip: `cannot start unshare: ${(err as Error).message}`, output });
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, skip: `cannot run unshare (needs util-linux and root): ${err.message}`, output });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (/NETNS_SETUP_FAILED|unshare: /.test(output) || code === 97) {
        resolve({ ok: false, skip: `no private network namespace here (unshare --net needs root): ${output.trim().split('\n')[0]}`, output });
      } else if (output.includes('NO_MULTICAST')) {
        resolve({ ok: false, skip: 'multicast is not delivered on loopback in this sandbox', output });
      } else {
        resolve({ ok: code === 0 && output.includes('MDNS_OK'), output: `exit ${code}\n${output}` });
      }
    });
  });
}
