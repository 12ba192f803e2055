import zlib from 'node:zlib';
import { AibomError, FormatError, LimitError, UnsupportedError } from '../errors.js';
import { BufferSource, MAX_READ, SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { u16le, u32le, u64le } from '../io/binary.js';
import { memberDataRange, readZipDirectory, type ZipDirectory, type ZipMember } from './zip-directory.js';

/*
 * What model formats that are zips (PyTorch checkpoints, Keras v3, ...) need of one: the central
 * directory, read once per item and shared through the probe, and a member's bytes as a ByteSource.
 * The zip container reader is not involved: a format that claims a zip describes it itself.
 */

const MAX_ENTRIES = 100_000;
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;

/** 'PK\x03\x04' at offset 0: a zip's first local header. */
export function startsLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** The End Of Central Directory record whose comment runs exactly to the end of `src`, in its tail. */
function findEocd(src: ByteSource): { tail: Uint8Array; at: number; eocdOffset: number } | undefined {
  const tailStart = Math.max(0, src.size - (0xffff + 22));
  const tail = src.read(tailStart, src.size - tailStart);
  for (let i = tail.length - 22; i >= 0; i--) {
    // 'PK\x05\x06' whose comment length (offset 20) ends exactly at the end of the source
    if (
      tail[i] === 0x50 &&
      u32le(tail, i, 'zip End Of Central Directory record') === 0x06054b50 &&
      i + 22 + u16le(tail, i + 20, 'zip End Of Central Directory record') === tail.length
    ) {
      return { tail, at: i, eocdOffset: tailStart + i };
    }
  }
  return undefined;
}

/**
 * True when the raw central directory of the probe's zip contains `needle` (a member name or part of
 * one): a cheap test before the directory is parsed, so that a 20,000-entry APK costs one read and one
 * byte search for the formats that look for `data.pkl` or `metadata.json`. The directory bytes are read
 * once per item (memoised under `zip-member.cd`), located by the End Of Central Directory record or its
 * zip64 record; false when the item is no zip or they cannot be located.
 */
export function probeZipMentions(probe: Probe, needle: string): boolean {
  const cd = probe.memo('zip-member.cd', (): Buffer | undefined => {
    if (!startsLikeZip(probe.head)) return undefined;
    try {
      const e = findEocd(probe.source);
      if (e === undefined) return undefined;
      let cdSize = u32le(e.tail, e.at + 12, 'zip End Of Central Directory record');
      let cdOffset = e.eocdOffset - cdSize;
      // A zip64 locator ('PK\x06\x07') just before: the directory ends at the zip64 record instead.
      if (e.at >= 20 && u32le(e.tail, e.at - 20, 'zip64 locator') === 0x07064b50) {
        const rec = u64le(e.tail, e.at - 12, 'zip64 locator');
        if (!Number.isSafeInteger(rec) || rec + 56 > probe.size) return undefined;
        const r = probe.source.read(rec, 56);
        cdSize = u64le(r, 40, 'zip64 End Of Central Directory record');
        cdOffset = u64le(r, 48, 'zip64 End Of Central Directory record');
      }
      if (!Number.isSafeInteger(cdSize) || !Number.isSafeInteger(cdOffset) || cdSize > MAX_DIRECTORY_BYTES || cdOffset < 0 || cdOffset + cdSize > probe.size)
        return undefined;
      const b = probe.source.read(cdOffset, cdSize);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    } catch (err) {
      if (err instanceof AibomError) return undefined;
      throw err;
    }
  });
  return cd?.includes(needle, 0, 'latin1') ?? false;
}

/**
 * The central directory of the probe's item when it starts like a zip, read once per item (memoised
 * under `zip-member.directory`); undefined when it is no readable zip (no record, zip64, broken). Costs one
 * read of the last 64 KiB and one of the directory.
 */
export function probeZipDirectory(probe: Probe): ZipDirectory | undefined {
  return probe.memo('zip-member.directory', () => {
    if (!startsLikeZip(probe.head)) return undefined;
    let dir: ZipDirectory | undefined;
    try {
      dir = readZipDirectory(probe.source, { maxEntries: MAX_ENTRIES });
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
    }
    // Only a zip that starts at the item's first byte: an appended zip belongs to another format. A
    // zip whose directory seems to start elsewhere may carry zip64 end records (PyTorch writes them
    // always), which the plain reader does not expect: read it again with them.
    if (dir !== undefined && dir.start === 0) return dir;
    try {
      return readZip64Directory(probe.source);
    } catch (err) {
      if (err instanceof AibomError) return undefined;
      throw err;
    }
  });
}

/**
 * The uncompressed bytes of a member as a ByteSource: a slice of the zip when stored, inflated into
 * memory when deflated (at most `maxBytes`). Throws FormatError for broken data, LimitError past
 * `maxBytes`, UnsupportedError for encrypted, zip64 or other-method members.
 */
export function memberSource(src: ByteSource, dir: ZipDirectory, m: ZipMember, maxBytes = 64 * 1024 * 1024): ByteSource {
  if (m.encrypted) throw new UnsupportedError(`Zip member ${JSON.stringify(m.name)} is encrypted and was not read.`, 'encrypted');
  const range = memberDataRange(src, dir, m);
  if (m.method === 0) return new SliceSource(src, range.offset, range.length);
  if (m.method !== 8) throw new UnsupportedError(`Zip member ${JSON.stringify(m.name)} uses compression method ${m.method}, which is not read.`);
  if (m.size > maxBytes || range.length > MAX_READ) {
    throw new LimitError(
      `Zip member ${JSON.stringify(m.name)} inflates to ${m.size} bytes, over the ${maxBytes}-byte limit for a member read whole.`,
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
  if (out.length !== m.size)
    throw new FormatError(`Invalid zip: deflated member ${JSON.stringify(m.name)} inflates to ${out.length} bytes, not the recorded ${m.size}.`);
  return new BufferSource(out);
}

/** A small member's text (UTF-8, invalid sequences replaced), at most `maxBytes` long. */
export function memberText(src: ByteSource, dir: ZipDirectory, m: ZipMember, maxBytes: number): string {
  if (m.size > maxBytes)
    throw new LimitError(`Zip member ${JSON.stringify(m.name)} of ${m.size} bytes is over the ${maxBytes}-byte limit for its kind.`, 'maxDecompressedBytes');
  const s = memberSource(src, dir, m, maxBytes);
  return new TextDecoder('utf-8', { fatal: false }).decode(s.read(0, s.size));
}

/**
 * The directory of a zip that starts at offset 0 and has zip64 end records (a zip64 End Of Central
 * Directory record and its locator just before the End Of Central Directory record), as miniz writes
 * with MZ_ZIP_FLAG_WRITE_ZIP64 (every PyTorch checkpoint) and as any writer does past 4 GiB. Sizes and
 * offsets of 0xFFFFFFFF are taken from each entry's zip64 extra field. Undefined when the item has no
 * such records; FormatError when they are broken, LimitError past the bounds.
 */
export function readZip64Directory(src: ByteSource): ZipDirectory | undefined {
  const e = findEocd(src);
  if (e === undefined || e.at < 20) return undefined;
  const { tail, at, eocdOffset } = e;
  // 'PK\x06\x07' locator: disk (4), offset of the zip64 record (8), total disks (4)
  if (u32le(tail, at - 20, 'zip64 locator') !== 0x07064b50) return undefined;
  const recordOffset = u64le(tail, at - 12, 'zip64 locator');
  if (!Number.isSafeInteger(recordOffset) || recordOffset + 56 > eocdOffset - 20) {
    throw new FormatError(`Invalid zip: the zip64 locator at offset ${eocdOffset - 20} points to ${recordOffset}, not before it.`);
  }
  const rec = src.read(recordOffset, 56);
  if (u32le(rec, 0, 'zip64 End Of Central Directory record') !== 0x06064b50) {
    throw new FormatError(`Invalid zip: no 'PK\\x06\\x06' zip64 End Of Central Directory record at offset ${recordOffset}.`);
  }
  const entries = u64le(rec, 32, 'zip64 End Of Central Directory record');
  const cdSize = u64le(rec, 40, 'zip64 End Of Central Directory record');
  const cdOffset = u64le(rec, 48, 'zip64 End Of Central Directory record');
  if (!Number.isSafeInteger(entries) || entries > MAX_ENTRIES)
    throw new LimitError(`Invalid zip: zip64 entry count ${entries} exceeds the limit of ${MAX_ENTRIES}.`, 'zipEntries');
  if (!Number.isSafeInteger(cdSize) || cdSize > MAX_DIRECTORY_BYTES)
    throw new LimitError(`Invalid zip: zip64 central directory size ${cdSize} exceeds ${MAX_DIRECTORY_BYTES} bytes.`, 'zipDirectoryBytes');
  if (!Number.isSafeInteger(cdOffset) || cdOffset + cdSize > recordOffset) {
    throw new FormatError(`Invalid zip: zip64 central directory at offset ${cdOffset} with ${cdSize} bytes runs past the zip64 record at ${recordOffset}.`);
  }
  const cd = src.read(cdOffset, cdSize);
  const members: ZipMember[] = [];
  let p = 0;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > cd.length || u32le(cd, p, 'zip central directory') !== 0x02014b50) {
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
    let localHeaderOffset = u32le(cd, p + 42, 'zip central directory');
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cd.length) throw new FormatError(`Invalid zip: central directory entry ${i} of ${next - p} bytes runs past the ${cdSize}-byte directory.`);
    const name = new TextDecoder('utf-8', { fatal: false }).decode(cd.subarray(p + 46, p + 46 + nameLen));
    // The zip64 extra field (id 1) holds, in this order, only the values written as 0xFFFFFFFF.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = u16le(cd, q, 'zip extra field');
      const len = u16le(cd, q + 2, 'zip extra field');
      if (q + 4 + len > extraEnd) throw new FormatError(`Invalid zip: extra field of member ${JSON.stringify(name)} runs past its ${extraLen} bytes.`);
      if (id === 1) {
        let r = q + 4;
        const take = (): number => {
          if (r + 8 > q + 4 + len) throw new FormatError(`Invalid zip: zip64 extra field of member ${JSON.stringify(name)} is too short.`);
          const v = u64le(cd, r, 'zip64 extra field');
          r += 8;
          if (!Number.isSafeInteger(v)) throw new FormatError(`Invalid zip: zip64 value ${v} of member ${JSON.stringify(name)} is past any file.`);
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      q += 4 + len;
    }
    const unresolved = size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff;
    if (!unresolved && localHeaderOffset + 30 > cdOffset) {
      throw new FormatError(
        `Invalid zip: member ${JSON.stringify(name)} has its local header at ${localHeaderOffset}, past the central directory at ${cdOffset}.`,
      );
    }
    members.push({ name, method, flags, crc32, compressedSize, size, localHeaderOffset, encrypted: (flags & 1) !== 0, zip64: unresolved });
    p = next;
  }
  return { start: 0, eocdOffset, centralDirectoryOffset: cdOffset, members };
}
