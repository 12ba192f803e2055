import { FormatError, UnsupportedError, describeError, type ProblemCode } from '../../errors.js';
import { u16le, u32le, u64le } from '../../io/binary.js';
import { BufferSource, SliceSource, type ByteSource } from '../../io/byte-source.js';
import { checked } from '../../io/checked.js';
import { ExtentSource, type Extent } from '../../io/extent-source.js';
import type { ScanResources } from '../../io/scan-resources.js';
import type { Probe } from '../../probe.js';
import { EntryNames } from '../entry-names.js';
import {
  LAYOUT_CHUNK_BASED,
  LAYOUT_COMPRESSED_COMPACT,
  LAYOUT_COMPRESSED_FULL,
  LAYOUT_FLAT_INLINE,
  LAYOUT_FLAT_PLAIN,
  MetaReader,
  NULL_ADDR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  inodeEnd,
  looksLikeErofs,
  readInode,
  readSuper,
  type ErofsInode,
  type ErofsSuper,
} from './erofs-format.js';
import { compressedSource } from './erofs-zmap.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from '../types.js';

/** Deepest directory nesting walked; real Android trees stay under 30 levels. */
const MAX_DEPTH = 256;
/** Longest symlink target read (PATH_MAX). */
const MAX_LINK = 4096;
/** EROFS_NAME_LEN. */
const MAX_NAME = 255;
/** Size of one struct erofs_dirent: nid u64, nameoff u16, file_type u8, reserved u8. */
const DIRENT_SIZE = 12;
/** Largest directory read, whatever its layout claims (a 500,000-entry directory of long names fits). */
const MAX_DIR_SIZE = 1024 * 1024 * 1024;
/** Chunk index entries read per pass over a chunk-based file's index array. */
const CHUNK_WINDOW = 64 * 1024;

/** chunk format (i_u low 16 bits of chunk-based inodes): bits 0-4 chunk size bits, bit 5 8-byte indexes. */
const CHUNK_BLKBITS_MASK = 0x1f;
const CHUNK_FORMAT_INDEXES = 0x20;

const utf8 = new TextDecoder('utf-8');

/** One image being read: its superblock, metadata cache and the way each layout maps to bytes. */
class ErofsImage {
  readonly sb: ErofsSuper;
  readonly meta: MetaReader;
  private packedSource: ByteSource | undefined;
  private packedLoading = false;

  constructor(
    readonly src: ByteSource,
    private readonly resources: ScanResources,
  ) {
    this.sb = readSuper(src);
    this.meta = new MetaReader(src, this.sb.blkSize);
  }

  inode(nid: number): ErofsInode {
    return readInode(this.sb, this.meta, nid);
  }

  private identity(nid: number): string | undefined {
    return this.src.identity === undefined ? undefined : `${this.src.identity}!erofs:${nid}`;
  }

  /** A file's bytes by data layout: slices of the image where stored flat, extents otherwise. */
  data(inode: ErofsInode): ByteSource {
    const { sb } = this;
    const size = inode.size;
    const what = `EROFS inode ${inode.nid}`;
    if (size === 0) return new BufferSource(new Uint8Array(0));
    switch (inode.layout) {
      case LAYOUT_FLAT_PLAIN: {
        // i_u is raw_blkaddr: the data is contiguous from that block.
        const start = this.blockOffset(inode, inode.iu, size);
        return new SliceSource(this.src, start, size);
      }
      case LAYOUT_FLAT_INLINE: {
        // Full blocks from raw_blkaddr, then the last partial block right after the inode and its xattrs.
        const fullBlocks = Math.ceil(size / sb.blkSize) - 1;
        const head = fullBlocks * sb.blkSize;
        const tailLength = size - head;
        const tail = inodeEnd(inode);
        if ((tail % sb.blkSize) + tailLength > sb.blkSize) {
          throw new FormatError(`Invalid ${what}: its ${tailLength}-byte inline tail at offset ${tail} crosses a block boundary.`);
        }
        if (tail + tailLength > this.src.size)
          throw new FormatError(`Invalid ${what}: its inline tail at offset ${tail} runs past the end of the image.`, 'truncated');
        if (head === 0) return new SliceSource(this.src, tail, tailLength);
        const start = this.blockOffset(inode, inode.iu, head);
        const extents: Extent[] = [
          { kind: 'source', offset: 0, length: head, source: this.src, sourceOffset: start },
          { kind: 'source', offset: head, length: tailLength, source: this.src, sourceOffset: tail },
        ];
        return new ExtentSource(size, extents, this.options(inode));
      }
      case LAYOUT_CHUNK_BASED:
        return this.chunked(inode);
      case LAYOUT_COMPRESSED_FULL:
      case LAYOUT_COMPRESSED_COMPACT:
        return compressedSource(
          {
            sb,
            meta: this.meta,
            src: this.src,
            resources: this.resources,
            ...(this.identity(inode.nid) === undefined ? {} : { identity: this.identity(inode.nid)! }),
            packed: () => this.packed(inode),
          },
          inode,
        );
      default:
        throw new UnsupportedError(`The ${what} has data layout ${inode.layout}, which aibom does not read; not scanned.`);
    }
  }

  private options(inode: ErofsInode): { what: string; identity?: string } {
    const id = this.identity(inode.nid);
    return id === undefined ? { what: `EROFS inode ${inode.nid}` } : { what: `EROFS inode ${inode.nid}`, identity: id };
  }

  /** Byte offset of block `blkaddr`, checked to hold `length` bytes on this device. */
  private blockOffset(inode: ErofsInode, blkaddr: number, length: number): number {
    const { sb } = this;
    for (const d of sb.deviceRanges) {
      if (blkaddr >= d.start && blkaddr < d.end) {
        throw new UnsupportedError(
          `The data of EROFS inode ${inode.nid} is on extra device ${d.device} (block ${blkaddr}), which is not part of this image; not scanned.`,
        );
      }
    }
    const start = blkaddr * sb.blkSize;
    if (start + length > this.src.size) {
      throw new FormatError(
        `Invalid EROFS inode ${inode.nid}: ${length} bytes at block ${blkaddr} run past the end of the ${this.src.size}-byte image.`,
        'truncated',
      );
    }
    return start;
  }

  /**
   * Chunk-based files (layout 4): a 4-byte block map or 8-byte chunk indexes (advise, device_id,
   * blkaddr) after the inode, one per chunk of blksz << chunkbits bytes; NULL_ADDR is a hole (zeros).
   * A chunk on another device (a blob device of a multi-device image) is UnsupportedError.
   */
  private chunked(inode: ErofsInode): ByteSource {
    const { sb } = this;
    const format = inode.iu & 0xffff;
    if (format & ~(CHUNK_BLKBITS_MASK | CHUNK_FORMAT_INDEXES)) {
      throw new UnsupportedError(`The EROFS inode ${inode.nid} has chunk format 0x${format.toString(16)}, which aibom does not read; not scanned.`);
    }
    const chunkBits = sb.blkBits + (format & CHUNK_BLKBITS_MASK);
    const chunkSize = 2 ** chunkBits;
    const indexes = (format & CHUNK_FORMAT_INDEXES) !== 0;
    const unit = indexes ? 8 : 4;
    const count = Math.ceil(inode.size / chunkSize);
    const base = Math.ceil(inodeEnd(inode) / unit) * unit;
    if (base + count * unit > this.src.size) {
      throw new FormatError(
        `Invalid EROFS inode ${inode.nid}: its ${count} chunk entries at offset ${base} run past the end of the ${this.src.size}-byte image.`,
        'truncated',
      );
    }
    // device_id is masked to the bits needed for the devices present (kernel device_id_mask).
    let mask = 1;
    while (mask < sb.extraDevices + 1) mask *= 2;
    mask -= 1;
    const extents: Extent[] = [];
    for (let first = 0; first < count; first += CHUNK_WINDOW) {
      const n = Math.min(CHUNK_WINDOW, count - first);
      const table = this.src.read(base + first * unit, n * unit);
      for (let k = 0; k < n; k++) {
        const i = first + k;
        const blkaddr = indexes ? u32le(table, k * 8 + 4, 'EROFS image') : u32le(table, k * 4, 'EROFS image');
        if (blkaddr === NULL_ADDR) continue; // a hole reads as zeros
        const device = indexes ? u16le(table, k * 8 + 2, 'EROFS image') & mask : 0;
        if (device !== 0) {
          throw new UnsupportedError(`Chunk ${i} of EROFS inode ${inode.nid} is on extra device ${device}, which is not part of this image; not scanned.`);
        }
        const offset = i * chunkSize;
        const length = Math.min(chunkSize, inode.size - offset);
        const start = this.blockOffset(inode, blkaddr, length);
        const prev = extents[extents.length - 1];
        if (prev && prev.kind === 'source' && prev.offset + prev.length === offset && prev.sourceOffset + prev.length === start) {
          extents[extents.length - 1] = { ...prev, length: prev.length + length };
        } else extents.push({ kind: 'source', offset, length, source: this.src, sourceOffset: start });
      }
    }
    const only = extents[0];
    if (extents.length === 1 && only && only.kind === 'source' && only.offset === 0 && only.length === inode.size) {
      return new SliceSource(this.src, only.sourceOffset, only.length);
    }
    return new ExtentSource(inode.size, extents, this.options(inode));
  }

  /** The packed inode (fragments of other files), opened once; a fragment inside it is corrupt. */
  private packed(of: ErofsInode): ByteSource | undefined {
    const nid = this.sb.packedNid;
    if (nid === undefined) return undefined;
    if (this.packedSource !== undefined) return this.packedSource;
    if (this.packedLoading || of.nid === nid) throw new FormatError(`Invalid EROFS image: the packed inode ${nid} refers to fragments of itself.`);
    this.packedLoading = true;
    try {
      this.packedSource = this.data(this.inode(nid));
      return this.packedSource;
    } finally {
      this.packedLoading = false;
    }
  }
}

/** One directory entry as recorded: its raw name bytes, its nid and the block it came from. */
interface Dirent {
  name: Uint8Array;
  nid: number;
}

/**
 * A directory's entries in on-disk order, block by block. Each block starts with dirents; the first
 * one's nameoff gives their count (nameoff / 12), names follow back to back, the last running to the
 * first NUL or the end of the block (or of the directory). A corrupt block throws FormatError naming it.
 */
function* dirents(dir: ErofsInode, data: ByteSource, blkSize: number): Generator<Dirent> {
  for (let pos = 0; pos < dir.size; pos += blkSize) {
    const maxsize = Math.min(dir.size - pos, blkSize);
    const blk = data.read(pos, maxsize);
    const bad = (why: string): FormatError => new FormatError(`Invalid EROFS directory (inode ${dir.nid}): the block at offset ${pos} ${why}.`);
    if (maxsize < DIRENT_SIZE) throw bad(`is ${maxsize} bytes, too short for a dirent`);
    const nameoff0 = u16le(blk, 8, 'EROFS image');
    if (nameoff0 < DIRENT_SIZE || nameoff0 >= maxsize) throw bad(`has a first nameoff ${nameoff0} outside [${DIRENT_SIZE}, ${maxsize})`);
    const count = Math.floor(nameoff0 / DIRENT_SIZE);
    for (let i = 0; i < count; i++) {
      const at = i * DIRENT_SIZE;
      const nameoff = u16le(blk, at + 8, 'EROFS image');
      let end: number;
      if (i + 1 < count) end = u16le(blk, at + DIRENT_SIZE + 8, 'EROFS image');
      else {
        end = nameoff;
        while (end < maxsize && blk[end] !== 0) end++;
      }
      if (nameoff < nameoff0 || end > maxsize || end <= nameoff || end - nameoff > MAX_NAME) {
        throw bad(`has dirent ${i} with a name from ${nameoff} to ${end}, outside its ${maxsize} bytes or longer than ${MAX_NAME}`);
      }
      const nid = u64le(blk, at, 'EROFS image');
      yield { name: blk.subarray(nameoff, end), nid: checked(nid, 0, Number.MAX_SAFE_INTEGER, `Invalid EROFS directory (inode ${dir.nid}): dirent ${i} nid`) };
    }
  }
}

function isDotName(name: Uint8Array): boolean {
  return name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
}

/**
 * Walks the tree from root_nid. Order (deterministic): depth-first pre-order, each directory's
 * entries in on-disk order (mkfs.erofs sorts them by name bytes), a directory followed by its
 * contents before its next sibling. '.' and '..' are skipped; a directory reached twice (a loop or a
 * hard-linked directory) is a problem and not entered again; depth and entry counts are bounded.
 */
async function* erofsEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const img = new ErofsImage(src, ctx.resources);
  const { sb } = img;
  const root = img.inode(sb.rootNid);
  if ((root.mode & S_IFMT) !== S_IFDIR)
    throw new FormatError(`Invalid EROFS image: root_nid ${sb.rootNid} is not a directory (i_mode 0o${root.mode.toString(8)}).`);
  const names = new EntryNames(ctx, 'erofs', false);
  const visited = new Set<number>([root.nid]);
  const limit = ctx.limits.maxEntriesPerContainer;
  let listed = 0;
  let read = 0;
  let stopped = false;
  const problem = (path: string | undefined, code: ProblemCode, message: string, severity: 'error' | 'warning' = 'error'): void => {
    ctx.problem({ ...(path === undefined || path === '' ? {} : { path }), severity, code, message });
  };
  // A typed error about one directory or entry becomes its problem; anything else is a bug and ends the walk.
  const failure = (path: string, err: unknown): void => {
    const { code, message } = describeError(err);
    if (code === 'internal') throw err;
    problem(path, code, message);
  };

  async function* walk(dir: ErofsInode, prefix: string, depth: number): AsyncGenerator<ContainerEntry> {
    let data: ByteSource;
    try {
      if (dir.size > MAX_DIR_SIZE)
        throw new FormatError(`Invalid EROFS directory (inode ${dir.nid}): its size ${dir.size} is more than ${MAX_DIR_SIZE} bytes.`);
      data = img.data(dir);
    } catch (err) {
      failure(prefix, err);
      return;
    }
    const it = dirents(dir, data, sb.blkSize);
    for (;;) {
      let next: IteratorResult<Dirent>;
      try {
        next = it.next();
      } catch (err) {
        failure(prefix, err);
        return;
      }
      if (next.done) return;
      const d = next.value;
      // Every dirent read counts, so a directory of a million '.' entries is bounded too.
      if (++read > limit + 2 * visited.size) {
        if (!stopped) problem(undefined, 'limit', `The EROFS image has more than maxEntriesPerContainer ${limit} entries; the rest are not listed.`);
        stopped = true;
        return;
      }
      if (isDotName(d.name)) continue;
      const raw = utf8.decode(d.name);
      const recorded = prefix === '' ? raw : `${prefix}/${raw}`;
      if (raw.includes('/') || raw.includes('\0')) {
        problem(
          recorded,
          'hostile-path',
          `The EROFS name ${JSON.stringify(raw)} in directory ${JSON.stringify(prefix || '/')} contains '/' or NUL: recorded, not used as a path.`,
          'warning',
        );
      }
      let inode: ErofsInode;
      try {
        inode = img.inode(d.nid);
      } catch (err) {
        failure(recorded, err);
        continue;
      }
      const fmt = inode.mode & S_IFMT;
      const isDir = fmt === S_IFDIR;
      const path = names.accept(recorded, isDir);
      if (++listed > limit) {
        if (!stopped) problem(undefined, 'limit', `The EROFS image has more than maxEntriesPerContainer ${limit} entries; the rest are not listed.`);
        stopped = true;
        return;
      }
      if (isDir) {
        if (visited.has(inode.nid)) {
          problem(
            path,
            'format',
            `The EROFS directory entry ${JSON.stringify(path)} points at directory inode ${inode.nid}, which was already walked (a loop or a hard-linked directory); not entered again.`,
          );
          continue;
        }
        visited.add(inode.nid);
        yield { path, type: 'directory', open: () => Promise.reject(new FormatError(`The EROFS entry ${JSON.stringify(path)} is a directory.`)) };
        if (depth + 1 >= MAX_DEPTH) {
          problem(path, 'limit', `The EROFS directory ${JSON.stringify(path)} is nested more than ${MAX_DEPTH} levels deep; its contents are not listed.`);
          continue;
        }
        yield* walk(inode, path, depth + 1);
        if (stopped) return;
      } else if (fmt === S_IFREG) {
        const file = inode;
        yield {
          path,
          type: 'file',
          size: file.size,
          open: async () => img.data(file),
        };
      } else if (fmt === S_IFLNK) {
        let target: string | undefined;
        try {
          if (inode.size > MAX_LINK)
            throw new FormatError(`Invalid EROFS symlink (inode ${inode.nid}): its target is ${inode.size} bytes, more than ${MAX_LINK}.`);
          const bytes = img.data(inode).read(0, inode.size);
          if (bytes.length !== inode.size) throw new FormatError(`Invalid EROFS symlink (inode ${inode.nid}): its target is cut off.`, 'truncated');
          target = utf8.decode(bytes);
        } catch (err) {
          failure(path, err);
        }
        yield {
          path,
          type: 'symlink',
          size: inode.size,
          ...(target === undefined ? {} : { linkTarget: target }),
          open: () => Promise.reject(new FormatError(`The EROFS entry ${JSON.stringify(path)} is a symlink.`)),
        };
      } else {
        yield {
          path,
          type: 'other',
          open: () =>
            Promise.reject(
              new UnsupportedError(
                `The EROFS entry ${JSON.stringify(path)} is a device, FIFO or socket (i_mode 0o${inode.mode.toString(8)}); it has no content.`,
              ),
            ),
        };
      }
    }
  }

  yield* walk(root, '', 0);
}

/**
 * EROFS images (Android system, vendor, product and odm partitions; superblock magic 0xE0F5E1E2 at
 * offset 1024). Lists the tree from root_nid in a fixed order, depth-first pre-order with each
 * directory's entries in on-disk order (mkfs.erofs sorts names bytewise), and opens
 * files lazily: flat files as slices of the image, inline tails and chunked files as extents, compressed
 * files (LZ4, DEFLATE, Zstandard; big pclusters, ztailpacking, fragments, dedupe) as ExtentSources
 * decoding one pcluster at a time. Not handled: MicroLZMA pclusters, data kept on the extra devices of a
 * multi-device image (UnsupportedError for the files concerned), 48-bit and metabox images
 * (UnsupportedError for the image); xattrs are skipped.
 */
export const erofs: ContainerReader = {
  id: 'erofs',
  description: 'EROFS read-only file systems (Android partitions): flat, chunked, LZ4/DEFLATE/Zstandard-compressed files, decoded a pcluster at a time',
  kind: 'filesystem',
  extensions: ['.erofs', '.img'],
  signatures: [{ offset: 1024, magic: [0xe2, 0xe1, 0xf5, 0xe0], note: 'superblock magic 0xE0F5E1E2' }],
  match(probe: Probe): boolean {
    return looksLikeErofs(probe.head);
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return erofsEntries(src, ctx);
  },
};
