import zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { decodeLz4Block } from '../../decoders/lz4.js';
import { readZstdFrameHeader } from '../../decoders/zstd-frame.js';
import { FormatError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { INCOMPAT_ZERO_PADDING, type ErofsSuper } from './erofs-format.js';

/**
 * Decoding one EROFS physical cluster (pcluster) into the bytes of its extent: the 'decoded' extents
 * of compressed files (erofs-zmap.ts maps files to them). LZ4 through the shared block decoder, DEFLATE
 * through node:zlib, Zstandard through fzstd; plain pclusters stored interlaced. Each decode reads one
 * pcluster (at most 1 MiB) and makes at most Z_EROFS_PCLUSTER_MAX_DSIZE bytes. MicroLZMA is not here.
 */

/** Z_EROFS_PCLUSTER_MAX_DSIZE: no pcluster decodes to more. */
export const MAX_DECODED = 12 * 1024 * 1024;

/** Algorithm numbers in h_algorithmtype (0-3 known to the kernel; 1 is MicroLZMA). */
export const ALG_LZ4 = 0;
export const ALG_DEFLATE = 2;
export const ALG_ZSTD = 3;
export const ALG_NAMES = ['LZ4', 'LZMA', 'DEFLATE', 'Zstandard'];
/** Largest Zstandard window accepted (Z_EROFS_ZSTD_MAX_DICT_SIZE is 1 MiB; room for other writers). */
const MAX_ZSTD_WINDOW = 16 * 1024 * 1024;

/**
 * Walks a token stream of an LZ4 block without copying, until it has produced `want` bytes or its
 * input ends: returns the input length that produces them and how much that is (a sequence may
 * overshoot). Images without LZ4_0PADDING put the compressed data at the start of the pcluster with
 * zeros after it, so the stream's end must be found this way before decoding.
 */
function lz4Scan(input: Uint8Array, want: number): { end: number; produced: number } {
  const n = input.length;
  let ip = 0;
  let op = 0;
  while (ip < n) {
    const token = input[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= n) return { end: n, produced: op };
        b = input[ip++]!;
        lit += b;
      } while (b === 255);
    }
    ip += lit;
    op += lit;
    if (ip >= n || op >= want) return { end: Math.min(ip, n), produced: op };
    ip += 2;
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= n) return { end: n, produced: op };
        b = input[ip++]!;
        len += b;
      } while (b === 255);
    }
    op += len;
    if (op >= want) return { end: Math.min(ip, n), produced: op };
  }
  return { end: Math.min(ip, n), produced: op };
}

/** Length of the run of zero bytes that starts `b`, looked for within its first `limit` bytes. */
function zeroPrefix(b: Uint8Array, limit: number): number {
  let s = 0;
  // Whole 32-bit words first when the view is aligned (reads of a block are), then bytes.
  if (b.byteOffset % 4 === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, limit >>> 2);
    let w = 0;
    while (w < words.length && words[w] === 0) w++;
    s = w * 4;
  }
  while (s < limit && b[s] === 0) s++;
  return s;
}

/**
 * A compressed pcluster, decoded when first read (the ExtentSource caches the result). LZ4 with the
 * shared block decoder; DEFLATE (raw, as the kernel's zlib_inflateInit2(-MAX_WBITS)) with node:zlib;
 * Zstandard (one frame) with fzstd's streaming decoder, its output bounded as it is produced.
 */
export class Pcluster {
  readonly kind = 'decoded' as const;
  constructor(
    readonly offset: number,
    readonly length: number,
    private readonly src: ByteSource,
    private readonly sb: ErofsSuper,
    private readonly nid: number,
    private readonly pa: number,
    private readonly plen: number,
    private readonly alg: number,
    private readonly partial: boolean,
  ) {}

  decode(): Uint8Array {
    const { sb } = this;
    const what = `EROFS inode ${this.nid} ${ALG_NAMES[this.alg]} pcluster at offset ${this.pa}`;
    const got = this.src.read(this.pa, this.plen);
    if (got.length !== this.plen) throw new FormatError(`Invalid ${what}: ${this.plen} bytes run past the end of the image.`, 'truncated');
    // A plain Uint8Array view: the decoder slices its input per sequence, which is slow on a Buffer.
    const raw = new Uint8Array(got.buffer, got.byteOffset, got.length);
    let input = raw;
    // LZ4_0PADDING (always, for DEFLATE and Zstandard): the compressed data ends the pcluster; the
    // zeros before it stay within its first block.
    if (this.alg !== ALG_LZ4 || sb.featureIncompat & INCOMPAT_ZERO_PADDING) {
      const limit = Math.min(this.plen, sb.blkSize - (this.pa % sb.blkSize));
      const s = zeroPrefix(raw, limit);
      if (s === limit) throw new FormatError(`Invalid ${what}: its first block holds only zero padding.`);
      input = raw.subarray(s);
    }
    if (this.alg === ALG_DEFLATE) return this.inflate(input, what);
    if (this.alg === ALG_ZSTD) return this.unzstd(input, what);
    if (input !== raw && !this.partial) {
      const out = new Uint8Array(this.length);
      decodeLz4Block(input, out, what, false);
      return out;
    }
    // No padding (the stream is followed by zeros) or a partial reference (the stream decodes to more
    // than this extent): find where the bytes this extent needs end, then decode that much.
    const { end, produced } = lz4Scan(input, this.length);
    if (produced < this.length) throw new FormatError(`Invalid ${what}: it decodes to ${produced} bytes where ${this.length} are expected.`, 'truncated');
    if (produced > MAX_DECODED + this.length) throw new FormatError(`Invalid ${what}: a sequence decodes to ${produced} bytes, more than ${MAX_DECODED}.`);
    const out = new Uint8Array(produced);
    decodeLz4Block(input.subarray(0, end), out, what, false);
    return produced === this.length ? out : out.subarray(0, this.length);
  }

  /** The first `length` bytes the stream makes (a partial reference, or a stream without an end, stops there). */
  private prefix(out: Uint8Array, what: string): Uint8Array {
    if (out.length < this.length) throw new FormatError(`Invalid ${what}: it decodes to ${out.length} bytes where ${this.length} are expected.`, 'truncated');
    return out.length === this.length ? out : out.subarray(0, this.length);
  }

  private inflate(input: Uint8Array, what: string): Uint8Array {
    let out: Buffer;
    try {
      // Z_SYNC_FLUSH: a pcluster's stream may stop without a final block once its extent is complete.
      out = zlib.inflateRawSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: this.length + MAX_DECODED });
    } catch (err) {
      throw new FormatError(`Invalid ${what}: ${(err as Error).message}.`);
    }
    return this.prefix(new Uint8Array(out.buffer, out.byteOffset, out.length), what);
  }

  private unzstd(input: Uint8Array, what: string): Uint8Array {
    const { window } = readZstdFrameHeader(input, what);
    if (window > MAX_ZSTD_WINDOW) throw new FormatError(`Invalid ${what}: its Zstandard window of ${window} bytes is more than ${MAX_ZSTD_WINDOW}.`);
    const out = new Uint8Array(this.length);
    let have = 0;
    const d = new Decompress((chunk) => {
      const n = Math.min(chunk.length, this.length - have);
      out.set(chunk.subarray(0, n), have);
      have += n;
      // Output past the extent is a partial reference's (or garbage): stop decoding there.
      if (have === this.length) throw ENOUGH;
    });
    try {
      d.push(Uint8Array.prototype.slice.call(input), true);
    } catch (err) {
      if (err !== ENOUGH) throw new FormatError(`Invalid ${what}: ${(err as Error).message}.`);
    }
    if (have < this.length) throw new FormatError(`Invalid ${what}: it decodes to ${have} bytes where ${this.length} are expected.`, 'truncated');
    return out;
  }
}

/** Thrown from the zstd output callback once an extent is complete, to stop the decoder. */
const ENOUGH = new Error('enough');

/**
 * A plain pcluster stored interlaced (kernel z_erofs_transform_plain): the extent's first `head`
 * bytes, up to the end of its logical block, end the pcluster; the rest starts it.
 */
export class InterlacedPcluster {
  readonly kind = 'decoded' as const;
  constructor(
    readonly offset: number,
    readonly length: number,
    private readonly src: ByteSource,
    private readonly pa: number,
    private readonly plen: number,
    private readonly head: number,
  ) {}

  decode(): Uint8Array {
    const raw = this.src.read(this.pa, this.plen);
    const out = new Uint8Array(this.length);
    out.set(raw.subarray(this.plen - this.head, this.plen), 0);
    out.set(raw.subarray(0, this.length - this.head), this.head);
    return out;
  }
}
