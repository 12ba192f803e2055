import fs from 'node:fs';
import { FormatError } from '../errors.js';

/**
 * Random-access bytes: a file, a buffer, a slice of a parent, or a decoded entry. Reads are synchronous
 * (positional `readSync` on a descriptor, or a view of memory) so that format parsers can walk
 * structures without an await per field; anything asynchronous (decompression) happens before a
 * ByteSource exists. A source never loads more than a read asks for.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Returns exactly `min(length, size - offset)` bytes at `offset`. The result may be a view of
   * internal memory: callers must not modify it. It stays valid after later reads (no source reuses
   * a returned buffer), so a probe's head can be shared by every detector.
   * Throws FormatError (code `truncated`) when `offset` is outside [0, size].
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Names the underlying bytes (file identity plus offset and size) when that is cheap to know,
   * so that two views of the same bytes are recognised without hashing them twice.
   */
  readonly identity?: string | undefined;
  /** sha256 (hex) computed while the bytes were produced, e.g. during decompression. */
  readonly sha256?: string | undefined;
  /**
   * Optional fast path for bulk reads (hashing): copies `min(target.length, size - offset)` bytes at
   * `offset` into `target` and returns the count, so one buffer serves a whole pass without garbage.
   */
  readInto?(offset: number, target: Uint8Array): number;
}

/** Largest single read any parser may ask for; bigger structures are walked in pieces. */
export const MAX_READ = 64 * 1024 * 1024;

function checkRange(size: number, offset: number, length: number): number {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FormatError(`Invalid read of ${length} bytes at offset ${offset}.`, 'truncated');
  }
  if (offset > size) {
    throw new FormatError(`Offset ${offset} is past the end of a ${size}-byte source.`, 'truncated');
  }
  if (length > MAX_READ) {
    throw new FormatError(`A read of ${length} bytes exceeds the ${MAX_READ}-byte read limit.`);
  }
  return Math.min(length, size - offset);
}

/** Bytes held in memory. */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly identity?: string,
    readonly sha256?: string,
  ) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    const n = checkRange(this.size, offset, length);
    return this.bytes.subarray(offset, offset + n);
  }
}

/**
 * A file on disk, read with positional reads on one descriptor. Close it when done; the scan does
 * that for the sources it opens.
 */
export class FileSource implements ByteSource {
  readonly identity: string;
  private closed = false;
  private constructor(
    private readonly fd: number,
    readonly size: number,
    identity: string,
  ) {
    this.identity = identity;
  }
  /** Opens `path` read-only; the size is taken once at open (a file growing later is not followed). */
  static open(path: string): FileSource {
    const fd = fs.openSync(path, 'r');
    try {
      const st = fs.fstatSync(fd);
      return new FileSource(fd, st.size, `file:${st.dev}:${st.ino}`);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }
  read(offset: number, length: number): Uint8Array {
    const n = checkRange(this.size, offset, length);
    const buf = Buffer.allocUnsafe(n);
    this.fill(offset, buf, n);
    return buf;
  }
  readInto(offset: number, target: Uint8Array): number {
    const n = checkRange(this.size, offset, target.length);
    this.fill(offset, target, n);
    return n;
  }
  private fill(offset: number, buf: Uint8Array, n: number): void {
    let done = 0;
    while (done < n) {
      const got = fs.readSync(this.fd, buf, done, n - done, offset + done);
      if (got === 0) throw new FormatError(`File ended at ${offset + done} while reading ${n} bytes at ${offset}.`, 'truncated');
      done += got;
    }
  }
  close(): void {
    if (!this.closed) {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }
}

/** A byte range of a parent, without a copy: a stored zip member, a tar entry, a partition. */
export class SliceSource implements ByteSource {
  readonly identity?: string | undefined;
  constructor(
    private readonly parent: ByteSource,
    readonly start: number,
    readonly size: number,
  ) {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size < 0 || start + size > parent.size) {
      throw new FormatError(`A range of ${size} bytes at offset ${start} does not fit in a ${parent.size}-byte source.`, 'truncated');
    }
    if (parent.identity !== undefined) this.identity = `${parent.identity}@${start}+${size}`;
  }
  read(offset: number, length: number): Uint8Array {
    const n = checkRange(this.size, offset, length);
    return this.parent.read(this.start + offset, n);
  }
  readInto(offset: number, target: Uint8Array): number {
    const n = checkRange(this.size, offset, target.length);
    const view = n === target.length ? target : target.subarray(0, n);
    if (this.parent.readInto) return this.parent.readInto(this.start + offset, view);
    view.set(this.parent.read(this.start + offset, n));
    return n;
  }
}

/** Reads the whole source in `chunk`-sized pieces; for hashing and streaming decoders. */
export function* chunks(src: ByteSource, chunk = 1024 * 1024, start = 0, end = src.size): Generator<Uint8Array> {
  for (let off = start; off < end; off += chunk) {
    yield src.read(off, Math.min(chunk, end - off));
  }
}
