import { decodeLz4Block } from '../decoders/lz4.js';
import { FormatError, UnsupportedError } from '../errors.js';
import { u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import type { Probe } from '../probe.js';
import { allZero, compressedEntries, memberName } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** '04 22 4D 18': LZ4 frame magic 0x184D2204, little-endian. */
const FRAME_MAGIC = 0x184d2204;
/** '02 21 4C 18': LZ4 legacy frame magic 0x184C2102 (`lz4 -l`, Linux and Android ramdisks). */
const LEGACY_MAGIC = 0x184c2102;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, then a 32-bit length. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** A legacy block decodes to at most 8 MiB. */
const LEGACY_BLOCK = 8 * 1024 * 1024;
/** LZ4_COMPRESSBOUND(8 MiB): a larger legacy block size is not a block but the next magic (or the end). */
const LEGACY_BOUND = LEGACY_BLOCK + Math.floor(LEGACY_BLOCK / 255) + 16;
/** Linked blocks may copy from the previous 64 KiB of output. */
const WINDOW = 64 * 1024;
/** BD bits 6-4: block maximum size code 4..7 -> 64 KiB, 256 KiB, 1 MiB, 4 MiB. */
const BLOCK_MAX: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };
/** Largest piece of output handed on at once. */
const PIECE = 1024 * 1024;
/** Skippable frames looked past in `match` before giving up. */
const MATCH_SKIPS = 4;

const SUFFIXES: Readonly<Record<string, string>> = { '.tlz4': '.tar', '.lz4': '' };

// xxHash32 primes (XXH32 specification).
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);
}

/**
 * Streaming xxHash32 (seed 0 by default), the checksum of the LZ4 frame format: header checksum,
 * block checksums and content checksum. Written from the XXH32 specification.
 */
export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private readonly buf = new Uint8Array(16);
  private buffered = 0;
  private total = 0;
  constructor(private readonly seed = 0) {
    this.v1 = (seed + P1 + P2) | 0;
    this.v2 = (seed + P2) | 0;
    this.v3 = seed | 0;
    this.v4 = (seed - P1) | 0;
  }

  update(data: Uint8Array): this {
    this.total += data.length;
    let i = 0;
    if (this.buffered > 0) {
      const take = Math.min(16 - this.buffered, data.length);
      this.buf.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      i = take;
      if (this.buffered < 16) return this;
      this.stripe(this.buf, 0);
      this.buffered = 0;
    }
    const end = data.length - 16;
    for (; i <= end; i += 16) this.stripe(data, i);
    if (i < data.length) {
      this.buf.set(data.subarray(i), 0);
      this.buffered = data.length - i;
    }
    return this;
  }

  private stripe(b: Uint8Array, at: number): void {
    this.v1 = round(this.v1, u32le(b, at, 'LZ4 data'));
    this.v2 = round(this.v2, u32le(b, at + 4, 'LZ4 data'));
    this.v3 = round(this.v3, u32le(b, at + 8, 'LZ4 data'));
    this.v4 = round(this.v4, u32le(b, at + 12, 'LZ4 data'));
  }

  digest(): number {
    let h = this.total >= 16 ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0 : (this.seed + P5) | 0;
    h = (h + (this.total % 0x100000000)) | 0;
    let i = 0;
    for (; i + 4 <= this.buffered; i += 4) h = Math.imul(rotl((h + Math.imul(u32le(this.buf, i, 'LZ4 data'), P3)) | 0, 17), P4);
    for (; i < this.buffered; i++) h = Math.imul(rotl((h + Math.imul(this.buf[i] as number, P5)) | 0, 11), P1);
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

/** xxHash32 of one buffer. */
export function xxh32(data: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(data).digest();
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Decodes a block of a frame with linked blocks (FLG B.Indep = 0), whose matches may reach into the
 * previous 64 KiB of output. `decodeLz4Block` writes from the start of its output, so the history is
 * put in front as extra literals of the block's first sequence (its literal length is re-encoded):
 * every match distance then points where the format says, and the decoder's bounds checks still hold.
 */
function decodeLinked(data: Uint8Array, history: Uint8Array, blockMax: number, what: string): Uint8Array {
  if (history.length === 0) {
    const out = Buffer.allocUnsafe(blockMax);
    return out.subarray(0, decodeLz4Block(data, out, what));
  }
  // First token: literal length in the high nibble, 15 meaning 255-continued extension bytes.
  const token = data[0] as number;
  let lit = token >>> 4;
  let p = 1;
  if (lit === 15) {
    let b: number;
    do {
      if (p >= data.length) throw new FormatError(`Invalid ${what}: literal length runs past the end of the input.`, 'truncated');
      b = data[p++] as number;
      lit += b;
    } while (b === 255);
  }
  const total = lit + history.length;
  const ext: number[] = [];
  if (total >= 15) {
    let rest = total - 15;
    for (; rest >= 255; rest -= 255) ext.push(255);
    ext.push(rest);
  }
  const input = Buffer.allocUnsafe(1 + ext.length + history.length + data.length - p);
  input[0] = (Math.min(total, 15) << 4) | (token & 15);
  input.set(ext, 1);
  input.set(history, 1 + ext.length);
  input.set(data.subarray(p), 1 + ext.length + history.length);
  const out = Buffer.allocUnsafe(history.length + blockMax);
  const n = decodeLz4Block(input, out, what);
  if (n < history.length) throw new FormatError(`Invalid ${what}: the block is shorter than its own first literals.`);
  return out.subarray(history.length, n);
}

/** The last `WINDOW` bytes of `history` followed by `piece`, as a fresh buffer. */
function slide(history: Uint8Array, piece: Uint8Array): Uint8Array {
  if (piece.length >= WINDOW) return Uint8Array.prototype.slice.call(piece, piece.length - WINDOW);
  const keep = Math.min(history.length, WINDOW - piece.length);
  const out = new Uint8Array(keep + piece.length);
  out.set(history.subarray(history.length - keep), 0);
  out.set(piece, keep);
  return out;
}

/**
 * Decodes one LZ4 frame starting at `off` (its magic), yielding one piece per block, and returns the
 * offset after the frame. Checks the descriptor (version 01, reserved bits, header checksum), each
 * block size against the block maximum, the block checksums, the content size and the content
 * checksum. A dictionary id is UnsupportedError: aibom has no dictionaries.
 */
async function* decodeFrame(src: ByteSource, off: number, what: string): AsyncGenerator<Uint8Array, number> {
  const h = src.read(off, Math.min(19, src.size - off));
  if (h.length < 7) throw new FormatError(`The LZ4 frame at offset ${off} is cut off inside its header.`, 'truncated');
  const flg = h[4] as number;
  const bd = h[5] as number;
  // FLG: version (bits 7-6) = 01, B.Indep (5), B.Checksum (4), C.Size (3), C.Checksum (2), reserved (1), DictID (0).
  if (flg >> 6 !== 1) throw new FormatError(`The LZ4 frame at offset ${off} has version ${flg >> 6} in its FLG byte, not 1.`);
  if (flg & 0x02) throw new FormatError(`The LZ4 frame at offset ${off} sets the reserved FLG bit 1.`);
  // BD: reserved bit 7 and bits 3-0, block maximum size code in bits 6-4.
  if (bd & 0x8f) throw new FormatError(`The LZ4 frame at offset ${off} sets reserved BD bits (BD 0x${bd.toString(16)}).`);
  const blockMax = BLOCK_MAX[(bd >> 4) & 7];
  if (blockMax === undefined) throw new FormatError(`The LZ4 frame at offset ${off} has block maximum size code ${(bd >> 4) & 7}, not 4-7.`);
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDict = (flg & 0x01) !== 0;
  const descLen = 2 + (hasSize ? 8 : 0) + (hasDict ? 4 : 0);
  if (h.length < 4 + descLen + 1) throw new FormatError(`The LZ4 frame at offset ${off} is cut off inside its header.`, 'truncated');
  // HC: second byte of xxh32 of the descriptor (FLG to the end of the dictionary id).
  const hc = (xxh32(h.subarray(4, 4 + descLen)) >>> 8) & 0xff;
  if (hc !== h[4 + descLen])
    throw new FormatError(
      `The LZ4 frame at offset ${off} fails its header checksum (0x${(h[4 + descLen] as number).toString(16)} recorded, 0x${hc.toString(16)} computed).`,
    );
  let contentSize: number | undefined;
  if (hasSize)
    contentSize = checked(u32le(h, 6, 'LZ4 data') + u32le(h, 10, 'LZ4 data') * 2 ** 32, 0, Number.MAX_SAFE_INTEGER, `LZ4 frame at offset ${off}: content size`);
  if (hasDict)
    throw new UnsupportedError(
      `The LZ4 frame at offset ${off} needs dictionary ${u32le(h, 6 + (hasSize ? 8 : 0), 'LZ4 data')}, which aibom does not have: not scanned.`,
    );

  let at = off + 4 + descLen + 1;
  const hash = contentChecksum ? new Xxh32() : undefined;
  let history: Uint8Array = new Uint8Array(0);
  let produced = 0;
  for (;;) {
    if (at + 4 > src.size) throw new FormatError(`The LZ4 frame at offset ${off} is cut off before its EndMark.`, 'truncated');
    const word = u32le(src.read(at, 4), 0, 'LZ4 data');
    at += 4;
    if (word === 0) break; // EndMark
    // High bit: the block is stored uncompressed.
    const stored = (word & 0x80000000) !== 0;
    const len = word & 0x7fffffff;
    if (len > blockMax) throw new FormatError(`The LZ4 block at offset ${at - 4} declares ${len} bytes, more than the frame's ${blockMax}-byte block maximum.`);
    const need = len + (blockChecksum ? 4 : 0);
    if (need > src.size - at) throw new FormatError(`The LZ4 block at offset ${at - 4} runs past the end of the data.`, 'truncated');
    const data = src.read(at, len);
    if (blockChecksum) {
      const recorded = u32le(src.read(at + len, 4), 0, 'LZ4 data');
      const computed = xxh32(data);
      if (recorded !== computed)
        throw new FormatError(`The LZ4 block at offset ${at - 4} fails its block checksum (${hex(recorded)} recorded, ${hex(computed)} computed).`);
    }
    at += need;
    let piece: Uint8Array;
    if (stored) piece = data;
    else if (independent) {
      const out = Buffer.allocUnsafe(blockMax);
      piece = out.subarray(0, decodeLz4Block(data, out, `LZ4 block at offset ${at - need - 4} of ${what}`));
    } else piece = decodeLinked(data, history, blockMax, `LZ4 block at offset ${at - need - 4} of ${what}`);
    if (!independent) history = slide(history, piece);
    produced += piece.length;
    if (contentSize !== undefined && produced > contentSize) {
      throw new FormatError(`The LZ4 frame at offset ${off} decodes to more than the ${contentSize} bytes its content size declares.`);
    }
    hash?.update(piece);
    if (piece.length > 0) yield piece;
  }
  if (contentSize !== undefined && produced !== contentSize) {
    throw new FormatError(`The LZ4 frame at offset ${off} decodes to ${produced} bytes, not the ${contentSize} its content size declares.`, 'truncated');
  }
  if (hash !== undefined) {
    if (at + 4 > src.size) throw new FormatError(`The LZ4 frame at offset ${off} is cut off inside its content checksum.`, 'truncated');
    const recorded = u32le(src.read(at, 4), 0, 'LZ4 data');
    const computed = hash.digest();
    if (recorded !== computed)
      throw new FormatError(`The LZ4 frame at offset ${off} fails its content checksum (${hex(recorded)} recorded, ${hex(computed)} computed).`);
    at += 4;
  }
  return at;
}

/**
 * Decodes a legacy stream whose blocks start at `at` (after its magic): each block is a 32-bit
 * compressed size then an LZ4 block of at most 8 MiB of output. Returns the offset of the first word
 * that is not a plausible block size (above LZ4_COMPRESSBOUND(8 MiB), or zero): the next magic, padding
 * or the end, as `lz4 -d` and the kernel's unlz4 read it. There is no checksum to verify.
 */
async function* decodeLegacy(src: ByteSource, at: number, what: string): AsyncGenerator<Uint8Array, number> {
  for (;;) {
    if (at + 4 > src.size) return at;
    const len = u32le(src.read(at, 4), 0, 'LZ4 data');
    if (len === 0 || len > LEGACY_BOUND) return at;
    if (len > src.size - at - 4)
      throw new FormatError(`The LZ4 legacy block at offset ${at} declares ${len} bytes but the data ends ${src.size - at - 4} bytes later.`, 'truncated');
    const out = Buffer.allocUnsafe(LEGACY_BLOCK);
    const n = decodeLz4Block(src.read(at + 4, len), out, `LZ4 legacy block at offset ${at} of ${what}`);
    at += 4 + len;
    if (n > 0) yield out.subarray(0, n);
  }
}

/**
 * Passes a decoder's blocks on in pieces of at most 1 MiB, so that the decode budget sees output
 * at that grain (a 4 or 8 MiB block would overshoot a limit by that much), and returns its result.
 */
async function* pieces(blocks: AsyncGenerator<Uint8Array, number>): AsyncGenerator<Uint8Array, number> {
  try {
    for (;;) {
      const r = await blocks.next();
      if (r.done === true) return r.value;
      for (let i = 0; i < r.value.length; i += PIECE) yield r.value.subarray(i, i + PIECE);
    }
  } finally {
    await blocks.return(0);
  }
}

/**
 * Decodes every frame of an LZ4 file in turn: frames, legacy streams (a following legacy magic
 * starts a new stream) and skippable frames (skipped). Bytes after the last frame that start none end
 * the stream: zero padding silently, anything else with a warning, as `lz4 -d` does.
 */
async function* unlz4(src: ByteSource, ctx: ContainerContext, report: boolean): AsyncGenerator<Uint8Array> {
  const what = `lz4 stream ${JSON.stringify(ctx.name)}`;
  if (src.size < 4) throw new FormatError(`The LZ4 data is ${src.size} bytes, shorter than a frame magic.`, 'truncated');
  let off = 0;
  for (;;) {
    if (off >= src.size) return;
    if (off + 4 > src.size) break;
    const magic = u32le(src.read(off, 4), 0, 'LZ4 data');
    if (magic === FRAME_MAGIC) {
      off = yield* pieces(decodeFrame(src, off, what));
    } else if (magic === LEGACY_MAGIC) {
      off = yield* pieces(decodeLegacy(src, off + 4, what));
    } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (off + 8 > src.size) throw new FormatError(`The LZ4 skippable frame at offset ${off} is cut off.`, 'truncated');
      const size = u32le(src.read(off + 4, 4), 0, 'LZ4 data');
      if (size > src.size - off - 8)
        throw new FormatError(`The LZ4 skippable frame at offset ${off} declares ${size} bytes past the end of the data.`, 'truncated');
      off += 8 + size;
    } else if (off === 0) {
      throw new FormatError(`No LZ4 frame magic at offset 0 (0x${magic.toString(16)}).`);
    } else {
      break;
    }
  }
  if (report && !allZero(src, off)) {
    ctx.problem({
      severity: 'warning',
      code: 'format',
      message: `The ${src.size - off} bytes after the LZ4 data (from offset ${off}) start no frame; ignored.`,
    });
  }
}

/** Whether `h` at `at` starts an LZ4 frame with a valid descriptor, or a legacy stream with a plausible first block. */
function startsLz4(h: Uint8Array, at: number): boolean {
  if (h.length < at + 8) return false;
  const magic = u32le(h, at, 'LZ4 data');
  if (magic === LEGACY_MAGIC) {
    const len = u32le(h, at + 4, 'LZ4 data');
    return len > 0 && len <= LEGACY_BOUND;
  }
  if (magic !== FRAME_MAGIC) return false;
  const flg = h[at + 4] as number;
  const bd = h[at + 5] as number;
  return flg >> 6 === 1 && (flg & 0x02) === 0 && (bd & 0x8f) === 0 && ((bd >> 4) & 7) >= 4;
}

/**
 * LZ4 files: the frame format (magic 0x184D2204; independent and linked blocks, stored blocks,
 * content size, block and content checksums verified with xxHash32, skippable frames skipped) and
 * the legacy format of `lz4 -l`, Linux and Android ramdisks (magic 0x184C2102, blocks of at most
 * 8 MiB, several streams in a row). The sole member is named like the gzip one (`ramdisk.lz4` ->
 * `ramdisk`); a compressed tar is listed as one level. Decoding goes through `ctx.decode`, under the
 * scan's budget and ratio limits. Not handled: frames that need a dictionary (UnsupportedError).
 */
export const lz4: ContainerReader = {
  id: 'lz4',
  description: 'LZ4 frames and legacy frames (lz4 -l, Linux/Android ramdisks), checksums verified; a compressed tar is listed as one level',
  kind: 'compression',
  extensions: ['.lz4'],
  signatures: [
    { offset: 0, magic: [0x04, 0x22, 0x4d, 0x18], note: 'LZ4 frame' },
    { offset: 0, magic: [0x02, 0x21, 0x4c, 0x18], note: 'LZ4 legacy (kernel ramdisks)' },
    // Skippable frames 0x184D2A50-0x184D2A5F: `match` looks past them for a frame.
    ...Array.from({ length: 16 }, (_, i) => ({ offset: 0, magic: [0x50 + i, 0x2a, 0x4d, 0x18], note: 'skippable frame' })),
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    let at = 0;
    // Look past a few leading skippable frames that fit in the head.
    for (let i = 0; i < MATCH_SKIPS && h.length >= at + 8 && (u32le(h, at, 'LZ4 data') & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC; i++) {
      at += 8 + u32le(h, at + 4, 'LZ4 data');
    }
    return startsLz4(h, at);
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const name = memberName(ctx.name, SUFFIXES);
    yield* compressedEntries(src, ctx, { format: 'lz4', name, open: (report) => unlz4(src, ctx, report) });
  },
};
