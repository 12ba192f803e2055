import zlib from 'node:zlib';
import { Decompress, decompress as zstdDecompress } from 'fzstd';
import { decodeLz4Block } from '../../decoders/lz4.js';
import { decodeLzo1x } from '../../decoders/lzo.js';
import { decodeXzInto } from '../../decoders/xz-sync.js';
import { readZstdFrameHeader, zstdFrameEnd } from '../../decoders/zstd-frame.js';
import { AibomError, FormatError, UnsupportedError } from '../../errors.js';

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

/** Largest window accepted for a squashfs zstd block without a frame content size (fzstd allocates it). */
const ZSTD_WINDOW_MAX = 8 * 1024 * 1024;

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
  const header = readZstdFrameHeader(input, what);
  const fcs = header.contentSize ?? -1;
  if (fcs > maxOutput) throw new FormatError(`Invalid ${what}: the zstd frame declares ${fcs} bytes, more than the ${maxOutput}-byte block.`);
  // The frame must end exactly where the input does (one frame per block).
  const p = zstdFrameEnd(input, 0, header, what);
  if (p !== input.length) throw new FormatError(`Invalid ${what}: the zstd frame ends at byte ${p} of a ${input.length}-byte block.`);
  try {
    if (header.singleSegment && fcs >= 0) {
      // fzstd allocates exactly the content size (checked above) and decodes into it.
      const out = zstdDecompress(input);
      if (out.length > maxOutput) throw new FormatError(`Invalid ${what}: zstd output of ${out.length} bytes passes the ${maxOutput}-byte block.`);
      return out;
    }
    const window = header.window;
    if (window > ZSTD_WINDOW_MAX)
      throw new FormatError(`Invalid ${what}: the zstd frame asks for a ${window}-byte window, more than the ${ZSTD_WINDOW_MAX} bytes allowed.`);
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
