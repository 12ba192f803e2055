import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { u16le, u32le } from '../io/binary.js';
import { MAX_READ, type ByteSource } from '../io/byte-source.js';
import { FormatError, LimitError, UnsupportedError } from '../errors.js';

/**
 * A minimal, synchronous, bounded reader of a zip archive's central directory, for zips that ride at
 * the end of another file (TFLite associated files). It lists members and hashes their contents; it is
 * not a container reader (that lives in `containers/`) and never writes a member anywhere.
 *
 * Handled: the End Of Central Directory record (searched in the last 64 KiB + 22 bytes, accepted only
 * when its comment length ends exactly at the end of the source), archives whose offsets are relative to
 * the start of the zip rather than of the file (the prefix length is derived as Info-ZIP does), stored
 * and deflated members. Not handled, reported instead: zip64 (UnsupportedError from
 * `readZipDirectory` or `zip64` on the member), multi-disk archives, encrypted members (`encrypted`),
 * other compression methods.
 */

/** One central directory entry. Offsets are positions in the source, sizes are in bytes. */
export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated; anything else is not read. */
  method: number;
  /** General purpose bit flags (bit 0: encrypted, bit 11: UTF-8 name). */
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Position of the member's local header in the source. */
  localHeaderOffset: number;
  encrypted: boolean;
  /** A size or offset is 0xFFFFFFFF: the real value lives in a zip64 extra field, which is not read. */
  zip64: boolean;
}

/** The archive's directory. */
export interface ZipDirectory {
  /** Position in the source where the archive begins (its offsets count from here). */
  start: number;
  /** Position of the End Of Central Directory record. */
  eocdOffset: number;
  centralDirectoryOffset: number;
  members: ZipMember[];
}

/** Bounds of the reader. */
export interface ZipDirectoryOptions {
  /** Central directory entries accepted; 10,000 by default. */
  maxEntries?: number;
  /** Central directory bytes accepted; 16 MiB by default. */
  maxDirectoryBytes?: number;
}

const EOCD_SIG = 0x06054b50; // 'PK\x05\x06'
const CDH_SIG = 0x02014b50; // 'PK\x01\x02'
const LFH_SIG = 0x04034b50; // 'PK\x03\x04'
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Finds the End Of Central Directory record of a zip that ends exactly at the end of `src` and reads
 * its central directory. Returns undefined when there is no such record (no zip here). Throws
 * FormatError when the record is there but the directory is broken, UnsupportedError for zip64 or
 * multi-disk archives, LimitError when the directory exceeds the bounds.
 */
export function readZipDirectory(src: ByteSource, options: ZipDirectoryOptions = {}): ZipDirectory | undefined {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxDirectoryBytes = options.maxDirectoryBytes ?? 16 * 1024 * 1024;
  if (src.size < EOCD_SIZE) return undefined;
  const tailStart = Math.max(0, src.size - (MAX_COMMENT + EOCD_SIZE));
  const tail = src.read(tailStart, src.size - tailStart);
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    // 'PK\x05\x06' whose comment length (offset 20) runs exactly to the end of the source: a signature
    // that happens to occur inside weights almost never satisfies both.
    if (
      tail[i] === 0x50 &&
      u32le(tail, i, 'zip End Of Central Directory record') === EOCD_SIG &&
      i + EOCD_SIZE + u16le(tail, i + 20, 'zip End Of Central Directory record') === tail.length
    ) {
      at = i;
      break;
    }
  }
  if (at < 0) return undefined;
  const eocdOffset = tailStart + at;
  const disk = u16le(tail, at + 4, 'zip End Of Central Directory record');
  const cdDisk = u16le(tail, at + 6, 'zip End Of Central Directory record');
  const entriesOnDisk = u16le(tail, at + 8, 'zip End Of Central Directory record');
  const entries = u16le(tail, at + 10, 'zip End Of Central Directory record');
  const cdSize = u32le(tail, at + 12, 'zip End Of Central Directory record');
  const cdRelOffset = u32le(tail, at + 16, 'zip End Of Central Directory record');
  if (entries === 0xffff || cdSize === 0xffffffff || cdRelOffset === 0xffffffff) {
    throw new UnsupportedError(`Zip64 archive at offset ${eocdOffset}: its End Of Central Directory record defers to a zip64 record, which is not read.`);
  }
  if (disk !== 0 || cdDisk !== 0 || entriesOnDisk !== entries) {
    throw new UnsupportedError(`Multi-disk zip at offset ${eocdOffset}: disk number ${disk}, central directory disk ${cdDisk}.`);
  }
  if (entries > maxEntries) {
    throw new LimitError(`Invalid zip: entry count ${entries} exceeds the limit of ${maxEntries}.`, 'zipEntries');
  }
  if (cdSize > maxDirectoryBytes) {
    throw new LimitError(`Invalid zip: central directory size ${cdSize} exceeds the limit of ${maxDirectoryBytes} bytes.`, 'zipDirectoryBytes');
  }
  // The directory ends where the EOCD begins. When the archive was appended to other bytes by a tool
  // that wrote offsets relative to the archive, the difference is the length of what precedes it.
  const cdOffset = eocdOffset - cdSize;
  if (cdOffset < 0) {
    throw new FormatError(`Invalid zip: central directory size ${cdSize} exceeds the ${eocdOffset} bytes before the End Of Central Directory record.`);
  }
  const start = cdOffset - cdRelOffset;
  if (start < 0) {
    throw new FormatError(`Invalid zip: central directory offset ${cdRelOffset} lies past the record's own position ${cdOffset}.`);
  }
  const cd = src.read(cdOffset, cdSize);
  const members: ZipMember[] = [];
  let p = 0;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > cd.length || u32le(cd, p, 'zip central directory') !== CDH_SIG) {
      throw new FormatError(`Invalid zip: central directory entry ${i} at offset ${cdOffset + p} lacks the 'PK\\x01\\x02' signature.`);
    }
    const flags = u16le(cd, p + 8, 'zip central directory');
    const method = u16le(cd, p + 10, 'zip central directory');
    const crc32 = u32le(cd, p + 16, 'zip central directory');
    const compressedSize = u32le(cd, p + 20, 'zip central directory');
    const size = u32le(cd, p + 24, 'zip central directory');
    const nameLen = u16le(cd, p + 28, 'zip central directory');
    const extraLen = u16le(cd, p + 30, 'zip central directory');
    const commentLen = u16le(cd, p + 32, 'zip central directory');
    const localRel = u32le(cd, p + 42, 'zip central directory');
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cd.length) {
      throw new FormatError(`Invalid zip: central directory entry ${i} of ${next - p} bytes runs past the ${cdSize}-byte directory.`);
    }
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    const zip64 = compressedSize === 0xffffffff || size === 0xffffffff || localRel === 0xffffffff;
    const localHeaderOffset = start + localRel;
    if (!zip64 && localHeaderOffset + 30 > cdOffset) {
      throw new FormatError(
        `Invalid zip: member ${JSON.stringify(name)} has its local header at ${localHeaderOffset}, past the central directory at ${cdOffset}.`,
      );
    }
    members.push({ name, method, flags, crc32, compressedSize, size, localHeaderOffset, encrypted: (flags & 1) !== 0, zip64 });
    p = next;
  }
  return { start, eocdOffset, centralDirectoryOffset: cdOffset, members };
}

/** Position and length of a member's data, read from its local header (signature checked). */
export function memberDataRange(src: ByteSource, dir: ZipDirectory, m: ZipMember): { offset: number; length: number } {
  if (m.zip64) throw new UnsupportedError(`Zip member ${JSON.stringify(m.name)} uses zip64 sizes or offsets, which are not read.`);
  const h = src.read(m.localHeaderOffset, 30);
  if (h.length < 30 || u32le(h, 0, 'zip local header') !== LFH_SIG) {
    throw new FormatError(`Invalid zip: member ${JSON.stringify(m.name)} has no 'PK\\x03\\x04' local header at offset ${m.localHeaderOffset}.`);
  }
  const offset = m.localHeaderOffset + 30 + u16le(h, 26, 'zip local header') + u16le(h, 28, 'zip local header');
  if (offset + m.compressedSize > dir.centralDirectoryOffset) {
    throw new FormatError(
      `Invalid zip: member ${JSON.stringify(m.name)} data of ${m.compressedSize} bytes at offset ${offset} overlaps the central directory at ${dir.centralDirectoryOffset}.`,
    );
  }
  return { offset, length: m.compressedSize };
}

/** What hashing a member found. */
export interface MemberDigest {
  sha256: string;
  size: number;
  /** False when the CRC-32 of the contents differs from the one recorded in the directory. */
  crcOk: boolean;
}

/**
 * Hashes a member's uncompressed contents (sha256) and checks its CRC-32. Stored members are read in
 * 1 MiB chunks; deflated members are inflated in memory up to `maxOutput` bytes (64 MiB by default).
 * Throws UnsupportedError for encrypted, zip64 or other-method members, LimitError past `maxOutput`,
 * FormatError for broken data.
 */
export function hashMember(src: ByteSource, dir: ZipDirectory, m: ZipMember, maxOutput = 64 * 1024 * 1024): MemberDigest {
  if (m.encrypted) throw new UnsupportedError(`Zip member ${JSON.stringify(m.name)} is encrypted and was not read.`, 'encrypted');
  const range = memberDataRange(src, dir, m);
  const hash = crypto.createHash('sha256');
  let crc = 0;
  if (m.method === 0) {
    if (m.size !== m.compressedSize) {
      throw new FormatError(`Invalid zip: stored member ${JSON.stringify(m.name)} records size ${m.size} but ${m.compressedSize} stored bytes.`);
    }
    for (let off = 0; off < range.length; off += 1024 * 1024) {
      const chunk = src.read(range.offset + off, Math.min(1024 * 1024, range.length - off));
      hash.update(chunk);
      crc = zlib.crc32(chunk, crc);
    }
    return { sha256: hash.digest('hex'), size: range.length, crcOk: crc === m.crc32 };
  }
  if (m.method === 8) {
    if (m.size > maxOutput) {
      throw new LimitError(`Zip member ${JSON.stringify(m.name)} inflates to ${m.size} bytes, over the ${maxOutput}-byte limit.`, 'maxDecompressedBytes');
    }
    if (range.length > MAX_READ) {
      throw new LimitError(
        `Zip member ${JSON.stringify(m.name)} has ${range.length} compressed bytes, over the ${MAX_READ}-byte read limit.`,
        'maxDecompressedBytes',
      );
    }
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(src.read(range.offset, range.length), { maxOutputLength: Math.max(1, m.size) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new FormatError(`Invalid zip: deflated member ${JSON.stringify(m.name)} does not inflate to its recorded ${m.size} bytes (${why}).`);
    }
    if (out.length !== m.size) {
      throw new FormatError(`Invalid zip: deflated member ${JSON.stringify(m.name)} inflates to ${out.length} bytes, not the recorded ${m.size}.`);
    }
    hash.update(out);
    return { sha256: hash.digest('hex'), size: out.length, crcOk: zlib.crc32(out) === m.crc32 };
  }
  throw new UnsupportedError(`Zip member ${JSON.stringify(m.name)} uses compression method ${m.method}, which is not read.`);
}
