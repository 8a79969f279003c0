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

export type DocumentEvent = ChangeEvent | ConflictEvent | SyncEvent;
export type EventType = DocumentEvent['type'];

export interface EventFilter {
  collection?: string;
  id?: string;
}

export type Listener<E extends DocumentEvent = DocumentEvent> = (event: E) => void;

interface Subscription {
  types: ReadonlySet<EventType> | undefined;
  filter: EventFilter;
  listener: Listener;
}

/** Listeners and delivery. */
export class Events {
  private subs = new Set<Subscription>();
  private readonly onError: ((err: unknown, event: DocumentEvent) => void) | undefined;

  constructor(onError?: (err: unknown, event: DocumentEvent) => void) {
    this.onError = onError;
  }

  /** Whether anyone listens (with no one, events aren't even scheduled). */
  get listened(): boolean {
    return this.subs.size > 0;
  }

  /** Subscribes to events of `types` (all types if empty); returns the unsubscribe function. */
  on(types: EventType | EventType[] | '*', listener: Listener, filter: EventFilter = {}): () => void {
    const list = types === '*' ? [] : Array.isArray(types) ? types : [types];
    const sub: Subscription = { types: list.length ? new Set(list) : undefined, filter, listener };
    this.subs.add(sub);
    return () => void this.subs.delete(sub);
  }

  /** Calls the matching listeners of each event, in order. */
  deliver(events: readonly DocumentEvent[]): void {
    for (const event of events) {
      for (const s of [...this.subs]) {
        if (s.types && !s.types.has(event.type)) continue;
        // Sync events concern no one document: filtered subscriptions don't get them.
        if (s.filter.collection !== undefined && (event.type === 'sync' || s.filter.collection !== event.collection)) continue;
        if (s.filter.id !== undefined && (event.type === 'sync' || s.filter.id !== event.id)) continue;
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

