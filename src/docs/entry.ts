/**
 * A history entry's stored form: one compact binary value (the `entry` column of the changes
 * table), written once and never edited, so it needs one clock and one cell on the wire. The key
 * columns hold what identifies it (collection, document, author site, seq); this holds the rest:
 *
 *     byte 1 (format) · byte flags (op in bits 0–1, 4: has author, 8: undoes)
 *     varint at · [string author] · [varint seq of the undone change: same site, 0 if unknown]
 *     varint n, n forward ops · varint m, m reverse ops
 *     op: byte kind (0 add, 1 remove, 2 replace; +16: same path as the forward op at its index)
 *         [string path] [string JSON value, unless remove]
 *     string: varint byte length, UTF-8
 *
 * Reverse ops usually touch the forward ops' paths in the same order (a replace is undone by a
 * replace of the same path), so their paths are mostly left out. Pure; decoding validates and throws
 * {@link EntryFormatError} (the value came from a peer).
 */
import { ByteWriter } from '../base/bytes.ts';
import { readVarint, writeVarint } from '../base/varint.ts';
import { DocumentError } from './errors.ts';
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';

export type ChangeKind = 'create' | 'update' | 'delete';

/** What an entry's value holds. */
export interface EntryBody {
  at: number;
  op: ChangeKind;
  author?: string;
  /** The seq of the change (of the same site) this one undid; 0 when not known here. */
  undoes?: number;
  forward: Operation[];
  reverse: Operation[];
}

/** A stored history entry that can't be read. */
export class EntryFormatError extends DocumentError {
  override name = 'EntryFormatError';
}

const FORMAT = 1;
const OPS: readonly ChangeKind[] = ['create', 'update', 'delete'];
const KINDS = ['add', 'remove', 'replace'] as const;
const SAME_PATH = 16;
const HAS_AUTHOR = 4;
const HAS_UNDOES = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** One buffer for every encoding (entries are small); the result is copied out. */
const w = new ByteWriter();

function writeString(s: string): void {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: write in place, then the length before it.
  const max = s.length * 3;
  w.ensure(max + 9);
  if (s.length < 128) {
    // ASCII (paths, most values) is copied unit by unit: cheaper than encodeInto on a fresh view.
    const buf = w.buf;
    const start = w.pos;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + 1 + i] = c;
    }
    if (i === s.length) {
      buf[start] = i;
      w.pos = start + 1 + i;
      return;
    }
  }
  if (max < 128) {
    const start = w.pos++;
    const { written } = encoder.encodeInto(s, w.buf.subarray(w.pos));
    w.buf[start] = written;
    w.pos += written;
    return;
  }
  const bytes = encoder.encode(s);
  writeVarint(w, bytes.length);
  w.bytes(bytes);
}

function writeOps(ops: readonly Operation[], forward?: readonly Operation[]): void {
  writeVarint(w, ops.length);
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const kind = KINDS.indexOf(o.op as (typeof KINDS)[number]);
    if (kind < 0) throw new EntryFormatError(`a history patch holds only add, remove and replace, not ${o.op}`);
    const same = forward?.[i]?.path === o.path;
    w.byte(kind | (same ? SAME_PATH : 0));
    if (!same) writeString(o.path);
    if (o.op !== 'remove') writeString(JSON.stringify((o as { value: Json }).value));
  }
}

/** The stored value of an entry. */
export function encodeEntry(e: EntryBody): Uint8Array {
  w.pos = 0;
  w.byte(FORMAT);
  w.byte(OPS.indexOf(e.op) | (e.author !== undefined ? HAS_AUTHOR : 0) | (e.undoes !== undefined ? HAS_UNDOES : 0));
  writeVarint(w, e.at);
  if (e.author !== undefined) writeString(e.author);
  if (e.undoes !== undefined) writeVarint(w, e.undoes);
  writeOps(e.forward);
  writeOps(e.reverse, e.forward);
  return w.buf.slice(0, w.pos);
}

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new EntryFormatError('history entry is truncated');
    return this.buf[this.pos++]!;
  }
  varint(): number {
    const b = this.buf[this.pos];
    if (b !== undefined && b < 0x80) {
      this.pos++;
      return b;
    }
    try {
      const r = readVarint(this.buf, this.pos);
      this.pos = r.pos;
      return r.value;
    } catch (err) {
      throw new EntryFormatError(`history entry: ${(err as Error).message}`, { cause: err });
    }
  }
  string(): string {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new EntryFormatError('history entry is truncated');
    try {
      return decoder.decode(this.buf.subarray(this.pos, (this.pos += n)));
    } catch (err) {
      throw new EntryFormatError('history entry holds invalid UTF-8', { cause: err });
    }
  }
  json(): Json {
    const text = this.string();
    try {
      return JSON.parse(text) as Json;
    } catch (err) {
      throw new EntryFormatError('history entry holds invalid JSON', { cause: err });
    }
  }
  ops(forward?: readonly Operation[]): Operation[] {
    const n = this.varint();
    if (n > this.buf.length) throw new EntryFormatError('history entry is truncated');
    const out: Operation[] = [];
    for (let i = 0; i < n; i++) {
      const b = this.byte();
      const kind = KINDS[b & 15];
      if (kind === undefined || (b & ~(15 | SAME_PATH)) !== 0) throw new EntryFormatError(`history entry holds an unknown op (${b})`);
      let path: string;
      if (b & SAME_PATH) {
        const f = forward?.[i];
        if (!f) throw new EntryFormatError('history entry refers to a missing forward op');
        path = f.path;
      } else path = this.string();
      out.push(kind === 'remove' ? { op: kind, path } : { op: kind, path, value: this.json() });
    }
    return out;
  }
}

/** Reads an entry's stored value. Throws {@link EntryFormatError} if it is not one. */
export function decodeEntry(value: unknown): EntryBody {
  if (!(value instanceof Uint8Array)) throw new EntryFormatError('history entry is not a blob');
  const r = new Reader(value);
  if (r.byte() !== FORMAT) throw new EntryFormatError(`history entry has an unknown format (${value[0]})`);
  const flags = r.byte();
  const op = OPS[flags & 3];
  if (op === undefined || (flags & ~(3 | HAS_AUTHOR | HAS_UNDOES)) !== 0) throw new EntryFormatError(`history entry has unknown flags (${flags})`);
  const e: EntryBody = { at: r.varint(), op, forward: [], reverse: [] };
  if (flags & HAS_AUTHOR) e.author = r.string();
  if (flags & HAS_UNDOES) e.undoes = r.varint();
  e.forward = r.ops();
  e.reverse = r.ops(e.forward);
  if (r.pos !== value.length) throw new EntryFormatError('history entry has trailing bytes');
  return e;
}
