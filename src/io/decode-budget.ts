import crypto from 'node:crypto';
import { FormatError, LimitError } from '../errors.js';
import type { DecodeInfo } from '../containers/types.js';
import type { ByteSource } from './byte-source.js';
import { MemoryDecoded, MemoryWriter, SpilledDecoded, SpillWriter, type DecodedOwner } from './decoded-source.js';
import { RATIO_FLOOR, type Limits } from './limits.js';
import type { TempArea } from './temp-area.js';

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
export class DecodeBudget implements DecodedOwner {
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
