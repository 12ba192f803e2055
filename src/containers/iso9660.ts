import { FormatError, UnsupportedError } from '../errors.js';
import { u16le, u32le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import { ExtentSource, type Extent } from '../io/extent-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** Volume descriptors are 2048-byte sectors from sector 16 (byte 32768), whatever the logical block size. */
const VD_SECTOR = 2048;
const VD_START = 16 * VD_SECTOR;
/** Descriptors read before giving up on a terminator (type 255); real discs have 2 to 5. */
const MAX_DESCRIPTORS = 64;
/** Largest directory read: a directory of 100,000 files is about 5 MiB. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** Directory nesting followed (ISO 9660 allows 8; Rock Ridge and Joliet go deeper). */
const MAX_DEPTH = 128;
/** Extents of one multi-extent file (each up to 4 GiB - 2 KiB). */
const MAX_FILE_EXTENTS = 1024;
/** SUSP continuation areas ('CE') followed for one directory record. */
const MAX_CONTINUATIONS = 16;
/** Longest Rock Ridge name or symlink target assembled. */
const MAX_RR_TEXT = 4096;

/** Directory record flags (byte 25). */
const FLAG_DIRECTORY = 0x02;
const FLAG_ASSOCIATED = 0x04;
const FLAG_MULTI_EXTENT = 0x80;

/** POSIX file types in a Rock Ridge 'PX' mode. */
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

type Naming = 'rockridge' | 'joliet' | 'iso9660';

function isCd001(b: Uint8Array, at: number): boolean {
  // 'CD001' at offset 1 of every volume descriptor.
  return b[at + 1] === 0x43 && b[at + 2] === 0x44 && b[at + 3] === 0x30 && b[at + 4] === 0x30 && b[at + 5] === 0x31;
}

/** The parts of a directory record this reader uses. */
interface DirRecord {
  readonly extent: number;
  readonly extAttrLen: number;
  readonly dataLength: number;
  readonly flags: number;
  readonly interleaved: boolean;
  /** Raw file identifier bytes (offset 33, length at 32). */
  readonly id: Uint8Array;
  /** System use area (after the identifier and its pad byte): SUSP / Rock Ridge entries. */
  readonly systemUse: Uint8Array;
}

function parseRecord(b: Uint8Array, at: number): DirRecord | undefined {
  const len = b[at] as number;
  const idLen = b[at + 32] as number;
  if (len < 34 || at + len > b.length || 33 + idLen > len) return undefined;
  const suStart = 33 + idLen + (idLen % 2 === 0 ? 1 : 0);
  return {
    extAttrLen: b[at + 1] as number,
    extent: u32le(b, at + 2, 'ISO 9660 image'),
    dataLength: u32le(b, at + 10, 'ISO 9660 image'),
    flags: b[at + 25] as number,
    interleaved: b[at + 26] !== 0 || b[at + 27] !== 0,
    id: b.subarray(at + 33, at + 33 + idLen),
    systemUse: suStart < len ? b.subarray(at + suStart, at + len) : new Uint8Array(0),
  };
}

/** What the Rock Ridge entries of one record say. */
interface RockInfo {
  name?: string;
  link?: string;
  mode?: number;
  /** 'CL': a relocated directory's real location. */
  childLink?: number;
  /** 'RE': this record is the relocated directory itself; it is listed where its 'CL' points. */
  relocated?: boolean;
}

/** A 'SL' symlink's component records (RRIP 4.1.3): flags bit 1 '.', bit 2 '..', bit 3 root; bit 0 continues. */
function slComponents(body: Uint8Array, state: { parts: string[]; open: boolean }): void {
  let p = 1; // byte 0 of the body is the SL flags
  while (p + 2 <= body.length) {
    const flags = body[p] as number;
    const len = body[p + 1] as number;
    const text = Buffer.from(body.subarray(p + 2, p + 2 + len)).toString('utf8');
    p += 2 + len;
    let piece: string;
    if (flags & 0x02) piece = '.';
    else if (flags & 0x04) piece = '..';
    else if (flags & 0x08) piece = '';
    else piece = text;
    if (state.open && state.parts.length > 0) state.parts[state.parts.length - 1] += piece;
    else state.parts.push(piece);
    state.open = (flags & 0x01) !== 0;
  }
}

/**
 * Parses the SUSP entries of one record (signature, length, version, body), following 'CE'
 * continuation areas (bounded) through `readArea`. Only NM, SL, PX, CL, RE and ST matter here.
 */
function rockRidge(systemUse: Uint8Array, skip: number, readArea: (block: number, offset: number, length: number) => Uint8Array | undefined): RockInfo {
  const info: RockInfo = {};
  let name = '';
  let hasName = false;
  const sl = { parts: [] as string[], open: false };
  let hasLink = false;
  let area: Uint8Array | undefined = systemUse.subarray(Math.min(skip, systemUse.length));
  for (let hops = 0; area !== undefined && hops <= MAX_CONTINUATIONS; hops++) {
    const a: Uint8Array = area;
    area = undefined;
    let p = 0;
    while (p + 4 <= a.length) {
      const sig = String.fromCharCode(a[p] as number, a[p + 1] as number);
      const len = a[p + 2] as number;
      if (len < 4 || p + len > a.length) break;
      const body = a.subarray(p + 4, p + len);
      p += len;
      if (sig === 'ST') break;
      if (sig === 'CE' && body.length >= 24) {
        // Continuation area: block (both-endian at 4), offset (at 12), length (at 20) of the entry.
        const next = readArea(u32le(body, 0, 'ISO 9660 image'), u32le(body, 8, 'ISO 9660 image'), u32le(body, 16, 'ISO 9660 image'));
        if (next) area = next;
      } else if (sig === 'NM' && body.length >= 1) {
        const flags = body[0] as number;
        if (flags & 0x06) continue; // CURRENT / PARENT: '.' and '..'
        if (name.length < MAX_RR_TEXT) name += Buffer.from(body.subarray(1)).toString('utf8');
        hasName = true;
      } else if (sig === 'SL' && body.length >= 1) {
        slComponents(body, sl);
        hasLink = true;
      } else if (sig === 'PX' && body.length >= 4) {
        info.mode = u32le(body, 0, 'ISO 9660 image');
      } else if (sig === 'CL' && body.length >= 4) {
        info.childLink = u32le(body, 0, 'ISO 9660 image');
      } else if (sig === 'RE') {
        info.relocated = true;
      }
    }
  }
  if (hasName) info.name = name.slice(0, MAX_RR_TEXT);
  if (hasLink) {
    const target = sl.parts.length > 0 && sl.parts[0] === '' ? `/${sl.parts.slice(1).join('/')}` : sl.parts.join('/');
    info.link = target.slice(0, MAX_RR_TEXT);
  }
  return info;
}

/** A plain or Joliet identifier without its ';1' version and (plain) trailing '.' of a name without extension. */
function plainName(id: Uint8Array, naming: Naming): string {
  let name = naming === 'joliet' ? Buffer.from(id).swap16().toString('utf16le') : Buffer.from(id).toString('latin1');
  const semi = name.lastIndexOf(';');
  if (semi >= 0 && /^\d*$/.test(name.slice(semi + 1))) name = name.slice(0, semi);
  if (name.endsWith('.') && name !== '.' && name !== '..') name = name.slice(0, -1);
  return name;
}

/** A volume: the root record, the block size and how names are read. */
interface Volume {
  readonly root: DirRecord;
  readonly blockSize: number;
  readonly naming: Naming;
  /** SUSP 'SP' LEN_SKP: bytes skipped at the start of every system use area. */
  readonly suspSkip: number;
}

/** The root directory record of a descriptor: 34 bytes at offset 156. */
function rootOf(vd: Uint8Array): DirRecord | undefined {
  return parseRecord(vd.subarray(156, 156 + 34), 0);
}

/**
 * Reads the volume descriptors from sector 16: the primary (type 1) and a Joliet supplementary
 * descriptor (type 2 whose escape sequences at 88 are '%/@', '%/C' or '%/E', UCS-2 levels 1-3),
 * until the terminator (type 255). Picks the tree: the primary with Rock Ridge when its root '.'
 * record carries the SUSP 'SP' entry (as Linux does, Rock Ridge wins: it keeps full POSIX names and
 * symlinks, where Joliet truncates names at 64 characters), else Joliet, else plain ISO 9660.
 */
function readVolume(src: ByteSource): Volume {
  let primary: Uint8Array | undefined;
  let joliet: Uint8Array | undefined;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const at = VD_START + i * VD_SECTOR;
    if (at + VD_SECTOR > src.size) break;
    const vd = src.read(at, VD_SECTOR);
    if (!isCd001(vd, 0)) break;
    const type = vd[0] as number;
    if (type === 255) break;
    if (type === 1 && primary === undefined) primary = vd;
    if (type === 2 && joliet === undefined && vd[88] === 0x25 && vd[89] === 0x2f && (vd[90] === 0x40 || vd[90] === 0x43 || vd[90] === 0x45)) joliet = vd;
  }
  if (primary === undefined)
    throw new FormatError(
      'Invalid ISO 9660 image: no primary volume descriptor (type 1) after sector 16.',
      src.size < VD_START + VD_SECTOR ? 'truncated' : 'format',
    );
  // Logical block size: both-endian u16 at 128; 2048 on every disc in practice.
  const blockSize = u16le(primary, 128, 'ISO 9660 image');
  if (blockSize !== 512 && blockSize !== 1024 && blockSize !== 2048)
    throw new FormatError(`Invalid ISO 9660 image: logical block size ${blockSize} is not 512, 1024 or 2048.`);
  const root = rootOf(primary);
  if (root === undefined) throw new FormatError('Invalid ISO 9660 image: the primary descriptor holds no valid root directory record.');
  const sp = suspOf(src, root, blockSize);
  if (sp !== undefined) return { root, blockSize, naming: 'rockridge', suspSkip: sp };
  const jroot = joliet === undefined ? undefined : rootOf(joliet);
  if (jroot !== undefined) return { root: jroot, blockSize, naming: 'joliet', suspSkip: 0 };
  return { root, blockSize, naming: 'iso9660', suspSkip: 0 };
}

/** SUSP 'SP' entry ('SP', length 7, version 1, check bytes 0xBE 0xEF, LEN_SKP) at the start of the root's '.' system use. */
function suspOf(src: ByteSource, root: DirRecord, blockSize: number): number | undefined {
  const at = root.extent * blockSize;
  if (root.extent === 0 || at + 34 > src.size) return undefined;
  const first = src.read(at, Math.min(255, src.size - at));
  const dot = parseRecord(first, 0);
  if (dot === undefined) return undefined;
  const su = dot.systemUse;
  if (su.length >= 7 && su[0] === 0x53 && su[1] === 0x50 && su[2] === 7 && su[4] === 0xbe && su[5] === 0xef) return su[6] as number;
  return undefined;
}

/**
 * ISO 9660 images (CD/DVD/firmware ISOs): volume descriptors from sector 16, directories walked from
 * the root with a visited set and a depth bound, with Rock Ridge names, symlinks ('SL'), file types
 * ('PX') and deep-directory relocation ('CL'/'RE'), else Joliet (UCS-2 BE names), else plain names
 * ('README.TXT;1' -> 'README.TXT', 'NOEXT.;1' -> 'NOEXT'). Files are slices of the image, multi-extent
 * files an ExtentSource over their extents. Not handled: interleaved files (listed, UnsupportedError on
 * open), associated files (skipped), multi-session images (the first session's descriptors are read),
 * UDF bridge volumes (their ISO 9660 side is read), raw 2352-byte sectors (not matched).
 */
async function* isoEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const vol = readVolume(src);
  const bs = vol.blockSize;
  const names = new EntryNames(ctx, 'ISO 9660', false);
  const readArea = (block: number, offset: number, length: number): Uint8Array | undefined => {
    const at = block * bs + offset;
    if (length === 0 || length > bs || offset >= bs || at + length > src.size) return undefined;
    return src.read(at, length);
  };
  const visited = new Set<number>();
  const stack: { extent: number; length: number; path: string; depth: number }[] = [
    { extent: vol.root.extent, length: vol.root.dataLength, path: '', depth: 0 },
  ];
  let count = 0;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (visited.has(dir.extent)) {
      ctx.problem({
        path: dir.path,
        severity: 'warning',
        code: 'format',
        message: `The ISO 9660 directory ${JSON.stringify(dir.path)} points to block ${dir.extent}, already walked; not walked again.`,
      });
      continue;
    }
    visited.add(dir.extent);
    const at = dir.extent * bs;
    if (dir.length > MAX_DIRECTORY_BYTES || at + dir.length > src.size) {
      ctx.problem({
        ...(dir.path === '' ? {} : { path: dir.path }),
        severity: 'error',
        code: at + dir.length > src.size ? 'truncated' : 'limit',
        message: `The ISO 9660 directory ${JSON.stringify(dir.path || '/')} (${dir.length} bytes at block ${dir.extent}) lies outside the ${src.size}-byte image or exceeds ${MAX_DIRECTORY_BYTES} bytes; not read.`,
      });
      continue;
    }
    const data = src.read(at, dir.length);
    let pending: { name: string; extents: DirRecord[] } | undefined;
    let p = 0;
    while (p < data.length) {
      const len = data[p] as number;
      if (len === 0) {
        // Records never cross a block: a zero length byte pads to the next block.
        p = (Math.floor(p / bs) + 1) * bs;
        continue;
      }
      const rec = parseRecord(data, p);
      if (rec === undefined || Math.floor(p / bs) !== Math.floor((p + len - 1) / bs)) {
        ctx.problem({
          ...(dir.path === '' ? {} : { path: dir.path }),
          severity: 'error',
          code: 'format',
          message: `The ISO 9660 directory ${JSON.stringify(dir.path || '/')} has an invalid record at byte ${p}; the rest of its block was skipped.`,
        });
        p = (Math.floor(p / bs) + 1) * bs;
        continue;
      }
      p += len;
      // '.' (0x00) and '..' (0x01) of every directory.
      if (rec.id.length === 1 && (rec.id[0] === 0 || rec.id[0] === 1)) continue;
      if ((rec.flags & FLAG_ASSOCIATED) !== 0) continue;
      const rr = vol.naming === 'rockridge' ? rockRidge(rec.systemUse, vol.suspSkip, readArea) : {};
      if (rr.relocated) continue;
      const name = rr.name ?? plainName(rec.id, vol.naming);

      // Multi-extent files: every record but the last has flag 0x80; all carry the same name.
      if (pending !== undefined && pending.name !== name) {
        ctx.problem({
          path: dir.path === '' ? pending.name : `${dir.path}/${pending.name}`,
          severity: 'error',
          code: 'format',
          message: `The multi-extent file ${JSON.stringify(pending.name)} in ${JSON.stringify(dir.path || '/')} has no final extent; it was not listed.`,
        });
        pending = undefined;
      }
      if ((rec.flags & FLAG_MULTI_EXTENT) !== 0 && (rec.flags & FLAG_DIRECTORY) === 0) {
        pending ??= { name, extents: [] };
        if (pending.extents.length >= MAX_FILE_EXTENTS) {
          throw new FormatError(`Invalid ISO 9660 image: the file ${JSON.stringify(name)} has more than ${MAX_FILE_EXTENTS} extents.`);
        }
        pending.extents.push(rec);
        continue;
      }
      const extents = pending === undefined ? [rec] : [...pending.extents, rec];
      pending = undefined;

      if (++count > ctx.limits.maxEntriesPerContainer) {
        ctx.problem({
          severity: 'error',
          code: 'limit',
          message: `The ISO 9660 image has more than maxEntriesPerContainer ${ctx.limits.maxEntriesPerContainer} entries; the rest are not listed.`,
        });
        return;
      }
      const fmt = rr.mode === undefined ? undefined : rr.mode & S_IFMT;
      const isDir = rr.childLink !== undefined || (rec.flags & FLAG_DIRECTORY) !== 0 || fmt === S_IFDIR;
      if (name === '') {
        ctx.problem({
          ...(dir.path === '' ? {} : { path: dir.path }),
          severity: 'error',
          code: 'format',
          message: `A record with an empty name in ISO 9660 directory ${JSON.stringify(dir.path || '/')} was skipped.`,
        });
        continue;
      }
      const path = names.accept(dir.path === '' ? name : `${dir.path}/${name}`, isDir);
      if (isDir) {
        yield { path, type: 'directory', open: () => Promise.reject(new FormatError(`${path} is a directory.`)) };
        if (dir.depth + 1 > MAX_DEPTH) {
          ctx.problem({
            path,
            severity: 'error',
            code: 'limit',
            message: `The ISO 9660 directory ${JSON.stringify(path)} is nested deeper than ${MAX_DEPTH} levels; not walked.`,
          });
          continue;
        }
        if (rr.childLink !== undefined) {
          // The relocated directory's size is in its own '.' record.
          const cl = rr.childLink * bs;
          const dot = cl + 34 <= src.size ? parseRecord(src.read(cl, Math.min(255, src.size - cl)), 0) : undefined;
          if (dot === undefined) {
            ctx.problem({
              path,
              severity: 'error',
              code: 'format',
              message: `The Rock Ridge child link of ${JSON.stringify(path)} points to block ${rr.childLink}, which holds no directory; not walked.`,
            });
            continue;
          }
          stack.push({ extent: rr.childLink, length: dot.dataLength, path, depth: dir.depth + 1 });
        } else {
          stack.push({ extent: rec.extent, length: rec.dataLength, path, depth: dir.depth + 1 });
        }
        continue;
      }
      if (rr.link !== undefined || fmt === S_IFLNK) {
        yield { path, type: 'symlink', linkTarget: rr.link ?? '', open: () => Promise.reject(new FormatError(`${path} is a symlink.`)) };
        continue;
      }
      if (fmt !== undefined && fmt !== S_IFREG) {
        yield { path, type: 'other', open: () => Promise.reject(new UnsupportedError(`${path} is a device, FIFO or socket, which holds no data.`)) };
        continue;
      }
      let size = 0;
      for (const e of extents) size += e.dataLength;
      yield { path, type: 'file', size, open: () => Promise.resolve(openFile(src, bs, path, extents)) };
    }
    if (pending !== undefined) {
      ctx.problem({
        path: dir.path === '' ? pending.name : `${dir.path}/${pending.name}`,
        severity: 'error',
        code: 'format',
        message: `The multi-extent file ${JSON.stringify(pending.name)} in ${JSON.stringify(dir.path || '/')} has no final extent; it was not listed.`,
      });
    }
  }
}

/** A file's bytes: one slice, or an ExtentSource over the extents of a multi-extent file. */
function openFile(src: ByteSource, bs: number, path: string, extents: readonly DirRecord[]): ByteSource {
  const pieces: Extent[] = [];
  let offset = 0;
  for (const e of extents) {
    if (e.interleaved) throw new UnsupportedError(`The ISO 9660 file ${JSON.stringify(path)} is interleaved (file unit size set), which aibom does not read.`);
    // Data starts after the extended attribute record (its length in blocks at byte 1).
    const at = (e.extent + e.extAttrLen) * bs;
    if (at + e.dataLength > src.size) {
      throw new FormatError(
        `The ISO 9660 file ${JSON.stringify(path)} has ${e.dataLength} bytes at block ${e.extent}, past the end of the ${src.size}-byte image.`,
        'truncated',
      );
    }
    if (e.dataLength > 0) pieces.push({ kind: 'source', offset, length: e.dataLength, source: src, sourceOffset: at });
    offset += e.dataLength;
  }
  if (pieces.length === 1 && extents.length === 1) {
    const only = pieces[0]!;
    return new SliceSource(src, only.kind === 'source' ? only.sourceOffset : 0, only.length);
  }
  if (pieces.length === 0) return new SliceSource(src, 0, 0);
  return new ExtentSource(offset, pieces, { what: `ISO 9660 file ${JSON.stringify(path)}` });
}

/** ISO 9660 images with Rock Ridge and Joliet names; files are slices of the image. */
export const iso9660: ContainerReader = {
  id: 'iso9660',
  description: 'ISO 9660 images (Rock Ridge, Joliet, multi-extent files); files are slices of the image',
  kind: 'filesystem',
  extensions: ['.iso'],
  signatures: [{ offset: 32769, magic: 'CD001', note: 'volume descriptor at sector 16' }],
  match(probe: Probe): boolean {
    // 'CD001' at byte 1 of the descriptor in sector 16 (offset 32769).
    return probe.head.length >= VD_START + 7 && isCd001(probe.head, VD_START) && probe.head[VD_START + 6] === 1;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return isoEntries(src, ctx);
  },
};
