/**
 * The messages between a page, its dedicated worker, and the other tabs' workers (one
 * BroadcastChannel per database). Everything is structured-clonable: SQL values (bigint and
 * Uint8Array included), documents, errors as name + message.
 */
import type { DocumentEvent } from '../docs/events.ts';
import type { ConnectionState } from '../repo/connection.ts';
import type { Storage } from './sqlite.ts';
import type { HubConnection } from './sync.ts';

/** What a page asks of the replica. */
export type Op =
  | { op: 'exec'; sql: string; params?: unknown[] }
  | { op: 'query'; sql: string; params?: unknown[] }
  | { op: 'asCrr'; table: string }
  | { op: 'docs'; method: string; args: unknown[] }
  | { op: 'connect'; hub: HubConnection }
  | { op: 'setToken'; token: string }
  | { op: 'disconnect' }
  | { op: 'info' }
  /** A page listens to document events: the leader reports them from now on, to every tab. */
  | { op: 'watchDocs' };

/** Page → its worker. */
export type PageRequest = ({ id: number } & Op) | { id: number; op: 'open'; name: string; storage: Storage | 'auto' };

export interface ReplicaInfo {
  name: string;
  storage: Storage;
  siteId: string;
  address: string;
  version: number;
  state: ConnectionState;
}

export interface ErrorShape {
  name: string;
  message: string;
}

/** Worker → its page: an answer, or an event. */
export type WorkerMessage =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorShape }
  | { event: 'change'; version: number; origin: 'local' | 'hub' }
  | { event: 'state'; state: ConnectionState; error?: string }
  | { event: 'role'; role: 'leader' | 'follower' }
  | { event: 'doc'; doc: DocumentEvent };

/** Between the workers of one database (all tabs of the origin). */
export type TabMessage =
  | { kind: 'req'; from: string; id: number; request: Op }
  | { kind: 'res'; to: string; id: number; ok: true; value: unknown }
  | { kind: 'res'; to: string; id: number; ok: false; error: ErrorShape }
  | { kind: 'leader'; leader: string }
  /** A new tab's worker asks who leads (the leader answers with `leader`). */
  | { kind: 'hello' }
  /** The hub every tab should follow (undefined: none), for whichever worker leads next. */
  | { kind: 'hub'; hub?: HubConnection }
  | { kind: 'change'; version: number; origin: 'local' | 'hub' }
  | { kind: 'state'; state: ConnectionState; error?: string }
  /** A document event of the leader's replica (local, from any tab, or merged from the hub). */
  | { kind: 'doc'; doc: DocumentEvent }
  /** Some tab listens to document events: whichever worker leads (now or next) reports them. */
  | { kind: 'watchDocs' };

export function errorShape(err: unknown): ErrorShape {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}
