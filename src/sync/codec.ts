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
import { SITE_ID_BYTES, readValueAt, skipValueAt, writeValue, type ReadCursor } from '../engine/index.ts';
import { ByteWriter } from '../base/bytes.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
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

/** The dictionaries and `prefix` are written here, then the batch is copied out once: reused too. */
const headScratch = new ByteWriter();

/** Writes a name as a varint length and its UTF-8 (short ASCII byte by byte, without the encoder). */
function writeName(w: ByteWriter, s: string): void {
  const n = s.length;
  if (n < 0x80) {
    w.ensure(1 + n);
    const buf = w.buf;
    const start = w.pos + 1;
    let i = 0;
    for (; i < n; i++) {
      const code = s.charCodeAt(i);
      if (code > 0x7f) break;
      buf[start + i] = code;
    }
    if (i === n) {
      buf[w.pos] = n;
      w.pos = start + n;
      return;
    }
  }
  writeBytes(w, encoder.encode(s));
}

/** A batch's site ids and their indexes: a few compared byte by byte, more through a map. */
class Sites {
  readonly items: Uint8Array[] = [];
  private index: Map<string, number> | undefined;
  ref(site: Uint8Array): number {
    const items = this.items;
    if (this.index === undefined) {
      for (let i = 0; i < items.length; i++) if (sameBytes(items[i]!, site, 0, site.length)) return i;
      items.push(site);
      if (items.length > 8) {
        this.index = new Map();
        items.forEach((s, i) => this.index!.set(latin1(s), i));
      }
      return items.length - 1;
    }
    const key = latin1(site);
    let ref = this.index.get(key);
    if (ref === undefined) {
      ref = items.length;
      items.push(site);
      this.index.set(key, ref);
    }
    return ref;
  }
}

// An instance of each class an encoding makes and drops, kept so that a full collection between
// batches doesn't throw away encodeChanges's optimized code (base/hidden-classes.ts).
keepHiddenClasses(new Names(), new Sites());

/** Encodes a batch of changes (after `prefix`, if given: the bytes a message puts before them). */
export function encodeChanges(changes: readonly Change[], prefix?: Uint8Array): Uint8Array {
  const tables = new Names();
  const cids = new Names();
  const sites = new Sites();
  const body = scratch;
  body.pos = 0;
  const head = headScratch;
  head.pos = 0;
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
        lastSiteRef = sites.ref(c.siteId);
      }
      writeVarint(body, lastSiteRef);
      writeVarint(body, c.cl);
      writeVarint(body, c.seq);
    }
    if (prefix) head.bytes(prefix);
    for (const dict of [tables, cids]) {
      writeVarint(head, dict.items.length);
      for (const s of dict.items) writeName(head, s);
    }
    writeVarint(head, sites.items.length);
    for (const s of sites.items) head.bytes(s);
    const out = new Uint8Array(head.pos + body.pos);
    out.set(head.buf.subarray(0, head.pos), 0);
    out.set(body.buf.subarray(0, body.pos), head.pos);
    return out;
  } finally {
    if (body.buf.length > SCRATCH_KEEP_BYTES) body.buf = new Uint8Array(64);
    if (head.buf.length > SCRATCH_KEEP_BYTES) head.buf = new Uint8Array(64);
    body.pos = 0;
    head.pos = 0;
  }
}

/**
 * The names and site ids of recent batches, reused when the same bytes come again: a batch's
 * dictionaries are few and repeat from batch to batch (one table, its columns, a few sites), and
 * decoding a name or copying a site id cost more than reading a one-change batch. A hit compares
 * the bytes each time (a site id is handed out, and a caller could change it in place).
 */
const RECENT = 16;
const recentNameBytes: Uint8Array[] = [];
const recentNames: string[] = [];
let recentNameNext = 0;
const recentSites: Uint8Array[] = [];
let recentSiteNext = 0;

function sameBytes(a: Uint8Array, buf: Uint8Array, pos: number, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== buf[pos + i]) return false;
  return true;
}

/**
 * Reads one batch: its dictionaries at once, then its changes one by one (see {@link eachChange}).
 * A class, not closures: a batch of one change (a follower's usual frame) paid more for making a
 * dozen closures than for reading its change. It is its own read cursor (`pos`).
 */
class BatchReader implements ReadCursor {
  pos = 0;
  readonly buf: Uint8Array;
  readonly end: number;
  readonly tables: string[];
  readonly cids: string[];
  readonly sites: Uint8Array[];
  readonly count: number;
  /** Where the changes begin (after the count). */
  readonly start: number;
  /** The changes of a row come together (a row's cells): they share one view of its key. */
  private lastPk: Uint8Array | undefined;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.end = buf.length;
    this.tables = this.strings('table name');
    this.cids = this.strings('column name');
    const nSites = this.varint();
    if (nSites * SITE_ID_BYTES > this.end - this.pos) throw new CodecError(`truncated site ids`);
    const sites: Uint8Array[] = [];
    for (let i = 0; i < nSites; i++) sites.push(this.site());
    this.sites = sites;
    const count = this.varint();
    if (count > this.end - this.pos) throw new CodecError(`implausible change count ${count}`);
    this.count = count;
    this.start = this.pos;
  }

  /** Back to the first change (the dictionaries are kept): to decode a batch that was scanned. */
  rewind(): void {
    this.pos = this.start;
    this.lastPk = undefined;
  }

  /**
   * A varint of up to 4 bytes (28 bits) read inline, without a result object; -1 (the cursor not
   * moved) for a longer one or an error, which the callers read through their exact slow path.
   */
  private small(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 28 && pos < end; shift += 7) {
      const b = buf[pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    return -1;
  }

  private varint(): number {
    const v = this.small();
    if (v >= 0) return v;
    const r = readVarint(this.buf, this.pos);
    this.pos = r.pos;
    return r.value;
  }

  /** Clocks may reach 2^63 - 1: exact beyond 2^53 through readVarint64. */
  private varint64(): Int64 {
    const v = this.small();
    if (v >= 0) return v;
    const r = readVarint64(this.buf, this.pos);
    this.pos = r.pos;
    return r.value;
  }

  private bytes(n: number, what: string): Uint8Array {
    const pos = this.pos;
    if (n > this.end - pos) throw new CodecError(`truncated ${what}`);
    this.pos = pos + n;
    return this.buf.subarray(pos, pos + n);
  }

  private strings(what: string): string[] {
    const n = this.varint();
    if (n > this.end) throw new CodecError(`implausible ${what} count ${n}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.name(what));
    return out;
  }

  /** One name of a dictionary (a recent one's string if the bytes match). */
  private name(what: string): string {
    const n = this.varint();
    const pos = this.pos;
    if (n > this.end - pos) throw new CodecError(`truncated ${what}`);
    this.pos = pos + n;
    const buf = this.buf;
    for (let i = 0; i < recentNames.length; i++) if (sameBytes(recentNameBytes[i]!, buf, pos, n)) return recentNames[i]!;
    const bytes = buf.subarray(pos, pos + n);
    let name: string;
    try {
      name = decoder.decode(bytes);
    } catch (cause) {
      throw new CodecError(`${what} is not valid UTF-8`, { cause });
    }
    if (n <= 256) {
      recentNameBytes[recentNameNext] = bytes.slice();
      recentNames[recentNameNext] = name;
      recentNameNext = (recentNameNext + 1) % RECENT;
    }
    return name;
  }

  /** One site id of the dictionary (a recent one if the bytes match; else a copy). */
  private site(): Uint8Array {
    const pos = this.pos;
    this.pos = pos + SITE_ID_BYTES; // in bounds: checked for all the site ids at once
    const buf = this.buf;
    for (let i = 0; i < recentSites.length; i++) if (sameBytes(recentSites[i]!, buf, pos, SITE_ID_BYTES)) return recentSites[i]!;
    const site = buf.slice(pos, pos + SITE_ID_BYTES);
    recentSites[recentSiteNext] = site;
    recentSiteNext = (recentSiteNext + 1) % RECENT;
    return site;
  }

  private pick<T>(list: T[], i: number, what: string): T {
    if (i >= list.length) throw new CodecError(`${what} reference ${i} out of range`);
    return list[i]!;
  }

  private key(n: number): Uint8Array {
    const buf = this.buf;
    const pos = this.pos;
    if (n > this.end - pos) throw new CodecError('truncated primary key');
    this.pos = pos + n;
    const lastPk = this.lastPk;
    if (lastPk !== undefined && lastPk.length === n) {
      let i = 0;
      const off = lastPk.byteOffset - buf.byteOffset;
      while (i < n && buf[off + i] === buf[pos + i]) i++;
      if (i === n) return lastPk;
    }
    // A view into `buf`, not a copy: the batch's changes live no longer than its bytes anyway.
    return (this.lastPk = buf.subarray(pos, pos + n));
  }

  next(): Change {
    const table = this.pick(this.tables, this.varint(), 'table');
    const cid = this.pick(this.cids, this.varint(), 'column');
    const pk = this.key(this.varint());
    const val = readValueAt(this.buf, this);
    const colVersion = this.varint64();
    const dbVersion = this.varint64();
    const siteId = this.pick(this.sites, this.varint(), 'site');
    const cl = this.varint64();
    const seq = this.varint64();
    return { table, pk, cid, val, colVersion, dbVersion, siteId, cl, seq };
  }

  /**
   * Reads and checks the next change exactly as `next` does (same reads, same errors), keeping
   * nothing: returns its table and column as `tableIndex * cids.length + cidIndex`.
   */
  skip(): number {
    const t = this.varint();
    this.pick(this.tables, t, 'table');
    const ci = this.varint();
    this.pick(this.cids, ci, 'column');
    this.bytes(this.varint(), 'primary key');
    skipValueAt(this.buf, this);
    this.varint64();
    this.varint64();
    this.pick(this.sites, this.varint(), 'site');
    this.varint64();
    this.varint64();
    return t * this.cids.length + ci;
  }

  finish(): void {
    if (this.pos !== this.end) throw new CodecError(`${this.end - this.pos} trailing bytes after the batch`);
  }

  /** All the changes from the first, then the end checked. */
  all(): Change[] {
    const out: Change[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.next();
    this.finish();
    return out;
  }
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
  return scanBatch(buf).scan;
}

/** A batch checked whole by {@link scanBatch}, its changes decoded on demand. */
export interface ScannedBatch {
  readonly scan: BatchScan;
  /** Decodes the changes (each call anew; it cannot fail: the bytes were checked). */
  decode(): Change[];
}

/**
 * {@link scanChanges}, keeping what the scan read (the dictionaries, where the changes begin) so
 * that decoding the changes later does not read the dictionaries again.
 */
export function scanBatch(buf: Uint8Array): ScannedBatch {
  let r: BatchReader;
  let scan: BatchScan;
  try {
    r = new BatchReader(buf);
    let columns: BatchScan['columns'];
    const n = r.count;
    if (n === 1) {
      // A follower's usual frame: one change, one pair.
      const pair = r.skip();
      columns = [{ table: r.tables[Math.floor(pair / r.cids.length)]!, cid: r.cids[pair % r.cids.length]! }];
    } else {
      const seen = new Set<number>();
      columns = [];
      let last = -1;
      for (let i = 0; i < n; i++) {
        const pair = r.skip();
        if (pair === last || seen.has(pair)) continue;
        seen.add(pair);
        last = pair;
        columns.push({ table: r.tables[Math.floor(pair / r.cids.length)]!, cid: r.cids[pair % r.cids.length]! });
      }
    }
    r.finish();
    scan = { count: n, columns };
  } catch (err) {
    throw asCodecError(err);
  }
  return {
    scan,
    decode: () => {
      r.rewind();
      try {
        return r.all();
      } catch (err) {
        throw asCodecError(err);
      }
    },
  };
}

/** Decodes a batch; throws {@link CodecError} if the bytes are not exactly one valid batch. */
export function decodeChanges(buf: Uint8Array): Change[] {
  try {
    return new BatchReader(buf).all();
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
      r = new BatchReader(buf);
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
