/**
 * A folder remote: another repository on this machine, reached like any other remote — through a
 * sync session over an in-process channel to a feed served from that folder. The folder's database
 * is read through connections of its own (WAL: its writers are never blocked).
 */
import { existsSync } from 'node:fs';
import { Engine, openDatabase, type SqliteConnection } from '../engine/index.ts';
import type { Dial } from '../sync/protocol.ts';
import { serveSession, type SessionLog } from '../sync/server.ts';
import { framePair } from '../transport/memory.ts';
import { Gate } from '../sync/gate.ts';
import { DEFAULT_POLICY } from '../sync/policy.ts';
import { peerPolicies, readConfig } from './config.ts';
import { RepoFeed } from './feed.ts';
import { dbPathOf, layout } from './layout.ts';
import { RemoteError } from './remotes.ts';
import { Staging } from './staging.ts';
import { loadIdentity, type Identity } from './identity.ts';
import { makeSiteProof } from '../sync/proof.ts';

export interface LinkOptions {
  /** Who dials (our address): the folder's write policy for it decides what it may push. */
  peer: string;
  log?: SessionLog;
  /** Told of what opening the folder's database repaired there (schema drift, see Engine's onNotice). */
  onNotice?: (message: string) => void;
}

/** An open link to a folder remote: dial it for sessions, close it when done. */
export interface FolderLink {
  dial: Dial;
  /** The folder's address (its identity's): what its sessions must prove to be. */
  address: string;
  close(): void;
}

interface Folder {
  dbPath: string;
  gate: Gate;
  db: SqliteConnection;
  engine: Engine;
  identity: Identity;
  staging(): Staging;
  close(): void;
}

/** The identity of the repository at `root`, with errors naming the remote location. */
function folderIdentity(root: string): Identity {
  try {
    return loadIdentity(layout(root).identity);
  } catch (cause) {
    throw new RemoteError(`${root} is not a usable ddcp repository: ${(cause as Error).message}`, { cause });
  }
}

/** The address of the repository at `root` (its identity's). Throws {@link RemoteError}. */
export function folderAddress(root: string): string {
  return folderIdentity(root).address;
}

/** Opens the repository at `root` for serving, with errors naming the remote location. */
function openFolder(root: string, onNotice?: (message: string) => void): Folder {
  const l = layout(root);
  let config;
  try {
    config = readConfig(l.config);
  } catch (cause) {
    throw new RemoteError(`${root} is not a usable ddcp repository: ${(cause as Error).message}`, { cause });
  }
  const identity = folderIdentity(root);
  const dbPath = dbPathOf(root, config.db);
  // opening would create an empty database (with a new site id) in the remote's repository
  if (!existsSync(dbPath)) throw new RemoteError(`the database of the repository at ${root} is missing (${dbPath})`);
  let db: SqliteConnection | undefined;
  try {
    db = openDatabase(dbPath);
    const engine = Engine.open(db, { onNotice: (m) => onNotice?.(`in the repository at ${root}: ${m}`) });
    let staging: Staging | undefined;
    const opened = db;
    // The config is read again per check: its owner may change policies while we are linked.
    // Anyone on this machine may read a folder (as its files); writing needs a policy for our address.
    const gate = new Gate((peer) => peerPolicies(readConfig(l.config)).get(peer) ?? { ...DEFAULT_POLICY });
    return {
      dbPath,
      gate,
      db,
      engine,
      identity,
      staging: () => (staging ??= new Staging(l.staging)),
      close: () => {
        staging?.close();
        opened.close();
      },
    };
  } catch (cause) {
    db?.close();
    throw new RemoteError(`cannot open the database of the repository at ${root}: ${(cause as Error).message}`, { cause });
  }
}

/** Links to the repository in folder `root`. Throws {@link RemoteError} if nothing usable is there. */
export function linkFolder(root: string, options: LinkOptions): FolderLink {
  const folder = openFolder(root, options.onNotice);
  const feed = new RepoFeed(folder, folder.staging);
  const sessions = new AbortController();
  // The folder answers as itself: its identity signs its site id, as a served node's would.
  const proof = makeSiteProof(folder.engine.siteId, folder.identity.address, (m) => folder.identity.sign(m));
  return {
    address: folder.identity.address,
    dial: async (signal) => {
      const [server, client] = framePair({ names: ['folder', `local:${root}`] });
      const stop = signal ? AbortSignal.any([signal, sessions.signal]) : sessions.signal;
      void serveSession(server, feed, feed, {
        peer: options.peer,
        // In-process: the dialler is this process, which said who it is.
        peerAddress: options.peer,
        proof,
        signal: stop,
        log: options.log,
        gate: folder.gate,
      });
      return client;
    },
    close: () => {
      sessions.abort();
      feed.stop();
      folder.close();
    },
  };
}
