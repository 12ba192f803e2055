import { FormatError, LimitError, UnsupportedError } from '../../errors.js';
import { u16le, u32le } from '../../io/binary.js';
import type { ByteSource } from '../../io/byte-source.js';
import { checked } from '../../io/checked.js';
import { ExtentSource, type Extent } from '../../io/extent-source.js';

/**
 * The on-disk layout of ext2/ext3/ext4 (Linux `fs/ext4/ext4.h`, `ext4_extents.h`, e2fsprogs
 * `lib/ext2fs/ext2_fs.h`): superblock, group descriptors, inodes, and the two ways an inode maps
 * its logical blocks (extent trees, classic direct/indirect block maps) plus inline data. The
 * directory walk lives in `ext4.ts`; this module only turns inode numbers into inodes and inodes
 * into byte ranges of the image.
 */

/** The superblock starts 1024 bytes into the volume, whatever the block size. */
export const SUPERBLOCK_OFFSET = 1024;
const SUPERBLOCK_SIZE = 1024;
/** s_magic 0xEF53 at superblock offset 56. */
export const EXT_MAGIC = 0xef53;
/** Superblock offset 56 of s_magic, from the start of the volume. */
export const MAGIC_OFFSET = SUPERBLOCK_OFFSET + 56;
/** Inode number of the root directory. */
export const ROOT_INO = 2;

// s_feature_compat
const COMPAT_SPARSE_SUPER2 = 0x200;
// s_feature_ro_compat
const RO_COMPAT_SPARSE_SUPER = 0x1;
// s_feature_incompat
const INCOMPAT_COMPRESSION = 0x1;
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_MMP = 0x100;
const INCOMPAT_FLEX_BG = 0x200;
const INCOMPAT_EA_INODE = 0x400;
const INCOMPAT_DIRDATA = 0x1000;
const INCOMPAT_CSUM_SEED = 0x2000;
export const INCOMPAT_LARGEDIR = 0x4000;
const INCOMPAT_INLINE_DATA = 0x8000;
export const INCOMPAT_ENCRYPT = 0x10000;
const INCOMPAT_CASEFOLD = 0x20000;
/**
 * Incompatible features this reader understands. None of the others changes how files are found:
 * MMP is a multi-mount guard block, CSUM_SEED and the ro_compat checksums are not verified,
 * CASEFOLD only changes name lookups (names are stored as given), LARGEDIR only deepens htrees,
 * which are read linearly anyway, EA_INODE only moves big xattr values.
 */
const KNOWN_INCOMPAT =
  INCOMPAT_FILETYPE |
  INCOMPAT_RECOVER |
  INCOMPAT_META_BG |
  INCOMPAT_EXTENTS |
  INCOMPAT_64BIT |
  INCOMPAT_MMP |
  INCOMPAT_FLEX_BG |
  INCOMPAT_EA_INODE |
  INCOMPAT_CSUM_SEED |
  INCOMPAT_LARGEDIR |
  INCOMPAT_INLINE_DATA |
  INCOMPAT_ENCRYPT |
  INCOMPAT_CASEFOLD;

// i_flags
/** EXT4_ENCRYPT_FL: content (and, for a directory, names) encrypted with fscrypt. */
export const FLAG_ENCRYPT = 0x800;
/** EXT4_EXTENTS_FL: i_block holds an extent tree root. */
const FLAG_EXTENTS = 0x80000;
/** EXT4_INLINE_DATA_FL: the content lives in i_block and the `system.data` xattr. */
const FLAG_INLINE_DATA = 0x10000000;

// i_mode file types
export const S_IFMT = 0xf000;
export const S_IFREG = 0x8000;
export const S_IFDIR = 0x4000;
export const S_IFLNK = 0xa000;

/** i_block: 15 32-bit words, 60 bytes, at inode offset 0x28. */
const I_BLOCK = 0x28;
export const I_BLOCK_SIZE = 60;
/** Extent header magic 0xF30A (eh_magic). */
const EXTENT_MAGIC = 0xf30a;
/** The kernel's EXT4_MAX_EXTENT_DEPTH: a deeper tree is corrupt. */
const MAX_EXTENT_DEPTH = 5;
/** ee_len above EXT_INIT_MAX_LEN (32768) marks an uninitialized extent of ee_len - 32768 blocks. */
const EXT_INIT_MAX_LEN = 32768;
/** In-inode xattr header magic 0xEA020000 (h_magic) right after i_extra_isize. */
const XATTR_MAGIC = 0xea020000;
/** e_name_index 7: the `system.` namespace; `system.data` holds inline data past i_block. */
const XATTR_INDEX_SYSTEM = 7;
/** Logical block numbers are 32-bit in extents and block maps alike. */
const MAX_LOGICAL_BLOCKS = 2 ** 32;

/** The superblock fields the reader uses, validated. */
export interface Superblock {
  readonly blockSize: number;
  readonly blocksCount: number;
  readonly inodesCount: number;
  readonly firstDataBlock: number;
  readonly blocksPerGroup: number;
  readonly inodesPerGroup: number;
  readonly inodeSize: number;
  readonly groupCount: number;
  /** Group descriptor size: 32 bytes, or s_desc_size with the 64bit feature. */
  readonly descSize: number;
  readonly compat: number;
  readonly incompat: number;
  readonly roCompat: number;
  readonly firstMetaBg: number;
  /** s_backup_bgs (sparse_super2): the two groups holding superblock backups. */
  readonly backupBgs: readonly [number, number];
}

/** True when the head holds a plausible ext2/3/4 superblock; cheap, for `match`. */
export function looksLikeExt(head: Uint8Array): boolean {
  if (head.length < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) return false;
  const s = head.subarray(SUPERBLOCK_OFFSET, SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE);
  return (
    u16le(s, 0x38, 'ext4 image') === EXT_MAGIC && // s_magic
    u32le(s, 0x18, 'ext4 image') <= 6 && // s_log_block_size: 1 KiB to 64 KiB
    u32le(s, 0x00, 'ext4 image') >= 2 && // s_inodes_count
    u32le(s, 0x20, 'ext4 image') > 0 && // s_blocks_per_group
    u32le(s, 0x28, 'ext4 image') > 0 && // s_inodes_per_group
    u32le(s, 0x4c, 'ext4 image') <= 1 // s_rev_level
  );
}

/**
 * Reads and checks the superblock at byte 1024. Throws FormatError for a missing magic or a field
 * out of range, UnsupportedError for a revision or incompatible feature this reader cannot follow.
 */
export function readSuperblock(src: ByteSource): Superblock {
  if (src.size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) {
    throw new FormatError(`Invalid ext4 image: ${src.size} bytes cannot hold the superblock at offset 1024.`, 'truncated');
  }
  const s = src.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
  const magic = u16le(s, 0x38, 'ext4 image');
  if (magic !== EXT_MAGIC) throw new FormatError(`Invalid ext4 image: s_magic is 0x${magic.toString(16)}, not 0xEF53.`);
  const rev = u32le(s, 0x4c, 'ext4 image'); // s_rev_level: 0 original, 1 dynamic (features, s_inode_size)
  if (rev > 1) throw new UnsupportedError(`ext4 s_rev_level ${rev} is unknown: the file system was not scanned.`);
  const logBlock = checked(u32le(s, 0x18, 'ext4 image'), 0, 6, 'Invalid ext4 superblock: s_log_block_size');
  const blockSize = 1024 << logBlock;
  const compat = rev === 0 ? 0 : u32le(s, 0x5c, 'ext4 image');
  const incompat = rev === 0 ? 0 : u32le(s, 0x60, 'ext4 image');
  const roCompat = rev === 0 ? 0 : u32le(s, 0x64, 'ext4 image');
  if (incompat & INCOMPAT_JOURNAL_DEV) throw new UnsupportedError('This ext4 image is an external journal device, which holds no files: it was not scanned.');
  if (incompat & INCOMPAT_COMPRESSION) throw new UnsupportedError('This ext2 image uses the old compression feature (incompat 0x1): it was not scanned.');
  if (incompat & INCOMPAT_DIRDATA) throw new UnsupportedError('This ext4 image uses Lustre dirdata directory entries (incompat 0x1000): it was not scanned.');
  const unknown = incompat & ~KNOWN_INCOMPAT;
  if (unknown !== 0) throw new UnsupportedError(`This ext4 image has unknown incompatible features 0x${(unknown >>> 0).toString(16)}: it was not scanned.`);
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  // s_blocks_count_lo at 0x04, s_blocks_count_hi at 0x150 (64bit only).
  const blocksHi = is64 ? u32le(s, 0x150, 'ext4 image') : 0;
  const maxBlocks = Math.floor(Number.MAX_SAFE_INTEGER / blockSize);
  const blocksCount = checked(blocksHi * 2 ** 32 + u32le(s, 0x04, 'ext4 image'), 1, maxBlocks, 'Invalid ext4 superblock: s_blocks_count');
  const firstDataBlock = checked(u32le(s, 0x14, 'ext4 image'), 0, Math.min(1, blocksCount - 1), 'Invalid ext4 superblock: s_first_data_block');
  // Without bigalloc a group's block bitmap is one block (8 * blockSize bits); with bigalloc the
  // bits count clusters, so a group spans more blocks. Bounded only so group arithmetic stays exact.
  const blocksPerGroup = checked(u32le(s, 0x20, 'ext4 image'), 8, 2 ** 31, 'Invalid ext4 superblock: s_blocks_per_group');
  // The inode bitmap is one block.
  const inodesPerGroup = checked(u32le(s, 0x28, 'ext4 image'), 1, 8 * blockSize, 'Invalid ext4 superblock: s_inodes_per_group');
  const inodeSize = rev === 0 ? 128 : checked(u16le(s, 0x58, 'ext4 image'), 128, blockSize, 'Invalid ext4 superblock: s_inode_size');
  if ((inodeSize & (inodeSize - 1)) !== 0) throw new FormatError(`Invalid ext4 superblock: s_inode_size ${inodeSize} is not a power of two.`);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const inodesCount = checked(
    u32le(s, 0x00, 'ext4 image'),
    ROOT_INO,
    Math.min(2 ** 32 - 1, groupCount * inodesPerGroup),
    'Invalid ext4 superblock: s_inodes_count',
  );
  let descSize = 32;
  if (is64) {
    // s_desc_size at 0xFE: 64 to 1024, a power of two (EXT4_MIN_DESC_SIZE_64BIT, EXT4_MAX_DESC_SIZE).
    descSize = checked(u16le(s, 0xfe, 'ext4 image'), 64, Math.min(1024, blockSize), 'Invalid ext4 superblock: s_desc_size');
    if ((descSize & (descSize - 1)) !== 0) throw new FormatError(`Invalid ext4 superblock: s_desc_size ${descSize} is not a power of two.`);
  }
  return {
    blockSize,
    blocksCount,
    inodesCount,
    firstDataBlock,
    blocksPerGroup,
    inodesPerGroup,
    inodeSize,
    groupCount,
    descSize,
    compat,
    incompat,
    roCompat,
    firstMetaBg: u32le(s, 0x104, 'ext4 image'), // s_first_meta_bg
    backupBgs: [u32le(s, 0x24c, 'ext4 image'), u32le(s, 0x250, 'ext4 image')],
  };
}

/** One inode, as far as the reader needs it. */
export interface Inode {
  readonly ino: number;
  /** Byte offset of the inode in the image. */
  readonly offset: number;
  readonly mode: number;
  readonly size: number;
  readonly flags: number;
  /** i_blocks_lo: non-zero when data blocks are allocated (fast symlinks have none). */
  readonly blocksLo: number;
  /** The 60 bytes of i_block. */
  readonly iblock: Uint8Array;
  /** The whole on-disk inode (s_inode_size bytes), for the in-inode xattr area. */
  readonly raw: Uint8Array;
}

/** A run of logical blocks mapped to consecutive physical blocks; `uninit` runs read as zeros. */
export interface Run {
  logical: number;
  physical: number;
  count: number;
  uninit: boolean;
}

/**
 * Bytes of holes (and uninitialized extents) still allowed in the files opened from one volume.
 * Holes cost nothing on disk but every byte is hashed and scanned: a hostile inode can declare an
 * i_size of petabytes over one block.
 */
export interface HoleBudget {
  left: number;
  /** The limit's name and value, for the error. */
  readonly limit: string;
  readonly max: number;
}

/** A byte range of the image. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/**
 * An open ext2/3/4 volume over a ByteSource: group descriptors are read on demand and cached, every
 * block number is checked against s_blocks_count and the image size, every inode number against
 * s_inodes_count. Nothing here reads file content: `open` describes a file as extents of the image.
 */
export class ExtVolume {
  readonly sb: Superblock;
  private readonly inodeTables = new Map<number, number>();

  constructor(readonly src: ByteSource) {
    this.sb = readSuperblock(src);
  }

  /** The filetype feature: directory entries carry a file_type byte and a one-byte name_len. */
  get hasFiletype(): boolean {
    return (this.sb.incompat & INCOMPAT_FILETYPE) !== 0;
  }

  /**
   * Byte offset of `count` blocks at `block`, checked: past s_blocks_count is FormatError ('format'),
   * inside the file system but past the image is FormatError ('truncated').
   */
  blockOffset(block: number, count: number, what: string): number {
    const { blocksCount, blockSize } = this.sb;
    if (!Number.isSafeInteger(block) || block < 0 || count < 0 || block + count > blocksCount) {
      throw new FormatError(`Invalid ext4 image: ${what} refers to block ${block} (${count} blocks), past the ${blocksCount}-block file system.`);
    }
    const end = (block + count) * blockSize;
    if (end > this.src.size) {
      throw new FormatError(
        `Truncated ext4 image: ${what} refers to block ${block + count - 1}, past the end of the ${this.src.size}-byte image.`,
        'truncated',
      );
    }
    return block * blockSize;
  }

  /** One block of the image, checked like `blockOffset`. */
  readBlock(block: number, what: string): Uint8Array {
    return this.src.read(this.blockOffset(block, 1, what), this.sb.blockSize);
  }

  /** Does group `g` hold a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7)? */
  private groupHasSuper(g: number): boolean {
    if (g === 0) return true;
    if (this.sb.compat & COMPAT_SPARSE_SUPER2) return g === this.sb.backupBgs[0] || g === this.sb.backupBgs[1];
    if (g <= 1 || !(this.sb.roCompat & RO_COMPAT_SPARSE_SUPER)) return true;
    if (g % 2 === 0) return false;
    for (const base of [3, 5, 7]) {
      let p = base;
      while (p < g) p *= base;
      if (p === g) return true;
    }
    return false;
  }

  /**
   * Block holding the `nr`-th block of group descriptors (the kernel's descriptor_loc). Without
   * meta_bg they follow the superblock; with it, each meta group of blockSize/descSize groups keeps
   * its descriptor block in its first group, after that group's superblock backup if any.
   */
  private descriptorBlock(nr: number): number {
    const { blockSize, descSize, firstDataBlock, firstMetaBg, blocksPerGroup } = this.sb;
    const superBlock = blockSize === 1024 ? 1 : 0;
    if (!(this.sb.incompat & INCOMPAT_META_BG) || nr < firstMetaBg) return superBlock + nr + 1;
    const group = nr * (blockSize / descSize);
    let hasSuper = this.groupHasSuper(group) ? 1 : 0;
    // A 1 KiB-block meta_bg file system with s_first_data_block 0 (bigalloc) keeps group 0's GDT at block 2.
    if (blockSize === 1024 && nr === 0 && firstDataBlock === 0) hasSuper++;
    return group * blocksPerGroup + firstDataBlock + hasSuper;
  }

  /** First block of group `g`'s inode table (bg_inode_table_lo at 0x08, _hi at 0x28 with 64bit). */
  inodeTable(g: number): number {
    const cached = this.inodeTables.get(g);
    if (cached !== undefined) return cached;
    const { blockSize, descSize, inodesPerGroup, inodeSize } = this.sb;
    const perBlock = blockSize / descSize;
    const block = this.descriptorBlock(Math.floor(g / perBlock));
    const at = this.blockOffset(block, 1, `the descriptor of group ${g}`) + (g % perBlock) * descSize;
    const d = this.src.read(at, descSize);
    const table = u32le(d, 0x08, 'ext4 image') + (descSize >= 64 ? u32le(d, 0x28, 'ext4 image') * 2 ** 32 : 0);
    // The whole table must lie inside the file system; only the inodes actually read must lie inside the image.
    const tableBlocks = Math.ceil((inodesPerGroup * inodeSize) / blockSize);
    if (table === 0 || table + tableBlocks > this.sb.blocksCount) {
      throw new FormatError(`Invalid ext4 image: group ${g} has bg_inode_table ${table}, outside the ${this.sb.blocksCount}-block file system.`);
    }
    this.inodeTables.set(g, table);
    return table;
  }

  /** Reads inode `ino` (1-based, checked against s_inodes_count). */
  readInode(ino: number): Inode {
    const { inodesCount, inodesPerGroup, inodeSize, blockSize } = this.sb;
    checked(ino, 1, inodesCount, 'Invalid ext4 image: inode number');
    const g = Math.floor((ino - 1) / inodesPerGroup);
    const index = (ino - 1) % inodesPerGroup;
    const offset = this.inodeTable(g) * blockSize + index * inodeSize;
    if (offset + inodeSize > this.src.size) {
      throw new FormatError(`Truncated ext4 image: inode ${ino} at offset ${offset} lies past the end of the ${this.src.size}-byte image.`, 'truncated');
    }
    const raw = this.src.read(offset, inodeSize);
    const mode = u16le(raw, 0x00, 'ext4 image');
    const flags = u32le(raw, 0x20, 'ext4 image');
    // i_size_lo at 0x04, i_size_high at 0x6C: the kernel's ext4_isize() uses the high half for
    // regular files, and for directories only with largedir (it was i_dir_acl in ext2).
    const useHigh = (mode & S_IFMT) === S_IFREG || (this.sb.incompat & INCOMPAT_LARGEDIR) !== 0;
    const size = u32le(raw, 0x04, 'ext4 image') + (useHigh ? u32le(raw, 0x6c, 'ext4 image') * 2 ** 32 : 0);
    if (!Number.isSafeInteger(size)) throw new FormatError(`Invalid ext4 image: inode ${ino} has i_size ${size}, beyond what aibom can address.`);
    return { ino, offset, mode, size, flags, blocksLo: u32le(raw, 0x1c, 'ext4 image'), iblock: raw.subarray(I_BLOCK, I_BLOCK + I_BLOCK_SIZE), raw };
  }

  /** EXT4_INLINE_DATA_FL: the content is in the inode, not in blocks. */
  isInline(inode: Inode): boolean {
    return (inode.flags & FLAG_INLINE_DATA) !== 0;
  }

  /** EXT4_EXTENTS_FL: i_block holds an extent tree root rather than a block map. */
  usesExtents(inode: Inode): boolean {
    return (inode.flags & FLAG_EXTENTS) !== 0;
  }

  /**
   * The `system.data` value of an inline-data inode: the bytes past the first 60, kept in the
   * in-inode xattr area (after i_extra_isize at 0x80). Returns its byte range in the image (length 0
   * when absent or empty).
   */
  inlineTail(inode: Inode): ByteRange {
    const { raw } = inode;
    const none = { offset: inode.offset, length: 0 };
    if (raw.length <= 128) return none;
    const extra = u16le(raw, 0x80, 'ext4 image'); // i_extra_isize
    if (extra % 4 !== 0 || 128 + extra + 4 > raw.length) {
      throw new FormatError(`Invalid ext4 image: inode ${inode.ino} has i_extra_isize ${extra}, which leaves no room in a ${raw.length}-byte inode.`);
    }
    const header = 128 + extra;
    if (u32le(raw, header, 'ext4 image') !== XATTR_MAGIC) return none;
    const first = header + 4; // e_value_offs counts from the first entry
    // Entries: e_name_len u8, e_name_index u8, e_value_offs u16, e_value_inum u32, e_value_size u32,
    // e_hash u32, then the name, padded to 4 bytes; a zero u32 ends the list.
    for (let at = first; at + 16 <= raw.length && u32le(raw, at, 'ext4 image') !== 0; ) {
      const nameLen = raw[at] as number;
      const nameEnd = at + 16 + nameLen;
      if (nameEnd > raw.length) break;
      if (raw[at + 1] === XATTR_INDEX_SYSTEM && nameLen === 4 && Buffer.from(raw.subarray(at + 16, nameEnd)).toString('latin1') === 'data') {
        const valueOffs = u16le(raw, at + 2, 'ext4 image');
        const valueSize = u32le(raw, at + 8, 'ext4 image');
        if (u32le(raw, at + 4, 'ext4 image') !== 0) throw new FormatError(`Invalid ext4 image: inode ${inode.ino} keeps its system.data in an xattr inode.`);
        if (valueSize === 0) return none;
        if (first + valueOffs + valueSize > raw.length) {
          throw new FormatError(
            `Invalid ext4 image: inode ${inode.ino} has a system.data value of ${valueSize} bytes at ${valueOffs}, past its ${raw.length}-byte inode.`,
          );
        }
        return { offset: inode.offset + first + valueOffs, length: valueSize };
      }
      at = (nameEnd + 3) & ~3;
    }
    return none;
  }

  /**
   * The runs of an inode's extent tree or block map, sorted by logical block, limited to the
   * `nBlocks` logical blocks its size covers, and checked: no overlap, every physical block inside
   * the file system, no tree node visited twice, no more blocks mapped than the file system has.
   */
  runs(inode: Inode, nBlocks: number, what: string): Run[] {
    if (nBlocks > MAX_LOGICAL_BLOCKS) throw new FormatError(`Invalid ext4 image: ${what} has i_size ${inode.size}, more than 2^32 blocks.`);
    const runs = this.usesExtents(inode) ? this.extentRuns(inode, nBlocks, what) : this.blockMapRuns(inode, nBlocks, what);
    runs.sort((a, b) => a.logical - b.logical);
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1]!;
      const r = runs[i]!;
      if (r.logical < prev.logical + prev.count) {
        throw new FormatError(`Invalid ext4 image: ${what} maps logical block ${r.logical} twice.`);
      }
    }
    return runs;
  }

  private extentRuns(inode: Inode, nBlocks: number, what: string): Run[] {
    const runs: Run[] = [];
    const visited = new Set<number>();
    const { blocksCount } = this.sb;
    let mapped = 0;
    const walk = (node: Uint8Array, where: string, expectedDepth: number | undefined): void => {
      // ext4_extent_header: eh_magic u16, eh_entries u16, eh_max u16, eh_depth u16, eh_generation u32.
      const magic = u16le(node, 0, 'ext4 image');
      if (magic !== EXTENT_MAGIC)
        throw new FormatError(`Invalid ext4 image: the extent header of ${what} ${where} has magic 0x${magic.toString(16)}, not 0xF30A.`);
      const entries = u16le(node, 2, 'ext4 image');
      const max = u16le(node, 4, 'ext4 image');
      const depth = u16le(node, 6, 'ext4 image');
      if (max > Math.floor((node.length - 12) / 12) || entries > max) {
        throw new FormatError(
          `Invalid ext4 image: the extent node of ${what} ${where} has eh_entries ${entries} and eh_max ${max}, more than ${node.length} bytes hold.`,
        );
      }
      if (depth > MAX_EXTENT_DEPTH || (expectedDepth !== undefined && depth !== expectedDepth)) {
        throw new FormatError(
          `Invalid ext4 image: the extent node of ${what} ${where} has eh_depth ${depth}, expected ${expectedDepth ?? `at most ${MAX_EXTENT_DEPTH}`}.`,
        );
      }
      for (let i = 0; i < entries; i++) {
        const e = 12 + 12 * i;
        const logical = u32le(node, e, 'ext4 image');
        if (depth === 0) {
          // ext4_extent: ee_block u32, ee_len u16, ee_start_hi u16, ee_start_lo u32.
          const rawLen = u16le(node, e + 4, 'ext4 image');
          const uninit = rawLen > EXT_INIT_MAX_LEN;
          const count = uninit ? rawLen - EXT_INIT_MAX_LEN : rawLen;
          if (count === 0) throw new FormatError(`Invalid ext4 image: an extent of ${what} ${where} has ee_len 0.`);
          const physical = u16le(node, e + 6, 'ext4 image') * 2 ** 32 + u32le(node, e + 8, 'ext4 image');
          mapped += count;
          if (mapped > blocksCount) throw new FormatError(`Invalid ext4 image: ${what} maps more blocks than the ${blocksCount}-block file system holds.`);
          if (logical >= nBlocks) continue; // preallocated past the end of the file
          if (physical + count > blocksCount) {
            throw new FormatError(
              `Invalid ext4 image: an extent of ${what} starts at block ${physical} (${count} blocks), past the ${blocksCount}-block file system.`,
            );
          }
          runs.push({ logical, physical, count: Math.min(count, nBlocks - logical), uninit });
        } else {
          // ext4_extent_idx: ei_block u32, ei_leaf_lo u32, ei_leaf_hi u16, ei_unused u16.
          if (logical >= nBlocks) continue;
          const leaf = u16le(node, e + 8, 'ext4 image') * 2 ** 32 + u32le(node, e + 4, 'ext4 image');
          if (visited.has(leaf)) throw new FormatError(`Invalid ext4 image: the extent tree of ${what} reaches block ${leaf} twice (a loop).`);
          visited.add(leaf);
          walk(this.readBlock(leaf, `the extent tree of ${what}`), `in block ${leaf}`, depth - 1);
        }
      }
    };
    walk(inode.iblock, 'in the inode', undefined);
    return runs;
  }

  private blockMapRuns(inode: Inode, nBlocks: number, what: string): Run[] {
    const runs: Run[] = [];
    const visited = new Set<number>();
    const per = this.sb.blockSize / 4;
    const add = (logical: number, physical: number): void => {
      if (physical === 0) return; // a hole
      if (physical >= this.sb.blocksCount) {
        throw new FormatError(
          `Invalid ext4 image: ${what} maps logical block ${logical} to block ${physical}, past the ${this.sb.blocksCount}-block file system.`,
        );
      }
      const last = runs[runs.length - 1];
      if (last !== undefined && last.logical + last.count === logical && last.physical + last.count === physical) last.count++;
      else runs.push({ logical, physical, count: 1, uninit: false });
    };
    // i_block[0..11]: direct blocks.
    for (let i = 0; i < 12 && i < nBlocks; i++) add(i, u32le(inode.iblock, 4 * i, 'ext4 image'));
    // An indirect block of `level` (1: pointers to data) covering logical blocks from `base`.
    const indirect = (block: number, level: number, base: number): void => {
      if (block === 0) return;
      if (visited.has(block)) throw new FormatError(`Invalid ext4 image: the block map of ${what} reaches indirect block ${block} twice (a loop).`);
      visited.add(block);
      const b = this.readBlock(block, `the block map of ${what}`);
      const span = per ** (level - 1);
      for (let i = 0; i < per; i++) {
        const logical = base + i * span;
        if (logical >= nBlocks) break;
        const p = u32le(b, 4 * i, 'ext4 image');
        if (level === 1) add(logical, p);
        else indirect(p, level - 1, logical);
      }
    };
    // i_block[12], [13], [14]: single, double and triple indirect blocks.
    let base = 12;
    for (let level = 1; level <= 3 && base < nBlocks; level++) {
      indirect(u32le(inode.iblock, 4 * (11 + level), 'ext4 image'), level, base);
      base += per ** level;
    }
    if (nBlocks > base) throw new FormatError(`Invalid ext4 image: ${what} has i_size ${inode.size}, more than a triple-indirect block map addresses.`);
    return runs;
  }

  /**
   * The content of a regular file, directory or symlink as a virtual source over the image: mapped
   * runs are slices, holes and uninitialized extents read as zeros, inline data is the 60 bytes of
   * i_block followed by the `system.data` value. Nothing is copied. With `holes`, the bytes not
   * backed by data blocks are charged to it first (LimitError when it runs out).
   */
  open(inode: Inode, what: string, identity?: string, holes?: HoleBudget): ExtentSource {
    const { size } = inode;
    const extents: Extent[] = [];
    if (this.isInline(inode)) {
      const tail = this.inlineTail(inode);
      if (size > I_BLOCK_SIZE + tail.length) {
        throw new FormatError(`Invalid ext4 image: inline ${what} has i_size ${size}, more than the ${I_BLOCK_SIZE + tail.length} bytes stored in its inode.`);
      }
      extents.push({ kind: 'source', offset: 0, length: Math.min(size, I_BLOCK_SIZE), source: this.src, sourceOffset: inode.offset + I_BLOCK });
      if (size > I_BLOCK_SIZE) extents.push({ kind: 'source', offset: I_BLOCK_SIZE, length: size - I_BLOCK_SIZE, source: this.src, sourceOffset: tail.offset });
    } else {
      const bs = this.sb.blockSize;
      const nBlocks = Math.ceil(size / bs);
      for (const r of this.runs(inode, nBlocks, what)) {
        if (r.uninit) continue; // reads as zeros
        const sourceOffset = this.blockOffset(r.physical, r.count, what);
        const offset = r.logical * bs;
        extents.push({ kind: 'source', offset, length: Math.min(r.count * bs, size - offset), source: this.src, sourceOffset });
      }
      if (holes !== undefined) {
        let sparse = size;
        for (const e of extents) sparse -= e.length;
        if (sparse > holes.left) {
          throw new LimitError(
            `The ext4 ${what} has ${sparse} bytes of holes, more than the ${holes.left} left of the ${holes.max} bytes (${holes.limit}) allowed for one file system.`,
            holes.limit,
          );
        }
        holes.left -= sparse;
      }
    }
    return new ExtentSource(size, extents, identity === undefined ? { what: `ext4 ${what}` } : { what: `ext4 ${what}`, identity });
  }
}
