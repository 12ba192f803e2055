import zlib from 'node:zlib';
import { AibomError, FormatError, LimitError, UnsupportedError } from '../errors.js';
import { BufferSource, MAX_READ, SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { locateCentralDirectory, memberDataRange, readZipDirectory, type ZipDirectory, type ZipMember } from './zip-directory.js';

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

/**
 * True when the raw central directory of the probe's zip contains `needle` (a member name or part of
 * one): a cheap test before the directory is parsed, so that a 20,000-entry APK costs one read and one
 * byte search for the formats that look for `data.pkl` or `metadata.json`. The directory bytes are read
 * once per item (memoised under `zip-member.cd`), located by the zip's end records
 * (`locateCentralDirectory`); false when the item is no zip or they cannot be located.
 */
export function probeZipMentions(probe: Probe, needle: string): boolean {
  const cd = probe.memo('zip-member.cd', (): Buffer | undefined => {
    if (!startsLikeZip(probe.head)) return undefined;
    try {
      const loc = locateCentralDirectory(probe.source, { maxEntries: MAX_ENTRIES, maxDirectoryBytes: MAX_DIRECTORY_BYTES });
      if (loc === undefined) return undefined;
      const b = probe.source.read(loc.centralDirectoryOffset, loc.centralDirectorySize);
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
 * under `zip-member.directory`); undefined when it is no readable zip (no record, broken). Costs one
 * read of the last 64 KiB and one of the directory.
 */
export function probeZipDirectory(probe: Probe): ZipDirectory | undefined {
  return probe.memo('zip-member.directory', () => {
    if (!startsLikeZip(probe.head)) return undefined;
    let dir: ZipDirectory | undefined;
    try {
      dir = readZipDirectory(probe.source, { maxEntries: MAX_ENTRIES, maxDirectoryBytes: MAX_DIRECTORY_BYTES });
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
    }
    // Only a zip that starts at the item's first byte: an appended zip belongs to another format.
    return dir !== undefined && dir.start === 0 ? dir : undefined;
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
