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
import { SITE_ID_BYTES, readValue, writeValue } from '../engine/index.ts';
import { ByteWriter } from '../base/bytes.ts';
import { CodecError } from '../base/errors.ts';
import { readVarint, readVarint64, writeVarint } from '../base/varint.ts';
import type { Int64 } from '../base/int64.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function writeBytes(w: ByteWriter, b: Uint8Array): void {
  writeVarint(w, b.length);
  w.bytes(b);
}

class Dictionary<K> {
  readonly items: K[] = [];
  private readonly index = new Map<string | K, number>();
  private readonly keyOf: (k: K) => string | K;
  constructor(keyOf: (k: K) => string | K) {
    this.keyOf = keyOf;
  }
  ref(k: K): number {
    const key = this.keyOf(k);
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.items.length;
      this.items.push(k);
      this.index.set(key, i);
    }
    return i;
  }
}

/** Encodes a batch of changes. */
export function encodeChanges(changes: readonly Change[]): Uint8Array {
  const tables = new Dictionary<string>((s) => s);
  const cids = new Dictionary<string>((s) => s);
  const sites = new Dictionary<Uint8Array>((b) => Buffer.from(b).toString('latin1'));
  const body = new ByteWriter();
  writeVarint(body, changes.length);
  let lastSite: Uint8Array | undefined;
  let lastSiteRef = 0;
  for (const c of changes) {
    writeVarint(body, tables.ref(c.table));
    writeVarint(body, cids.ref(c.cid));
    writeBytes(body, c.pk);
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
  const out = new ByteWriter();
  for (const dict of [tables, cids]) {
    writeVarint(out, dict.items.length);
    for (const s of dict.items) writeBytes(out, encoder.encode(s));
  }
  writeVarint(out, sites.items.length);
  for (const s of sites.items) out.bytes(s);
  out.bytes(body.buf.subarray(0, body.pos));
  return out.result();
}

/** Decodes a batch; throws {@link CodecError} if the bytes are not exactly one valid batch. */
export function decodeChanges(buf: Uint8Array): Change[] {
  let pos = 0;
  const varint = (): number => {
    const r = readVarint(buf, pos);
    pos = r.pos;
    return r.value;
  };
  const varint64 = (): Int64 => {
    const r = readVarint64(buf, pos);
    pos = r.pos;
    return r.value;
  };
  const bytes = (n: number, what: string): Uint8Array => {
    if (n > buf.length - pos) throw new CodecError(`truncated ${what}`);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const strings = (what: string): string[] => {
    const n = varint();
    if (n > buf.length) throw new CodecError(`implausible ${what} count ${n}`);
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
  try {
    const tables = strings('table name');
    const cids = strings('column name');
    const nSites = varint();
    if (nSites * SITE_ID_BYTES > buf.length - pos) throw new CodecError(`truncated site ids`);
    const sites: Uint8Array[] = [];
    for (let i = 0; i < nSites; i++) sites.push(bytes(SITE_ID_BYTES, 'site id').slice());
    const n = varint();
    if (n > buf.length - pos) throw new CodecError(`implausible change count ${n}`);
    const out: Change[] = new Array(n);
    const pick = <T>(list: T[], i: number, what: string): T => {
      if (i >= list.length) throw new CodecError(`${what} reference ${i} out of range`);
      return list[i]!;
    };
    for (let i = 0; i < n; i++) {
      const table = pick(tables, varint(), 'table');
      const cid = pick(cids, varint(), 'column');
      const pk = bytes(varint(), 'primary key').slice();
      const v = readValue(buf, pos);
      pos = v.pos;
      const colVersion = varint64();
      const dbVersion = varint64();
      const siteId = pick(sites, varint(), 'site');
      const cl = varint64();
      const seq = varint64();
      out[i] = { table, pk, cid, val: v.value, colVersion, dbVersion, siteId, cl, seq };
    }
    if (pos !== buf.length) throw new CodecError(`${buf.length - pos} trailing bytes after the batch`);
    return out;
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError(`malformed batch: ${(err as Error).message}`, { cause: err });
  }
}
