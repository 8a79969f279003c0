/**
 * Probe: the least a merging thread would pay for changes another thread read. A reader in a second
 * thread can hand over bytes, not objects; the merge takes `Change` objects. This packs the bench's
 * changes as such a reader might (per change: table, column and site numbered, key and value bytes or
 * numbers in typed arrays, one ArrayBuffer per 64 KiB-sized batch of ~380 changes) — untimed — and
 * then times making the `Change` objects from it, the work left on the merging thread: key views
 * shared per row, short ASCII text by `String.fromCharCode`, integers as bigint. In a fresh process
 * (first pass cold, as a command's) and again warm.
 *
 *   node --disable-warning=ExperimentalWarning bench/apply-materialize-probe.ts FILE.jsonl
 */
import { fileChanges, type Change } from '../src/index.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: apply-materialize-probe.ts FILE.jsonl');

const BATCH = 380;
interface Packed {
  n: number;
  ints: Int32Array; // per change: table, cid, site, pkOff (-1: the previous row's), pkLen, kind, textOff, textLen
  nums: Float64Array; // per change: colVersion, dbVersion, cl, seq, value
  bytes: Uint8Array;
}
const tables: string[] = [];
const cids: string[] = [];
const sites: Uint8Array[] = [];
const num = (list: string[], s: string): number => {
  let i = list.indexOf(s);
  if (i < 0) i = list.push(s) - 1;
  return i;
};
const siteNo = (s: Uint8Array): number => {
  let i = sites.findIndex((x) => Buffer.compare(x, s) === 0);
  if (i < 0) i = sites.push(s) - 1;
  return i;
};
let all: Change[] = [...fileChanges(file)];
const batches: Packed[] = [];
for (let at = 0; at < all.length; at += BATCH) {
  const part = all.slice(at, at + BATCH);
  const ints = new Int32Array(part.length * 8);
  const nums = new Float64Array(part.length * 5);
  const bytes = new Uint8Array(part.length * 64);
  let b = 0;
  let prevPk: Uint8Array | undefined;
  part.forEach((c, k) => {
    const o = k * 8;
    ints[o] = num(tables, c.table);
    ints[o + 1] = num(cids, c.cid);
    ints[o + 2] = siteNo(c.siteId);
    if (c.pk === prevPk) ints[o + 3] = -1;
    else {
      ints[o + 3] = b;
      ints[o + 4] = c.pk.length;
      bytes.set(c.pk, b);
      b += c.pk.length;
      prevPk = c.pk;
    }
    const f = k * 5;
    nums[f] = Number(c.colVersion);
    nums[f + 1] = Number(c.dbVersion);
    nums[f + 2] = Number(c.cl);
    nums[f + 3] = Number(c.seq);
    if (typeof c.val === 'string') {
      ints[o + 5] = 1;
      ints[o + 6] = b;
      ints[o + 7] = c.val.length;
      for (let j = 0; j < c.val.length; j++) bytes[b++] = c.val.charCodeAt(j);
    } else if (typeof c.val === 'bigint') {
      ints[o + 5] = 2;
      nums[f + 4] = Number(c.val);
    } else if (typeof c.val === 'number') {
      ints[o + 5] = 3;
      nums[f + 4] = c.val;
    } else throw new Error('probe: the bench has only text, integers and reals');
  });
  batches.push({ n: part.length, ints, nums, bytes });
}
const total = all.length;
all = []; // only the packed batches stay, as in a merging thread
globalThis.gc?.();

function text(b: Uint8Array, s: number, n: number): string {
  // As the byte reader makes short ASCII text (sync/jsonl-reader.ts shortText), longer by Buffer.
  switch (n) {
    case 6:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    case 9:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!);
    case 10:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!);
    case 11:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!);
    default:
      return Buffer.from(b.buffer, b.byteOffset + s, n).toString('latin1');
  }
}

function materialize(p: Packed, out: Change[]): void {
  const { ints, nums, bytes } = p;
  let pk: Uint8Array = bytes;
  for (let k = 0; k < p.n; k++) {
    const o = k * 8;
    const f = k * 5;
    const pkOff = ints[o + 3]!;
    if (pkOff >= 0) pk = new Uint8Array(bytes.buffer, pkOff, ints[o + 4]!);
    const kind = ints[o + 5]!;
    const val = kind === 1 ? text(bytes, ints[o + 6]!, ints[o + 7]!) : kind === 2 ? BigInt(nums[f + 4]!) : nums[f + 4]!;
    out.push({ table: tables[ints[o]!]!, pk, cid: cids[ints[o + 1]!]!, val, colVersion: nums[f]!, dbVersion: nums[f + 1]!, siteId: sites[ints[o + 2]!]!, cl: nums[f + 2]!, seq: nums[f + 3]! });
  }
}

const passes: string[] = [];
for (let pass = 0; pass < 4; pass++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  for (const p of batches) {
    const out: Change[] = [];
    materialize(p, out);
    n += out.length; // the merge would take them here, a batch at a time
  }
  const c = process.cpuUsage(c0);
  if (n !== total) throw new Error('probe: lost changes');
  passes.push(`${(performance.now() - t0).toFixed(1)} ms wall / ${((c.user + c.system) / 1000).toFixed(0)} ms CPU`);
}
console.log(`${total} changes made from packed batches: first (cold) pass ${passes[0]}; then ${passes.slice(1).join(', ')}`);
