import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { RandomAccessReader, fromRandomAccessReaderPromise, getFileNameLowLevel, parseExtraFields, type Entry, type ExtraField, type ZipFile } from 'yauzl';
import { FormatError, UnsupportedError } from '../errors.js';
import { u16le, u32le, u64le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { inflateRaw, sourceChunks } from './compressed.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

const LOCAL_SIG = 0x04034b50; // 'PK\x03\x04' local file header
const EOCD_SIG = 0x06054b50; // 'PK\x05\x06' end of central directory record
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** Smallest central directory record: a count above size/46 cannot be real. */
const CENTRAL_RECORD_MIN = 46;
/** Longest symlink target read from a member's data. */
const MAX_LINK_TARGET = 4096;
/** Overlap problems recorded one by one before a summary. */
const MAX_OVERLAP_REPORTS = 10;

const METHODS: Record<number, string> = {
  0: 'stored',
  1: 'shrink',
  6: 'implode',
  8: 'deflate',
  9: 'deflate64',
  12: 'bzip2',
  14: 'lzma',
  93: 'zstd',
  95: 'xz',
  96: 'jpeg',
  98: 'ppmd',
  99: 'WinZip AES',
};

/** yauzl's RandomAccessReader over a ByteSource: positional reads answered from `src.read`. */
class SourceReader extends RandomAccessReader {
  constructor(private readonly src: ByteSource) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from(
      (function* (src: ByteSource) {
        for (const c of sourceChunks(src, start, end, 256 * 1024)) yield Buffer.from(c.buffer, c.byteOffset, c.length);
      })(this.src),
      { highWaterMark: 1 },
    );
  }
  // Metadata reads (central records, local headers) skip the stream machinery: a synchronous copy,
  // answered on the next tick as yauzl expects, with the byte count its EOF check wants.
  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    const cb = callback as (err: Error | null, bytesRead?: number) => void;
    let got: number;
    try {
      const bytes = this.src.read(position, length);
      buffer.set(bytes, offset);
      got = bytes.length;
    } catch (err) {
      process.nextTick(cb, err as Error);
      return;
    }
    process.nextTick(cb, null, got);
  }
}

/**
 * Finds the end of the zip: the last 'PK\x05\x06' record in the final 64 KiB + 22 bytes whose
 * comment length fits before the end of the source. Returns the offset just past its comment.
 */
function findEnd(src: ByteSource): number | undefined {
  const tail = Math.min(src.size, EOCD_SIZE + MAX_COMMENT);
  const base = src.size - tail;
  const buf = src.read(base, tail);
  for (let i = tail - EOCD_SIZE; i >= 0; i--) {
    if (buf[i] !== 0x50 || u32le(buf, i, 'zip') !== EOCD_SIG) continue;
    const comment = u16le(buf, i + 20, 'zip');
    if (i + EOCD_SIZE + comment <= tail) return base + i + EOCD_SIZE + comment;
  }
  return undefined;
}

/** A member, whichever directory it came from. */
interface Member {
  recorded: string;
  flags: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeader: number;
  /** Start of the member's data, or the reason it cannot be found. */
  dataStart: number | Error;
  isDirectory: boolean;
  isSymlink: boolean;
}

/** Keeps the byte ranges claimed so far, sorted and disjoint, to refuse overlapping members. */
class Ranges {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Claims [s, e); returns false (claiming nothing) when it overlaps a range already claimed. */
  claim(s: number, e: number): boolean {
    const n = this.starts.length;
    // Fast path: central directories list members in file order.
    if (n === 0 || s >= (this.ends[n - 1] as number)) {
      if (n > 0 && s < (this.starts[n - 1] as number)) return this.slow(s, e);
      this.starts.push(s);
      this.ends.push(e);
      return true;
    }
    return this.slow(s, e);
  }
  private slow(s: number, e: number): boolean {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.starts[mid] as number) <= s) lo = mid + 1;
      else hi = mid;
    }
    const before = lo - 1;
    if (before >= 0 && (this.ends[before] as number) > s) return false;
    if (lo < this.starts.length && (this.starts[lo] as number) < e) return false;
    this.starts.splice(lo, 0, s);
    this.ends.splice(lo, 0, e);
    return true;
  }
}

/** Resolves with the next central directory entry (lazyEntries), or undefined at the end. */
function nextEntry(zf: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zf.off('entry', onEntry);
      zf.off('end', onEnd);
      zf.off('error', onError);
    };
    const onEntry = (e: Entry): void => {
      cleanup();
      resolve(e);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(undefined);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    zf.on('entry', onEntry);
    zf.on('end', onEnd);
    zf.on('error', onError);
    zf.readEntry();
  });
}

function zip64Sizes(extra: ExtraField[], m: { compressedSize: number; uncompressedSize: number }): void {
  // Zip64 extended information (0x0001) in a local header: original size, then compressed size.
  const z = extra.find((f) => f.id === 0x0001);
  if (z === undefined) return;
  let at = 0;
  if (m.uncompressedSize === 0xffffffff && z.data.length >= at + 8) {
    m.uncompressedSize = u64le(z.data, at, 'zip');
    at += 8;
  }
  if (m.compressedSize === 0xffffffff && z.data.length >= at + 8) m.compressedSize = u64le(z.data, at, 'zip');
}

function unixMode(versionMadeBy: number, external: number): number {
  // Host system 3 (Unix) keeps st_mode in the high 16 bits of the external attributes.
  return versionMadeBy >> 8 === 3 ? external >>> 16 : 0;
}

/**
 * Members read from local headers alone, for a zip whose central directory is missing (a truncated
 * or carved file). Stops at the first member it cannot delimit: sizes deferred to a data descriptor
 * (general-purpose bit 3), or data past the end.
 */
function* localMembers(src: ByteSource, ctx: ContainerContext): Generator<Member> {
  // Skip the 'PK\x07\x08' marker of a single-segment spanned archive.
  let off = src.size >= 4 && u32le(src.read(0, 4), 0, 'zip') === 0x08074b50 ? 4 : 0;
  while (off + 30 <= src.size) {
    const h = src.read(off, 30);
    if (u32le(h, 0, 'zip') !== LOCAL_SIG) return; // the central directory ('PK\x01\x02') or garbage
    const flags = u16le(h, 6, 'zip');
    const n = u16le(h, 26, 'zip');
    const x = u16le(h, 28, 'zip');
    if (off + 30 + n + x > src.size) {
      ctx.problem({
        severity: 'error',
        code: 'truncated',
        message: `The zip local header at offset ${off} is cut off by the end of the ${src.size}-byte file.`,
      });
      return;
    }
    const nameExtra = Buffer.from(src.read(off + 30, n + x));
    let extra: ExtraField[] = [];
    try {
      extra = parseExtraFields(nameExtra.subarray(n));
    } catch {
      // A malformed extra field only loses zip64 sizes and the Unicode name.
    }
    const m = { compressedSize: u32le(h, 18, 'zip'), uncompressedSize: u32le(h, 22, 'zip') };
    zip64Sizes(extra, m);
    const recorded = getFileNameLowLevel(flags, nameExtra.subarray(0, n), extra, true);
    const dataStart = off + 30 + n + x;
    if (flags & 0x08 && m.compressedSize === 0) {
      ctx.problem({
        severity: 'error',
        code: 'unsupported',
        message: `The zip member ${JSON.stringify(recorded)} at offset ${off} defers its sizes to a data descriptor, which cannot be located without the central directory; the walk stops there.`,
      });
      return;
    }
    if (m.compressedSize > src.size - dataStart) {
      ctx.problem({
        severity: 'error',
        code: 'truncated',
        message: `The zip member ${JSON.stringify(recorded)} at offset ${off} declares ${m.compressedSize} bytes but the file ends ${src.size - dataStart} bytes after its header.`,
      });
      return;
    }
    yield {
      recorded,
      flags,
      method: u16le(h, 8, 'zip'),
      ...m,
      localHeader: off,
      dataStart,
      isDirectory: recorded.endsWith('/') || recorded.endsWith('\\'),
      isSymlink: false,
    };
    off = dataStart + m.compressedSize;
    if (flags & 0x08) {
      // Data descriptor: optional 'PK\x07\x08', CRC-32, then 4- or 8-byte sizes.
      const d = src.read(off, Math.min(24, src.size - off));
      const sig = d.length >= 4 && u32le(d, 0, 'zip') === 0x08074b50 ? 4 : 0;
      const wide = m.compressedSize >= 0xffffffff || m.uncompressedSize >= 0xffffffff;
      off += sig + 4 + (wide ? 16 : 8);
    }
  }
}

/** Lists members from local headers when the central directory is unusable, saying so. */
function* fallBack(src: ByteSource, ctx: ContainerContext, why: string): Generator<Member> {
  ctx.problem({ severity: 'error', code: 'format', message: `The zip's central directory is unusable: ${why}; members are listed from their local headers.` });
  yield* localMembers(src, ctx);
}

/**
 * Members from the central directory through yauzl. Names are decoded here (decodeStrings: false),
 * because yauzl 3.4 rejects the whole archive on the first absolute or '..' name when it decodes them;
 * aibom records such names instead. Each member's local header is read (yauzl readLocalFileHeader)
 * to find where its data starts.
 */
async function* centralMembers(zipSrc: ByteSource, ctx: ContainerContext): AsyncGenerator<Member> {
  let zf: ZipFile;
  try {
    zf = await fromRandomAccessReaderPromise(new SourceReader(zipSrc), zipSrc.size, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: false,
      strictFileNames: true,
    });
  } catch (err) {
    yield* fallBack(zipSrc, ctx, `its end of central directory cannot be used (${(err as Error).message})`);
    return;
  }
  try {
    // The entry count is read from the file (16 bits, or 64 with zip64): bound it before use.
    const declared = zf.entryCount;
    if (!Number.isSafeInteger(declared) || declared < 0) throw new FormatError(`Invalid zip entry count ${declared}.`);
    let count = declared;
    const fit = Math.floor(zipSrc.size / CENTRAL_RECORD_MIN);
    if (count > fit) {
      ctx.problem({
        severity: 'error',
        code: 'format',
        message: `The zip declares ${declared} entries, but at most ${fit} central directory records fit in ${zipSrc.size} bytes.`,
      });
      count = fit;
    }
    const limit = ctx.limits.maxEntriesPerContainer;
    if (count > limit) {
      ctx.problem({
        severity: 'error',
        code: 'limit',
        message: `The zip declares ${declared} entries, more than maxEntriesPerContainer ${limit}; only the first ${limit} are listed.`,
      });
      count = limit;
    }
    for (let i = 0; i < count; i++) {
      let entry: Entry | undefined;
      try {
        entry = await nextEntry(zf);
      } catch (err) {
        const message = (err as Error).message;
        const encrypted = /strong encryption/.test(message);
        if (i === 0 && !encrypted) {
          yield* fallBack(zipSrc, ctx, `its first central directory record cannot be read (${message})`);
          return;
        }
        ctx.problem({
          severity: 'error',
          code: encrypted ? 'encrypted' : 'format',
          message: `The zip central directory record ${i + 1} of ${declared} cannot be read (${message}); the listing stops there.`,
        });
        return;
      }
      if (entry === undefined) return;
      const recorded = getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
      const mode = unixMode(entry.versionMadeBy, entry.externalFileAttributes);
      const isDirectory =
        recorded.endsWith('/') ||
        recorded.endsWith('\\') ||
        (mode & 0o170000) === 0o040000 ||
        ((entry.externalFileAttributes & 0x10) !== 0 && entry.uncompressedSize === 0 && mode === 0);
      let dataStart: number | Error;
      try {
        dataStart = (await zf.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
      } catch (err) {
        dataStart = new FormatError(
          `The local header of zip member ${JSON.stringify(recorded)} at offset ${entry.relativeOffsetOfLocalHeader} is invalid: ${(err as Error).message}.`,
          'truncated',
        );
      }
      yield {
        recorded,
        flags: entry.generalPurposeBitFlag,
        method: entry.compressionMethod,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        localHeader: entry.relativeOffsetOfLocalHeader,
        dataStart,
        isDirectory,
        isSymlink: (mode & 0o170000) === 0o120000,
      };
    }
  } finally {
    zf.close();
  }
}

/** A symlink's target is its data: read when small, stored or deflated. */
function readLinkTarget(src: ByteSource, m: Member): string | undefined {
  if (typeof m.dataStart !== 'number' || m.flags & 0x01 || m.compressedSize > MAX_LINK_TARGET * 16) return undefined;
  const raw = src.read(m.dataStart, m.compressedSize);
  try {
    if (m.method === 0) return Buffer.from(raw.subarray(0, MAX_LINK_TARGET)).toString('utf8');
    if (m.method === 8) return zlib.inflateRawSync(raw, { maxOutputLength: MAX_LINK_TARGET }).toString('utf8');
  } catch {
    // An unreadable target is left out; the member is still listed.
  }
  return undefined;
}

async function* zipEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const names = new EntryNames(ctx, 'zip', true);
  const end = findEnd(src);
  let zipSrc: ByteSource = src;
  let members: AsyncIterable<Member> | Iterable<Member>;
  if (end === undefined) {
    ctx.problem({
      severity: 'error',
      code: 'truncated',
      message: `The zip has no end of central directory record (truncated?); members are listed from their local headers.`,
    });
    members = localMembers(src, ctx);
  } else {
    if (end < src.size) {
      ctx.problem({
        severity: 'info',
        code: 'format',
        message: `The ${src.size - end} bytes after the zip's end of central directory (offset ${end}) are not part of the zip; ignored.`,
      });
      zipSrc = new SliceSource(src, 0, end);
    }
    members = centralMembers(zipSrc, ctx);
  }
  const ranges = new Ranges();
  let overlaps = 0;
  let count = 0;
  for await (const m of members) {
    if (++count > ctx.limits.maxEntriesPerContainer) {
      ctx.problem({
        severity: 'error',
        code: 'limit',
        message: `The zip has more than maxEntriesPerContainer ${ctx.limits.maxEntriesPerContainer} members; the rest are not listed.`,
      });
      return;
    }
    const type: ContainerEntry['type'] = m.isDirectory ? 'directory' : m.isSymlink ? 'symlink' : 'file';
    const path = names.accept(m.recorded, m.isDirectory);
    if (path === '') {
      if (!m.isDirectory) ctx.problem({ severity: 'warning', code: 'format', message: `A zip member at offset ${m.localHeader} has an empty name; skipped.` });
      continue;
    }
    if (typeof m.dataStart === 'number') {
      // The "overlapping files" bomb: many central records sharing one kernel of compressed data.
      if (!ranges.claim(m.localHeader, m.dataStart + m.compressedSize)) {
        if (++overlaps <= MAX_OVERLAP_REPORTS) {
          ctx.problem({
            path,
            severity: 'error',
            code: 'format',
            message: `The zip member ${JSON.stringify(path)} overlaps the bytes of another member (local header at offset ${m.localHeader}), a zip-bomb construct; skipped, so each byte range is listed once.`,
          });
        }
        continue;
      }
    }
    if (m.method === 0 && m.compressedSize !== m.uncompressedSize && !(m.flags & 0x01)) {
      ctx.problem({
        path,
        severity: 'warning',
        code: 'format',
        message: `The stored zip member ${JSON.stringify(path)} records ${m.compressedSize} stored bytes but an uncompressed size of ${m.uncompressedSize}; the stored bytes are used.`,
      });
    }
    let linkTarget: string | undefined;
    if (type === 'symlink') {
      // Recorded, never followed; whether it climbs out is judged by the scan, for every reader.
      linkTarget = readLinkTarget(zipSrc, m);
    }
    yield {
      path,
      type,
      size: m.uncompressedSize,
      ...(linkTarget === undefined ? {} : { linkTarget }),
      open: () => openMember(zipSrc, m, path, ctx),
    };
  }
  if (overlaps > MAX_OVERLAP_REPORTS) {
    ctx.problem({
      severity: 'error',
      code: 'format',
      message: `${overlaps} zip members overlap the bytes of other members (a zip-bomb construct); all were skipped.`,
    });
  }
}

/** Members up to these sizes inflate synchronously (see inflateRaw). */
const SMALL_COMPRESSED = 1024 * 1024;
const SMALL_OUTPUT = 8 * 1024 * 1024;

async function openMember(zipSrc: ByteSource, m: Member, path: string, ctx: ContainerContext): Promise<ByteSource> {
  const method = METHODS[m.method] ?? `method ${m.method}`;
  if (m.flags & 0x01 || m.method === 99) {
    throw new UnsupportedError(
      `The zip member ${JSON.stringify(path)} is encrypted (${m.method === 99 ? 'WinZip AES' : 'general-purpose bit 0'}); its content was not scanned.`,
      'encrypted',
    );
  }
  if (m.dataStart instanceof Error) throw m.dataStart;
  const start = m.dataStart;
  if (m.compressedSize > zipSrc.size - start) {
    throw new FormatError(
      `The zip member ${JSON.stringify(path)} declares ${m.compressedSize} bytes at offset ${start}, past the end of the ${zipSrc.size}-byte zip.`,
      'truncated',
    );
  }
  if (m.method === 0) return new SliceSource(zipSrc, start, m.compressedSize);
  if (m.method === 8) {
    const what = `zip member ${JSON.stringify(path)} (deflate)`;
    // Small members take the synchronous path, bounded by their declared size (checked by decode).
    const small = m.compressedSize <= SMALL_COMPRESSED && m.uncompressedSize <= SMALL_OUTPUT ? m.uncompressedSize : undefined;
    return ctx.decode(inflateRaw(sourceChunks(zipSrc, start, start + m.compressedSize), what, undefined, small), {
      what,
      compressedSize: m.compressedSize,
      declaredSize: m.uncompressedSize,
    });
  }
  throw new UnsupportedError(`The zip member ${JSON.stringify(path)} uses compression method ${m.method} (${method}), which aibom does not decode.`);
}

/**
 * The zip family (zip, APK, AAB, XAPK, APKS, APEX, JAR, AAR, IPA, Android OTA): central directory
 * through yauzl over the ByteSource, zip64 included. Stored members are slices of the archive
 * (never copies); deflated members decode through `ctx.decode`; other methods and encrypted members
 * are listed and refuse to open. Hostile names, duplicates and overlapping members are recorded.
 * Matches only a zip that starts at offset 0 ('PK\x03\x04', or 'PK\x05\x06' when empty); a zip
 * appended to something else is format detection's business. Without a central directory (a
 * truncated file) members are listed from their local headers.
 */
export const zip: ContainerReader = {
  id: 'zip',
  description: 'zip archives and their kin (APK, AAB, JAR, AAR, IPA, APEX, OTA zips), zip64 included; stored members are slices',
  kind: 'archive',
  extensions: ['.zip', '.apk', '.apks', '.xapk', '.aab', '.aar', '.jar', '.apex', '.capex', '.ipa'],
  signatures: [
    { offset: 0, magic: 'PK\x03\x04', note: 'local file header' },
    { offset: 0, magic: 'PK\x05\x06', note: 'End Of Central Directory of an empty archive' },
    { offset: 0, magic: 'PK\x07\x08', note: 'split marker of a single-segment spanned archive' },
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length < 4 || h[0] !== 0x50 || h[1] !== 0x4b) return false;
    const sig = u32le(h, 0, 'zip');
    if (sig === LOCAL_SIG) return h.length >= 30;
    if (sig === EOCD_SIG) return h.length >= EOCD_SIZE; // an empty archive
    // 'PK\x07\x08' split marker of a single-segment "spanned" zip, then the first local header.
    return sig === 0x08074b50 && h.length >= 34 && u32le(h, 4, 'zip') === LOCAL_SIG;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return zipEntries(src, ctx);
  },
};
