import zlib from 'node:zlib';
import { Decompress, decompress as zstdDecompress } from 'fzstd';
import { decodeLz4Block } from '../decoders/lz4.js';
import { decodeLzo1x } from '../decoders/lzo.js';
import { decodeXzInto } from '../decoders/xz-sync.js';
import { AibomError, FormatError, UnsupportedError } from '../errors.js';

/**
 * Decodes one squashfs block (a metadata block or a data or fragment block) that must not produce more
 * than `maxOutput` bytes, synchronously. Returns the decoded bytes; more than `maxOutput` is a
 * FormatError (the image declared a smaller block).
 */
export type BlockDecoder = (input: Uint8Array, maxOutput: number, what: string) => Uint8Array;

/** Squashfs 4.0 compression ids (superblock field `compression`, offset 20). */
export const COMPRESSION_NAMES: Readonly<Record<number, string>> = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' };

/** A view when it is the whole buffer or most of it; a copy when most of the buffer would be wasted. */
function fit(out: Uint8Array, n: number): Uint8Array {
  if (n === out.length) return out;
  return n >= out.length * 0.75 ? out.subarray(0, n) : out.slice(0, n);
}

function zlibBlock(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  try {
    // squashfs 'gzip' is a zlib stream (RFC 1950 header); maxOutputLength stops a bomb at the block size.
    return zlib.inflateSync(input, { maxOutputLength: Math.max(1, maxOutput) });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (e.code === 'ERR_BUFFER_TOO_LARGE') throw new FormatError(`Invalid ${what}: it inflates to more than ${maxOutput} bytes.`);
    const truncated = e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(message);
    throw new FormatError(`Invalid ${what}: ${message}.`, truncated ? 'truncated' : 'format');
  }
}

function intoBuffer(decode: (input: Uint8Array, out: Uint8Array, what: string) => number): BlockDecoder {
  return (input, maxOutput, what) => {
    const out = new Uint8Array(maxOutput);
    return fit(out, decode(input, out, what));
  };
}

/** 28 B5 2F FD: zstd frame magic 0xFD2FB528. */
const ZSTD_MAGIC = 0xfd2fb528;
/** Largest window accepted for a squashfs zstd block without a frame content size (fzstd allocates it). */
const ZSTD_WINDOW_MAX = 8 * 1024 * 1024;
/** RFC 8878 Block_Maximum_Size. */
const ZSTD_MAX_BLOCK = 128 * 1024;

function zstdError(err: unknown, what: string): unknown {
  if (err instanceof AibomError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  return new FormatError(`Invalid ${what}: zstd ${message}.`, code === 5 ? 'truncated' : 'format');
}

/**
 * A squashfs zstd block is one zstd frame. mksquashfs writes single-segment frames with a content
 * size: those are checked (size within the block, blocks of the frame ending exactly at the end of
 * the input) and decoded in one call into a buffer of that size. Anything else (no content size, a
 * window descriptor) goes through fzstd's streaming decoder with the window checked first and the
 * output counted block by block, so nothing allocates more than the block size plus one zstd block.
 */
function zstdBlock(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  if (input.length < 6) throw new FormatError(`Invalid ${what}: ${input.length} bytes are too few for a zstd frame.`, 'truncated');
  const magic = (input[0]! | (input[1]! << 8) | (input[2]! << 16) | (input[3]! << 24)) >>> 0;
  if (magic !== ZSTD_MAGIC) throw new FormatError(`Invalid ${what}: no zstd frame magic (found 0x${magic.toString(16)}).`);
  // Frame_Header_Descriptor: FCS flag (2 bits), Single_Segment, unused, reserved, checksum, dictionary id flag (2).
  const fhd = input[4]!;
  if (fhd & 0x08) throw new FormatError(`Invalid ${what}: the zstd frame sets its reserved descriptor bit.`);
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
  const headerSize = 5 + (single ? 0 : 1) + didSize + fcsSize;
  if (input.length < headerSize + 3) throw new FormatError(`Invalid ${what}: the zstd frame header is cut off.`, 'truncated');
  let at = 5 + (single ? 0 : 1);
  let dictId = 0;
  for (let i = 0; i < didSize; i++) dictId += input[at + i]! * 2 ** (8 * i);
  at += didSize;
  if (dictId !== 0) throw new UnsupportedError(`Cannot decode ${what}: the zstd frame needs dictionary ${dictId}; it was not scanned.`);
  let fcs = -1;
  if (fcsSize > 0) {
    fcs = 0;
    for (let i = 0; i < fcsSize; i++) fcs += input[at + i]! * 2 ** (8 * i);
    if (fcsSize === 2) fcs += 256;
  }
  if (fcs > maxOutput) throw new FormatError(`Invalid ${what}: the zstd frame declares ${fcs} bytes, more than the ${maxOutput}-byte block.`);
  // Walk the frame's block headers: it must end exactly where the input does (one frame per block).
  let p = headerSize;
  for (;;) {
    if (p + 3 > input.length) throw new FormatError(`Invalid ${what}: the zstd frame ends before its last block.`, 'truncated');
    const bh = input[p]! | (input[p + 1]! << 8) | (input[p + 2]! << 16);
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw new FormatError(`Invalid ${what}: a zstd block uses the reserved block type 3.`);
    if (size > ZSTD_MAX_BLOCK) throw new FormatError(`Invalid ${what}: a zstd block declares ${size} bytes, more than the ${ZSTD_MAX_BLOCK}-byte maximum.`);
    p += 3 + (type === 1 ? 1 : size);
    if (p > input.length) throw new FormatError(`Invalid ${what}: a zstd block runs past the end of the input.`, 'truncated');
    if (bh & 1) break;
  }
  if (fhd & 0x04) p += 4; // Content_Checksum
  if (p !== input.length) throw new FormatError(`Invalid ${what}: the zstd frame ends at byte ${p} of a ${input.length}-byte block.`);
  try {
    if (single && fcs >= 0) {
      // fzstd allocates exactly the content size (checked above) and decodes into it.
      const out = zstdDecompress(input);
      if (out.length > maxOutput) throw new FormatError(`Invalid ${what}: zstd output of ${out.length} bytes passes the ${maxOutput}-byte block.`);
      return out;
    }
    let window = fcs;
    if (!single) {
      const wd = input[5]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    if (window > ZSTD_WINDOW_MAX) throw new FormatError(`Invalid ${what}: the zstd frame asks for a ${window}-byte window, more than the ${ZSTD_WINDOW_MAX} bytes allowed.`);
    const out = new Uint8Array(maxOutput);
    let len = 0;
    const stream = new Decompress((chunk) => {
      if (len + chunk.length > maxOutput) throw new FormatError(`Invalid ${what}: zstd output passes the ${maxOutput}-byte block.`);
      out.set(chunk, len);
      len += chunk.length;
    });
    stream.push(input, true);
    return fit(out, len);
  } catch (err) {
    throw zstdError(err, what);
  }
}

/**
 * The block decoder for a squashfs compression id: 1 zlib (node:zlib), 3 LZO1X (our decoder),
 * 4 xz (xz-embedded through decodeXzInto), 5 LZ4 block (decodeLz4Block), 6 zstd (fzstd). Legacy
 * LZMA (2) and unknown ids are an UnsupportedError naming them.
 */
export function blockDecoder(id: number): BlockDecoder {
  switch (id) {
    case 1:
      return zlibBlock;
    case 3:
      return intoBuffer(decodeLzo1x);
    case 4:
      return intoBuffer(decodeXzInto);
    case 5:
      return intoBuffer((input, out, what) => decodeLz4Block(input, out, what, true));
    case 6:
      return zstdBlock;
    case 2:
      throw new UnsupportedError('The squashfs image uses legacy LZMA compression (id 2), which aibom does not decode; it was not scanned.');
    default:
      throw new UnsupportedError(`The squashfs image uses compression id ${id}, which aibom does not know; it was not scanned.`);
  }
}
