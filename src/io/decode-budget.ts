import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError, LimitError } from '../errors.js';
import type { DecodeInfo } from '../containers/types.js';
import { MAX_READ, type ByteSource } from './byte-source.js';
import { RATIO_FLOOR, type Limits } from './limits.js';

/** Temp areas still on disk, removed by one process 'exit' hook if the scan did not clean up. */
const liveAreas = new Set<TempArea>();
let exitHookInstalled = false;
function onExit(): void {
  for (const area of [...liveAreas]) area.cleanup();
}

/**
 * The scan's private scratch directory: created lazily with `fs.mkdtempSync` (mode 0700) under the
 * OS temp folder, holding only files this class creates with exclusive flags (`O_CREAT|O_EXCL`,
 * mode 0600) under names it chooses. Nothing is ever written anywhere else, and never under a name
 * taken from an archive. `cleanup()` closes and removes everything; a process 'exit' hook does the
 * same if the scan did not.
 */
export class TempArea {
  private dir: string | undefined;
  private counter = 0;
  private readonly files = new Map<number, string>();

  /** The directory, once something has been written; undefined before. */
  get path(): string | undefined {
    return this.dir;
  }

  /** Number of files created here and not yet removed. */
  get openFiles(): number {
    return this.files.size;
  }

  /** Creates a new empty file opened read-write; the caller removes it with `removeFile(fd)`. */
  createFile(): { fd: number; path: string } {
    if (this.dir === undefined) {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-'));
      liveAreas.add(this);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.once('exit', onExit);
      }
    }
    const file = path.join(this.dir, `decoded-${++this.counter}.bin`);
    // 'wx+': O_RDWR | O_CREAT | O_EXCL, so an existing file (or a planted symlink) is never reused.
    const fd = fs.openSync(file, 'wx+', 0o600);
    this.files.set(fd, file);
    return { fd, path: file };
  }

  /** Closes and deletes a file made by `createFile`; unknown descriptors are ignored. */
  removeFile(fd: number): void {
    const file = this.files.get(fd);
    if (file === undefined) return;
    this.files.delete(fd);
    try {
      fs.closeSync(fd);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  /** Closes every file still open and removes the directory. Safe to call twice. */
  cleanup(): void {
    for (const fd of [...this.files.keys()]) {
      try {
        this.removeFile(fd);
      } catch {
        // Already closed: the directory removal below still deletes it.
      }
    }
    if (this.dir !== undefined) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = undefined;
    }
    liveAreas.delete(this);
  }
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
class MemoryDecoded implements ByteSource {
  readonly identity: string;
  private blocks: Uint8Array[] | undefined;
  /** Offset in the output of each block. */
  private readonly starts: number[];
  constructor(
    readonly owner: DecodeBudget,
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
class SpilledDecoded implements ByteSource {
  readonly identity: string;
  private open = true;
  constructor(
    readonly owner: DecodeBudget,
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
class MemoryWriter {
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
class SpillWriter {
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
 * The implementation behind `ContainerContext.decode`: turns a decompressing stream into a ByteSource
 * under the scan's limits. One instance serves a whole scan.
 *
 * While the output arrives it is hashed (sha256, carried by the returned source as `sha256` and as a
 * content identity `sha256:<hex>`), counted against `maxDecompressedBytes` (scan-wide), against
 * `maxRatio` once the entry's output passes RATIO_FLOOR, and against `info.declaredSize`. The first
 * chunk that crosses a limit ends the decode: the stream's iterator is returned (which destroys a
 * Node stream), the partial output is freed, and LimitError or FormatError is thrown. A bomb thus
 * stops at the limit plus at most one decoder chunk.
 *
 * Output stays in memory while the scan-wide total of decoded bytes held in memory stays within
 * `memoryBudget`; past it, the entry's bytes (those already held included) go to a private file in
 * the TempArea, read back with positional reads. `release()` frees either. It does not bound the
 * decoder's own working memory (windows, dictionaries): the readers check those in headers.
 */
export class DecodeBudget {
  private total = 0;
  private inMemory = 0;

  constructor(
    private readonly limits: Readonly<Limits>,
    private readonly temp: TempArea,
  ) {}

  /** Bytes produced by every decode of the scan so far, failed ones included. */
  get decompressedBytes(): number {
    return this.total;
  }

  /**
   * Counts bytes decoded outside `decode` (a block of a virtual image: a payload operation, an EROFS
   * pcluster, a squashfs block) against the scan-wide total; LimitError once it is passed.
   */
  charge(n: number, what: string): void {
    this.total += n;
    if (this.total > this.limits.maxDecompressedBytes) {
      throw new LimitError(`Decoding a block of ${what} passed maxDecompressedBytes ${this.limits.maxDecompressedBytes} for the scan.`, 'maxDecompressedBytes');
    }
  }

  /** Decoded bytes currently held in memory by live (unreleased) sources and running decodes. */
  get memoryBytes(): number {
    return this.inMemory;
  }

  /** See the class comment. `info.what` names the item in messages. */
  async decode(stream: AsyncIterable<Uint8Array>, info: DecodeInfo): Promise<ByteSource> {
    const { maxDecompressedBytes, maxRatio, memoryBudget } = this.limits;
    const declared = info.declaredSize;
    const hash = crypto.createHash('sha256');
    let produced = 0;
    // A declared size that fits the memory budget sizes one exact block, so reads are always views.
    const exact = declared !== undefined && declared > 0 && declared <= memoryBudget - this.inMemory ? declared : undefined;
    let mem: MemoryWriter | undefined = new MemoryWriter(exact);
    let spill: SpillWriter | undefined;
    try {
      for await (const chunk of stream) {
        if (chunk.length === 0) continue;
        produced += chunk.length;
        this.total += chunk.length;
        if (declared !== undefined && produced > declared) {
          throw new FormatError(`Decoding ${info.what} produced more than the ${declared} bytes its header declares.`);
        }
        if (this.total > maxDecompressedBytes) {
          throw new LimitError(
            `Decoding ${info.what} stopped at ${produced} bytes: the scan's decompressed total passed maxDecompressedBytes ${maxDecompressedBytes}.`,
            'maxDecompressedBytes',
          );
        }
        if (produced > RATIO_FLOOR && produced > maxRatio * Math.max(info.compressedSize, 1)) {
          throw new LimitError(
            `Decoding ${info.what} stopped at ${produced} bytes from ${info.compressedSize} compressed: the ratio passed maxRatio ${maxRatio}.`,
            'maxRatio',
          );
        }
        hash.update(chunk);
        if (mem !== undefined) {
          const grow = mem.growthFor(chunk.length);
          if (this.inMemory + grow <= memoryBudget) {
            mem.write(chunk);
            this.inMemory += grow;
            continue;
          }
          // Over the memory budget: move what is held to a spill file and go on there.
          spill = new SpillWriter(this.temp);
          for (const b of mem.finish()) spill.write(b);
          this.inMemory -= mem.capacity;
          mem = undefined;
        }
        (spill as SpillWriter).write(chunk);
      }
      if (declared !== undefined && produced < declared) {
        throw new FormatError(`Decoding ${info.what} ended after ${produced} of the ${declared} bytes its header declares.`, 'truncated');
      }
    } catch (err) {
      if (mem !== undefined) this.inMemory -= mem.capacity;
      spill?.discard();
      throw err;
    }
    const digest = hash.digest('hex');
    if (mem !== undefined) return new MemoryDecoded(this, mem.finish(), produced, digest, mem.capacity);
    const s = spill as SpillWriter;
    s.flush();
    return new SpilledDecoded(this, this.temp, s.fd, s.file, produced, digest);
  }

  /**
   * Frees a source returned by `decode` once its user is done with it: the memory is uncharged and
   * dropped, or the spill file deleted. Later reads throw. Other sources and second calls are ignored.
   */
  release(src: ByteSource): void {
    if (src instanceof MemoryDecoded && src.owner === this) {
      if (!src.released) {
        this.inMemory -= src.charged;
        src.dispose();
      }
    } else if (src instanceof SpilledDecoded && src.owner === this) {
      src.dispose();
    }
  }
}

/**
 * Releases `src` through the DecodeBudget that made it, when it is a decoded source; a no-op for any
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
