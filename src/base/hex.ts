/** Lowercase hex for byte arrays (site ids, packed keys and values on the CLI). */
import { PackError } from './errors.ts';
import { bytesToHex, hexToBytes } from './portable.ts';

/** Bytes as lowercase hex, e.g. a site id `Uint8Array` → `"0a1b…"`. */
export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** Parses hex (either case, even length); throws {@link PackError} naming what is wrong. */
export function fromHex(text: string, what = 'hex'): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new PackError(`${what} is not valid hex: ${JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text)}`);
  }
  return hexToBytes(text);
}
