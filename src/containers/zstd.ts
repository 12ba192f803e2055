import { Decompress } from 'fzstd';
import {
  fzstdFormatError,
  isSkippableMagic,
  looksLikeZstdFrame,
  readZstdBlockHeader,
  readZstdFrameHeader,
  ZSTD_MAGIC,
  ZSTD_MAX_HEADER,
} from '../decoders/zstd-frame.js';
import { FormatError, LimitError } from '../errors.js';
import { u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { allZero, compressedEntries, decoderError, decoderWindowLimit, memberName } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** Input and expected output gathered into one push to the decoder. */
const PUSH_TARGET = 1024 * 1024;

const SUFFIXES: Readonly<Record<string, string>> = { '.tzst': '.tar', '.tzstd': '.tar', '.zstd': '', '.zst': '' };

function zstdError(err: unknown, what: string): unknown {
  return fzstdFormatError(err, what) ?? decoderError(err, what);
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
function* walk(src: ByteSource, ctx: ContainerContext, report: boolean, what: string): Generator<Piece> {
  if (src.size < 4) throw new FormatError(`The zstd data is ${src.size} bytes, shorter than a frame magic.`, 'truncated');
  let off = 0;
  while (off < src.size) {
    if (off + 4 > src.size) throw new FormatError(`The zstd data ends inside a frame magic at offset ${off}.`, 'truncated');
    const magic = u32le(src.read(off, 4), 0, what);
    if (isSkippableMagic(magic)) {
      if (off + 8 > src.size) throw new FormatError(`The zstd skippable frame at offset ${off} is cut off.`, 'truncated');
      const size = u32le(src.read(off + 4, 4), 0, what);
      if (size > src.size - off - 8) throw new FormatError(`The zstd skippable frame at offset ${off} declares ${size} bytes past the end.`, 'truncated');
      off += 8 + size;
      yield { end: off, maxOutput: 0 };
      continue;
    }
    if (magic !== ZSTD_MAGIC) {
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
    const header = readZstdFrameHeader(src.read(off, Math.min(ZSTD_MAX_HEADER, src.size - off)), what, off);
    const limit = decoderWindowLimit(ctx.limits);
    if (header.window > limit) {
      throw new LimitError(
        `The zstd frame at offset ${off} needs a ${header.window}-byte window, more than the ${limit} bytes allowed by memoryBudget.`,
        'memoryBudget',
      );
    }
    let p = off + header.headerSize;
    for (;;) {
      if (p + 3 > src.size) throw new FormatError(`The zstd frame at offset ${off} is cut off before its last block.`, 'truncated');
      const block = readZstdBlockHeader(src.read(p, 3), 0, what, p);
      if (block.payload > src.size - p - 3) throw new FormatError(`The zstd block at offset ${p} runs past the end of the data.`, 'truncated');
      p += 3 + block.payload;
      if (block.last) {
        if (header.checksum) p += 4; // Content_Checksum
        if (p > src.size) throw new FormatError(`The zstd frame at offset ${off} is cut off inside its checksum.`, 'truncated');
        yield { end: p, maxOutput: block.maxOutput };
        break;
      }
      yield { end: p, maxOutput: block.maxOutput };
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
  for (const piece of walk(src, ctx, report, what)) {
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
  kind: 'compression',
  extensions: ['.zst', '.zstd', '.tzst'],
  signatures: [{ offset: 0, magic: [0x28, 0xb5, 0x2f, 0xfd], note: 'Zstandard frame' }],
  match(probe: Probe): boolean {
    // '28 B5 2F FD' frame magic, then a descriptor without the reserved bit.
    return looksLikeZstdFrame(probe.head);
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const name = memberName(ctx.name, SUFFIXES);
    yield* compressedEntries(src, ctx, { format: 'zstd', name, open: (report) => unzstd(src, ctx, report) });
  },
};
