/**
 * SQL values, packed keys and site ids as short text for the inspector (pure). The page shows
 * them with `textContent`, never as HTML, so they need no escaping here — only bounding.
 */
import { unpackColumns, type SqlValue } from '../../engine/index.ts';

/** Longest text shown for one value; longer ones are cut with an ellipsis. */
export const MAX_VALUE_CHARS = 200;

/** A value as text: NULL, numbers, quoted strings (JSON-escaped), blobs as x'hex'. */
export function valueText(v: SqlValue): string {
  let s: string;
  if (v === null) s = 'NULL';
  else if (typeof v === 'bigint' || typeof v === 'number') s = String(v);
  else if (typeof v === 'string') s = JSON.stringify(v);
  else s = `x'${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}'`;
  return s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS - 1)}…` : s;
}

/** A packed primary key as its values, comma-separated (or hex if it does not unpack). */
export function keyText(pk: Uint8Array): string {
  try {
    return unpackColumns(pk).map(valueText).join(', ');
  } catch {
    return valueText(pk);
  }
}

/** A site id's first 8 hex digits (enough to tell sites apart on a page). */
export function siteText(site: Uint8Array): string {
  return Buffer.from(site.buffer, site.byteOffset, Math.min(4, site.byteLength)).toString('hex');
}
