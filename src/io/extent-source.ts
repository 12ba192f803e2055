import { FormatError } from '../errors.js';
import { MAX_READ, type ByteSource } from './byte-source.js';
import type { ScanResources } from './scan-resources.js';

/**
 * One piece of a virtual image. Every reader of an image format (sparse images, dynamic partitions,
 * OTA payloads, file systems) describes its output as extents over its input, and ExtentSource does
 * the reading: nothing materialises a whole partition or file.
 * - `source`: bytes copied from a parent source (a raw sparse chunk, a super.img extent, an ext4 block run);
 * - `fill`: a repeated 1-4 byte pattern (sparse FILL chunks; zeros for holes, ZERO and DISCARD ops);
 * - `decoded`: a compressed block decoded on first read, charged to the scan's decode budget and
 *   kept in the scan's block cache (both from the `resources` option)
 *   (a payload REPLACE_XZ operation, a squashfs block). `decode` must return exactly `length` bytes.
 */
export type Extent =
  | { kind: 'source'; offset: number; length: number; source: ByteSource; sourceOffset: number }
  | { kind: 'fill'; offset: number; length: number; pattern: Uint8Array }
  | { kind: 'decoded'; offset: number; length: number; decode: () => Uint8Array };

/** How an ExtentSource names itself and where its decoded blocks go. */
export interface ExtentSourceOptions {
  /** Names the image in messages: `squashfs file "a/b"`. */
  readonly what: string;
  /** The scan's block cache and decode charge; required when any extent is `decoded`. */
  readonly resources?: ScanResources;
  /** See ByteSource.identity. */
  readonly identity?: string;
}

/**
 * A virtual source assembled from extents. Extents are validated once at construction: inside the
 * virtual size, sorted, and not overlapping (an image whose extents overlap or loop is hostile or
 * corrupt: FormatError naming the extent). Gaps between extents read as zeros (unwritten blocks,
 * sparse holes). Reads find extents by binary search; decoded extents go through the block cache.
 */
export class ExtentSource implements ByteSource {
  private readonly starts: Float64Array;
  private readonly what: string;
  private readonly resources: ScanResources | undefined;
  /** This source's keys in the block cache; taken when it has a decoded extent. */
  private readonly keyspace: string | undefined;
  readonly identity?: string | undefined;

  constructor(
    readonly size: number,
    private readonly extents: readonly Extent[],
    options: ExtentSourceOptions,
  ) {
    this.what = options.what;
    this.resources = options.resources;
    this.identity = options.identity;
    if (!Number.isSafeInteger(size) || size < 0) throw new FormatError(`Invalid ${options.what}: size ${size} is not a byte count.`);
    this.starts = new Float64Array(extents.length);
    let end = 0;
    for (let i = 0; i < extents.length; i++) {
      const e = extents[i]!;
      if (!Number.isSafeInteger(e.offset) || !Number.isSafeInteger(e.length) || e.offset < 0 || e.length < 0 || e.offset + e.length > size) {
        throw new FormatError(`Invalid ${options.what}: extent ${i} (${e.length} bytes at ${e.offset}) lies outside the ${size}-byte image.`);
      }
      if (e.offset < end) {
        throw new FormatError(`Invalid ${options.what}: extent ${i} at offset ${e.offset} overlaps the extent before it, which ends at ${end}.`);
      }
      if (e.kind === 'source' && (e.sourceOffset < 0 || e.sourceOffset + e.length > e.source.size || !Number.isSafeInteger(e.sourceOffset))) {
        throw new FormatError(`Invalid ${options.what}: extent ${i} reads ${e.length} bytes at ${e.sourceOffset} of a ${e.source.size}-byte source.`);
      }
      if (e.kind === 'fill' && (e.pattern.length < 1 || e.pattern.length > 4)) {
        throw new FormatError(`Invalid ${options.what}: extent ${i} has a ${e.pattern.length}-byte fill pattern.`);
      }
      this.starts[i] = e.offset;
      end = e.offset + e.length;
    }
    const decoded = extents.some((e) => e.kind === 'decoded');
    // A reader bug, not bad input: decoded blocks must be charged and cached by the scan.
    if (decoded && options.resources === undefined) throw new Error(`ExtentSource of ${options.what}: decoded extents need the scan's resources.`);
    this.keyspace = decoded ? options.resources?.blockCache.newKeyspace() : undefined;
  }

  read(offset: number, length: number): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset > this.size) {
      throw new FormatError(`Offset ${offset} is past the end of a ${this.size}-byte image.`, 'truncated');
    }
    if (length > MAX_READ) throw new FormatError(`A read of ${length} bytes exceeds the ${MAX_READ}-byte read limit.`);
    const n = Math.min(length, this.size - offset);
    // A read inside one source extent is a view of the parent's read: no copy.
    const first = this.find(offset);
    const e0 = first >= 0 ? this.extents[first] : undefined;
    if (e0 && e0.kind === 'source' && offset + n <= e0.offset + e0.length) {
      return e0.source.read(e0.sourceOffset + (offset - e0.offset), n);
    }
    const out = new Uint8Array(n);
    this.fill(offset, out);
    return out;
  }

  readInto(offset: number, target: Uint8Array): number {
    const n = Math.min(target.length, Math.max(0, this.size - offset));
    if (offset < 0 || offset > this.size) throw new FormatError(`Offset ${offset} is past the end of a ${this.size}-byte image.`, 'truncated');
    this.fill(offset, n === target.length ? target : target.subarray(0, n));
    return n;
  }

  /** Index of the last extent starting at or before `offset`, or -1. */
  private find(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private fill(offset: number, out: Uint8Array): void {
    out.fill(0);
    const end = offset + out.length;
    let i = Math.max(0, this.find(offset));
    for (; i < this.extents.length; i++) {
      const e = this.extents[i]!;
      if (e.offset >= end) break;
      const from = Math.max(offset, e.offset);
      const to = Math.min(end, e.offset + e.length);
      if (to <= from) continue;
      const at = from - offset;
      const within = from - e.offset;
      const n = to - from;
      if (e.kind === 'source') {
        out.set(e.source.read(e.sourceOffset + within, n), at);
      } else if (e.kind === 'fill') {
        const p = e.pattern;
        if (p.length === 1) out.fill(p[0]!, at, at + n);
        else for (let k = 0; k < n; k++) out[at + k] = p[(within + k) % p.length]!;
      } else {
        const resources = this.resources as ScanResources;
        const block = resources.blockCache.get(`${this.keyspace}:${e.offset}`, () => {
          const b = e.decode();
          if (b.length !== e.length) throw new FormatError(`A decoded block at offset ${e.offset} has ${b.length} bytes instead of ${e.length}.`);
          resources.charge(b.length, this.what);
          return b;
        });
        out.set(block.subarray(within, within + n), at);
      }
    }
  }
}
