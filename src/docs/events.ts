/**
 * Document events and their delivery: listeners, optionally filtered by collection or document,
 * called outside any database transaction; a listener that throws is reported to `onError` (or
 * ignored) and never stops the others or the operation that caused the event.
 */
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';

export interface ChangeEvent {
  type: 'created' | 'updated' | 'deleted';
  collection: string;
  id: string;
  /** The change's forward patch. */
  patch: Operation[];
  /** The history entry's id. */
  change: string;
  /** True if made through this `Documents`; false if it arrived by sync (or from another process). */
  local: boolean;
  /** The author's site id (hex). */
  site: string;
}

/** A field where a merge kept another replica's concurrent value over ours. */
export interface ConflictEvent {
  type: 'conflict';
  collection: string;
  id: string;
  /** The field's JSON Pointer (for an element of an array, the array's). */
  path: string;
  /** Our value that lost (undefined: the field was removed here). */
  lost: Json | undefined;
  /** The value that won and is now held (undefined: the field was removed there). */
  kept: Json | undefined;
  /** The engine's conflict id (see `engine.conflicts()`). */
  conflict: number;
}

/** A merge through `Documents.applyChanges` starting, and done (with its counts). */
export interface SyncEvent {
  type: 'sync';
  phase: 'started' | 'completed';
  /** The merge's source label, if given. */
  source?: string;
  /** Changes received and applied (new here), and conflicts met: on `completed` only. */
  received?: number;
  applied?: number;
  conflicts?: number;
}

/**
 * A followed remote's connection state changed (see `Documents.watchConnections`): `online`,
 * `reconnecting` (the session broke or could not be opened; retrying) or `offline` (not followed).
 * Delivered only to subscriptions that name `'connection'` (not to `'*'`, which means every
 * document event).
 */
export interface ConnectionEvent {
  type: 'connection';
  remote: string;
  state: 'online' | 'offline' | 'reconnecting';
  /** Why the session ended or failed, if known. */
  error?: string;
}

export type DocumentEvent = ChangeEvent | ConflictEvent | SyncEvent;
export type EventType = DocumentEvent['type'];
/** Every event delivered: document events and connection states. */
export type AnyEvent = DocumentEvent | ConnectionEvent;

export interface EventFilter {
  collection?: string;
  id?: string;
  /** Only this remote's `connection` events (and no other events). */
  remote?: string;
}

export type Listener<E extends AnyEvent = DocumentEvent> = (event: E) => void;

interface Subscription {
  /** Undefined: every document event (not connection events). */
  types: ReadonlySet<AnyEvent['type']> | undefined;
  filter: EventFilter;
  listener: Listener<AnyEvent>;
}

/** Listeners and delivery. */
export class Events {
  private subs = new Set<Subscription>();
  private readonly onError: ((err: unknown, event: AnyEvent) => void) | undefined;

  constructor(onError?: (err: unknown, event: AnyEvent) => void) {
    this.onError = onError;
  }

  /** Whether anyone listens (with no one, events aren't even scheduled). */
  get listened(): boolean {
    return this.subs.size > 0;
  }

  /** Subscribes to events of `types` (all types if empty); returns the unsubscribe function. */
  on(types: AnyEvent['type'] | AnyEvent['type'][] | '*', listener: Listener<never>, filter: EventFilter = {}): () => void {
    const list = types === '*' ? [] : Array.isArray(types) ? types : [types];
    const sub: Subscription = { types: list.length ? new Set(list) : undefined, filter, listener: listener as Listener<AnyEvent> };
    this.subs.add(sub);
    return () => void this.subs.delete(sub);
  }

  /** Calls the matching listeners of each event, in order. */
  deliver(events: readonly AnyEvent[]): void {
    for (const event of events) {
      for (const s of [...this.subs]) {
        if (s.types ? !s.types.has(event.type) : event.type === 'connection') continue;
        // Sync and connection events concern no one document: filtered subscriptions don't get them.
        const global = event.type === 'sync' || event.type === 'connection';
        if (s.filter.collection !== undefined && (global || s.filter.collection !== event.collection)) continue;
        if (s.filter.id !== undefined && (global || s.filter.id !== event.id)) continue;
        if (s.filter.remote !== undefined && (event.type !== 'connection' || s.filter.remote !== event.remote)) continue;
        try {
          s.listener(event);
        } catch (err) {
          try {
            this.onError?.(err, event);
          } catch {
            // an error handler that throws must not break delivery either
          }
        }
      }
    }
  }
}

/** The event type of a change of kind `op`. */
export function changeType(op: 'create' | 'update' | 'delete'): ChangeEvent['type'] {
  return op === 'create' ? 'created' : op === 'delete' ? 'deleted' : 'updated';
}

