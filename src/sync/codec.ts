/**
 * The binary encoding of a batch of changes, shared by bundles and network transports. Compact:
 * table names, column names and site ids are sent once per batch and referred to by index.
 *
 *     varint nTables, strings…   varint nCids, strings…   varint nSites, 16-byte ids…
 *     varint nChanges, then per change:
 *       varint table, varint cid, varint pkLength, pk bytes, value (pack.ts's tagged layout),
 *       varint col_version, varint db_version, varint site, varint cl, varint seq
 *
 * Counts and indexes are exact numbers; clocks and versions are 64-bit (up to 2^63 − 1).
 *
 * Decoding validates everything (bounds, indexes, UTF-8) and throws {@link CodecError}: bytes from a
 * peer or a file are untrusted.
 */
import type { Change } from '../engine/index.ts';
import { SITE_ID_BYTES, readValueAt, writeValue, type ReadCursor } from '../engine/index.ts';
import { ByteWriter } from '../base/bytes.ts';
import { latin1 } from '../base/portable.ts';
import { CodecError } from '../base/errors.ts';
import { readVarint, readVarint64, writeVarint } from '../base/varint.ts';
import type { Int64 } from '../base/int64.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function writeBytes(w: ByteWriter, b: Uint8Array): void {
  writeVarint(w, b.length);
  w.bytes(b);
}

/**
 * Indexes of a batch's distinct names, in order of first use. The changes of a batch come in runs
 * of one table, and a table's few columns repeat: the last name answers most lookups.
 */
class Names {
  readonly items: string[] = [];
  private readonly index = new Map<string, number>();
  private last: string | undefined;
  private lastRef = 0;
  ref(name: string): number {
    if (name === this.last) return this.lastRef;
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.items.length;
      this.items.push(name);
      this.index.set(name, i);
    }
    this.last = name;
    this.lastRef = i;
    return i;
  }
}

/** The batch body is written here first (its dictionaries come before it): one buffer, reused. */
const scratch = new ByteWriter();
/** Past this the scratch buffer is not kept between batches (one huge batch must not pin its memory). */
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;

/** Encodes a batch of changes (after `prefix`, if given: the bytes a message puts before them). */
export function encodeChanges(changes: readonly Change[], prefix?: Uint8Array): Uint8Array {
  const tables = new Names();
  const cids = new Names();
  const sites: Uint8Array[] = [];
  const siteRefs = new Map<string, number>();
  const body = scratch;
  body.pos = 0;
  try {
    writeVarint(body, changes.length);
    let lastSite: Uint8Array | undefined;
    let lastSiteRef = 0;
    for (const c of changes) {
      writeVarint(body, tables.ref(c.table));
      writeVarint(body, cids.ref(c.cid));
      const pk = c.pk;
      writeVarint(body, pk.length);
      body.ensure(pk.length);
      // Keys are short: a loop beats the call into TypedArray.set.
      if (pk.length <= 32) for (let i = 0; i < pk.length; i++) body.buf[body.pos + i] = pk[i]!;
      else body.buf.set(pk, body.pos);
      body.pos += pk.length;
      writeValue(body, c.val);
      writeVarint(body, c.colVersion);
      writeVarint(body, c.dbVersion);
      if (c.siteId !== lastSite) {
        lastSite = c.siteId;
        const key = latin1(c.siteId);
        let ref = siteRefs.get(key);
        if (ref === undefined) {
          ref = sites.length;
          sites.push(c.siteId);
          siteRefs.set(key, ref);
        }
        lastSiteRef = ref;
      }
      writeVarint(body, lastSiteRef);
      writeVarint(body, c.cl);
      writeVarint(body, c.seq);
    }
    const head = new ByteWriter();
    if (prefix) head.bytes(prefix);
    for (const dict of [tables, cids]) {
      writeVarint(head, dict.items.length);
      for (const s of dict.items) writeBytes(head, encoder.encode(s));
    }
    writeVarint(head, sites.length);
    for (const s of sites) head.bytes(s);
    const out = new Uint8Array(head.pos + body.pos);
    out.set(head.buf.subarray(0, head.pos), 0);
    out.set(body.buf.subarray(0, body.pos), head.pos);
    return out;
  } finally {
    if (body.buf.length > SCRATCH_KEEP_BYTES) body.buf = new Uint8Array(64);
    body.pos = 0;
  }
}

/** Reads one batch: its dictionaries at once, then its changes one by one (see {@link eachChange}). */
function batchReader(buf: Uint8Array): { count: number; tables: string[]; cids: string[]; next: () => Change; skip: () => number; finish: () => void } {
  // One cursor for the whole batch: reading a value or a varint allocates nothing.
  const at: ReadCursor = { pos: 0 };
  const end = buf.length;
  /**
   * A varint of up to 4 bytes (28 bits) read inline, without a result object; -1 (the cursor not
   * moved) for a longer one or an error, which the callers read through their exact slow path.
   */
  const small = (): number => {
    let pos = at.pos;
    let value = 0;
    for (let shift = 0; shift < 28 && pos < end; shift += 7) {
      const b = buf[pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        at.pos = pos;
        return value >>> 0;
      }
    }
    return -1;
  };
  const varint = (): number => {
    const v = small();
    if (v >= 0) return v;
    const r = readVarint(buf, at.pos);
    at.pos = r.pos;
    return r.value;
  };
  /** Clocks may reach 2^63 - 1: exact beyond 2^53 through readVarint64. */
  const varint64 = (): Int64 => {
    const v = small();
    if (v >= 0) return v;
    const r = readVarint64(buf, at.pos);
    at.pos = r.pos;
    return r.value;
  };
  const bytes = (n: number, what: string): Uint8Array => {
    const pos = at.pos;
    if (n > end - pos) throw new CodecError(`truncated ${what}`);
    at.pos = pos + n;
    return buf.subarray(pos, pos + n);
  };
  const strings = (what: string): string[] => {
    const n = varint();
    if (n > end) throw new CodecError(`implausible ${what} count ${n}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      try {
        out.push(decoder.decode(bytes(varint(), what)));
      } catch (cause) {
        if (cause instanceof CodecError) throw cause;
        throw new CodecError(`${what} is not valid UTF-8`, { cause });
      }
    }
    return out;
  };
  const pick = <T>(list: T[], i: number, what: string): T => {
    if (i >= list.length) throw new CodecError(`${what} reference ${i} out of range`);
    return list[i]!;
  };
  const tables = strings('table name');
  const cids = strings('column name');
  const nSites = varint();
  if (nSites * SITE_ID_BYTES > end - at.pos) throw new CodecError(`truncated site ids`);
  const sites: Uint8Array[] = [];
  for (let i = 0; i < nSites; i++) sites.push(bytes(SITE_ID_BYTES, 'site id').slice());
  const count = varint();
  if (count > end - at.pos) throw new CodecError(`implausible change count ${count}`);
  // The changes of a row come together (a row's cells): they share one view of its key.
  let lastPk: Uint8Array | undefined;
  const key = (n: number): Uint8Array => {
    const pos = at.pos;
    if (n > end - pos) throw new CodecError('truncated primary key');
    at.pos = pos + n;
    if (lastPk !== undefined && lastPk.length === n) {
      let i = 0;
      const off = lastPk.byteOffset - buf.byteOffset;
      while (i < n && buf[off + i] === buf[pos + i]) i++;
      if (i === n) return lastPk;
    }
    // A view into `buf`, not a copy: the batch's changes live no longer than its bytes anyway.
    return (lastPk = buf.subarray(pos, pos + n));
  };
  return {
    count,
    tables,
    cids,
    next: () => {
      const table = pick(tables, varint(), 'table');
      const cid = pick(cids, varint(), 'column');
      const pk = key(varint());
      const val = readValueAt(buf, at);
      const colVersion = varint64();
      const dbVersion = varint64();
      const siteId = pick(sites, varint(), 'site');
      const cl = varint64();
      const seq = varint64();
      return { table, pk, cid, val, colVersion, dbVersion, siteId, cl, seq };
    },
    /**
     * Reads and checks the next change exactly as `next` does (same reads, same errors), keeping
     * nothing: returns its table and column as `tableIndex * cids.length + cidIndex`.
     */
    skip: () => {
      const t = varint();
      pick(tables, t, 'table');
      const ci = varint();
      pick(cids, ci, 'column');
      bytes(varint(), 'primary key');
      readValueAt(buf, at);
      varint64();
      varint64();
      pick(sites, varint(), 'site');
      varint64();
      varint64();
      return t * cids.length + ci;
    },
    finish: () => {
      if (at.pos !== end) throw new CodecError(`${end - at.pos} trailing bytes after the batch`);
    },
  };
}

/** Any failure while reading a batch, as a {@link CodecError}. */
function asCodecError(err: unknown): CodecError {
  if (err instanceof CodecError) return err;
  return new CodecError(`malformed batch: ${(err as Error).message}`, { cause: err });
}

/** What {@link scanChanges} found in a valid batch. */
export interface BatchScan {
  /** How many changes it holds. */
  count: number;
  /** The distinct (table, column) pairs of its changes, in order of first use. */
  columns: { table: string; cid: string }[];
}

/**
 * Checks that the bytes are exactly one valid batch, as {@link decodeChanges} does (same checks, same
 * errors), without making its changes: for a batch that is stored as received and decoded later (a
 * fetched or pushed batch waiting in staging). Throws {@link CodecError}.
 */
export function scanChanges(buf: Uint8Array): BatchScan {
  try {
    const r = batchReader(buf);
    const seen = new Set<number>();
    const columns: BatchScan['columns'] = [];
    let last = -1;
    for (let i = 0; i < r.count; i++) {
      const pair = r.skip();
      if (pair === last || seen.has(pair)) continue;
      seen.add(pair);
      last = pair;
      columns.push({ table: r.tables[Math.floor(pair / r.cids.length)]!, cid: r.cids[pair % r.cids.length]! });
    }
    r.finish();
    return { count: r.count, columns };
  } catch (err) {
    throw asCodecError(err);
  }
}

/** Decodes a batch; throws {@link CodecError} if the bytes are not exactly one valid batch. */
export function decodeChanges(buf: Uint8Array): Change[] {
  try {
    const r = batchReader(buf);
    const out: Change[] = new Array(r.count);
    for (let i = 0; i < r.count; i++) out[i] = r.next();
    r.finish();
    return out;
  } catch (err) {
    throw asCodecError(err);
  }
}

/**
 * The changes of a batch one at a time, for bytes that were validated before (a staged batch): only
 * the change at hand is in memory, not the whole batch as objects. Throws {@link CodecError} where
 * the bytes stop being valid, after yielding the changes before that point.
 */
export function eachChange(buf: Uint8Array): Generator<Change> {
  return eachChangeOf([buf]);
}

/**
 * The changes of several batches, one after the other, as {@link eachChange} reads one: a single
 * generator for all of them (a merge pulls every change through each generator it is wrapped in).
 */
export function* eachChangeOf(bufs: Iterable<Uint8Array>): Generator<Change> {
  for (const buf of bufs) {
    let r;
    try {
      r = batchReader(buf);
    } catch (err) {
      throw asCodecError(err);
    }
    for (let i = 0; i < r.count; i++) {
      let c: Change;
      try {
        c = r.next();
      } catch (err) {
        throw asCodecError(err);
      }
      yield c;
    }
    try {
      r.finish();
    } catch (err) {
      throw asCodecError(err);
    }
  }
}
