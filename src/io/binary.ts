import { FormatError } from '../errors.js';

/**
 * Bounds-checked integer reads over bytes already in memory (a header, a table, a block), for every
 * container and decoder: an index past the end throws FormatError (code `truncated`) naming the
 * structure, the offset and the sizes, instead of reading `undefined` as 0 or NaN. It does not bound
 * the value read: a length or count still goes through `checked` before it sizes or indexes anything.
 *
 * Two forms: free functions (`u32le(b, at, what)`) for hot loops and one-off fields, and a
 * BinaryReader that carries the structure's name and its position in the file so that messages say
 * "Invalid ext4 superblock: field s_magic at offset 1080 needs 2 bytes, 0 are available."
 */

function outOfBounds(what: string, at: number, n: number, length: number, field?: string, base = 0): FormatError {
  const available = Number.isSafeInteger(at) && at >= 0 ? Math.max(0, length - at) : 0;
  const where = field === undefined ? `offset ${base + at}` : `field ${field} at offset ${base + at}`;
  return new FormatError(`Invalid ${what}: ${where} needs ${n} bytes, ${available} ${available === 1 ? 'is' : 'are'} available.`, 'truncated');
}

/** Throws the `truncated` FormatError unless `n` bytes at `at` lie inside `b`. */
export function need(b: Uint8Array, at: number, n: number, what: string): void {
  if (!(at >= 0 && at + n <= b.length) || !Number.isSafeInteger(at)) throw outOfBounds(what, at, n, b.length);
}

export function u8(b: Uint8Array, at: number, what: string): number {
  const v = b[at];
  if (v === undefined || !Number.isInteger(at)) throw outOfBounds(what, at, 1, b.length);
  return v;
}

export function u16le(b: Uint8Array, at: number, what: string): number {
  need(b, at, 2, what);
  return b[at]! | (b[at + 1]! << 8);
}

export function u16be(b: Uint8Array, at: number, what: string): number {
  need(b, at, 2, what);
  return (b[at]! << 8) | b[at + 1]!;
}

/** Three bytes little-endian (zstd block headers). */
export function u24le(b: Uint8Array, at: number, what: string): number {
  need(b, at, 3, what);
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}

export function u32le(b: Uint8Array, at: number, what: string): number {
  need(b, at, 4, what);
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

export function u32be(b: Uint8Array, at: number, what: string): number {
  need(b, at, 4, what);
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * A 64-bit little-endian field as a number: exact up to 2^53; larger values come out inexact (and
 * unsafe), which `checked` or `Number.isSafeInteger` then refuses. Use `u64leBig` to keep all bits.
 */
export function u64le(b: Uint8Array, at: number, what: string): number {
  need(b, at, 8, what);
  return u32le(b, at, what) + u32le(b, at + 4, what) * 2 ** 32;
}

export function u64be(b: Uint8Array, at: number, what: string): number {
  need(b, at, 8, what);
  return u32be(b, at, what) * 2 ** 32 + u32be(b, at + 4, what);
}

/** A 64-bit little-endian field with all its bits. */
export function u64leBig(b: Uint8Array, at: number, what: string): bigint {
  need(b, at, 8, what);
  return BigInt(u32le(b, at, what)) | (BigInt(u32le(b, at + 4, what)) << 32n);
}

/** An unsigned little-endian integer of 0 to 8 bytes (variable-width fields: zstd sizes, dictionary ids). */
export function uintle(b: Uint8Array, at: number, n: number, what: string): number {
  need(b, at, n, what);
  let v = 0;
  for (let k = n - 1; k >= 0; k--) v = v * 256 + b[at + k]!;
  return v;
}

/**
 * Reads named fields of one structure held in `bytes`, which starts at `base` in its file: errors
 * give the absolute offset, so a message points at the byte a hex dump shows.
 */
export class BinaryReader {
  constructor(
    readonly bytes: Uint8Array,
    /** The structure, for messages: `ext4 superblock`. */
    readonly what: string,
    /** Offset of `bytes[0]` in the file, for messages only. */
    readonly base = 0,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  private need(at: number, n: number, field: string | undefined): void {
    if (!(at >= 0 && at + n <= this.bytes.length) || !Number.isSafeInteger(at)) throw outOfBounds(this.what, at, n, this.bytes.length, field, this.base);
  }

  u8(at: number, field?: string): number {
    this.need(at, 1, field);
    return this.bytes[at]!;
  }
  u16le(at: number, field?: string): number {
    this.need(at, 2, field);
    return u16le(this.bytes, at, this.what);
  }
  u16be(at: number, field?: string): number {
    this.need(at, 2, field);
    return u16be(this.bytes, at, this.what);
  }
  u32le(at: number, field?: string): number {
    this.need(at, 4, field);
    return u32le(this.bytes, at, this.what);
  }
  u32be(at: number, field?: string): number {
    this.need(at, 4, field);
    return u32be(this.bytes, at, this.what);
  }
  u64le(at: number, field?: string): number {
    this.need(at, 8, field);
    return u64le(this.bytes, at, this.what);
  }
  u64be(at: number, field?: string): number {
    this.need(at, 8, field);
    return u64be(this.bytes, at, this.what);
  }
  /** A view of `n` bytes at `at` (no copy). */
  bytesAt(at: number, n: number, field?: string): Uint8Array {
    this.need(at, n, field);
    return this.bytes.subarray(at, at + n);
  }
}

/** A 64-bit big-endian field with all its bits. */
export function u64beBig(b: Uint8Array, at: number, what: string): bigint {
  need(b, at, 8, what);
  return (BigInt(u32be(b, at, what)) << 32n) | BigInt(u32be(b, at + 4, what));
}
