/**
 * How full a database's WAL is, read from its wal-index (the `-shm` file) without SQLite: the
 * frames in the WAL and how many of them a checkpoint already copied into the database. node:sqlite
 * has no WAL hook (SQLite's own automatic checkpoint learns the frame count from one), and the WAL
 * file's size says nothing once SQLite writes it from the start again, so the hub reads the two
 * counters SQLite publishes for every connection: `mxFrame` of the first copy of the wal-index
 * header and `nBackfill` of the checkpoint information after it (https://www.sqlite.org/walformat.html,
 * "The WAL-Index Header": native byte order, 136 bytes). One `pread`, no lock: a hint for when to
 * checkpoint, never for what is in the database.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Bytes of the wal-index header and checkpoint information read (walformat.html). */
const HEADER_BYTES = 136;
/** `iVersion` of every wal-index SQLite 3.7.0 and later writes. */
const WAL_INDEX_VERSION = 3_007_000;

/** A WAL's frames, and how many a checkpoint copied to the database ("backfilled"). */
export interface WalFill {
  frames: number;
  backfilled: number;
}

/** The counters of a wal-index header in `words` (its first 34 native-order u32s); undefined if it is not one. */
export function parseWalIndex(words: Uint32Array): WalFill | undefined {
  // iVersion at byte 0, isInit (a byte) at 12; mxFrame at 16; the checkpoint information at 96, nBackfill first.
  if (words.length < HEADER_BYTES / 4 || words[0] !== WAL_INDEX_VERSION) return undefined;
  const frames = words[4]!;
  const backfilled = words[24]!;
  return { frames, backfilled: Math.min(backfilled, frames) };
}

/** A database's wal-index, kept open for cheap reads after each commit. */
export class WalIndexReader {
  private fd: number | undefined;
  private readonly buf = new Uint8Array(HEADER_BYTES);
  private readonly words = new Uint32Array(this.buf.buffer, 0, HEADER_BYTES / 4);

  /** Opens `dbPath`'s `-shm` file; undefined if there is none (not a WAL database, or not opened yet). */
  static open(dbPath: string): WalIndexReader | undefined {
    let fd: number;
    try {
      fd = openSync(`${dbPath}-shm`, 'r');
    } catch {
      return undefined;
    }
    const r = new WalIndexReader();
    r.fd = fd;
    return r;
  }

  /** The WAL's fill now; undefined if the wal-index cannot be read (closed, or not initialised). */
  read(): WalFill | undefined {
    if (this.fd === undefined) return undefined;
    try {
      if (readSync(this.fd, this.buf, 0, HEADER_BYTES, 0) < HEADER_BYTES) return undefined;
    } catch {
      return undefined;
    }
    return parseWalIndex(this.words);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
