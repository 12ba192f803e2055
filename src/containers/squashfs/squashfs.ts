import { FormatError, LimitError, UnsupportedError } from '../../errors.js';
import { u16le, u32le, u64le } from '../../io/binary.js';
import { BufferSource, type ByteSource } from '../../io/byte-source.js';
import { checked } from '../../io/checked.js';
import { ExtentSource, type Extent } from '../../io/extent-source.js';
import type { ScanResources } from '../../io/scan-resources.js';
import type { Probe } from '../../probe.js';
import { EntryNames } from '../entry-names.js';
import { blockDecoder, COMPRESSION_NAMES, type BlockDecoder } from './squashfs-compression.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from '../types.js';

/** Superblock size (struct squashfs_super_block); the compressor options block may follow it. */
const SUPERBLOCK_SIZE = 96;
/** 'hsqs': s_magic 0x73717368 little-endian at offset 0. */
const MAGIC_LE = 0x73717368;
/** 'sqsh': the same magic big-endian (squashfs 1.x-3.x on big-endian machines). */
const MAGIC_BE = 0x68737173;
/** 'shsq' and 'qshs': vendor LZMA variants of squashfs 3 (DD-WRT, Broadcom SDKs). */
const MAGIC_VENDOR = [0x71736873, 0x73687371];

/** Uncompressed metadata size (SQUASHFS_METADATA_SIZE); the 2-byte header's bit 15 flags a stored block. */
const METADATA_SIZE = 8192;
const METADATA_UNCOMPRESSED = 0x8000;
/** Data block and fragment size fields: bit 24 flags a stored (uncompressed) block. */
const DATA_UNCOMPRESSED = 1 << 24;
/** A fragment index of 0xFFFFFFFF: the file has no tail fragment. */
const NO_FRAGMENT = 0xffffffff;
/** Fragment table entries per metadata block (8192 / 16). */
const FRAGMENTS_PER_BLOCK = 512;

/** Superblock flags (offset 24). */
const FLAG_COMPRESSOR_OPTIONS = 0x0400;

/** Inode types: basic 1-7, extended 8-14 (the basic type plus 7). */
const T_DIR = 1;
const T_FILE = 2;
const T_SYMLINK = 3;
const T_LDIR = 8;
const T_LFILE = 9;
const T_LSYMLINK = 10;

/** Directory entries per directory header (SQUASHFS_DIR_COUNT) and the longest name (SQUASHFS_NAME_LEN). */
const DIR_COUNT = 256;
const NAME_LEN = 256;
/** Directory nesting followed; deeper directories are listed, not entered. */
const MAX_DEPTH = 256;
/** Longest symlink target accepted (PATH_MAX is 4096; the kernel allows a page). */
const MAX_SYMLINK = 65536;
/**
 * Data blocks accepted in one file. Each becomes an extent object when the file is opened (about
 * 150 bytes), so this bounds the memory of one open file: 1 Mi blocks are 128 GiB at the default
 * 128 KiB block size.
 */
const MAX_FILE_BLOCKS = 1 << 20;
/** Decoded metadata blocks kept per image (8 KiB each). */
const METADATA_CACHE_BLOCKS = 512;

interface Superblock {
  inodes: number;
  mkfsTime: number;
  blockSize: number;
  fragments: number;
  compression: number;
  flags: number;
  rootInode: number;
  bytesUsed: number;
  inodeTable: number;
  directoryTable: number;
  fragmentTable: number;
}

/** Names what the magic and version say, for the UnsupportedError of images that are not 4.0 LE. */
function variantOf(head: Uint8Array): { magic: number; version: string } | undefined {
  if (head.length < 32) return undefined;
  const magic = u32le(head, 0, 'squashfs image');
  if (magic !== MAGIC_LE && magic !== MAGIC_BE && !MAGIC_VENDOR.includes(magic)) return undefined;
  // s_major at offset 28 and s_minor at 30 in every version's superblock, in the image's byte order.
  const le = magic === MAGIC_LE || magic === MAGIC_VENDOR[0];
  const major = le ? u16le(head, 28, 'squashfs image') : (head[28]! << 8) | head[29]!;
  const minor = le ? u16le(head, 30, 'squashfs image') : (head[30]! << 8) | head[31]!;
  if (major < 1 || major > 4) return undefined;
  return { magic, version: `${major}.${minor}` };
}

function parseSuperblock(src: ByteSource): Superblock {
  if (src.size < SUPERBLOCK_SIZE)
    throw new FormatError(`The squashfs image is ${src.size} bytes, shorter than its ${SUPERBLOCK_SIZE}-byte superblock.`, 'truncated');
  const h = src.read(0, SUPERBLOCK_SIZE);
  const v = variantOf(h);
  if (v === undefined) throw new FormatError('No squashfs magic and version at offset 0.');
  if (v.magic === MAGIC_BE)
    throw new UnsupportedError(`The squashfs image is big-endian ('sqsh', version ${v.version}), which aibom does not read; it was not scanned.`);
  if (v.magic !== MAGIC_LE)
    throw new UnsupportedError(
      `The squashfs image has a vendor magic 0x${v.magic.toString(16)} (version ${v.version}, an LZMA variant), which aibom does not read; it was not scanned.`,
    );
  if (v.version !== '4.0') throw new UnsupportedError(`The squashfs image is version ${v.version}; aibom reads version 4.0 only; it was not scanned.`);
  const blockSize = u32le(h, 12, 'squashfs image');
  const blockLog = u16le(h, 22, 'squashfs image');
  // block_size (offset 12): a power of two from 4 KiB to 1 MiB, and block_log (offset 22) its log2.
  if (blockSize < 4096 || blockSize > 1024 * 1024 || (blockSize & (blockSize - 1)) !== 0) {
    throw new FormatError(`Invalid squashfs superblock: block_size ${blockSize} is not a power of two from 4096 to 1048576.`);
  }
  if (2 ** blockLog !== blockSize) throw new FormatError(`Invalid squashfs superblock: block_log ${blockLog} does not match block_size ${blockSize}.`);
  const sb: Superblock = {
    inodes: u32le(h, 4, 'squashfs image'),
    mkfsTime: u32le(h, 8, 'squashfs image'),
    blockSize,
    fragments: u32le(h, 16, 'squashfs image'),
    compression: u16le(h, 20, 'squashfs image'),
    flags: u16le(h, 24, 'squashfs image'),
    rootInode: u64le(h, 32, 'squashfs image'),
    bytesUsed: u64le(h, 40, 'squashfs image'),
    inodeTable: u64le(h, 64, 'squashfs image'),
    directoryTable: u64le(h, 72, 'squashfs image'),
    fragmentTable: u64le(h, 80, 'squashfs image'),
  };
  // bytes_used (offset 40): the image may be padded (to 4 KiB by mksquashfs), never shorter.
  if (sb.bytesUsed > src.size) {
    throw new FormatError(`The squashfs image declares ${sb.bytesUsed} bytes used but is ${src.size} bytes long: it is truncated.`, 'truncated');
  }
  checked(sb.inodeTable, SUPERBLOCK_SIZE, sb.bytesUsed - 1, 'Invalid squashfs superblock: inode_table_start');
  checked(sb.directoryTable, sb.inodeTable + 1, sb.bytesUsed - 1, 'Invalid squashfs superblock: directory_table_start');
  if (sb.fragments > 0) checked(sb.fragmentTable, sb.directoryTable, sb.bytesUsed - 8, 'Invalid squashfs superblock: fragment_table_start');
  if (sb.inodes === 0) throw new FormatError('Invalid squashfs superblock: inode count 0 (the root directory is an inode).');
  return sb;
}

/** A decoded metadata block and where the next one starts. */
interface MetaBlock {
  data: Uint8Array;
  next: number;
}

/** A position in a metadata table: the block's absolute offset and an offset in its decoded bytes. */
interface Cursor {
  block: number;
  offset: number;
}

/**
 * Reads squashfs metadata: 8 KiB blocks, each behind a 2-byte header (length, bit 15 = stored),
 * decoded with the image's compressor, read as one stream across block boundaries. Every block
 * position is checked against the table's bounds; decoded blocks are kept in a small LRU.
 */
class Metadata {
  private readonly cache = new Map<number, MetaBlock>();
  constructor(
    private readonly src: ByteSource,
    private readonly decode: BlockDecoder,
    private readonly compression: string,
  ) {}

  block(pos: number, lo: number, hi: number, table: string): MetaBlock {
    const hit = this.cache.get(pos);
    if (hit !== undefined) {
      this.cache.delete(pos);
      this.cache.set(pos, hit);
      return hit;
    }
    if (!Number.isSafeInteger(pos) || pos < lo || pos + 2 > hi) {
      throw new FormatError(
        `Invalid squashfs ${table}: a metadata block at ${pos} lies outside the table (${lo} to ${hi}).`,
        pos + 2 > hi ? 'truncated' : 'format',
      );
    }
    const header = u16le(this.src.read(pos, 2), 0, 'squashfs image');
    const length = header & ~METADATA_UNCOMPRESSED;
    if (length === 0 || length > METADATA_SIZE) throw new FormatError(`Invalid squashfs ${table}: the metadata block at ${pos} has length ${length}.`);
    if (pos + 2 + length > hi)
      throw new FormatError(`Invalid squashfs ${table}: the ${length}-byte metadata block at ${pos} runs past the table end ${hi}.`, 'truncated');
    const raw = this.src.read(pos + 2, length);
    const data = header & METADATA_UNCOMPRESSED ? raw : this.decode(raw, METADATA_SIZE, `squashfs ${table} metadata block at ${pos} (${this.compression})`);
    if (data.length === 0) throw new FormatError(`Invalid squashfs ${table}: the metadata block at ${pos} decodes to nothing.`);
    const block = { data, next: pos + 2 + length };
    this.cache.set(pos, block);
    if (this.cache.size > METADATA_CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    return block;
  }

  /** Reads `n` bytes at `cur` (advanced past them), crossing into following blocks as needed. */
  read(cur: Cursor, n: number, lo: number, hi: number, table: string): Uint8Array {
    let b = this.block(cur.block, lo, hi, table);
    if (cur.offset > b.data.length)
      throw new FormatError(`Invalid squashfs ${table}: offset ${cur.offset} is past the ${b.data.length} bytes of the metadata block at ${cur.block}.`);
    if (cur.offset + n <= b.data.length) {
      const view = b.data.subarray(cur.offset, cur.offset + n);
      cur.offset += n;
      return view;
    }
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      if (cur.offset >= b.data.length) {
        cur.block = b.next;
        cur.offset = 0;
        b = this.block(cur.block, lo, hi, table);
      }
      const take = Math.min(n - have, b.data.length - cur.offset);
      out.set(b.data.subarray(cur.offset, cur.offset + take), have);
      have += take;
      cur.offset += take;
    }
    return out;
  }
}

/** What the walk learns from an inode. */
type Inode =
  | { kind: 'dir'; type: number; start: number; offset: number; size: number }
  | { kind: 'file'; type: number; start: number; size: number; fragment: number; fragmentOffset: number; blockList: Cursor }
  | { kind: 'symlink'; type: number; target: string }
  | { kind: 'other'; type: number };

interface DirEntry {
  name: string;
  recorded: Uint8Array;
  ref: number;
  type: number;
}

interface FragmentEntry {
  start: number;
  size: number;
  stored: boolean;
}

const utf8 = new TextDecoder('utf-8');

/** One open squashfs image: tables, caches and the lazily loaded fragment index. */
class Image {
  readonly meta: Metadata;
  private readonly decode: BlockDecoder;
  private readonly compression: string;
  private fragmentIndex: number[] | undefined;
  /** This image's keys in the scan's block cache (its fragment blocks). */
  private readonly keyspace: string;

  constructor(
    readonly src: ByteSource,
    readonly sb: Superblock,
    private readonly resources: ScanResources,
  ) {
    this.keyspace = resources.blockCache.newKeyspace();
    this.decode = blockDecoder(sb.compression);
    this.compression = COMPRESSION_NAMES[sb.compression] ?? String(sb.compression);
    this.meta = new Metadata(src, this.decode, this.compression);
  }

  /** Checks the compressor options block (flag 0x0400) that follows the superblock. */
  checkOptions(): void {
    if ((this.sb.flags & FLAG_COMPRESSOR_OPTIONS) === 0) return;
    const opts = this.meta.block(SUPERBLOCK_SIZE, SUPERBLOCK_SIZE, this.sb.inodeTable, 'compressor options').data;
    // lz4 options: version (1 = LZ4_LEGACY, the only one defined) and flags (HC only matters to the encoder).
    if (this.sb.compression === 5 && opts.length >= 4 && u32le(opts, 0, 'squashfs image') !== 1) {
      throw new UnsupportedError(
        `The squashfs image uses lz4 format version ${u32le(opts, 0, 'squashfs image')}; only version 1 is defined; it was not scanned.`,
      );
    }
  }

  /** A cursor at an inode reference: (block offset in the inode table << 16) | offset in the block. */
  inodeCursor(ref: number): Cursor {
    const block = Math.floor(ref / 65536);
    const offset = ref % 65536;
    if (offset >= METADATA_SIZE) throw new FormatError(`Invalid squashfs inode reference 0x${ref.toString(16)}: offset ${offset} is past a metadata block.`);
    return { block: this.sb.inodeTable + block, offset };
  }

  private inodeRead(cur: Cursor, n: number): Uint8Array {
    return this.meta.read(cur, n, this.sb.inodeTable, this.sb.directoryTable, 'inode table');
  }

  readInode(ref: number): Inode {
    const cur = this.inodeCursor(ref);
    // struct squashfs_base_inode: inode_type, mode, uid, guid (u16 each), mtime, inode_number (u32).
    const base = this.inodeRead(cur, 16);
    const type = u16le(base, 0, 'squashfs image');
    switch (type) {
      case T_DIR: {
        // start_block u32, nlink u32, file_size u16, offset u16, parent_inode u32.
        const b = this.inodeRead(cur, 16);
        return { kind: 'dir', type, start: u32le(b, 0, 'squashfs image'), size: u16le(b, 8, 'squashfs image'), offset: u16le(b, 10, 'squashfs image') };
      }
      case T_LDIR: {
        // nlink u32, file_size u32, start_block u32, parent_inode u32, i_count u16, offset u16, xattr u32.
        const b = this.inodeRead(cur, 24);
        return { kind: 'dir', type, size: u32le(b, 4, 'squashfs image'), start: u32le(b, 8, 'squashfs image'), offset: u16le(b, 18, 'squashfs image') };
      }
      case T_FILE: {
        // start_block u32, fragment u32, offset u32, file_size u32, then the block size list.
        const b = this.inodeRead(cur, 16);
        return {
          kind: 'file',
          type,
          start: u32le(b, 0, 'squashfs image'),
          fragment: u32le(b, 4, 'squashfs image'),
          fragmentOffset: u32le(b, 8, 'squashfs image'),
          size: u32le(b, 12, 'squashfs image'),
          blockList: { ...cur },
        };
      }
      case T_LFILE: {
        // start_block u64, file_size u64, sparse u64, nlink u32, fragment u32, offset u32, xattr u32.
        const b = this.inodeRead(cur, 40);
        const start = u64le(b, 0, 'squashfs image');
        const size = u64le(b, 8, 'squashfs image');
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size))
          throw new FormatError(`Invalid squashfs inode 0x${ref.toString(16)}: start ${start} or size ${size} is out of range.`);
        return {
          kind: 'file',
          type,
          start,
          size,
          fragment: u32le(b, 28, 'squashfs image'),
          fragmentOffset: u32le(b, 32, 'squashfs image'),
          blockList: { ...cur },
        };
      }
      case T_SYMLINK:
      case T_LSYMLINK: {
        // nlink u32, symlink_size u32, then the target (and an xattr index for the extended form).
        const b = this.inodeRead(cur, 8);
        const n = checked(u32le(b, 4, 'squashfs image'), 0, MAX_SYMLINK, `Invalid squashfs inode 0x${ref.toString(16)}: symlink_size`);
        return { kind: 'symlink', type, target: utf8.decode(this.inodeRead(cur, n)) };
      }
      default:
        if (type >= 4 && type <= 14) return { kind: 'other', type };
        throw new FormatError(`Invalid squashfs inode 0x${ref.toString(16)}: inode_type ${type}.`);
    }
  }

  /**
   * Reads one directory's entries: the listing at (start_block, offset) of the directory table,
   * file_size - 3 bytes ('.' and '..' are counted but not stored), as headers (count - 1, inode table
   * block, base inode number) each followed by up to 256 entries (offset, inode delta, type, name size - 1, name).
   */
  readDirectory(dir: Extract<Inode, { kind: 'dir' }>, limit: number): DirEntry[] {
    const total = dir.size <= 3 ? 0 : dir.size - 3;
    const cur: Cursor = { block: this.sb.directoryTable + dir.start, offset: dir.offset };
    const lo = this.sb.directoryTable;
    const hi = this.sb.fragments > 0 ? this.sb.fragmentTable : this.sb.bytesUsed;
    const read = (n: number): Uint8Array => this.meta.read(cur, n, lo, hi, 'directory table');
    const out: DirEntry[] = [];
    let used = 0;
    while (used < total) {
      if (used + 12 > total) throw new FormatError(`Invalid squashfs directory listing: ${total - used} bytes left cannot hold a header.`);
      const h = read(12);
      used += 12;
      const count = u32le(h, 0, 'squashfs image') + 1;
      if (count > DIR_COUNT) throw new FormatError(`Invalid squashfs directory header: count ${count} exceeds ${DIR_COUNT}.`);
      const inodeBlock = u32le(h, 4, 'squashfs image');
      for (let i = 0; i < count; i++) {
        if (used + 8 > total) throw new FormatError(`Invalid squashfs directory listing: an entry runs past its ${total} bytes.`);
        const e = read(8);
        const offset = u16le(e, 0, 'squashfs image');
        const type = u16le(e, 4, 'squashfs image');
        const nameLen = u16le(e, 6, 'squashfs image') + 1;
        if (nameLen > NAME_LEN) throw new FormatError(`Invalid squashfs directory entry: name size ${nameLen} exceeds ${NAME_LEN}.`);
        used += 8 + nameLen;
        if (used > total) throw new FormatError(`Invalid squashfs directory listing: a name runs past its ${total} bytes.`);
        const recorded = Uint8Array.prototype.slice.call(read(nameLen));
        out.push({ name: utf8.decode(recorded), recorded, ref: inodeBlock * 65536 + offset, type });
        if (out.length > limit) return out;
      }
    }
    return out;
  }

  private fragmentEntry(index: number): FragmentEntry {
    const sb = this.sb;
    if (index >= sb.fragments) throw new FormatError(`Invalid squashfs file: fragment index ${index} is past the ${sb.fragments} fragments of the table.`);
    if (this.fragmentIndex === undefined) {
      // fragment_table_start points at an array of u64 positions of the metadata blocks holding the entries.
      const blocks = Math.ceil(sb.fragments / FRAGMENTS_PER_BLOCK);
      if (sb.fragmentTable + blocks * 8 > sb.bytesUsed)
        throw new FormatError(`Invalid squashfs fragment table: ${blocks} index entries at ${sb.fragmentTable} run past the image.`, 'truncated');
      const raw = this.src.read(sb.fragmentTable, blocks * 8);
      this.fragmentIndex = Array.from({ length: blocks }, (_, i) => u64le(raw, i * 8, 'squashfs image'));
    }
    const block = this.fragmentIndex[Math.floor(index / FRAGMENTS_PER_BLOCK)]!;
    const cur: Cursor = { block, offset: (index % FRAGMENTS_PER_BLOCK) * 16 };
    // struct squashfs_fragment_entry: start_block u64, size u32 (bit 24 = stored), unused u32.
    const e = this.meta.read(cur, 16, SUPERBLOCK_SIZE, sb.fragmentTable, 'fragment table');
    const start = u64le(e, 0, 'squashfs image');
    const field = u32le(e, 8, 'squashfs image');
    const size = (field & ~DATA_UNCOMPRESSED) >>> 0;
    if (size === 0 || size > sb.blockSize)
      throw new FormatError(`Invalid squashfs fragment ${index}: size ${size} is not within the ${sb.blockSize}-byte block size.`);
    if (!Number.isSafeInteger(start) || start + size > sb.bytesUsed)
      throw new FormatError(`Invalid squashfs fragment ${index}: ${size} bytes at ${start} run past the ${sb.bytesUsed} bytes used.`);
    return { start, size, stored: (field & DATA_UNCOMPRESSED) !== 0 };
  }

  /** A fragment block decoded once and kept in the scan's block cache. */
  private fragmentBlock(index: number, frag: FragmentEntry): Uint8Array {
    return this.resources.blockCache.get(`${this.keyspace}:frag${index}`, () =>
      this.decode(this.src.read(frag.start, frag.size), this.sb.blockSize, `squashfs fragment block ${index} (${this.compression})`),
    );
  }

  /**
   * The contents of a regular file inode as an ExtentSource: one extent per data block at
   * start_block + the sizes before it (stored blocks as slices of the image, compressed ones decoded
   * on first read), sparse blocks (size 0) left as zero gaps, and the tail from its fragment block.
   */
  fileSource(ref: number, path: string): ExtentSource {
    const inode = this.readInode(ref);
    if (inode.kind !== 'file') throw new FormatError(`Invalid squashfs file ${JSON.stringify(path)}: its inode is no longer a regular file.`);
    const { blockSize, bytesUsed } = this.sb;
    const hasFragment = inode.fragment !== NO_FRAGMENT;
    const full = Math.floor(inode.size / blockSize);
    const blocks = hasFragment ? full : Math.ceil(inode.size / blockSize);
    if (blocks > MAX_FILE_BLOCKS) {
      throw new LimitError(
        `The squashfs file ${JSON.stringify(path)} has ${blocks} data blocks, more than the ${MAX_FILE_BLOCKS} aibom maps in one file.`,
        'squashfsFileBlocks',
      );
    }
    const extents: Extent[] = [];
    const what = `squashfs file ${JSON.stringify(path)}`;
    let pos = inode.start;
    const cur = inode.blockList;
    for (let i = 0; i < blocks; ) {
      // The block size list, read in pieces so that a lying file size fails on the metadata, not on an allocation.
      const n = Math.min(blocks - i, 2048);
      const list = this.inodeRead(cur, n * 4);
      for (let k = 0; k < n; k++, i++) {
        const field = u32le(list, k * 4, 'squashfs image');
        const size = (field & ~DATA_UNCOMPRESSED) >>> 0;
        const offset = i * blockSize;
        const length = Math.min(blockSize, inode.size - offset);
        if (size === 0) continue; // a sparse block: zeros
        if (size > blockSize) throw new FormatError(`Invalid ${what}: block ${i} has size ${size}, more than the ${blockSize}-byte block size.`);
        if (pos + size > bytesUsed)
          throw new FormatError(`Invalid ${what}: block ${i} (${size} bytes at ${pos}) runs past the ${bytesUsed} bytes used.`, 'truncated');
        if (field & DATA_UNCOMPRESSED) {
          if (size !== length) throw new FormatError(`Invalid ${what}: stored block ${i} has ${size} bytes where ${length} are expected.`);
          extents.push({ kind: 'source', offset, length, source: this.src, sourceOffset: pos });
        } else {
          const at = pos;
          const label = `${what} block ${i} (${this.compression})`;
          extents.push({
            kind: 'decoded',
            offset,
            length,
            decode: () => {
              const out = this.decode(this.src.read(at, size), length, label);
              if (out.length !== length) throw new FormatError(`Invalid ${label}: it decodes to ${out.length} bytes instead of ${length}.`);
              return out;
            },
          });
        }
        pos += size;
      }
    }
    const tail = inode.size - full * blockSize;
    if (hasFragment && tail > 0) {
      const index = inode.fragment;
      const frag = this.fragmentEntry(index);
      const within = inode.fragmentOffset;
      if (within + tail > (frag.stored ? frag.size : blockSize)) {
        throw new FormatError(`Invalid ${what}: its ${tail}-byte tail at offset ${within} of fragment ${index} runs past the fragment.`);
      }
      const offset = full * blockSize;
      if (frag.stored) extents.push({ kind: 'source', offset, length: tail, source: this.src, sourceOffset: frag.start + within });
      else {
        extents.push({
          kind: 'decoded',
          offset,
          length: tail,
          decode: () => {
            const block = this.fragmentBlock(index, frag);
            if (within + tail > block.length)
              throw new FormatError(`Invalid ${what}: its ${tail}-byte tail at offset ${within} runs past the ${block.length} bytes of fragment ${index}.`);
            return block.slice(within, within + tail);
          },
        });
      }
    }
    const identity = this.src.identity === undefined ? undefined : `${this.src.identity}#squashfs-inode:${ref}`;
    return new ExtentSource(inode.size, extents, { what, resources: this.resources, ...(identity === undefined ? {} : { identity }) });
  }
}

/** Why a recorded name cannot be a single path component, or undefined. */
function badName(raw: Uint8Array, name: string): string | undefined {
  if (raw.length === 0) return 'is empty';
  if (name === '.' || name === '..') return `is ${JSON.stringify(name)}`;
  if (raw.includes(0x2f)) return "contains '/'";
  if (raw.includes(0)) return 'contains a NUL byte';
  return undefined;
}

function basicType(type: number): number {
  return type > 7 ? type - 7 : type;
}

interface Frame {
  path: string;
  entries: DirEntry[];
  next: number;
  depth: number;
}

const EMPTY = new BufferSource(new Uint8Array(0));

/**
 * Walks a squashfs 4.0 image depth-first from the root inode, in directory order (mksquashfs sorts
 * names), yielding directories, files, symlinks (target recorded) and other inodes (devices, fifos,
 * sockets). A directory is entered once (a visited set of inode references), at most MAX_DEPTH deep;
 * an unreadable directory or inode is a problem and the walk goes on with its siblings.
 */
async function* squashfsEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const sb = parseSuperblock(src);
  const img = new Image(src, sb, ctx.resources);
  img.checkOptions();
  const names = new EntryNames(ctx, 'squashfs', false);
  const limit = ctx.limits.maxEntriesPerContainer;
  const problem = (
    path: string | undefined,
    code: 'format' | 'truncated' | 'limit' | 'unsupported' | 'hostile-path',
    message: string,
    severity: 'error' | 'warning' = 'error',
  ): void => {
    ctx.problem({ ...(path === undefined ? {} : { path }), severity, code, message });
  };

  const root = img.readInode(sb.rootInode);
  if (root.kind !== 'dir')
    throw new FormatError(`Invalid squashfs image: the root inode 0x${sb.rootInode.toString(16)} is not a directory (type ${root.type}).`);
  const visited = new Set<number>([sb.rootInode]);
  const stack: Frame[] = [{ path: '', entries: img.readDirectory(root, limit), next: 0, depth: 0 }];
  let count = 0;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const e = frame.entries[frame.next++];
    if (e === undefined) {
      stack.pop();
      continue;
    }
    const recordedPath = frame.path === '' ? e.name : `${frame.path}/${e.name}`;
    const why = badName(e.recorded, e.name);
    if (why !== undefined)
      problem(recordedPath, 'hostile-path', `The squashfs entry name ${JSON.stringify(e.name)} ${why}: recorded, not used as a path.`, 'warning');
    let inode: Inode;
    try {
      inode = img.readInode(e.ref);
    } catch (err) {
      if (!(err instanceof FormatError || err instanceof UnsupportedError || err instanceof LimitError)) throw err;
      problem(
        recordedPath,
        err.code === 'truncated' ? 'truncated' : 'format',
        `The squashfs inode of ${JSON.stringify(recordedPath)} cannot be read: ${err.message}`,
      );
      continue;
    }
    if (basicType(inode.type) !== e.type) {
      problem(
        recordedPath,
        'format',
        `The squashfs directory entry ${JSON.stringify(recordedPath)} says type ${e.type} but its inode has type ${inode.type}; the inode wins.`,
        'warning',
      );
    }
    if (++count > limit) {
      problem(undefined, 'limit', `The squashfs image has more than maxEntriesPerContainer ${limit} entries; the rest are not listed.`);
      return;
    }
    const path = names.accept(recordedPath, inode.kind === 'dir');
    if (inode.kind === 'dir') {
      if (visited.has(e.ref)) {
        problem(
          path,
          'format',
          `The squashfs directory ${JSON.stringify(path)} is an inode already listed (a loop or a directory hard link); it was not entered again.`,
        );
        continue;
      }
      visited.add(e.ref);
      yield { path, type: 'directory', open: () => Promise.resolve(EMPTY) };
      if (frame.depth + 1 >= MAX_DEPTH) {
        problem(path, 'limit', `The squashfs directory ${JSON.stringify(path)} is nested more than ${MAX_DEPTH} deep; its contents are not listed.`);
        continue;
      }
      try {
        stack.push({ path: recordedPath, entries: img.readDirectory(inode, limit), next: 0, depth: frame.depth + 1 });
      } catch (err) {
        if (!(err instanceof FormatError || err instanceof UnsupportedError || err instanceof LimitError)) throw err;
        problem(path, err.code === 'truncated' ? 'truncated' : 'format', `The squashfs directory ${JSON.stringify(path)} cannot be listed: ${err.message}`);
      }
    } else if (inode.kind === 'file') {
      const ref = e.ref;
      yield { path, type: 'file', size: inode.size, open: () => Promise.resolve().then(() => img.fileSource(ref, path)) };
    } else if (inode.kind === 'symlink') {
      yield { path, type: 'symlink', linkTarget: inode.target, open: () => Promise.resolve(EMPTY) };
    } else {
      yield { path, type: 'other', open: () => Promise.resolve(EMPTY) };
    }
  }
}

/**
 * Squashfs 4.0 little-endian images ('hsqs'), the read-only root file systems of routers, cameras and
 * Android-based devices, compressed with gzip, LZO, xz, LZ4 or zstd. Files are ExtentSources over the
 * image: data blocks decoded on demand through the scan's block cache, never a whole file at once.
 * Recognised but not read (UnsupportedError): big-endian 'sqsh' images, versions 1-3, vendor LZMA
 * magics, and legacy LZMA compression. Extended attributes, uid/gid and the export table are ignored.
 */
export const squashfs: ContainerReader = {
  id: 'squashfs',
  description: 'squashfs 4.0 images (gzip, lzo, xz, lz4, zstd); files decoded block by block on demand',
  kind: 'filesystem',
  extensions: ['.squashfs', '.sqsh', '.sfs', '.img'],
  signatures: [
    { offset: 0, magic: 'hsqs', note: 'little-endian' },
    { offset: 0, magic: 'sqsh', note: 'big-endian (reported unsupported)' },
    { offset: 0, magic: 'shsq', note: 'vendor LZMA variant (reported unsupported)' },
    { offset: 0, magic: 'qshs', note: 'vendor LZMA variant (reported unsupported)' },
  ],
  match(probe: Probe): boolean {
    return variantOf(probe.head) !== undefined;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return squashfsEntries(src, ctx);
  },
};
