import { FormatError, UnsupportedError } from '../errors.js';
import { BufferSource, type ByteSource } from '../io/byte-source.js';

/*
 * The bzip2 decoder (the container reader, containers/bzip2.ts, streams it under the decode budget;
 * OTA payload REPLACE_BZ operations call `decodeBzip2Sync`).
 *
 * Why a decoder of our own: node:zlib has no bzip2, and the pure-JS seek-bzip decodes a whole buffer
 * synchronously, one bit and one output byte per function call (8.6 MB/s here), with no way to stop
 * a bomb inside a block. @foxglove/wasm-bz2 is faster but must be told the output size and holds it
 * all. This is the reference algorithm (bzip2 1.0.8 decompress.c, as in seek-bzip/micro-bunzip) with
 * a 32-bit bit accumulator, Huffman codes decoded from a 20-bit peek instead of bit by bit, one
 * reused BWT vector per stream (at most 900k x 4 bytes), and an inverse-BWT/run-length stage that
 * yields 1 MiB pieces, so the DecodeBudget can stop a bomb inside a block.
 */

const OUT_PIECE = 1024 * 1024;
const IN_PIECE = 64 * 1024;
/** Block header magic, BCD digits of pi: 0x314159265359 ('1AY&SY'), read as two 24-bit halves. */
const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
/** End-of-stream magic, BCD digits of sqrt(pi): 0x177245385090. */
const EOS_MAGIC_HI = 0x177245;
const EOS_MAGIC_LO = 0x385090;
const MAX_GROUPS = 6;
const GROUP_SIZE = 50;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
/** bzip2 1.0.8 reads but ignores selectors past this count (CVE-2019-12900). */
const MAX_SELECTORS = 18002;
/** Longest run of RUNA/RUNB symbols bzip2 accepts (its N >= 2 MiB check). */
const MAX_RUN_WEIGHT = 2 * 1024 * 1024;
const TABLE_STRIDE = MAX_CODE_LEN + 2;

/** CRC-32 as bzip2 computes it: polynomial 0x04C11DB7, most significant bit first. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/**
 * Bits of a ByteSource, most significant first, read on demand 64 KiB at a time. Past the end it
 * supplies a few zero bytes so that a 20-bit peek works at the very end; consuming them is reported
 * by `checkOverrun` as truncation.
 */
class BitInput {
  private buf: Uint8Array = new Uint8Array(0);
  private i = 0;
  private bufStart: number;
  private acc = 0;
  private count = 0;
  private padding = 0;
  constructor(
    private readonly src: ByteSource,
    start: number,
    private readonly what: string,
  ) {
    this.bufStart = start;
  }
  private nextByte(): number {
    if (this.i < this.buf.length) return this.buf[this.i++] as number;
    const at = this.bufStart + this.buf.length;
    if (at < this.src.size) {
      this.buf = this.src.read(at, Math.min(IN_PIECE, this.src.size - at)).slice();
      this.bufStart = at;
      this.i = 1;
      return this.buf[0] as number;
    }
    if (++this.padding > 8) this.truncated();
    return 0;
  }
  private truncated(): never {
    throw new FormatError(`The bzip2 data of ${this.what} ends inside a block.`, 'truncated');
  }
  /** Reads `n` bits, 1 to 24. */
  read(n: number): number {
    while (this.count < n) {
      this.acc = (this.acc << 8) | this.nextByte();
      this.count += 8;
    }
    this.count -= n;
    return (this.acc >>> this.count) & ((1 << n) - 1);
  }
  read32(): number {
    return this.read(16) * 65536 + this.read(16);
  }
  /** The next 20 bits without consuming them. */
  peek20(): number {
    while (this.count < 20) {
      this.acc = (this.acc << 8) | this.nextByte();
      this.count += 8;
    }
    return (this.acc >>> (this.count - 20)) & 0xfffff;
  }
  skip(n: number): void {
    this.count -= n;
  }
  /** Throws when bits past the end of the source were consumed. */
  checkOverrun(): void {
    if (this.padding * 8 > this.count) this.truncated();
  }
  /** Drops the bits left in the current byte (streams start on a byte boundary). */
  align(): void {
    this.count -= this.count % 8;
  }
  /** Offset of the next unread byte once aligned. */
  get position(): number {
    return this.bufStart + this.i - this.count / 8;
  }
}

/** What the inverse-BWT stage needs of a decoded block. */
interface BlockState {
  crc: number;
  pos: number;
  current: number;
  run: number;
  left: number;
}

function bad(what: string, detail: string): FormatError {
  return new FormatError(`Invalid bzip2 block in ${what}: ${detail}.`);
}

/**
 * Decodes one block after its magic: header, symbol map, selectors, Huffman tables, then the MTF and
 * RUNA/RUNB symbols into `tt`, and prepares the inverse BWT links (tt[i] = next << 8 | byte).
 */
function readBlock(bits: BitInput, tt: Uint32Array, what: string): BlockState {
  const crc = bits.read32();
  if (bits.read(1)) throw new UnsupportedError(`The bzip2 data of ${what} uses randomised blocks (bzip2 0.9.0), which aibom does not decode.`);
  const origPtr = bits.read(24);
  // Symbol map: 16 bits saying which 16-byte ranges occur, then 16 bits for each of those.
  const seqToUnseq = new Uint8Array(256);
  let nInUse = 0;
  const ranges = bits.read(16);
  for (let i = 0; i < 16; i++) {
    if (!(ranges & (0x8000 >>> i))) continue;
    const b = bits.read(16);
    for (let j = 0; j < 16; j++) if (b & (0x8000 >>> j)) seqToUnseq[nInUse++] = i * 16 + j;
  }
  if (nInUse === 0) throw bad(what, 'no symbols in use');
  const alphaSize = nInUse + 2;
  const nGroups = bits.read(3);
  if (nGroups < 2 || nGroups > MAX_GROUPS) throw bad(what, `${nGroups} Huffman groups (2-6 allowed)`);
  const nSelectors = bits.read(15);
  if (nSelectors < 1) throw bad(what, 'no selectors');
  const kept = Math.min(nSelectors, MAX_SELECTORS);
  const selectors = new Uint8Array(kept);
  const groupMtf = [0, 1, 2, 3, 4, 5];
  for (let i = 0; i < nSelectors; i++) {
    let j = 0;
    while (bits.read(1)) if (++j >= nGroups) throw bad(what, 'a selector past the last group');
    const v = groupMtf[j] as number;
    for (let k = j; k > 0; k--) groupMtf[k] = groupMtf[k - 1] as number;
    groupMtf[0] = v;
    if (i < kept) selectors[i] = v;
  }
  bits.checkOverrun();
  // Code lengths (delta coded from a 5-bit start), then canonical decode tables as bzip2 builds them.
  const limit = new Int32Array(MAX_GROUPS * TABLE_STRIDE);
  const base = new Int32Array(MAX_GROUPS * TABLE_STRIDE);
  const perm = new Uint16Array(MAX_GROUPS * MAX_ALPHA);
  const minLens = new Uint8Array(MAX_GROUPS);
  const maxLens = new Uint8Array(MAX_GROUPS);
  const len = new Uint8Array(alphaSize);
  for (let t = 0; t < nGroups; t++) {
    let curr = bits.read(5);
    let minLen = 32;
    let maxLen = 0;
    for (let i = 0; i < alphaSize; i++) {
      for (;;) {
        if (curr < 1 || curr > MAX_CODE_LEN) throw bad(what, `code length ${curr}`);
        if (!bits.read(1)) break;
        curr += bits.read(1) ? -1 : 1;
      }
      len[i] = curr;
      if (curr < minLen) minLen = curr;
      if (curr > maxLen) maxLen = curr;
    }
    minLens[t] = minLen;
    maxLens[t] = maxLen;
    const lo = t * TABLE_STRIDE;
    let pp = t * MAX_ALPHA;
    for (let l = minLen; l <= maxLen; l++) for (let s = 0; s < alphaSize; s++) if (len[s] === l) perm[pp++] = s;
    // cnt[l + 1] counts codes of length l, then cnt[l] = codes shorter than l (bzip2's `base`).
    const cnt = new Int32Array(MAX_CODE_LEN + 3);
    for (let s = 0; s < alphaSize; s++) cnt[(len[s] as number) + 1] = (cnt[(len[s] as number) + 1] as number) + 1;
    for (let l = 1; l < cnt.length; l++) cnt[l] = (cnt[l] as number) + (cnt[l - 1] as number);
    let vec = 0;
    for (let l = minLen; l <= maxLen; l++) {
      vec += (cnt[l + 1] as number) - (cnt[l] as number);
      limit[lo + l] = vec - 1;
      vec <<= 1;
    }
    // A code `zvec` of length l is symbol perm[zvec - base[l]].
    base[lo + minLen] = cnt[minLen] as number;
    for (let l = minLen + 1; l <= maxLen; l++) base[lo + l] = (((limit[lo + l - 1] as number) + 1) << 1) - (cnt[l] as number);
  }
  bits.checkOverrun();

  // Symbols: MTF indices and RUNA (0) / RUNB (1) run lengths, up to the end-of-block symbol.
  const eob = nInUse + 1;
  const max = tt.length;
  const yy = new Uint8Array(256);
  for (let i = 0; i < 256; i++) yy[i] = i;
  const unzftab = new Int32Array(256);
  let nblock = 0;
  let groupNo = -1;
  let groupLeft = 0;
  let lo = 0;
  let po = 0;
  let minLen = 0;
  let maxLen = 0;
  let runWeight = 0;
  let runLength = 0;
  for (;;) {
    if (groupLeft === 0) {
      if (++groupNo >= kept) throw bad(what, 'more symbols than selectors');
      const g = selectors[groupNo] as number;
      lo = g * TABLE_STRIDE;
      po = g * MAX_ALPHA;
      minLen = minLens[g] as number;
      maxLen = maxLens[g] as number;
      groupLeft = GROUP_SIZE;
      bits.checkOverrun();
    }
    groupLeft--;
    const peek = bits.peek20();
    let zn = minLen;
    let zvec = peek >>> (20 - zn);
    while (zvec > (limit[lo + zn] as number)) {
      if (++zn > maxLen) throw bad(what, 'an invalid Huffman code');
      zvec = peek >>> (20 - zn);
    }
    bits.skip(zn);
    const idx = zvec - (base[lo + zn] as number);
    if (idx < 0 || idx >= alphaSize) throw bad(what, 'a Huffman code out of range');
    const sym = perm[po + idx] as number;
    if (sym <= 1) {
      if (runWeight === 0) {
        runWeight = 1;
        runLength = 0;
      } else if (runWeight >= MAX_RUN_WEIGHT) {
        throw bad(what, 'a run longer than bzip2 allows');
      }
      runLength += (sym + 1) * runWeight;
      runWeight *= 2;
      continue;
    }
    if (runWeight !== 0) {
      runWeight = 0;
      const uc = seqToUnseq[yy[0] as number] as number;
      if (runLength > max - nblock) throw bad(what, `more than ${max} symbols`);
      unzftab[uc] = (unzftab[uc] as number) + runLength;
      tt.fill(uc, nblock, nblock + runLength);
      nblock += runLength;
    }
    if (sym === eob) break;
    if (nblock >= max) throw bad(what, `more than ${max} symbols`);
    // Move-to-front: the symbol's position in yy, moved to the front.
    const nn = sym - 1;
    const v = yy[nn] as number;
    if (nn < 16) for (let k = nn; k > 0; k--) yy[k] = yy[k - 1] as number;
    else yy.copyWithin(1, 0, nn);
    yy[0] = v;
    const uc = seqToUnseq[v] as number;
    unzftab[uc] = (unzftab[uc] as number) + 1;
    tt[nblock++] = uc;
  }
  bits.checkOverrun();
  if (origPtr >= nblock) throw bad(what, `origin pointer ${origPtr} past ${nblock} symbols`);
  // Inverse BWT links: counting sort by byte, each entry keeps its own byte in the low 8 bits.
  let sum = 0;
  for (let i = 0; i < 256; i++) {
    const c = unzftab[i] as number;
    unzftab[i] = sum;
    sum += c;
  }
  for (let i = 0; i < nblock; i++) {
    const uc = (tt[i] as number) & 0xff;
    const at = unzftab[uc] as number;
    tt[at] = (tt[at] as number) | (i << 8);
    unzftab[uc] = at + 1;
  }
  const first = tt[origPtr] as number;
  return { crc, pos: first >>> 8, current: first & 0xff, run: -1, left: nblock };
}

/** True when `b` starts with a bzip2 stream header: 'BZh' and a block size '1'-'9'. */
export function isBzip2StreamStart(b: Uint8Array): boolean {
  // 'BZh' then the block size '1'-'9' (x 100,000 bytes).
  return b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && (b[3] as number) >= 0x31 && (b[3] as number) <= 0x39;
}

/**
 * Decodes a bzip2 file, all concatenated streams (pbzip2 writes several), checking every block CRC
 * and stream CRC, and yields the output in pieces of at most 1 MiB (each a fresh buffer). Synchronous,
 * so that one core serves both the streaming reader (containers/bzip2.ts) and `decodeBzip2Sync`.
 * When bytes follow the last stream and start no other, `onTrailing` gets their offset and the
 * decode ends there.
 */
export function* bunzip2Pieces(src: ByteSource, what: string, onTrailing?: (offset: number) => void): Generator<Uint8Array> {
  let offset = 0;
  let tt = new Uint32Array(0);
  for (;;) {
    const head = src.read(offset, Math.min(4, src.size - offset));
    if (!isBzip2StreamStart(head))
      throw new FormatError(`No 'BZh1'-'BZh9' bzip2 stream header at offset ${offset} of ${what}.`, head.length < 4 ? 'truncated' : 'format');
    const blockMax = ((head[3] as number) - 0x30) * 100_000;
    if (tt.length < blockMax) tt = new Uint32Array(blockMax);
    const block = blockMax === tt.length ? tt : tt.subarray(0, blockMax);
    const bits = new BitInput(src, offset + 4, what);
    let streamCrc = 0;
    for (;;) {
      const hi = bits.read(24);
      const lo = bits.read(24);
      if (hi === EOS_MAGIC_HI && lo === EOS_MAGIC_LO) break;
      if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) {
        bits.checkOverrun();
        throw bad(what, `block magic 0x${hi.toString(16)}${lo.toString(16).padStart(6, '0')}`);
      }
      const s = readBlock(bits, block, what);
      // Inverse BWT and the initial run-length stage (4 equal bytes then a count), resumable.
      let { pos, current, run, left } = s;
      let crc = 0xffffffff;
      let out = new Uint8Array(OUT_PIECE);
      let o = 0;
      while (left > 0) {
        left--;
        const previous = current;
        pos = block[pos] as number;
        current = pos & 0xff;
        pos >>>= 8;
        let copies = 1;
        let byte = current;
        if (run++ === 3) {
          copies = current;
          byte = previous;
          current = -1;
        }
        if (o + copies > OUT_PIECE) {
          yield out.subarray(0, o);
          out = new Uint8Array(OUT_PIECE);
          o = 0;
        }
        for (let c = 0; c < copies; c++) {
          out[o++] = byte;
          crc = (crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ byte) & 0xff] as number);
        }
        if (current !== previous) run = 0;
      }
      if (o > 0) yield out.subarray(0, o);
      crc = ~crc >>> 0;
      if (crc !== s.crc) {
        throw new FormatError(`A bzip2 block of ${what} fails its CRC check (0x${s.crc.toString(16)} recorded, 0x${crc.toString(16)} computed).`);
      }
      streamCrc = (((streamCrc << 1) | (streamCrc >>> 31)) ^ crc) >>> 0;
    }
    const recorded = bits.read32();
    bits.checkOverrun();
    if (recorded !== streamCrc) {
      throw new FormatError(`The bzip2 stream CRC of ${what} is 0x${recorded.toString(16)}, but its blocks combine to 0x${streamCrc.toString(16)}.`);
    }
    bits.align();
    offset = bits.position;
    if (offset >= src.size) return;
    if (isBzip2StreamStart(src.read(offset, Math.min(4, src.size - offset)))) continue;
    onTrailing?.(offset);
    return;
  }
}

/**
 * Decodes a whole bzip2 buffer synchronously (all streams, CRCs checked), for callers that decode
 * small independent pieces on demand, such as an OTA payload's REPLACE_BZ operations read through a
 * block cache. Output past `maxOutput` bytes is a FormatError naming `what`, thrown within 1 MiB of
 * the bound, so a bomb costs at most `maxOutput` plus one piece. Bytes after the last stream that
 * start no stream are ignored. Not for large inputs: the streaming reader is (it yields to the event
 * loop and counts against the scan's decode budget).
 */
export function decodeBzip2Sync(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const piece of bunzip2Pieces(new BufferSource(input), what)) {
    total += piece.length;
    if (total > maxOutput) throw new FormatError(`The bzip2 data of ${what} decodes to more than ${maxOutput} bytes.`);
    parts.push(piece);
  }
  // A lone piece is a view of a 1 MiB buffer: copy it, so a small output does not pin the buffer
  // (callers keep outputs in a cache that counts their length).
  if (parts.length === 1) return (parts[0] as Uint8Array).slice();
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
