/** A growable byte buffer, shared by every binary format (packed values, codecs, bundles). */
export class ByteWriter {
  buf = new Uint8Array(64);
  pos = 0;
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  /** `len` big-endian bytes of a non-negative number below 2^32. */
  uint(n: number, len: number): void {
    this.ensure(len);
    for (let i = len - 1; i >= 0; i--) {
      this.buf[this.pos + i] = n & 0xff;
      n = Math.floor(n / 256);
    }
    this.pos += len;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
