import zlib from 'node:zlib';
import { FormatError } from '../errors.js';
import { u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { compressedEntries, inflateRaw, memberName, sourceChunks } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

// FLG bits of the gzip member header (RFC 1952, section 2.3.1).
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const FRESERVED = 0xe0;
/** Longest FNAME read; longer is not a real file name. */
const MAX_FNAME = 1024;
/** Longest FCOMMENT skipped. */
const MAX_FCOMMENT = 64 * 1024;

const SUFFIXES: Readonly<Record<string, string>> = {
  '.tgz': '.tar',
  '.taz': '.tar',
  '.cpgz': '.cpio',
  '.svgz': '.svg',
  '.gzip': '',
  '.gz': '',
};

interface GzipHeader {
  /** Where the deflate data starts. */
  dataStart: number;
  /** FNAME, as recorded (latin-1 per RFC 1952). */
  name?: string;
}

/** Finds the NUL ending a zero-terminated header field, reading at most `max` bytes. */
function zeroTerminated(src: ByteSource, at: number, max: number, field: string, member: number): number {
  const bytes = src.read(at, Math.min(max, src.size - at));
  const nul = bytes.indexOf(0);
  if (nul < 0) {
    throw bytes.length < max
      ? new FormatError(`The gzip member at offset ${member} ends inside its ${field} field.`, 'truncated')
      : new FormatError(`The gzip ${field} field at offset ${at} is longer than ${max} bytes.`);
  }
  return nul;
}

/** Parses one member header ('1f 8b 08', FLG, MTIME, XFL, OS, then the optional fields). */
function parseHeader(src: ByteSource, offset: number): GzipHeader {
  if (offset + 10 > src.size) throw new FormatError(`The gzip member at offset ${offset} is cut off inside its 10-byte header.`, 'truncated');
  const h = src.read(offset, 10);
  if (h[0] !== 0x1f || h[1] !== 0x8b) throw new FormatError(`No gzip magic at offset ${offset}.`);
  if (h[2] !== 8) throw new FormatError(`The gzip member at offset ${offset} uses compression method ${h[2]}, not 8 (deflate).`);
  const flg = h[3] as number;
  if (flg & FRESERVED) throw new FormatError(`The gzip member at offset ${offset} sets reserved FLG bits 0x${flg.toString(16)}.`);
  let at = offset + 10;
  if (flg & FEXTRA) {
    if (at + 2 > src.size) throw new FormatError(`The gzip member at offset ${offset} ends inside its FEXTRA length.`, 'truncated');
    const x = src.read(at, 2);
    at += 2 + ((x[0] as number) | ((x[1] as number) << 8));
  }
  let name: string | undefined;
  if (flg & FNAME) {
    const n = zeroTerminated(src, at, MAX_FNAME, 'FNAME', offset);
    name = Buffer.from(src.read(at, n)).toString('latin1');
    at += n + 1;
  }
  if (flg & FCOMMENT) at += zeroTerminated(src, at, MAX_FCOMMENT, 'FCOMMENT', offset) + 1;
  if (flg & FHCRC) at += 2;
  if (at > src.size) throw new FormatError(`The gzip member at offset ${offset} is cut off inside its header.`, 'truncated');
  return name === undefined ? { dataStart: at } : { dataStart: at, name };
}

/** Offset of the first non-zero byte at or after `from`, or `src.size`. */
function skipZeros(src: ByteSource, from: number): number {
  for (let off = from; off < src.size; off += 1024 * 1024) {
    const piece = src.read(off, Math.min(1024 * 1024, src.size - off));
    for (let i = 0; i < piece.length; i++) if (piece[i] !== 0) return off + i;
  }
  return src.size;
}

/**
 * Decodes every member of a gzip file in turn, checking each trailer (CRC-32 and ISIZE). Zero
 * padding after a member is skipped (firmware pads to flash blocks); other trailing bytes end the
 * stream with a warning instead of discarding what was decoded, as `gzip -d` would.
 */
async function* gunzip(src: ByteSource, ctx: ContainerContext, report: boolean): AsyncGenerator<Uint8Array> {
  const what = `gzip stream ${JSON.stringify(ctx.name)}`;
  let offset = 0;
  for (;;) {
    const header = parseHeader(src, offset);
    const done = { consumed: 0 };
    let crc = 0;
    let isize = 0;
    for await (const chunk of inflateRaw(sourceChunks(src, header.dataStart), what, done)) {
      crc = zlib.crc32(chunk, crc);
      isize = (isize + chunk.length) % 0x100000000;
      yield chunk;
    }
    const trailer = header.dataStart + done.consumed;
    if (trailer + 8 > src.size) {
      throw new FormatError(`The gzip member at offset ${offset} ends without its 8-byte CRC-32/ISIZE trailer.`, 'truncated');
    }
    const t = src.read(trailer, 8);
    if (u32le(t, 0, 'gzip trailer') !== crc >>> 0) {
      throw new FormatError(
        `The gzip member at offset ${offset} fails its CRC-32 check (0x${u32le(t, 0, 'gzip trailer').toString(16)} recorded, 0x${(crc >>> 0).toString(16)} computed).`,
      );
    }
    if (u32le(t, 4, 'gzip trailer') !== isize) {
      throw new FormatError(`The gzip member at offset ${offset} records ISIZE ${u32le(t, 4, 'gzip trailer')} but decodes to ${isize} bytes (mod 2^32).`);
    }
    const next = skipZeros(src, trailer + 8);
    if (next >= src.size) return;
    const magic = src.read(next, Math.min(3, src.size - next));
    if (magic[0] === 0x1f && magic[1] === 0x8b && magic[2] === 0x08) {
      offset = next;
      continue;
    }
    if (report) {
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The ${src.size - next} bytes after the gzip data (from offset ${next}) are not a gzip member; ignored.`,
      });
    }
    return;
  }
}

/** gzip files (RFC 1952), multi-member; a .tar.gz lists the tar's members directly. */
export const gzip: ContainerReader = {
  id: 'gzip',
  description: 'gzip streams (RFC 1952, multi-member); a compressed tar is listed as one level',
  kind: 'compression',
  extensions: ['.gz', '.tgz'],
  signatures: [{ offset: 0, magic: [0x1f, 0x8b, 0x08], note: 'gzip member, deflate' }],
  match(probe: Probe): boolean {
    const h = probe.head;
    // '1f 8b' magic, CM 8 (deflate), no reserved FLG bits.
    return h.length >= 10 && h[0] === 0x1f && h[1] === 0x8b && h[2] === 0x08 && ((h[3] as number) & FRESERVED) === 0;
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const header = parseHeader(src, 0);
    const name = memberName(ctx.name, SUFFIXES, header.name);
    yield* compressedEntries(src, ctx, { format: 'gzip', name, open: (report) => gunzip(src, ctx, report) });
  },
};
