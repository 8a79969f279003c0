/** The frame stream suite over WebSocket on 127.0.0.1 (a `ws` server and a dialled client), and dial refusals. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { frameStreamSuite, readAll, rejectsNamed } from '../../../test/support/frame-stream-suite.ts';
import { dialWs, isWsUrl } from './dial.ts';
import { WsFrameStream } from './frames.ts';

describe('FrameStream over WebSocket', () => {
  let http: Server;
  let wss: WebSocketServer;
  let url: string;
  let accepted: ((ws: WebSocket) => void)[] = [];
  before(async () => {
    http = createServer((_req, res) => res.writeHead(404).end());
    wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
    http.on('upgrade', (req, socket, head) => {
      if (req.url === '/refuse') {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"code":"forbidden","message":"not yours"}');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => accepted.shift()?.(ws));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => http.close(resolve));
  });

  const pair = async (options: { maxFrameBytes?: number; highWaterBytes?: number }) => {
    const server = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const a = await dialWs(`${url}/db`, options);
    const b = new WsFrameStream(await server, { ...options, remotePeer: 'client' });
    return { a, b };
  };

  frameStreamSuite({
    pair,
    // each end's queue + what the kernel's socket buffers on loopback hold while the reader is paused
    maxInFlight: (highWater) => 2 * highWater + 16 * 1024 * 1024,
    backpressureBytes: 64 * 1024 * 1024,
    timeout: 30_000,
  });

  it('a refused upgrade rejects with the server status, code and message', async () => {
    const err = await rejectsNamed(() => dialWs(`${url}/refuse`), 'WsRefusedError');
    assert.match(err.message, /not yours \(forbidden, HTTP 403\)/);
  });

  it('nothing listening: a FrameError names the URL', async () => {
    const err = await rejectsNamed(() => dialWs('ws://127.0.0.1:1/x', { timeoutMs: 2_000 }), 'FrameError');
    assert.match(err.message, /ws:\/\/127\.0\.0\.1:1\/x/);
  });

  it('frames sent in one callback leave in one write, before the next turn of the event loop', async () => {
    const server = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const a = await dialWs(`${url}/db`);
    const ws = await server;
    const b = new WsFrameStream(ws, { remotePeer: 'client' });
    // the socket's writes to the kernel: one per uncork, however many frames were corked
    const socket = (ws as unknown as { _socket: { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void } })._socket;
    let writes = 0;
    for (const k of ['_writev', '_write'] as const) {
      const original = socket[k].bind(socket);
      socket[k] = (...args: unknown[]) => {
        writes++;
        original(...args);
      };
    }
    // queued before the sends: it runs before anything they queue for the next turn
    let atNextTurn = -1;
    setImmediate(() => (atNextTurn = writes));
    const sent = Promise.all([b.send(new Uint8Array([1])), b.send(new Uint8Array([2, 2])), b.send(new Uint8Array([3, 3, 3]))]);
    await new Promise((resolve) => setImmediate(resolve));
    await sent;
    assert.equal(atNextTurn, 1, 'the frames left together, before the next turn');
    await b.close();
    assert.deepEqual((await readAll(a)).map((f) => f.length), [1, 2, 3]);
    await a.close();
  });

  /** The socket's writes to the kernel (one per uncork, however many frames were corked), and the frames handed to `ws`. */
  const watched = async () => {
    const server = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const a = await dialWs(`${url}/db`);
    const ws = await server;
    const b = new WsFrameStream(ws, { remotePeer: 'client' });
    const socket = (ws as unknown as { _socket: Record<'_writev' | '_write', (...a: unknown[]) => void> })._socket;
    const count = { writes: 0, handed: 0 };
    for (const k of ['_writev', '_write'] as const) {
      const original = socket[k].bind(socket);
      socket[k] = (...args: unknown[]) => {
        count.writes++;
        original(...args);
      };
    }
    // handed over: to `ws` (which writes to the socket in the call) or, a server's frames, to the socket itself
    const send = ws.send.bind(ws);
    ws.send = ((...args: Parameters<WebSocket['send']>) => {
      count.handed++;
      send(...args);
    }) as WebSocket['send'];
    const net = (ws as unknown as { _socket: { write: (...a: unknown[]) => boolean } })._socket;
    const write = net.write.bind(net);
    net.write = (...args: unknown[]) => {
      count.handed++;
      return write(...args);
    };
    return { a, b, count };
  };

  /** What a server-side socket is handed to write (its `write` calls), from a pair dialled to it. */
  const tapped = async () => {
    const server = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const a = await dialWs(`${url}/db`, { maxFrameBytes: 1024 * 1024 });
    const ws = await server;
    const chunks: Buffer[] = [];
    const net = (ws as unknown as { _socket: { write: (chunk: Buffer, ...a: unknown[]) => boolean } })._socket;
    const write = net.write.bind(net);
    net.write = (chunk: Buffer, ...args: unknown[]) => {
      chunks.push(chunk);
      return write(chunk, ...args);
    };
    return { a, ws, chunks };
  };

  it("a server's frames: the bytes ws writes, one chunk per frame, a shared frame framed once for every socket", async () => {
    const sizes = [0, 1, 125, 126, 1000, 16 * 1024 - 1, 16 * 1024, 65_535, 65_536, 70_000];
    const payloads = sizes.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 255));
    // what ws itself writes for these messages
    const plain = await tapped();
    for (const p of payloads) plain.ws.send(p, { binary: true });
    const expected = Buffer.concat(plain.chunks);
    plain.ws.close();
    await plain.a.close();
    // the same through two server streams, every frame shared by both
    const one = await tapped();
    const two = await tapped();
    const streams = [one, two].map((t) => new WsFrameStream(t.ws, { remotePeer: 'client', maxFrameBytes: 1024 * 1024 }));
    for (const p of payloads) await Promise.all(streams.map((s) => s.send(p, { shared: true })));
    for (const t of [one, two]) assert.deepEqual(Buffer.concat(t.chunks), expected, 'the same bytes on the wire');
    // one chunk per frame below 16 KiB (not a header and a payload), the same buffer for both sockets
    const small = sizes.filter((n) => n < 16 * 1024).length;
    for (let i = 0; i < small; i++) assert.equal(one.chunks[i], two.chunks[i], `frame ${i}: framed once, written to both`);
    assert.equal(one.chunks.length, small + 2 * (sizes.length - small));
    for (const [i, s] of streams.entries()) {
      await s.close();
      assert.deepEqual((await readAll([one, two][i]!.a)).map((f) => Buffer.from(f)), payloads.map((p) => Buffer.from(p)));
    }
    await Promise.all([one.a.close(), two.a.close()]);
  });

  it("a server's frame not shared is copied: the caller may reuse its buffer at once", async () => {
    const t = await tapped();
    const b = new WsFrameStream(t.ws, { remotePeer: 'client' });
    for (const n of [3, 20_000]) {
      const frame = new Uint8Array(n).fill(1);
      const sent = b.send(frame);
      frame.fill(9); // before the corked write leaves
      await sent;
    }
    await b.close();
    assert.deepEqual((await readAll(t.a)).map((f) => [f.length, new Set(f).size === 1 && f[0]]), [
      [3, 1],
      [20_000, 1],
    ]);
    await t.a.close();
  });

  it('a send with none pending hands its frame to the socket at once; later ones keep the order', async () => {
    const { a, b, count } = await watched();
    const first = b.send(new Uint8Array([1]));
    assert.ok(count.handed > 0, 'handed over in the call, not a promise job later');
    const rest = [b.send(new Uint8Array([2, 2])), b.send(new Uint8Array([3, 3, 3]))];
    await Promise.all([first, ...rest]);
    await b.close();
    assert.deepEqual((await readAll(a)).map((f) => f.length), [1, 2, 3]);
    await a.close();
  });

  it('a send made straight in a callback and those of its promise jobs leave in one write', async () => {
    const { a, b, count } = await watched();
    let atNextTurn = -1;
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        setImmediate(() => {
          atNextTurn = count.writes;
          resolve();
        });
        void b.send(new Uint8Array([1])); // in the callback itself
        void Promise.resolve().then(() => b.send(new Uint8Array([2, 2]))); // in one of its promise jobs
      }),
    );
    assert.equal(atNextTurn, 1, 'one write for both frames');
    await b.close();
    assert.deepEqual((await readAll(a)).map((f) => f.length), [1, 2]);
    await a.close();
  });

  it('control messages: end half-closes, others reach onControl, malformed ones fail the stream', async () => {
    const got: unknown[] = [];
    const server = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const a = await dialWs(`${url}/db`);
    const ws = await server;
    const b = new WsFrameStream(ws, { remotePeer: 'client', onControl: (m) => void got.push(m) });
    a.control({ type: 'refresh', token: 't' });
    await a.send(new Uint8Array([1]));
    await a.close();
    assert.deepEqual((await readAll(b)).map((f) => [...f]), [[1]]);
    assert.deepEqual(got, [{ type: 'refresh', token: 't' }]);
    await b.close();
    // garbage text from the other side ends the stream with a FrameError
    const server2 = new Promise<WebSocket>((resolve) => accepted.push(resolve));
    const c = await dialWs(`${url}/db`);
    const d = new WsFrameStream(await server2, { remotePeer: 'client' });
    (c as unknown as { control(m: unknown): void }).control({ type: 'what' });
    await rejectsNamed(() => readAll(d), 'FrameError');
    assert.ok(isWsUrl('ws://h:1/db') && isWsUrl('wss://h/db') && !isWsUrl('/tmp/x') && !isWsUrl('ws:/x'));
  });
});
