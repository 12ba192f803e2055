import { Decompress } from 'fzstd';
import { FormatError, LimitError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { allZero, compressedEntries, decoderError, decoderWindowLimit, memberName } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** '28 B5 2F FD': zstd frame magic 0xFD2FB528, little-endian. */
const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size: no block decodes to more (RFC 8878, 3.1.1.2.3). */
const MAX_BLOCK = 128 * 1024;
/** Input and expected output gathered into one push to the decoder. */
const PUSH_TARGET = 1024 * 1024;

const SUFFIXES: Readonly<Record<string, string>> = { '.tzst': '.tar', '.tzstd': '.tar', '.zstd': '', '.zst': '' };

/** fzstd's ZstdErrorCode values. */
const FZSTD_ERRORS: Record<number, string> = {
  0: 'invalid data',
  1: 'window size too large',
  2: 'invalid block type',
  3: 'FSE accuracy too high',
  4: 'match distance too far back',
  5: 'unexpected end of input',
};

function zstdError(err: unknown, what: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (err instanceof Error && typeof code === 'number' && code in FZSTD_ERRORS) {
    return new FormatError(`Invalid zstd data in ${what}: ${FZSTD_ERRORS[code]}.`, code === 5 ? 'truncated' : 'format');
  }
  return decoderError(err, what);
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;
}

/** One range of input for the decoder and the most output it can produce. */
interface Piece {
  end: number;
  maxOutput: number;
}

/**
 * Walks frames and block headers without decoding (3 bytes read per block), checking each frame
 * header before any work: reserved bits, dictionary (unsupported), window size against the decoder
 * memory limit (fzstd allocates the whole window per frame). Yields input boundaries with the most
 * output each piece can produce, so that a bomb of RLE blocks (4 input bytes, 128 KiB output each)
 * is fed to the decoder a few blocks at a time. Trailing bytes that start no frame end the walk.
 */
function* walk(src: ByteSource, ctx: ContainerContext, report: boolean): Generator<Piece> {
  if (src.size < 4) throw new FormatError(`The zstd data is ${src.size} bytes, shorter than a frame magic.`, 'truncated');
  let off = 0;
  while (off < src.size) {
    if (off + 4 > src.size) throw new FormatError(`The zstd data ends inside a frame magic at offset ${off}.`, 'truncated');
    const magic = u32(src.read(off, 4), 0);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (off + 8 > src.size) throw new FormatError(`The zstd skippable frame at offset ${off} is cut off.`, 'truncated');
      const size = u32(src.read(off + 4, 4), 0);
      if (size > src.size - off - 8) throw new FormatError(`The zstd skippable frame at offset ${off} declares ${size} bytes past the end.`, 'truncated');
      off += 8 + size;
      yield { end: off, maxOutput: 0 };
      continue;
    }
    if (magic !== FRAME_MAGIC) {
      if (off === 0) throw new FormatError(`No zstd frame magic at offset 0.`);
      if (report && !allZero(src, off)) {
        ctx.problem({
          severity: 'warning',
          code: 'format',
          message: `The ${src.size - off} bytes after the zstd frames (from offset ${off}) start no frame; ignored.`,
        });
      }
      return;
    }
    const h = src.read(off, Math.min(18, src.size - off));
    if (h.length < 6) throw new FormatError(`The zstd frame header at offset ${off} is cut off.`, 'truncated');
    // Frame_Header_Descriptor: FCS flag (2 bits), Single_Segment, unused, reserved, checksum, dictionary id flag (2).
    const fhd = h[4] as number;
    if (fhd & 0x08) throw new FormatError(`The zstd frame at offset ${off} sets the reserved descriptor bit.`);
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const didSize = [0, 1, 2, 4][fhd & 3] as number;
    const fcsSize = fcsFlag === 0 ? single : ([0, 2, 4, 8][fcsFlag] as number);
    const headerSize = 5 + (single ? 0 : 1) + didSize + fcsSize;
    if (h.length < headerSize) throw new FormatError(`The zstd frame header at offset ${off} is cut off.`, 'truncated');
    let at = 5 + (single ? 0 : 1);
    let dictId = 0;
    for (let i = 0; i < didSize; i++) dictId += (h[at + i] as number) * 2 ** (8 * i);
    at += didSize;
    if (dictId !== 0) throw new UnsupportedError(`The zstd frame at offset ${off} needs dictionary ${dictId}, which aibom does not have.`);
    let window: number;
    if (single) {
      window = 0;
      for (let i = 0; i < fcsSize; i++) window += (h[at + i] as number) * 2 ** (8 * i);
      if (fcsSize === 2) window += 256;
    } else {
      const wd = h[5] as number;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    const limit = decoderWindowLimit(ctx.limits);
    if (window > limit) {
      throw new LimitError(
        `The zstd frame at offset ${off} needs a ${window}-byte window, more than the ${limit} bytes allowed by memoryBudget.`,
        'memoryBudget',
      );
    }
    let p = off + headerSize;
    for (;;) {
      if (p + 3 > src.size) throw new FormatError(`The zstd frame at offset ${off} is cut off before its last block.`, 'truncated');
      const b = src.read(p, 3);
      const bh = (b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16);
      const last = bh & 1;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      if (type === 3) throw new FormatError(`The zstd block at offset ${p} uses the reserved block type 3.`);
      if (size > MAX_BLOCK) throw new FormatError(`The zstd block at offset ${p} declares ${size} bytes, more than the ${MAX_BLOCK}-byte maximum.`);
      const payload = type === 1 ? 1 : size; // RLE: one byte repeated `size` times
      if (payload > src.size - p - 3) throw new FormatError(`The zstd block at offset ${p} runs past the end of the data.`, 'truncated');
      p += 3 + payload;
      if (last) {
        if (fhd & 0x04) p += 4; // Content_Checksum
        if (p > src.size) throw new FormatError(`The zstd frame at offset ${off} is cut off inside its checksum.`, 'truncated');
        yield { end: p, maxOutput: type === 2 ? MAX_BLOCK : size };
        break;
      }
      yield { end: p, maxOutput: type === 2 ? MAX_BLOCK : size };
    }
    off = p;
  }
}

/**
 * Decodes a zstd file (all frames, skippable ones skipped) with fzstd's streaming Decompress,
 * pushing about 1 MiB of input or of potential output at a time and yielding what each push made.
 */
async function* unzstd(src: ByteSource, ctx: ContainerContext, report: boolean): AsyncGenerator<Uint8Array> {
  const what = `zstd stream ${JSON.stringify(ctx.name)}`;
  const out: Uint8Array[] = [];
  const d = new Decompress((chunk) => {
    if (chunk.length > 0) out.push(chunk);
  });
  let start = 0;
  let end = 0;
  let pending = 0;
  const push = (final: boolean): void => {
    try {
      // A copy: fzstd keeps references to incomplete input between pushes.
      d.push(Uint8Array.prototype.slice.call(src.read(start, end - start)), final);
    } catch (err) {
      throw zstdError(err, what);
    }
    start = end;
    pending = 0;
  };
  for (const piece of walk(src, ctx, report)) {
    end = piece.end;
    pending += piece.maxOutput;
    if (pending >= PUSH_TARGET || end - start >= PUSH_TARGET) {
      push(false);
      yield* out.splice(0);
    }
  }
  push(true);
  yield* out.splice(0);
}

/** zstd files (RFC 8878, multi-frame); a .tar.zst lists the tar's members directly. */
export const zstd: ContainerReader = {
  id: 'zstd',
  description: 'Zstandard streams (RFC 8878, multi-frame, via fzstd); a compressed tar is listed as one level',
  match(probe: Probe): boolean {
    const h = probe.head;
    // '28 B5 2F FD' frame magic, then a descriptor without the reserved bit.
    return h.length >= 6 && h[0] === 0x28 && h[1] === 0xb5 && h[2] === 0x2f && h[3] === 0xfd && ((h[4] as number) & 0x08) === 0;
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const name = memberName(ctx.name, SUFFIXES);
    yield* compressedEntries(src, ctx, { format: 'zstd', name, open: (report) => unzstd(src, ctx, report) });
  },
};
