import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { u16le, u32le, u64le } from '../io/binary.js';
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
 * and deflated members, zip64 end records and zip64 extra fields. Not handled, reported instead:
 * multi-disk archives, encrypted members (`encrypted`), other compression methods.
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
  /** A size or offset is 0xFFFFFFFF and no zip64 extra field gives the real value: the member is not read. */
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
const ZIP64_LOCATOR_SIG = 0x07064b50; // 'PK\x06\x07'
const ZIP64_RECORD_SIG = 0x06064b50; // 'PK\x06\x06'
const MAX_COMMENT = 0xffff;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Where a zip's central directory is, as its end records say. */
export interface CentralDirectoryLocation {
  /** Position in the source where the archive begins (its offsets count from here). */
  start: number;
  eocdOffset: number;
  centralDirectoryOffset: number;
  centralDirectorySize: number;
  entries: number;
}

/**
 * Finds the End Of Central Directory record of a zip that ends exactly at the end of `src` and, when a
 * zip64 locator ('PK\x06\x07') precedes it, the zip64 record it points to (miniz writes them for every
 * PyTorch checkpoint; any writer past 4 GiB or 65,535 entries does). Returns undefined when there is no
 * record (no zip here). Throws FormatError for broken records, UnsupportedError for multi-disk archives,
 * LimitError past the bounds. Nothing of the directory itself is read.
 */
export function locateCentralDirectory(src: ByteSource, options: ZipDirectoryOptions = {}): CentralDirectoryLocation | undefined {
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
  let entries = u16le(tail, at + 10, 'zip End Of Central Directory record');
  let cdSize = u32le(tail, at + 12, 'zip End Of Central Directory record');
  let cdRelOffset = u32le(tail, at + 16, 'zip End Of Central Directory record');
  if (disk !== 0 || cdDisk !== 0 || entriesOnDisk !== entries) {
    throw new UnsupportedError(`Multi-disk zip at offset ${eocdOffset}: disk number ${disk}, central directory disk ${cdDisk}.`);
  }
  // Where the directory ends: at the EOCD, or at the zip64 record when a locator sits just before it.
  let cdEnd = eocdOffset;
  let start: number | undefined;
  const locatorAt = eocdOffset - 20;
  if (locatorAt >= 0 && u32le(src.read(locatorAt, 4), 0, 'zip64 locator') === ZIP64_LOCATOR_SIG) {
    const loc = src.read(locatorAt, 20);
    const recordRel = u64le(loc, 8, 'zip64 locator');
    // The zip64 record (56 bytes, or more with extensible data) ends at the locator; its position as
    // recorded gives the archive's start when the zip rides after other bytes.
    const recordAt = locatorAt - 56;
    if (recordAt < 0 || !Number.isSafeInteger(recordRel) || recordRel > recordAt) {
      throw new FormatError(`Invalid zip: the zip64 locator at offset ${locatorAt} points to ${recordRel}, which is not before it.`);
    }
    let rec = src.read(recordAt, 56);
    let recordPos = recordAt;
    if (u32le(rec, 0, 'zip64 End Of Central Directory record') !== ZIP64_RECORD_SIG) {
      // Extensible data after the record: take the locator's word for where it starts.
      rec = src.read(recordRel, 56);
      recordPos = recordRel;
      if (rec.length < 56 || u32le(rec, 0, 'zip64 End Of Central Directory record') !== ZIP64_RECORD_SIG) {
        throw new FormatError(`Invalid zip: no 'PK\\x06\\x06' zip64 End Of Central Directory record before the locator at offset ${locatorAt}.`);
      }
    }
    entries = u64le(rec, 32, 'zip64 End Of Central Directory record');
    cdSize = u64le(rec, 40, 'zip64 End Of Central Directory record');
    cdRelOffset = u64le(rec, 48, 'zip64 End Of Central Directory record');
    cdEnd = recordPos;
    start = recordPos - recordRel;
  } else if (entries === 0xffff || cdSize === 0xffffffff || cdRelOffset === 0xffffffff) {
    throw new FormatError(
      `Invalid zip: the End Of Central Directory record at offset ${eocdOffset} defers to a zip64 record, but no zip64 locator precedes it.`,
    );
  }
  if (!Number.isSafeInteger(entries) || entries > maxEntries) {
    throw new LimitError(`Invalid zip: entry count ${entries} exceeds the limit of ${maxEntries}.`, 'zipEntries');
  }
  if (!Number.isSafeInteger(cdSize) || cdSize > maxDirectoryBytes) {
    throw new LimitError(`Invalid zip: central directory size ${cdSize} exceeds the limit of ${maxDirectoryBytes} bytes.`, 'zipDirectoryBytes');
  }
  // The directory ends where the end records begin. When the archive was appended to other bytes by a
  // tool that wrote offsets relative to the archive, the difference is the length of what precedes it.
  const cdOffset = cdEnd - cdSize;
  if (cdOffset < 0) {
    throw new FormatError(`Invalid zip: central directory size ${cdSize} exceeds the ${cdEnd} bytes before the end records.`);
  }
  start ??= cdOffset - cdRelOffset;
  if (start < 0 || !Number.isSafeInteger(cdRelOffset) || start + cdRelOffset !== cdOffset) {
    throw new FormatError(`Invalid zip: central directory offset ${cdRelOffset} does not lead to the directory's position ${cdOffset}.`);
  }
  return { start, eocdOffset, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize, entries };
}

/**
 * Reads the central directory of a zip that ends exactly at the end of `src` (see
 * `locateCentralDirectory`), zip64 end records and zip64 extra fields included. Returns undefined when
 * there is no End Of Central Directory record (no zip here).
 */
export function readZipDirectory(src: ByteSource, options: ZipDirectoryOptions = {}): ZipDirectory | undefined {
  const loc = locateCentralDirectory(src, options);
  if (loc === undefined) return undefined;
  const { start, eocdOffset, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize, entries } = loc;
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
    let compressedSize = u32le(cd, p + 20, 'zip central directory');
    let size = u32le(cd, p + 24, 'zip central directory');
    const nameLen = u16le(cd, p + 28, 'zip central directory');
    const extraLen = u16le(cd, p + 30, 'zip central directory');
    const commentLen = u16le(cd, p + 32, 'zip central directory');
    let localRel = u32le(cd, p + 42, 'zip central directory');
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cd.length) {
      throw new FormatError(`Invalid zip: central directory entry ${i} of ${next - p} bytes runs past the ${cdSize}-byte directory.`);
    }
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    if (compressedSize === 0xffffffff || size === 0xffffffff || localRel === 0xffffffff) {
      // The zip64 extra field (id 1) holds, in this order, only the values written as 0xFFFFFFFF.
      const z = zip64Extra(cd, p + 46 + nameLen, extraLen, name);
      if (z !== undefined) {
        if (size === 0xffffffff) size = z.take();
        if (compressedSize === 0xffffffff) compressedSize = z.take();
        if (localRel === 0xffffffff) localRel = z.take();
      }
    }
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

/** The zip64 extra field (id 1) of an entry, whose 64-bit values are taken in order; undefined when absent. */
function zip64Extra(cd: Uint8Array, from: number, length: number, name: string): { take(): number } | undefined {
  const end = from + length;
  for (let q = from; q + 4 <= end; ) {
    const id = u16le(cd, q, 'zip extra field');
    const len = u16le(cd, q + 2, 'zip extra field');
    if (q + 4 + len > end) throw new FormatError(`Invalid zip: extra field of member ${JSON.stringify(name)} runs past its ${length} bytes.`);
    if (id === 1) {
      let r = q + 4;
      const stop = q + 4 + len;
      return {
        take(): number {
          if (r + 8 > stop) throw new FormatError(`Invalid zip: zip64 extra field of member ${JSON.stringify(name)} is too short.`);
          const v = u64le(cd, r, 'zip64 extra field');
          r += 8;
          if (!Number.isSafeInteger(v)) throw new FormatError(`Invalid zip: zip64 value ${v} of member ${JSON.stringify(name)} is past any file.`);
          return v;
        },
      };
    }
    q += 4 + len;
  }
  return undefined;
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
