import { FormatError, UnsupportedError } from '../../errors.js';
import { u16le, u32le, u64le } from '../../io/binary.js';
import type { ByteSource } from '../../io/byte-source.js';
import { checked } from '../../io/checked.js';

/**
 * EROFS on-disk structures (Linux fs/erofs/erofs_fs.h): the superblock, the 32- and 64-byte inodes and
 * a small block cache for metadata reads. Shared by the directory walk (erofs.ts) and the compressed
 * file mapping (erofs-zmap.ts). Nothing here reads file data.
 */

/** The superblock starts 1024 bytes into the image, leaving room for a boot sector. */
export const SUPER_OFFSET = 1024;
/** s_magic 0xE0F5E1E2, little-endian, at superblock offset 0. */
export const EROFS_MAGIC = 0xe0f5e1e2;
/** The fixed part of the superblock; `sb_extslots` 16-byte slots may follow. */
export const SUPER_SIZE = 128;

/** feature_incompat bits (two pairs of names share a bit, as in the kernel header). */
export const INCOMPAT_ZERO_PADDING = 0x01; // LZ4_0PADDING: compressed data ends its pcluster, zeros before it
export const INCOMPAT_BIG_PCLUSTER = 0x02; // also COMPR_CFGS: per-algorithm configs follow the superblock
export const INCOMPAT_CHUNKED_FILE = 0x04;
export const INCOMPAT_DEVICE_TABLE = 0x08; // also COMPR_HEAD2
export const INCOMPAT_ZTAILPACKING = 0x10;
export const INCOMPAT_FRAGMENTS = 0x20; // also DEDUPE
export const INCOMPAT_XATTR_PREFIXES = 0x40;
/** Every incompatible feature this reader understands; any other bit changes layouts we do not know. */
const KNOWN_INCOMPAT = 0x7f;

/** Inode data layouts (i_format bits 1-3). */
export const LAYOUT_FLAT_PLAIN = 0;
export const LAYOUT_COMPRESSED_FULL = 1;
export const LAYOUT_FLAT_INLINE = 2;
export const LAYOUT_COMPRESSED_COMPACT = 3;
export const LAYOUT_CHUNK_BASED = 4;

/** An on-disk block address meaning "no block" (a hole in a chunk-based file). */
export const NULL_ADDR = 0xffffffff;

/** What the reader keeps of the superblock. */
export interface ErofsSuper {
  readonly imageSize: number;
  /** blkszbits: 9 (512 bytes) to 16 (64 KiB). */
  readonly blkBits: number;
  readonly blkSize: number;
  readonly rootNid: number;
  /** Byte offset of nid 0: meta_blkaddr × block size. */
  readonly metaBase: number;
  readonly featureCompat: number;
  readonly featureIncompat: number;
  /** available_compr_algs with COMPR_CFGS, else 1 (LZ4 only). */
  readonly algorithms: number;
  /** extra_devices with DEVICE_TABLE, else 0. */
  readonly extraDevices: number;
  /** Block ranges that belong to extra devices in the flat address space (device table mapped_blkaddr). */
  readonly deviceRanges: readonly { start: number; end: number; device: number }[];
  /** Nid of the packed inode holding fragments, when FRAGMENTS is set and one is recorded. */
  readonly packedNid: number | undefined;
}

/** True when the head holds an EROFS superblock: the magic and a block size the format allows. */
export function looksLikeErofs(head: Uint8Array): boolean {
  if (head.length < SUPER_OFFSET + SUPER_SIZE) return false;
  if (u32le(head, SUPER_OFFSET, 'EROFS image') !== EROFS_MAGIC) return false;
  const bits = head[SUPER_OFFSET + 12]!;
  return bits >= 9 && bits <= 16;
}

/** Maximum extra devices whose table is read; Android uses none, composefs-style images a handful. */
const MAX_DEVICES = 4096;
/** Size of one device table slot (struct erofs_deviceslot). */
const DEVICE_SLOT = 128;

/**
 * Reads and checks the superblock. Throws FormatError for a bad magic, block size or root, and
 * UnsupportedError for incompatible features this reader does not know (48-bit layouts, metabox,
 * directory block sizes other than the block size).
 */
export function readSuper(src: ByteSource): ErofsSuper {
  if (src.size < SUPER_OFFSET + SUPER_SIZE) {
    throw new FormatError(`Invalid EROFS image: ${src.size} bytes is too small to hold the superblock at offset ${SUPER_OFFSET}.`, 'truncated');
  }
  const sb = src.read(SUPER_OFFSET, SUPER_SIZE);
  const magic = u32le(sb, 0, 'EROFS image');
  if (magic !== EROFS_MAGIC) throw new FormatError(`Invalid EROFS image: magic 0x${magic.toString(16)} at offset ${SUPER_OFFSET} is not 0xe0f5e1e2.`);
  const featureCompat = u32le(sb, 8, 'EROFS image');
  const blkBits = checked(sb[12]!, 9, 16, 'Invalid EROFS superblock: blkszbits');
  const blkSize = 2 ** blkBits;
  const rootNid = u16le(sb, 14, 'EROFS image');
  const metaBlk = u32le(sb, 40, 'EROFS image');
  const featureIncompat = u32le(sb, 80, 'EROFS image');
  const unknown = featureIncompat & ~KNOWN_INCOMPAT;
  if (unknown !== 0) {
    throw new UnsupportedError(
      `The EROFS image uses incompatible features 0x${unknown.toString(16)} (feature_incompat 0x${featureIncompat.toString(16)}) that aibom does not read; not scanned.`,
    );
  }
  // dirblkbits (offset 90): directory blocks larger than file system blocks; reserved so far.
  if (sb[90] !== 0) throw new UnsupportedError(`The EROFS image has dirblkbits ${sb[90]}, a directory block size aibom does not read; not scanned.`);
  const metaBase = checked(metaBlk * blkSize, 0, src.size - 1, 'Invalid EROFS superblock: meta_blkaddr byte offset');
  // u1 at 84: available_compr_algs with COMPR_CFGS (shares the BIG_PCLUSTER bit), else lz4_max_distance.
  const algorithms = featureIncompat & INCOMPAT_BIG_PCLUSTER ? u16le(sb, 84, 'EROFS image') : 1;
  const extraDevices = featureIncompat & INCOMPAT_DEVICE_TABLE ? u16le(sb, 86, 'EROFS image') : 0;
  const deviceRanges: { start: number; end: number; device: number }[] = [];
  if (extraDevices > 0) {
    checked(extraDevices, 0, MAX_DEVICES, 'Invalid EROFS superblock: extra_devices');
    // devt_slotoff (88) counts 128-byte slots from the start of the image.
    const table = u16le(sb, 88, 'EROFS image') * DEVICE_SLOT;
    if (table + extraDevices * DEVICE_SLOT > src.size) {
      throw new FormatError(
        `Invalid EROFS superblock: the device table of ${extraDevices} slots at offset ${table} runs past the end of the ${src.size}-byte image.`,
        'truncated',
      );
    }
    const slots = src.read(table, extraDevices * DEVICE_SLOT);
    for (let i = 0; i < extraDevices; i++) {
      // blocks at slot offset 64, mapped_blkaddr at 68 (0: reached only through chunk device ids).
      const blocks = u32le(slots, i * DEVICE_SLOT + 64, 'EROFS image');
      const mapped = u32le(slots, i * DEVICE_SLOT + 68, 'EROFS image');
      if (mapped !== 0) deviceRanges.push({ start: mapped, end: mapped + blocks, device: i + 1 });
    }
  }
  // packed_nid (96, u64) with FRAGMENTS: the inode whose data holds the fragments of other files.
  const packed = u64le(sb, 96, 'EROFS image');
  const packedNid =
    featureIncompat & INCOMPAT_FRAGMENTS && packed !== 0 ? checked(packed, 1, Number.MAX_SAFE_INTEGER, 'Invalid EROFS superblock: packed_nid') : undefined;
  return { imageSize: src.size, blkBits, blkSize, rootNid, metaBase, featureCompat, featureIncompat, algorithms, extraDevices, deviceRanges, packedNid };
}

/**
 * A small LRU of metadata blocks (inodes, compressed indexes, directory blocks), so walking a
 * directory or an lcluster index costs one positional read per block rather than one per field.
 * Every read is checked against the image size: a reference past the end is FormatError 'truncated'.
 */
export class MetaReader {
  private readonly blocks = new Map<number, Uint8Array>();
  private static readonly MAX_BLOCKS = 64;
  constructor(
    readonly src: ByteSource,
    readonly blkSize: number,
  ) {}

  /** `length` bytes at `offset`, which must lie inside the image; `what` names the structure in errors. */
  read(offset: number, length: number, what: string): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.src.size) {
      throw new FormatError(
        `Invalid EROFS image: ${what} (${length} bytes at offset ${offset}) runs past the end of the ${this.src.size}-byte image.`,
        'truncated',
      );
    }
    const blk = Math.floor(offset / this.blkSize);
    const within = offset - blk * this.blkSize;
    if (within + length > this.blkSize) return this.src.read(offset, length);
    let block = this.blocks.get(blk);
    if (block === undefined) {
      block = this.src.read(blk * this.blkSize, Math.min(this.blkSize, this.src.size - blk * this.blkSize));
      if (this.blocks.size >= MetaReader.MAX_BLOCKS) {
        const oldest = this.blocks.keys().next().value;
        if (oldest !== undefined) this.blocks.delete(oldest);
      }
      this.blocks.set(blk, block);
    }
    return block.subarray(within, within + length);
  }
}

/** What the reader keeps of one inode. */
export interface ErofsInode {
  readonly nid: number;
  /** Byte offset of the inode in the image. */
  readonly iloc: number;
  /** 32 (compact) or 64 (extended). */
  readonly inodeSize: number;
  /** Size of the inline xattr area after the inode: 12 + 4 × (i_xattr_icount − 1), or 0. */
  readonly xattrSize: number;
  /** i_format bits 1-3. */
  readonly layout: number;
  readonly mode: number;
  readonly size: number;
  /** i_u: raw_blkaddr, compressed_blocks, rdev or chunk info, by layout. */
  readonly iu: number;
}

/** i_mode file types (S_IFMT). */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Byte offset right after an inode and its inline xattrs: where inline data and indexes begin. */
export function inodeEnd(inode: ErofsInode): number {
  return inode.iloc + inode.inodeSize + inode.xattrSize;
}

/**
 * Reads the inode `nid` (at metaBase + nid × 32). Throws FormatError when it lies outside the image,
 * UnsupportedError for a data layout or i_format bits this reader does not know.
 */
export function readInode(sb: ErofsSuper, meta: MetaReader, nid: number): ErofsInode {
  const maxNid = Math.floor((sb.imageSize - sb.metaBase) / 32);
  checked(nid, 0, maxNid, 'Invalid EROFS image: inode nid');
  const iloc = sb.metaBase + nid * 32;
  const head = meta.read(iloc, 32, `inode ${nid}`);
  const format = u16le(head, 0, 'EROFS image');
  const extended = (format & 1) === 1;
  const layout = (format >> 1) & 7;
  // Bits 4 (NLINK_1) and 5 (DOT_OMITTED) of newer images change nothing we read; higher bits are unknown.
  if (format & ~0x3f) throw new UnsupportedError(`The EROFS inode ${nid} has i_format 0x${format.toString(16)} with bits aibom does not know; not scanned.`);
  if (layout > LAYOUT_CHUNK_BASED) throw new UnsupportedError(`The EROFS inode ${nid} has data layout ${layout}, which aibom does not know; not scanned.`);
  const icount = u16le(head, 2, 'EROFS image');
  const xattrSize = icount === 0 ? 0 : 12 + 4 * (icount - 1);
  const mode = u16le(head, 4, 'EROFS image');
  let size: number;
  let iu: number;
  if (extended) {
    const ext = meta.read(iloc, 64, `extended inode ${nid}`);
    size = checked(u64le(ext, 8, 'EROFS image'), 0, Number.MAX_SAFE_INTEGER, `Invalid EROFS inode ${nid}: i_size`);
    iu = u32le(ext, 16, 'EROFS image');
  } else {
    size = u32le(head, 8, 'EROFS image');
    iu = u32le(head, 16, 'EROFS image');
  }
  return { nid, iloc, inodeSize: extended ? 64 : 32, xattrSize, layout, mode, size, iu };
}
