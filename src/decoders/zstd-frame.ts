import { FormatError, UnsupportedError } from '../errors.js';
import { u24le, u32le, u8, uintle } from '../io/binary.js';

/**
 * Zstandard frame and block headers (RFC 8878, 3.1.1), parsed without decoding: the one place that
 * knows their layout, for every reader that meets zstd data (the zstd wrapper, squashfs and EROFS
 * blocks, OTA payload operations). Each caller checks what it needs before fzstd allocates a window:
 * the window size against its memory bound, the content size against its output bound, the block
 * walk against its input. Decoding itself is fzstd's; dictionaries are not supported (fzstd has none).
 */

/** '28 B5 2F FD': the frame magic 0xFD2FB528, little-endian. */
export const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, then a u32 length. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size: no block decodes to more (RFC 8878, 3.1.1.2.3). */
export const ZSTD_MAX_BLOCK = 128 * 1024;
/** Longest frame header: magic 4, descriptor 1, window 1, dictionary id 4, content size 8. */
export const ZSTD_MAX_HEADER = 18;

/** True when `magic` (a u32 read little-endian) starts a skippable frame. */
export function isSkippableMagic(magic: number): boolean {
  return (magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC;
}

/** True when `b` starts with the frame magic and a descriptor without the reserved bit (for `match`). */
export function looksLikeZstdFrame(b: Uint8Array): boolean {
  return b.length >= 6 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd && (b[4]! & 0x08) === 0;
}

/** A parsed Frame_Header. */
export interface ZstdFrameHeader {
  /** Bytes from the magic to the first block header. */
  readonly headerSize: number;
  readonly singleSegment: boolean;
  /** A 4-byte Content_Checksum follows the last block. */
  readonly checksum: boolean;
  /** Frame_Content_Size when the header has the field (it may be 0 for an empty or unknown size). */
  readonly contentSize: number | undefined;
  /** Window_Size: from the window descriptor, or the content size of a single-segment frame. */
  readonly window: number;
}

/**
 * Parses the frame header at the start of `b` (which begins with the magic); `at` is where the frame
 * sits in its stream, for messages. FormatError for a missing magic or the reserved bit (`truncated`
 * when `b` ends inside the header), UnsupportedError for a frame that needs a dictionary.
 */
export function readZstdFrameHeader(b: Uint8Array, what: string, at = 0): ZstdFrameHeader {
  const label = `${what} (zstd frame header at offset ${at})`;
  const magic = u32le(b, 0, label);
  if (magic !== ZSTD_MAGIC) throw new FormatError(`Invalid ${what}: no zstd frame magic at offset ${at} (found 0x${magic.toString(16)}).`);
  // Frame_Header_Descriptor: FCS flag (2 bits), Single_Segment, unused, reserved, checksum, dictionary id flag (2).
  const fhd = u8(b, 4, label);
  if (fhd & 0x08) throw new FormatError(`Invalid ${what}: the zstd frame at offset ${at} sets the reserved descriptor bit.`);
  const single = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  const headerSize = 5 + (single ? 0 : 1) + didSize + fcsSize;
  let p = 5 + (single ? 0 : 1);
  const dictId = uintle(b, p, didSize, label);
  p += didSize;
  if (dictId !== 0) throw new UnsupportedError(`Cannot decode ${what}: the zstd frame at offset ${at} needs dictionary ${dictId}, which aibom does not have.`);
  let contentSize: number | undefined;
  if (fcsSize > 0) contentSize = uintle(b, p, fcsSize, label) + (fcsSize === 2 ? 256 : 0);
  let window: number;
  if (single) window = contentSize ?? 0;
  else {
    // Window_Descriptor: exponent (5 bits) and mantissa (3 bits).
    const wd = u8(b, 5, label);
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  return { headerSize, singleSegment: single, checksum: (fhd & 0x04) !== 0, contentSize, window };
}

/** A parsed Block_Header. */
export interface ZstdBlockHeader {
  readonly last: boolean;
  /** 0 raw, 1 RLE, 2 compressed (3 is reserved and refused). */
  readonly type: number;
  /** Block_Size: the decoded size of raw and RLE blocks, the compressed size of compressed ones. */
  readonly size: number;
  /** Bytes of block content after the 3-byte header (1 for RLE). */
  readonly payload: number;
  /** Most output the block can produce. */
  readonly maxOutput: number;
}

/** Parses the 3-byte block header at `p` of `b`; FormatError for the reserved type or an oversized block. */
export function readZstdBlockHeader(b: Uint8Array, p: number, what: string, at = p): ZstdBlockHeader {
  const bh = u24le(b, p, `${what} (zstd block header at offset ${at})`);
  const type = (bh >> 1) & 3;
  const size = bh >>> 3;
  if (type === 3) throw new FormatError(`Invalid ${what}: the zstd block at offset ${at} uses the reserved block type 3.`);
  if (size > ZSTD_MAX_BLOCK)
    throw new FormatError(`Invalid ${what}: the zstd block at offset ${at} declares ${size} bytes, more than the ${ZSTD_MAX_BLOCK}-byte maximum.`);
  return { last: (bh & 1) !== 0, type, size, payload: type === 1 ? 1 : size, maxOutput: type === 2 ? ZSTD_MAX_BLOCK : size };
}

/**
 * Walks the blocks of the frame whose header `h` was read at `start` of `b` and returns where the
 * frame ends (after its checksum): FormatError (`truncated`) when a block or the checksum runs past
 * the end of `b`.
 */
export function zstdFrameEnd(b: Uint8Array, start: number, h: ZstdFrameHeader, what: string): number {
  let p = start + h.headerSize;
  for (;;) {
    if (p + 3 > b.length) throw new FormatError(`Invalid ${what}: the zstd frame at offset ${start} is cut off before its last block.`, 'truncated');
    const block = readZstdBlockHeader(b, p, what);
    if (block.payload > b.length - p - 3) throw new FormatError(`Invalid ${what}: the zstd block at offset ${p} runs past the end of the data.`, 'truncated');
    p += 3 + block.payload;
    if (block.last) break;
  }
  if (h.checksum) p += 4; // Content_Checksum
  if (p > b.length) throw new FormatError(`Invalid ${what}: the zstd frame at offset ${start} is cut off inside its checksum.`, 'truncated');
  return p;
}

/** fzstd's ZstdErrorCode values. */
const FZSTD_ERRORS: Readonly<Record<number, string>> = {
  0: 'invalid data',
  1: 'window size too large',
  2: 'invalid block type',
  3: 'FSE accuracy too high',
  4: 'match distance too far back',
  5: 'unexpected end of input',
};

/** fzstd's own error (a numbered code) as a FormatError naming `what`; undefined for anything else. */
export function fzstdFormatError(err: unknown, what: string): FormatError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (err instanceof Error && typeof code === 'number' && code in FZSTD_ERRORS) {
    return new FormatError(`Invalid zstd data in ${what}: ${FZSTD_ERRORS[code]}.`, code === 5 ? 'truncated' : 'format');
  }
  return undefined;
}
