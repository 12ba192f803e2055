import fs from 'node:fs';
import { FormatError } from '../errors.js';
import { MAX_READ, type ByteSource } from './byte-source.js';
import type { TempArea } from './temp-area.js';

/**
 * Decoded sources and the writers that fill them while a decode runs. A decoded entry lives either in
 * memory (MemoryDecoded, filled by a MemoryWriter) or in a spill file of the scan's TempArea
 * (SpilledDecoded, filled by a SpillWriter); the DecodeBudget decides which and accounts for both.
 * This module knows nothing of limits.
 */

/** What made a decoded source and frees it: the DecodeBudget (an interface, to keep imports one-way). */
export interface DecodedOwner {
  release(src: ByteSource): void;
}

/** First block of a decode whose size is unknown; blocks double up to BLOCK_MAX. */
const BLOCK_MIN = 64 * 1024;
const BLOCK_MAX = 16 * 1024 * 1024;
/** Writes to a spill file are gathered into pieces of this size. */
const SPILL_CHUNK = 1024 * 1024;

function rangeOf(size: number, offset: number, length: number): number {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FormatError(`Invalid read of ${length} bytes at offset ${offset}.`, 'truncated');
  }
  if (offset > size) throw new FormatError(`Offset ${offset} is past the end of a ${size}-byte source.`, 'truncated');
  if (length > MAX_READ) throw new FormatError(`A read of ${length} bytes exceeds the ${MAX_READ}-byte read limit.`);
  return Math.min(length, size - offset);
}

/** Decoded bytes held in memory as a list of blocks; reads inside one block are views, others copies. */
export class MemoryDecoded implements ByteSource {
  readonly identity: string;
  private blocks: Uint8Array[] | undefined;
  /** Offset in the output of each block. */
  private readonly starts: number[];
  constructor(
    readonly owner: DecodedOwner,
    blocks: Uint8Array[],
    readonly size: number,
    readonly sha256: string,
    /** Bytes of memory charged to the budget (allocated capacity, not only the used length). */
    readonly charged: number,
  ) {
    this.blocks = blocks;
    this.starts = [];
    let at = 0;
    for (const b of blocks) {
      this.starts.push(at);
      at += b.length;
    }
    this.identity = `sha256:${sha256}`;
  }
  get released(): boolean {
    return this.blocks === undefined;
  }
  read(offset: number, length: number): Uint8Array {
    const blocks = this.blocks;
    if (blocks === undefined) throw new Error('A decoded source was read after it was released.');
    const n = rangeOf(this.size, offset, length);
    if (n === 0) return new Uint8Array(0);
    // Binary search for the block holding `offset`.
    let lo = 0;
    let hi = blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    let i = lo;
    const first = blocks[i] as Uint8Array;
    const rel = offset - (this.starts[i] ?? 0);
    if (rel + n <= first.length) return first.subarray(rel, rel + n);
    const out = new Uint8Array(n);
    let done = 0;
    let r = rel;
    while (done < n) {
      const b = blocks[i++] as Uint8Array;
      const take = Math.min(b.length - r, n - done);
      out.set(b.subarray(r, r + take), done);
      done += take;
      r = 0;
    }
    return out;
  }
  dispose(): void {
    this.blocks = undefined;
  }
}

/** Decoded bytes spilled to a file in the TempArea, read back with positional reads. */
export class SpilledDecoded implements ByteSource {
  readonly identity: string;
  private open = true;
  constructor(
    readonly owner: DecodedOwner,
    private readonly temp: TempArea,
    private readonly fd: number,
    /** Where the bytes live; exposed for tests and diagnostics only. */
    readonly file: string,
    readonly size: number,
    readonly sha256: string,
  ) {
    this.identity = `sha256:${sha256}`;
  }
  get released(): boolean {
    return !this.open;
  }
  read(offset: number, length: number): Uint8Array {
    if (!this.open) throw new Error('A decoded source was read after it was released.');
    const n = rangeOf(this.size, offset, length);
    const buf = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const got = fs.readSync(this.fd, buf, done, n - done, offset + done);
      if (got === 0) throw new FormatError(`Spill file ended at ${offset + done} while reading ${n} bytes at ${offset}.`, 'truncated');
      done += got;
    }
    return buf;
  }
  dispose(): void {
    if (!this.open) return;
    this.open = false;
    this.temp.removeFile(this.fd);
  }
}

/** Output collected in memory while a decode runs. */
export class MemoryWriter {
  readonly blocks: Uint8Array[] = [];
  private current: Uint8Array | undefined;
  private used = 0;
  /** Allocated bytes. */
  capacity = 0;
  /** Bytes written. */
  size = 0;
  constructor(private readonly exactSize: number | undefined) {}
  /** Bytes the next write of `n` bytes would allocate. */
  growthFor(n: number): number {
    const room = this.current === undefined ? 0 : this.current.length - this.used;
    if (n <= room) return 0;
    let need = 0;
    let left = n - room;
    let next = this.nextBlockSize();
    while (left > 0) {
      need += next;
      left -= next;
      next = Math.min(next * 2, BLOCK_MAX);
    }
    return need;
  }
  private nextBlockSize(): number {
    if (this.exactSize !== undefined && this.blocks.length === 0 && this.exactSize > 0) return this.exactSize;
    const last = this.blocks.length === 0 ? BLOCK_MIN / 2 : (this.blocks[this.blocks.length - 1] as Uint8Array).length;
    return Math.min(Math.max(last * 2, BLOCK_MIN), BLOCK_MAX);
  }
  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.current === undefined || this.used === this.current.length) {
        if (this.current !== undefined) this.blocks[this.blocks.length - 1] = this.current;
        // allocUnsafe: pages are only touched when written, so a generous exact size costs nothing.
        this.current = Buffer.allocUnsafe(this.nextBlockSize());
        this.blocks.push(this.current);
        this.capacity += this.current.length;
        this.used = 0;
      }
      const take = Math.min(this.current.length - this.used, chunk.length - off);
      this.current.set(chunk.subarray(off, off + take), this.used);
      this.used += take;
      off += take;
    }
    this.size += chunk.length;
  }
  /** The written blocks, the last trimmed to its used length. */
  finish(): Uint8Array[] {
    if (this.current !== undefined && this.blocks.length > 0) {
      this.blocks[this.blocks.length - 1] = this.current.subarray(0, this.used);
    }
    return this.blocks.filter((b) => b.length > 0);
  }
}

/** Output written to a spill file while a decode runs. */
export class SpillWriter {
  private readonly staging = Buffer.allocUnsafe(SPILL_CHUNK);
  private staged = 0;
  size = 0;
  readonly fd: number;
  readonly file: string;
  private closed = false;
  constructor(private readonly temp: TempArea) {
    const f = temp.createFile();
    this.fd = f.fd;
    this.file = f.path;
  }
  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.staged === 0 && chunk.length - off >= SPILL_CHUNK) {
        // Large piece: write it straight from the caller's memory.
        this.writeAll(chunk.subarray(off));
        off = chunk.length;
        break;
      }
      const take = Math.min(SPILL_CHUNK - this.staged, chunk.length - off);
      this.staging.set(chunk.subarray(off, off + take), this.staged);
      this.staged += take;
      off += take;
      if (this.staged === SPILL_CHUNK) this.flush();
    }
  }
  flush(): void {
    if (this.staged > 0) {
      const n = this.staged;
      this.staged = 0;
      this.writeAll(this.staging.subarray(0, n));
    }
  }
  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.size + done);
    }
    this.size += bytes.length;
  }
  /** Deletes the partial file after a failed decode. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    this.temp.removeFile(this.fd);
  }
}

/**
 * Releases `src` through the DecodeBudget (its owner) that made it, when it is a decoded source; a no-op for any
 * other source. For readers, which see only ContainerContext and so cannot reach the budget, to free
 * an intermediate decoded source (the tar inside a `.tar.gz`) when their walk ends.
 */
export function releaseDecoded(src: ByteSource): void {
  if (src instanceof MemoryDecoded || src instanceof SpilledDecoded) src.owner.release(src);
}

/** Whether `src` is a decoded source that has been released; for tests. */
export function isReleased(src: ByteSource): boolean {
  return (src instanceof MemoryDecoded || src instanceof SpilledDecoded) && src.released;
}

/** The spill file behind a decoded source, or undefined when it is held in memory; for tests. */
export function spillFileOf(src: ByteSource): string | undefined {
  return src instanceof SpilledDecoded ? src.file : undefined;
}
