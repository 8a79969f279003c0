/**
 * `ddcp serve` as a library: a repository published on the p2p network under its own identity.
 * It answers sync sessions from allowed peers (taking the pushes of those it lets write), follows
 * every remote (over the network, or in-process for folders on this machine) merging what arrives
 * and sending our commits the other way on the same session, and sends its own commits to its
 * followers as they happen.
 */
import { EventEmitter } from 'node:events';
import type { RepoFeed } from '../repo/feed.ts';
import { isSchemaMisfit, type FollowEvent } from '../repo/follow.ts';
import { networkPeer } from '../repo/remotes.ts';
import type { Repository } from '../repo/repository.ts';
import { SYNC_PROTOCOL, type Dial } from '../sync/protocol.ts';
import { Gate } from '../sync/gate.ts';
import { DEFAULT_POLICY } from '../sync/policy.ts';
import { serveSession } from '../sync/server.ts';
import { createNode, type P2pNode } from '../transport/p2p/node.ts';
import type { Server as NetServer } from 'node:net';
import { listenControl, socketPath, type ControlRequest } from './control.ts';
import { isDisconnect, watchChannel } from './disconnect.ts';
import { chooseListen, rememberListen } from './listen.ts';
import { lookupMs, openSync, syncDialer } from './reach.ts';
import { rmSync } from 'node:fs';

export interface ServeOptions {
  /**
   * Multiaddrs to listen on. Default: the config's `listen`, else where the last serve of this
   * repository was bound (see peer/listen.ts), else all interfaces on random TCP and WebSocket ports.
   */
  listen?: string[];
  /** Answer any peer that knows our address, not only allowed ones. */
  public?: boolean;
  /** DHT bootstrap peers (multiaddrs ending in /p2p/<id>); default: the repository's config. */
  bootstrap?: string[];
  /** Discover peers on the local network (default: the config's `mdns`, else true). */
  mdns?: boolean;
  /** Run the DHT (default true). */
  dht?: boolean;
  /** Log lines (default: none). */
  log?: (line: string) => void;
  /**
   * Called once the node listens, before anything is served, followed or logged: the place to
   * announce the server (the CLI prints its banner here, so the banner always precedes log lines).
   */
  onListening?: (server: Server) => void;
}

export interface ServerEvents {
  'peer:connect': [peer: string];
  'peer:disconnect': [peer: string];
  /** A remote's changes were merged. */
  changes: [event: { remote: string; received: number; applied: number; dbVersion: number }];
  /** A remote is caught up to `version`. */
  sync: [event: { remote: string; version: number }];
  /** Something failed (a session, a follow); the server goes on. */
  error: [error: Error];
}

export class Server extends EventEmitter<ServerEvents> {
  readonly repo: Repository;
  readonly node: P2pNode;
  private readonly feed: RepoFeed;
  private readonly abort = new AbortController();
  private readonly tasks: Promise<unknown>[] = [];
  private readonly links: { close(): void }[] = [];
  private readonly log: (line: string) => void;
  private control: NetServer | undefined;
  private readonly following = new Set<string>();

  private constructor(repo: Repository, node: P2pNode, log: (line: string) => void) {
    super();
    this.repo = repo;
    this.node = node;
    this.log = log;
    this.feed = repo.feed();
  }

  /** Starts serving `repo`. */
  static async start(repo: Repository, options: ServeOptions = {}): Promise<Server> {
    // The control socket first: a second serve of the same repository stops before touching ports.
    let server: Server | undefined;
    const control = await listenControl(repo, (req) => (server ? server.onControl(req) : Promise.reject(new Error('ddcp serve is still starting'))));
    let node: P2pNode;
    let warnings: string[];
    try {
      const choice = await chooseListen(repo, options.listen);
      warnings = choice.warnings;
      node = await createNode({
        privateKey: repo.identity.privateKey,
        listen: choice.listen,
        bootstrap: options.bootstrap ?? repo.config.bootstrap ?? [],
        mdns: options.mdns ?? repo.config.mdns,
        dht: options.dht,
        lookupMs: lookupMs(),
      });
    } catch (err) {
      control.close();
      rmSync(socketPath(repo), { force: true });
      throw err;
    }
    server = new Server(repo, node, options.log ?? (() => {}));
    server.control = control;
    try {
      options.onListening?.(server);
      for (const w of warnings) server.log(w);
      try {
        rememberListen(repo, node.listening());
      } catch (err) {
        server.log(`warning: cannot remember the listen addresses for next time: ${(err as Error).message}`);
      }
      await server.begin(options);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The database's address. */
  get address(): string {
    return this.node.peerId;
  }

  /** Where peers can reach us. */
  addresses(): string[] {
    return this.node.addresses();
  }

  private async begin(options: ServeOptions): Promise<void> {
    const signal = this.abort.signal;
    this.node.on('peer:connect', (p) => this.emit('peer:connect', p));
    this.node.on('peer:disconnect', (p) => this.emit('peer:disconnect', p));
    this.feed.start();
    await this.node.handle(SYNC_PROTOCOL, (stream, peer) => {
      const watched = watchChannel(stream);
      return serveSession(watched.channel, this.feed, this.feed, {
        peer,
        // libp2p authenticated the peer id: the client must prove its site id as that address.
        peerAddress: peer,
        proof: this.repo.siteProof(),
        signal,
        log: (level, line) => this.sessionLog(level, line, peer, watched.failure()),
        authorize: () => (options.public || (this.repo.reloadConfig(), this.repo.mayFetch(peer)) ? undefined : `peer ${peer} is not allowed to fetch from this database (on the serving side: ddcp allow ${peer})`),
        gate: options.public ? this.publicGate : this.repo.gate,
      });
    });
    for (const remote of this.repo.remotes()) this.followRemote(remote.name, remote.location);
  }

  /**
   * A session's log line. A session that ended because the peer went away (closed or reset its
   * stream or connection) is an ordinary disconnect, logged as such; other failures keep their reason.
   */
  private sessionLog(level: 'info' | 'warn', line: string, peer: string, failure: Error | undefined): void {
    if (level === 'warn' && failure && isDisconnect(failure) && line.endsWith(failure.message)) this.log(`${peer} disconnected`);
    else this.log(line);
  }

  /** With --public: a peer nobody allowed reads everything and writes nothing (the default policy). */
  private readonly publicGate = new Gate((peer) => (this.repo.mayFetch(peer) ? this.repo.policyFor(peer) : { ...DEFAULT_POLICY }));

  /** Dials network locations through this node (failures in words, see reach.ts). */
  dialer(): (location: string) => Dial {
    return syncDialer(this.repo, this.node);
  }

  /** Requests from other ddcp commands in this repository (see control.ts). */
  private async onControl(req: ControlRequest): Promise<unknown> {
    const name = req.remote;
    switch (req.cmd) {
      case 'status':
        return { address: this.address, addresses: this.addresses(), peers: this.node.peers(), following: [...this.following] };
      case 'fetch':
        return this.repo.fetch(this.need(name), { dial: this.dialer() });
      case 'push':
        return this.repo.push(this.need(name), { dial: this.dialer() });
      case 'merge': {
        const r = this.repo.merge(this.need(name));
        this.feed.check();
        return r;
      }
      case 'pull': {
        const r = await this.repo.pull(this.need(name), { dial: this.dialer() });
        this.feed.check();
        return r;
      }
      case 'remote-added': {
        this.repo.reloadConfig();
        const r = this.repo.remote(this.need(name));
        if (!this.following.has(r.name)) this.followRemote(r.name, r.location);
        return { following: r.name };
      }
      default:
        throw new Error(`unknown request ${String((req as { cmd: unknown }).cmd)}`);
    }
  }

  private need(name: string | undefined): string {
    if (!name) throw new Error('which remote?');
    return name;
  }

  /** Reports a failure to 'error' listeners, if any (an unheard 'error' would end the process). */
  private problem(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Starts following a remote (done for every remote at start). */
  followRemote(name: string, location: string): void {
    this.following.add(name);
    let dial: Dial;
    if (networkPeer(location)) dial = (signal) => openSync(this.node, location, name, signal);
    else {
      // A folder on this machine: its database served in-process over an in-memory channel.
      try {
        const link = this.repo.link(this.repo.remote(name));
        this.links.push(link);
        dial = link.dial;
      } catch (err) {
        dial = () => Promise.reject(err as Error);
      }
    }
    let lastProblem: string | undefined; // one line per outage, not one per retry
    const onEvent = (e: FollowEvent): void => {
      if (e.type === 'merged') {
        if (e.outcome.received > 0) this.log(`merged ${e.outcome.received} changes from ${name} (${e.outcome.applied} new), db_version ${e.outcome.dbVersion}`);
        this.emit('changes', { remote: name, received: e.outcome.received, applied: e.outcome.applied, dbVersion: e.outcome.dbVersion });
        this.feed.check(); // our followers hear of it at once
      } else if (e.type === 'caught-up') this.emit('sync', { remote: name, version: e.version });
      else if (e.type === 'connected') {
        lastProblem = undefined;
        this.log(`following ${name}${e.pushing ? ', sending ours' : ''}`);
      } else if (e.type === 'refused') this.log(`${name} refused our transaction (version ${e.refusal.version}): ${e.refusal.message}`);
      else if (e.type === 'acked' || (e.error && isSchemaMisfit(e.error))) return; // a misfit ends following: logged once below
      else if (e.error && isDisconnect(e.error)) this.log(`${name} disconnected; reconnecting`);
      else if (e.error) {
        if (e.error.message !== lastProblem) this.log(`lost ${name}: ${e.error.message}; retrying`);
        lastProblem = e.error.message;
        this.problem(e.error);
      }
    };
    const stopped = (err: Error): void => {
      // a schema misfit: retrying can't help until one side migrates
      this.following.delete(name);
      this.log(`stopped following ${name}: ${err.message}`);
      this.problem(err);
    };
    this.tasks.push(this.repo.follow(name, dial, { signal: this.abort.signal, onEvent, push: this.feed }).catch(stopped));
  }

  /** Stops serving and following; closes the node. The repository stays open. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.control) {
      this.control.close();
      rmSync(socketPath(this.repo), { force: true });
    }
    this.feed.stop();
    await Promise.allSettled(this.tasks);
    for (const l of this.links) l.close();
    await this.node.stop();
  }
}
