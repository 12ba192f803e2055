import { AibomError, FormatError, LimitError, UnsupportedError } from '../errors.js';
import { u16le, u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import { ExtentSource, type Extent } from '../io/extent-source.js';
import type { Probe } from '../probe.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/**
 * Android sparse images (AOSP system/core/libsparse, `sparse_format.h`): what fastboot flashes and
 * what factory packages ship as `system.img`, `vendor.img`, `super.img`. A 28-byte file header
 * (magic 0xED26FF3A little-endian at 0) is followed by `total_chunks` chunks, each a 12-byte chunk
 * header and its data:
 *   RAW 0xCAC1 (chunk_sz blocks of data), FILL 0xCAC2 (a 4-byte pattern repeated over chunk_sz
 *   blocks), DONT_CARE 0xCAC3 (chunk_sz blocks left unwritten: zeros here, as simg2img writes them),
 *   CRC32 0xCAC4 (a running CRC of the output so far: not verified, that would mean reading the
 *   whole image up front).
 */

/** 'sparse_header.magic' 0xED26FF3A, stored little-endian: 3A FF 26 ED. */
const SPARSE_MAGIC = 0xed26ff3a;
const SPARSE_HEADER_LEN = 28;
const CHUNK_HEADER_LEN = 12;
const CHUNK_RAW = 0xcac1;
const CHUNK_FILL = 0xcac2;
const CHUNK_DONT_CARE = 0xcac3;
const CHUNK_CRC32 = 0xcac4;

/** Largest expanded image accepted: 1 TiB, far above any real partition (a 4 GB system.img is normal). */
export const MAX_SPARSE_OUTPUT = 2 ** 40;
/** Largest block size accepted; libsparse uses 4096 and requires a multiple of 4. */
const MAX_BLOCK_SIZE = 16 * 1024 * 1024;
/** Largest file or chunk header accepted: libsparse skips bytes past the 28/12 it knows. */
const MAX_HEADER_LEN = 4096;
/**
 * Most extents (RAW chunks plus non-zero FILL runs) kept for one image. Each costs an object; real
 * images have a few thousand chunks. A hostile file of millions of tiny chunks stops here.
 */
export const MAX_SPARSE_EXTENTS = 1_000_000;
/** Chunk headers are read through a window of this size, so runs of FILL/DONT_CARE chunks cost one read. */
const WINDOW = 64 * 1024;

/** The fields of `sparse_header_t` that matter. */
export interface SparseHeader {
  readonly major: number;
  readonly minor: number;
  readonly fileHeaderSize: number;
  readonly chunkHeaderSize: number;
  readonly blockSize: number;
  readonly totalBlocks: number;
  readonly totalChunks: number;
}

/**
 * Parses the file header: magic, major_version 1, file_hdr_sz ≥ 28, chunk_hdr_sz ≥ 12, blk_sz a
 * non-zero multiple of 4. Returns undefined when the magic is absent; throws UnsupportedError for
 * another major version and FormatError when a field is out of range.
 */
function parseHeader(h: Uint8Array, fileSize: number): SparseHeader | undefined {
  if (h.length < SPARSE_HEADER_LEN || u32le(h, 0, 'Android sparse image') !== SPARSE_MAGIC) return undefined;
  const major = u16le(h, 4, 'Android sparse image');
  if (major !== 1) throw new UnsupportedError(`Android sparse image major_version ${major} is not 1: the image was not scanned.`);
  const fileHeaderSize = checked(u16le(h, 8, 'Android sparse image'), SPARSE_HEADER_LEN, MAX_HEADER_LEN, 'Invalid Android sparse image: file_hdr_sz');
  const chunkHeaderSize = checked(u16le(h, 10, 'Android sparse image'), CHUNK_HEADER_LEN, MAX_HEADER_LEN, 'Invalid Android sparse image: chunk_hdr_sz');
  const blockSize = checked(u32le(h, 12, 'Android sparse image'), 4, MAX_BLOCK_SIZE, 'Invalid Android sparse image: blk_sz');
  if (blockSize % 4 !== 0) throw new FormatError(`Invalid Android sparse image: blk_sz ${blockSize} is not a multiple of 4.`);
  const totalBlocks = checked(u32le(h, 16, 'Android sparse image'), 0, Math.floor(MAX_SPARSE_OUTPUT / blockSize), 'Invalid Android sparse image: total_blks');
  // Every chunk takes at least its header in the file: a count the file cannot hold is corrupt.
  const maxChunks = Math.max(0, Math.floor((fileSize - fileHeaderSize) / chunkHeaderSize));
  const totalChunks = checked(u32le(h, 20, 'Android sparse image'), 0, maxChunks, 'Invalid Android sparse image: total_chunks');
  return { major, minor: u16le(h, 6, 'Android sparse image'), fileHeaderSize, chunkHeaderSize, blockSize, totalBlocks, totalChunks };
}

/** What walking the chunks produced: the output extents and the blocks they cover. */
interface SparseLayout {
  readonly header: SparseHeader;
  readonly size: number;
  readonly extents: Extent[];
}

/**
 * Walks the chunk list and describes the expanded image as extents over `src`: RAW chunks become
 * 'source' slices of the sparse file (no copy), non-zero FILL chunks 'fill' extents (adjacent ones with
 * the same pattern merged), zero FILL and DONT_CARE chunks gaps, which ExtentSource reads as zeros.
 * A chunk that breaks the format stops the walk: it is reported through `ctx.problem`, and the
 * chunks before it are kept (the rest of the image reads as zeros).
 */
export function sparseLayout(src: ByteSource, ctx: Pick<ContainerContext, 'problem'>): SparseLayout {
  const header = parseHeader(src.read(0, Math.min(src.size, SPARSE_HEADER_LEN)), src.size);
  if (header === undefined) throw new FormatError('Not an Android sparse image: no magic 0xED26FF3A at offset 0.');
  const { blockSize, totalBlocks, totalChunks, chunkHeaderSize } = header;
  const size = totalBlocks * blockSize;
  const extents: Extent[] = [];
  let window: Uint8Array = new Uint8Array(0);
  let windowStart = 0;
  let at = header.fileHeaderSize;
  let block = 0;
  const fills = new FillRuns(extents);
  try {
    for (let i = 0; i < totalChunks; i++) {
      if (at + CHUNK_HEADER_LEN > src.size) {
        throw new FormatError(
          `Invalid Android sparse image: chunk ${i} of ${totalChunks} at offset ${at} is past the end of the ${src.size}-byte file.`,
          'truncated',
        );
      }
      // The window holds the chunk header and, where the file has them, the 4 bytes after it (a FILL pattern).
      const need = Math.min(chunkHeaderSize + 4, src.size - at);
      if (at < windowStart || at + need > windowStart + window.length) {
        windowStart = at;
        window = src.read(at, Math.min(WINDOW, src.size - at));
      }
      const c = at - windowStart;
      const type = u16le(window, c, 'Android sparse image');
      const chunkBlocks = u32le(window, c + 4, 'Android sparse image');
      const totalSize = u32le(window, c + 8, 'Android sparse image');
      // Built only when a message needs it: a million chunks must not cost a million strings.
      const what = (): string => `Invalid Android sparse image: chunk ${i} (type 0x${type.toString(16)}) at offset ${at}`;
      if (totalSize < chunkHeaderSize) throw new FormatError(`${what()} has total_sz ${totalSize}, smaller than its ${chunkHeaderSize}-byte header.`);
      if (chunkBlocks > totalBlocks - block) {
        throw new FormatError(`${what()} covers ${chunkBlocks} blocks, past total_blks ${totalBlocks} (${block} already written).`);
      }
      const data = at + chunkHeaderSize;
      const dataSize = totalSize - chunkHeaderSize;
      const offset = block * blockSize;
      const length = chunkBlocks * blockSize;
      if (type === CHUNK_RAW) {
        if (dataSize !== length) throw new FormatError(`${what()} holds ${dataSize} bytes of data for ${chunkBlocks} blocks of ${blockSize} bytes.`);
        if (data + length > src.size) throw new FormatError(`${what()} has ${length} bytes of data, past the end of the ${src.size}-byte file.`, 'truncated');
        if (length > 0) push(extents, { kind: 'source', offset, length, source: src, sourceOffset: data });
      } else if (type === CHUNK_FILL) {
        if (dataSize !== 4) throw new FormatError(`${what()} has ${dataSize} bytes of data instead of a 4-byte fill pattern.`);
        if (data + 4 > src.size) throw new FormatError(`${what()} is cut off inside its fill pattern.`, 'truncated');
        // Zero fills are gaps: ExtentSource reads them as zeros.
        const value = u32le(window, c + chunkHeaderSize, 'Android sparse image');
        if (length > 0 && value !== 0) fills.add(offset, length, value);
      } else if (type === CHUNK_DONT_CARE) {
        if (dataSize !== 0) throw new FormatError(`${what()} is a DONT_CARE chunk with ${dataSize} bytes of data.`);
      } else if (type === CHUNK_CRC32) {
        if (dataSize !== 4) throw new FormatError(`${what()} is a CRC32 chunk with ${dataSize} bytes of data instead of 4.`);
      } else {
        throw new FormatError(`${what()} has an unknown chunk type (RAW 0xcac1, FILL 0xcac2, DONT_CARE 0xcac3, CRC32 0xcac4 are known).`);
      }
      block += chunkBlocks;
      at = data + dataSize;
    }
    if (block !== totalBlocks) {
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The Android sparse image's chunks cover ${block} blocks, not total_blks ${totalBlocks}; the rest reads as zeros.`,
      });
    }
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    ctx.problem({
      severity: 'error',
      code: err.code,
      message: `${err.message} The image was read up to block ${block} of ${totalBlocks}; the rest reads as zeros.`,
    });
  }
  return { header, size, extents };
}

function push(extents: Extent[], e: Extent): void {
  if (extents.length >= MAX_SPARSE_EXTENTS) {
    throw new LimitError(`The Android sparse image has more than ${MAX_SPARSE_EXTENTS} data chunks; it was not expanded.`, 'sparseExtents');
  }
  extents.push(e);
}

/**
 * Adds FILL runs as extents: a run contiguous with the previous fill extent and with the same
 * pattern extends it; patterns are shared between extents (they are never written to).
 */
class FillRuns {
  private lastValue = -1;
  private lastEnd = -1;
  private readonly patterns = new Map<number, Uint8Array>();
  constructor(private readonly extents: Extent[]) {}

  add(offset: number, length: number, value: number): void {
    const last = this.extents[this.extents.length - 1];
    if (last !== undefined && last.kind === 'fill' && this.lastValue === value && this.lastEnd === offset && last.offset + last.length === offset) {
      this.extents[this.extents.length - 1] = { ...last, length: last.length + length };
    } else {
      push(this.extents, { kind: 'fill', offset, length, pattern: this.pattern(value) });
    }
    this.lastValue = value;
    this.lastEnd = offset + length;
  }

  /** The pattern bytes (little-endian, as stored); four equal bytes become a 1-byte fill, which ExtentSource fills in one call. */
  private pattern(value: number): Uint8Array {
    let p = this.patterns.get(value);
    if (p === undefined) {
      const b0 = value & 0xff;
      p = value === b0 * 0x01010101 ? Uint8Array.of(b0) : Uint8Array.of(b0, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
      if (this.patterns.size < 1024) this.patterns.set(value, p);
    }
    return p;
  }
}

/**
 * Names the expanded image after the container: a final `.img` or `.simg` becomes `.raw`
 * (`system.img` -> `system.raw`, `super.simg` -> `super.raw`), any other name gets `.raw` appended
 * (`system_other` -> `system_other.raw`). The raw image is a different thing from the sparse file, so
 * it never keeps the container's own name.
 */
export function rawImageName(containerName: string): string {
  const base = containerName.slice(containerName.lastIndexOf('/') + 1) || 'image';
  const m = /^(.+)\.s?img$/i.exec(base);
  return m ? `${m[1]}.raw` : `${base}.raw`;
}

/**
 * The Android sparse image reader: yields ONE entry, the expanded raw image, as an ExtentSource over
 * the sparse file (RAW chunks are slices of it, FILL chunks patterns, DONT_CARE chunks zeros): nothing
 * is copied or written to disk, whatever the image size. The raw image is then matched again, so a
 * sparse ext4 or a sparse super.img is opened through its own reader.
 *
 * Split sparse images (`system_1.img` … `system_N.img`, `system.img_sparsechunk.0` …, simg2simg's
 * `x.img.0` …: parts of one partition, each with the full geometry and DONT_CARE for the others' blocks)
 * are joined through `ctx.sibling` and scanned once, at the first part, as `system.raw`.
 * Deliberately not handled: CRC32 chunks and image_checksum are not verified (that would read the
 * whole image before listing it).
 */
export const androidSparse: ContainerReader = {
  id: 'android-sparse',
  description: 'Android sparse image (libsparse: fastboot system.img, vendor.img, super.img), expanded in place',
  kind: 'partitions',
  extensions: ['.img'],
  signatures: [{ offset: 0, magic: [0x3a, 0xff, 0x26, 0xed], note: 'sparse header magic 0xED26FF3A' }],
  match(probe: Probe): boolean {
    try {
      return parseHeader(probe.head, probe.size) !== undefined;
    } catch (err) {
      // The magic is right but a field is not: still ours, so that the error is reported.
      return err instanceof AibomError;
    }
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const layout = sparseLayout(src, ctx);
    const identity = src.identity === undefined ? undefined : `${src.identity}!sparse`;
    const split = splitName(ctx.name);
    let name = rawImageName(ctx.name);
    let extents = layout.extents;
    if (split !== undefined) {
      // A part of a split image: the first part joins all of them; the others only say where they went.
      const previous = split.index > 0 ? await sameGeometry(ctx, split.nameOf(split.index - 1), layout.header) : undefined;
      if (previous !== undefined) {
        ctx.problem({
          severity: 'info',
          code: 'split-image',
          message: `Part ${split.index} of the split sparse image ${split.base}: it is joined with the other parts and scanned at the first one.`,
        });
        return;
      }
      const parts: string[] = [ctx.name];
      const all: Extent[] = [...layout.extents];
      for (let i = split.index + 1; parts.length < MAX_SPLIT_PARTS; i++) {
        const next = await sameGeometry(ctx, split.nameOf(i), layout.header);
        if (next === undefined) break;
        all.push(...sparseLayout(next, ctx).extents);
        parts.push(split.nameOf(i));
      }
      if (parts.length > 1) {
        // Each part covers its own blocks and leaves the others DONT_CARE: their extents interleave.
        // ExtentSource rejects any overlap, so two parts claiming the same block are an error.
        extents = all.sort((a, b) => a.offset - b.offset);
        name = rawImageName(split.base);
        ctx.problem({
          severity: 'info',
          code: 'split-image',
          message: `Split sparse image ${split.base}: joined from ${parts.length} parts (${parts.join(', ')}).`,
        });
      }
    }
    const joined = extents;
    yield {
      path: name,
      type: 'file',
      size: layout.size,
      open: () =>
        Promise.resolve(
          new ExtentSource(layout.size, joined, {
            what: 'Android sparse image',
            ...(identity === undefined || joined !== layout.extents ? {} : { identity }),
          }),
        ),
    };
  },
};

/** Most parts a split image may have. */
const MAX_SPLIT_PARTS = 256;

/**
 * Recognises the names vendors give the parts of a split sparse image: `system_1.img` … (QFIL and
 * MediaTek packages), `system.img_sparsechunk.0` … (Motorola/Lenovo fastboot packages), and
 * `system.img.0` … (libsparse's simg2simg). `base` is the whole image's name.
 */
export function splitName(name: string): { base: string; index: number; nameOf: (i: number) => string } | undefined {
  const forms: [RegExp, (m: RegExpExecArray) => string, (m: RegExpExecArray, i: number) => string][] = [
    [/^(.+)_(\d{1,3})\.img$/, (m) => `${m[1]}.img`, (m, i) => `${m[1]}_${i}.img`],
    [/^(.+)_sparsechunk\.(\d{1,3})$/, (m) => m[1]!, (m, i) => `${m[1]}_sparsechunk.${i}`],
    [/^(.+)\.(\d{1,3})$/, (m) => m[1]!, (m, i) => `${m[1]}.${i}`],
  ];
  for (const [re, base, nameOf] of forms) {
    const m = re.exec(name);
    if (m) return { base: base(m), index: Number(m[2]), nameOf: (i) => nameOf(m, i) };
  }
  return undefined;
}

/** The sibling `name` when it is a sparse image of the same geometry as this one (another part). */
async function sameGeometry(ctx: ContainerContext, name: string, header: SparseHeader): Promise<ByteSource | undefined> {
  const sib = await ctx.sibling(name);
  if (sib === undefined) return undefined;
  let other: SparseHeader | undefined;
  try {
    other = parseHeader(sib.read(0, Math.min(sib.size, SPARSE_HEADER_LEN)), sib.size);
  } catch {
    return undefined;
  }
  return other !== undefined && other.blockSize === header.blockSize && other.totalBlocks === header.totalBlocks ? sib : undefined;
}
