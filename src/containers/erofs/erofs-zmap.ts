import { FormatError, UnsupportedError } from '../../errors.js';
import { u16le, u32le } from '../../io/binary.js';
import type { ByteSource } from '../../io/byte-source.js';
import { ExtentSource, type Extent } from '../../io/extent-source.js';
import type { ScanResources } from '../../io/scan-resources.js';
import { ALG_DEFLATE, ALG_LZ4, ALG_NAMES, ALG_ZSTD, InterlacedPcluster, MAX_DECODED, Pcluster } from './erofs-pcluster.js';
import { INCOMPAT_BIG_PCLUSTER, LAYOUT_COMPRESSED_FULL, inodeEnd, type ErofsInode, type ErofsSuper, type MetaReader } from './erofs-format.js';

/**
 * Compressed EROFS files (data layouts 1, COMPRESSED_FULL, and 3, COMPRESSED_COMPACT), following
 * Linux fs/erofs/zmap.c: the z_erofs_map_header after the inode and its xattrs, then one lcluster
 * index per logical cluster, either full (8 bytes each) or compact (4-byte and 2-byte packs). HEAD
 * and PLAIN lclusters start an extent at (lcn << lclusterbits) + clusterofs; NONHEAD lclusters
 * continue it (the first one of a big pcluster carries its block count, CBLKCNT). The indexes are
 * walked once, in order, into an ExtentSource: a 'decoded' extent per compressed pcluster (decoded on
 * first read, kept in the scan's block cache), a 'source' extent per plain pcluster, so nothing is
 * decompressed before it is read. Handled: LZ4 (with and without LZ4_0PADDING), DEFLATE and Zstandard
 * pclusters, plain pclusters (shifted and interlaced), big pclusters, ztailpacking (the tail pcluster
 * inline after the indexes), fragments (tails or whole files kept in the packed inode), partial
 * references (dedupe) and block sizes from 512 bytes to 64 KiB (compact fields of at least 12 bits).
 * Not handled, as UnsupportedError for the file: MicroLZMA pclusters ('LZMA-compressed EROFS file not
 * scanned'), and the extent records of 48-bit images (whose superblock is refused anyway).
 */

/** Logical cluster types (di_advise bits 0-1). */
const LC_PLAIN = 0;
const LC_HEAD1 = 1;
const LC_NONHEAD = 2;
const LC_HEAD2 = 3;

/** h_advise bits. */
const ADVISE_COMPACTED_2B = 0x0001; // compact indexes; on full indexes the same bit means extent records (48-bit images)
const ADVISE_BIG_PCLUSTER_1 = 0x0002;
const ADVISE_BIG_PCLUSTER_2 = 0x0004;
const ADVISE_INLINE_PCLUSTER = 0x0008;
const ADVISE_INTERLACED_PCLUSTER = 0x0010;
const ADVISE_FRAGMENT_PCLUSTER = 0x0020;

/** delta[0] flag of the first NONHEAD lcluster of a big pcluster: the low bits count its blocks. */
const D0_CBLKCNT = 1 << 11;
/** di_advise bit 15 (full indexes): the pcluster decodes to more than this extent, which takes its start. */
const PARTIAL_REF = 1 << 15;

/** Z_EROFS_PCLUSTER_MAX_SIZE: no pcluster is larger on disk. */
const MAX_PCLUSTER = 1024 * 1024;

/** What a compressed file needs from the image. */
export interface ZmapContext {
  readonly sb: ErofsSuper;
  readonly meta: MetaReader;
  readonly src: ByteSource;
  /** The scan's block cache and decode charge, for the decoded pclusters. */
  readonly resources: ScanResources;
  readonly identity?: string;
  /** The packed inode's data (fragments); undefined when the image has none. */
  packed(): ByteSource | undefined;
}

/** One lcluster index as decoded (kernel z_erofs_maprecorder). */
interface Lcluster {
  type: number;
  clusterofs: number;
  /** Block address of a HEAD/PLAIN lcluster's pcluster. */
  pblk: number;
  /** Blocks of a big pcluster, from the CBLKCNT NONHEAD lcluster; 0 otherwise. */
  cblks: number;
  partialRef: boolean;
  /** Byte offset just past this index's pack: where ztailpacking inline data starts after the last one. */
  nextPackOff: number;
}

/** The map header fields and the index layout of one file. */
class IndexReader {
  readonly advise: number;
  readonly algorithms: [number, number];
  readonly lclusterBits: number;
  readonly idataSize: number;
  readonly fragmentOff: number;
  private readonly full: boolean;
  private readonly ebase: number;
  private readonly totalIdx: number;
  private readonly initial4b: number;
  private readonly compacted2b: number;

  constructor(
    private readonly z: ZmapContext,
    private readonly inode: ErofsInode,
    header: Uint8Array,
  ) {
    const { sb } = z;
    this.advise = u16le(header, 4, 'EROFS image');
    const alg = header[6]!;
    this.algorithms = [alg & 15, alg >> 4];
    // h_clusterbits bits 0-3: logical cluster size over the block size (bit 7, a whole-file fragment, is handled before).
    this.lclusterBits = sb.blkBits + (header[7]! & 15);
    this.full = inode.layout === LAYOUT_COMPRESSED_FULL;
    // h_fragmentoff (bytes 0-3) and h_idata_size (bytes 2-3) share bytes: a fragment tail wins, as in erofs-utils.
    this.fragmentOff = u32le(header, 0, 'EROFS image');
    this.idataSize = this.advise & ADVISE_FRAGMENT_PCLUSTER || !(this.advise & ADVISE_INLINE_PCLUSTER) ? 0 : u16le(header, 2, 'EROFS image');
    if (this.full && this.advise & ADVISE_COMPACTED_2B) {
      throw new UnsupportedError(`The EROFS inode ${inode.nid} maps its data with extent records (48-bit layout), which aibom does not read; not scanned.`);
    }
    if (!this.full && this.lclusterBits > 14) {
      throw new UnsupportedError(
        `The EROFS inode ${inode.nid} has compact indexes with ${2 ** this.lclusterBits}-byte logical clusters, which aibom does not read; not scanned.`,
      );
    }
    const headerPos = align(inodeEnd(inode), 8);
    // Full indexes follow the 8-byte map header and 8 reserved bytes; compact ones the header alone.
    this.ebase = headerPos + (this.full ? 16 : 8);
    this.totalIdx = Math.ceil(inode.size / sb.blkSize);
    // Compact: 4-byte entries up to a 32-byte boundary, then 2-byte packs of 16, then 4-byte ones.
    let initial = (32 - (this.ebase % 32)) / 4;
    if (initial === 8) initial = 0;
    this.initial4b = initial;
    this.compacted2b = this.advise & ADVISE_COMPACTED_2B && initial < this.totalIdx ? Math.floor((this.totalIdx - initial) / 16) * 16 : 0;
    const big = this.advise & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2);
    if (big && !(sb.featureIncompat & INCOMPAT_BIG_PCLUSTER)) {
      throw new FormatError(`Invalid EROFS inode ${inode.nid}: h_advise 0x${this.advise.toString(16)} asks for big pclusters the superblock does not enable.`);
    }
    if (!this.full && !(this.advise & ADVISE_BIG_PCLUSTER_1) !== !(this.advise & ADVISE_BIG_PCLUSTER_2)) {
      throw new FormatError(
        `Invalid EROFS inode ${inode.nid}: h_advise 0x${this.advise.toString(16)} sets big pclusters for one head type of compact indexes only.`,
      );
    }
  }

  /** Index entries the compact layout is sized for (one per block of the file); 0 for full indexes. */
  get compactCount(): number {
    return this.full ? 0 : this.totalIdx;
  }

  /** HEAD1 pclusters are big with BIG_PCLUSTER_1; HEAD2 and (in current erofs-utils) PLAIN ones with BIG_PCLUSTER_2. */
  private bigPcluster(headType: number): boolean {
    return headType === LC_HEAD1 ? (this.advise & ADVISE_BIG_PCLUSTER_1) !== 0 : (this.advise & ADVISE_BIG_PCLUSTER_2) !== 0;
  }

  /**
   * Checks that the indexes of `clusters` logical clusters lie inside the image before any is walked,
   * so a hostile i_size cannot make the walk run on (or allocate) past what the image can hold.
   */
  checkFits(clusters: number): void {
    let bytes: number;
    if (this.full) bytes = clusters * 8;
    else if (clusters <= this.initial4b) bytes = clusters * 4;
    else bytes = this.initial4b * 4 + this.compacted2b * 2 + (clusters - this.initial4b - this.compacted2b) * 4;
    if (this.ebase + bytes > this.z.sb.imageSize) {
      throw new FormatError(
        `Invalid EROFS inode ${this.inode.nid}: the indexes of its ${clusters} logical clusters at offset ${this.ebase} run past the end of the ${this.z.sb.imageSize}-byte image.`,
        'truncated',
      );
    }
  }

  isBig(headType: number): boolean {
    return this.bigPcluster(headType);
  }

  load(lcn: number): Lcluster {
    return this.full ? this.loadFull(lcn) : this.loadCompact(lcn);
  }

  private corrupt(lcn: number, why: string): FormatError {
    return new FormatError(`Invalid EROFS inode ${this.inode.nid}: lcluster ${lcn} ${why}.`);
  }

  /** z_erofs_lcluster_index: di_advise (type, PARTIAL_REF), di_clusterofs, blkaddr or delta[2]. */
  private loadFull(lcn: number): Lcluster {
    const pos = this.ebase + lcn * 8;
    const di = this.z.meta.read(pos, 8, `lcluster index ${lcn} of inode ${this.inode.nid}`);
    const advise = u16le(di, 0, 'EROFS image');
    const type = advise & 3;
    const out: Lcluster = { type, clusterofs: 0, pblk: 0, cblks: 0, partialRef: false, nextPackOff: pos + 8 };
    if (type === LC_NONHEAD) {
      const d0 = u16le(di, 4, 'EROFS image');
      if (d0 & D0_CBLKCNT) {
        if (!(this.advise & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2))) throw this.corrupt(lcn, 'carries a block count without big pclusters');
        out.cblks = d0 & ~D0_CBLKCNT;
      }
      return out;
    }
    out.partialRef = (advise & PARTIAL_REF) !== 0;
    out.clusterofs = u16le(di, 2, 'EROFS image');
    if (out.clusterofs >= 2 ** this.lclusterBits) throw this.corrupt(lcn, `has clusterofs ${out.clusterofs}, past its ${2 ** this.lclusterBits}-byte cluster`);
    out.pblk = u32le(di, 4, 'EROFS image');
    return out;
  }

  /** Compact indexes: packs of `vcnt` bit fields (lo: lclusterbits, type: 2 bits) then a 4-byte base blkaddr. */
  private loadCompact(lcn: number): Lcluster {
    if (lcn >= this.totalIdx) throw this.corrupt(lcn, `is past the ${this.totalIdx} indexes of the file`);
    let pos = this.ebase;
    let shift: number;
    let n = lcn;
    if (n < this.initial4b) shift = 2;
    else {
      pos += this.initial4b * 4;
      n -= this.initial4b;
      if (n < this.compacted2b) shift = 1;
      else {
        pos += this.compacted2b * 2;
        n -= this.compacted2b;
        shift = 2;
      }
    }
    pos += n << shift;
    const lcbits = this.lclusterBits;
    let vcnt: number;
    if (shift === 2) vcnt = 2;
    else if (lcbits <= 12) vcnt = 16;
    else
      throw new UnsupportedError(
        `The EROFS inode ${this.inode.nid} has 2-byte compact indexes with ${2 ** lcbits}-byte logical clusters, which aibom does not read; not scanned.`,
      );
    const packBytes = vcnt << shift;
    const encodeBits = ((packBytes - 4) * 8) / vcnt;
    const packStart = pos - (pos % packBytes);
    const pack = this.z.meta.read(packStart, packBytes, `lcluster index pack of inode ${this.inode.nid}`);
    // The low field is at least 12 bits wide so that CBLKCNT (bit 11) fits with small blocks.
    const lobits = Math.max(lcbits, 12);
    const lomask = 2 ** lobits - 1;
    const decode = (i: number): { lo: number; type: number } => {
      const bit = encodeBits * i;
      const at = bit >> 3;
      // A little-endian u32 at the field's first byte, read within the pack (the last field may need fewer bytes).
      let v = 0;
      for (let k = 3; k >= 0; k--) v = v * 256 + (at + k < packBytes ? pack[at + k]! : 0);
      v = Math.floor(v / 2 ** (bit & 7));
      return { lo: v & lomask, type: Math.floor(v / 2 ** lobits) & 3 };
    };
    let i = (pos - packStart) >> shift;
    const big = (this.advise & ADVISE_BIG_PCLUSTER_1) !== 0;
    const first = decode(i);
    const out: Lcluster = { type: first.type, clusterofs: 0, pblk: 0, cblks: 0, partialRef: false, nextPackOff: packStart + packBytes };
    if (first.type === LC_NONHEAD) {
      if (first.lo & D0_CBLKCNT) {
        if (!big) throw this.corrupt(lcn, 'carries a block count without big pclusters');
        out.cblks = first.lo & ~D0_CBLKCNT;
      }
      return out;
    }
    out.clusterofs = first.lo;
    if (out.clusterofs >= 2 ** lcbits) throw this.corrupt(lcn, `has clusterofs ${out.clusterofs}, past its ${2 ** lcbits}-byte cluster`);
    // The base blkaddr counts the pclusters of earlier packs; add those of earlier HEADs in this pack.
    let nblk: number;
    if (!big) {
      nblk = 1;
      while (i > 0) {
        --i;
        const d = decode(i);
        if (d.type === LC_NONHEAD) i -= d.lo;
        if (i >= 0) ++nblk;
      }
    } else {
      nblk = 0;
      while (i > 0) {
        --i;
        const d = decode(i);
        if (d.type === LC_NONHEAD) {
          if (d.lo & D0_CBLKCNT) {
            --i;
            nblk += d.lo & ~D0_CBLKCNT;
            continue;
          }
          // A big pcluster's NONHEAD run starts with its CBLKCNT entry, so delta[0] is at least 2 here.
          if (d.lo <= 1) throw this.corrupt(lcn, `follows a NONHEAD lcluster whose delta[0] ${d.lo} cannot be in a big pcluster`);
          i -= d.lo - 2;
          continue;
        }
        ++nblk;
      }
    }
    out.pblk = u32le(pack, packBytes - 4, 'EROFS image') + nblk;
    return out;
  }
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** A pcluster's place on disk and how it decodes; one extent of the file. */
interface Mapped {
  la: number;
  llen: number;
  headType: number;
  lcn: number;
  pblk: number;
  cblks: number;
  partialRef: boolean;
}

/**
 * Maps a compressed inode to an ExtentSource: reads the map header and walks every lcluster index
 * once (bounded by the file's cluster count, each index read inside the image). Throws FormatError for
 * inconsistent indexes, UnsupportedError naming the algorithm for MicroLZMA or unknown algorithms.
 */
export function compressedSource(z: ZmapContext, inode: ErofsInode): ByteSource {
  const { sb } = z;
  const size = inode.size;
  const options = { what: `EROFS inode ${inode.nid}`, resources: z.resources, ...(z.identity ? { identity: z.identity } : {}) };
  if (size === 0) return new ExtentSource(0, [], options);
  const headerPos = align(inodeEnd(inode), 8);
  const header = z.meta.read(headerPos, 8, `map header of inode ${inode.nid}`);
  // h_clusterbits bit 7: the whole file lives in the packed inode at the 63-bit offset the header holds.
  if (header[7]! & 0x80) {
    const hi = u32le(header, 4, 'EROFS image') & 0x7fffffff;
    const off = hi * 0x100000000 + u32le(header, 0, 'EROFS image');
    return new ExtentSource(size, [{ kind: 'source', offset: 0, length: size, source: fragmentOf(z, inode, size, off), sourceOffset: off }], options);
  }
  const idx = new IndexReader(z, inode, header);
  const lcbits = idx.lclusterBits;
  const lclusterSize = 2 ** lcbits;
  const clusters = Math.ceil(size / lclusterSize);

  idx.checkFits(Math.max(clusters, idx.compactCount));
  // Every extent but an inline or fragment tail takes at least one block of the image.
  const maxExtents = Math.ceil(sb.imageSize / sb.blkSize) + 1;

  // Walk the indexes once: each HEAD/PLAIN lcluster starts an extent at lcn × lclustersize + clusterofs.
  const mapped: Mapped[] = [];
  let cur: Mapped | undefined;
  let last: Lcluster | undefined;
  for (let lcn = 0; lcn < clusters; lcn++) {
    const m = idx.load(lcn);
    last = m;
    if (m.type === LC_NONHEAD) {
      if (cur === undefined) throw new FormatError(`Invalid EROFS inode ${inode.nid}: lcluster ${lcn} continues an extent that has no head.`);
      if (lcn === cur.lcn + 1 && m.cblks > 0) cur.cblks = m.cblks;
      continue;
    }
    const la = lcn * lclusterSize + m.clusterofs;
    if (cur === undefined && la !== 0) throw new FormatError(`Invalid EROFS inode ${inode.nid}: the first extent starts at ${la}, not 0.`);
    if (la >= size) break; // a last HEAD past the end of file: the bytes before it end the previous extent
    if (cur !== undefined) {
      cur.llen = la - cur.la;
      mapped.push(cur);
      if (mapped.length > maxExtents) throw new FormatError(`Invalid EROFS inode ${inode.nid}: more extents than the ${maxExtents} blocks of the image.`);
    }
    cur = { la, llen: 0, headType: m.type, lcn, pblk: m.pblk, cblks: 0, partialRef: m.partialRef };
  }
  if (cur === undefined || last === undefined) throw new FormatError(`Invalid EROFS inode ${inode.nid}: no extent starts its data.`);
  cur.llen = size - cur.la;
  mapped.push(cur);

  const fragment = (idx.advise & ADVISE_FRAGMENT_PCLUSTER) !== 0;
  const extents: Extent[] = [];
  const pushSource = (offset: number, length: number, source: ByteSource, sourceOffset: number): void => {
    const prev = extents[extents.length - 1];
    // Adjacent plain pclusters stored back to back become one extent (incompressible files).
    if (prev && prev.kind === 'source' && prev.source === source && prev.offset + prev.length === offset && prev.sourceOffset + prev.length === sourceOffset) {
      extents[extents.length - 1] = { ...prev, length: prev.length + length };
    } else extents.push({ kind: 'source', offset, length, source, sourceOffset });
  };
  for (let k = 0; k < mapped.length; k++) {
    const e = mapped[k]!;
    if (e.llen <= 0) continue;
    const isTail = k === mapped.length - 1;
    let pa: number;
    let plen: number;
    if (isTail && idx.idataSize > 0) {
      // The tail pcluster is inline, right after the index pack of the last lcluster.
      pa = last.nextPackOff;
      plen = idx.idataSize;
      if ((pa % sb.blkSize) + plen > sb.blkSize) {
        throw new FormatError(`Invalid EROFS inode ${inode.nid}: the inline tail pcluster of ${plen} bytes at offset ${pa} does not fit in its block.`);
      }
    } else if (isTail && fragment) {
      // Full indexes keep the high 32 bits of the fragment offset in the tail head's blkaddr.
      const off = idx.fragmentOff + (inode.layout === LAYOUT_COMPRESSED_FULL ? e.pblk * 0x100000000 : 0);
      pushSource(e.la, e.llen, fragmentOf(z, inode, e.llen, off), off);
      continue;
    } else {
      pa = e.pblk * sb.blkSize;
      // A pcluster is one block unless big; a big one's size is the CBLKCNT of the next lcluster, and
      // one block when the next lcluster is a HEAD or past the end of the file (erofs-utils zmap.c).
      let blocks = 1;
      if (idx.isBig(e.headType) && (e.lcn + 1) * lclusterSize < size) {
        if (e.cblks > 0) blocks = e.cblks;
        else if (idx.load(e.lcn + 1).type === LC_NONHEAD) {
          throw new FormatError(`Invalid EROFS inode ${inode.nid}: the big pcluster at lcluster ${e.lcn} has no block count (CBLKCNT).`);
        }
      }
      plen = blocks * sb.blkSize;
    }
    if (plen > MAX_PCLUSTER)
      throw new FormatError(`Invalid EROFS inode ${inode.nid}: the pcluster at lcluster ${e.lcn} is ${plen} bytes, more than ${MAX_PCLUSTER}.`);
    if (!Number.isSafeInteger(pa) || pa + plen > sb.imageSize) {
      throw new FormatError(
        `Invalid EROFS inode ${inode.nid}: the pcluster of ${plen} bytes at offset ${pa} runs past the end of the ${sb.imageSize}-byte image.`,
        'truncated',
      );
    }
    if (e.headType === LC_PLAIN) {
      if (e.llen > plen)
        throw new FormatError(`Invalid EROFS inode ${inode.nid}: the plain extent at ${e.la} is ${e.llen} bytes, more than its ${plen}-byte pcluster.`);
      if (idx.advise & ADVISE_INTERLACED_PCLUSTER) {
        if (plen > sb.blkSize) throw new FormatError(`Invalid EROFS inode ${inode.nid}: the interlaced pcluster at offset ${pa} is larger than a block.`);
        extents.push(new InterlacedPcluster(e.la, e.llen, z.src, pa, plen, Math.min(sb.blkSize - (e.la % sb.blkSize), e.llen)));
      } else pushSource(e.la, e.llen, z.src, pa);
      continue;
    }
    const alg = e.headType === LC_HEAD2 ? idx.algorithms[1] : idx.algorithms[0];
    if (alg !== ALG_LZ4 && alg !== ALG_DEFLATE && alg !== ALG_ZSTD) {
      const name = ALG_NAMES[alg] ?? `algorithm ${alg}`;
      throw new UnsupportedError(`${name}-compressed EROFS file not scanned (inode ${inode.nid}): aibom decodes LZ4, DEFLATE and Zstandard pclusters.`);
    }
    if (e.llen > MAX_DECODED)
      throw new FormatError(`Invalid EROFS inode ${inode.nid}: the extent at ${e.la} decodes to ${e.llen} bytes, more than ${MAX_DECODED}.`);
    extents.push(new Pcluster(e.la, e.llen, z.src, sb, inode.nid, pa, plen, alg, e.partialRef));
  }
  return new ExtentSource(size, extents, options);
}

/** The packed inode's data, checked to hold `length` bytes at `offset` (a fragment of inode `inode`). */
function fragmentOf(z: ZmapContext, inode: ErofsInode, length: number, offset: number): ByteSource {
  const packed = z.packed();
  if (packed === undefined) throw new FormatError(`Invalid EROFS inode ${inode.nid}: its data is a fragment but the image has no packed inode.`);
  if (!Number.isSafeInteger(offset) || offset + length > packed.size) {
    throw new FormatError(
      `Invalid EROFS inode ${inode.nid}: its ${length}-byte fragment at offset ${offset} runs past the ${packed.size}-byte packed inode.`,
      'truncated',
    );
  }
  return packed;
}
