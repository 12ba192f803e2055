import crypto from 'node:crypto';
import { Decompress, decompress } from 'fzstd';
import { AibomError, FormatError, LimitError, UnsupportedError } from '../../errors.js';
import { decodeXzSync } from '../../decoders/xz-sync.js';
import { decodeBzip2Sync } from '../../decoders/bzip2.js';
import { fzstdFormatError, isSkippableMagic, readZstdFrameHeader, zstdFrameEnd } from '../../decoders/zstd-frame.js';
import { u32le } from '../../io/binary.js';

/**
 * Synchronous, bounded decoders for the data of one OTA payload install operation (REPLACE_BZ,
 * REPLACE_XZ, REPLACE_ZSTD), as ExtentSource's `decoded` extents need them: each operation's data is
 * small (update_engine splits full payloads into 1-2 MiB chunks) and decoded on first read.
 * Not for whole streams: the compression wrappers (bzip2.ts, xz.ts, zstd.ts) stream those under the
 * scan's decode budget.
 */

/** InstallOperation.Type values (update_metadata.proto). */
export const OP = Object.freeze({
  REPLACE: 0,
  REPLACE_BZ: 1,
  MOVE: 2,
  BSDIFF: 3,
  SOURCE_COPY: 4,
  SOURCE_BSDIFF: 5,
  ZERO: 6,
  DISCARD: 7,
  REPLACE_XZ: 8,
  PUFFDIFF: 9,
  BROTLI_BSDIFF: 10,
  ZUCCHINI: 11,
  LZ4DIFF_BSDIFF: 12,
  LZ4DIFF_PUFFDIFF: 13,
  REPLACE_ZSTD: 14,
});

/** Name of an operation type for messages, e.g. `SOURCE_COPY`, or `type 99` when unknown. */
export function opName(type: number): string {
  for (const [name, value] of Object.entries(OP)) if (value === type) return name;
  return `type ${type}`;
}

/** Operations whose data alone gives the new blocks: readable without the source build. */
export function isReplaceType(type: number): boolean {
  return type === OP.REPLACE || type === OP.REPLACE_BZ || type === OP.REPLACE_XZ || type === OP.REPLACE_ZSTD;
}

/** Operations that need the blocks of the source build (incremental payloads). */
export function isDeltaType(type: number): boolean {
  return (
    type === OP.MOVE ||
    type === OP.BSDIFF ||
    type === OP.SOURCE_COPY ||
    type === OP.SOURCE_BSDIFF ||
    type === OP.PUFFDIFF ||
    type === OP.BROTLI_BSDIFF ||
    type === OP.ZUCCHINI ||
    type === OP.LZ4DIFF_BSDIFF ||
    type === OP.LZ4DIFF_PUFFDIFF
  );
}

/** A window this large is allowed whatever the output (zstd -19 streams use 8 MiB). */
const ZSTD_WINDOW_FLOOR = 8 * 1024 * 1024;
/** Never more than the reference decoder's default limit. */
const ZSTD_WINDOW_CEILING = 128 * 1024 * 1024;

/**
 * Walks the frames and block headers of a zstd buffer without decoding, before fzstd allocates a
 * window per frame: reserved bits, dictionaries (unsupported), and a window no larger than twice the
 * expected output (zstd sizes windows to the input when it knows it) or 8 MiB, whichever is larger.
 * Returns whether every frame declares a non-zero Frame_Content_Size, and their sum.
 */
function checkZstdFrames(input: Uint8Array, maxOutput: number, what: string): { sized: boolean; declared: number } {
  let sized = true;
  let declared = 0;
  const windowMax = Math.min(ZSTD_WINDOW_CEILING, Math.max(ZSTD_WINDOW_FLOOR, 2 * maxOutput));
  let off = 0;
  if (input.length < 4) throw new FormatError(`The zstd data of ${what} is ${input.length} bytes, shorter than a frame magic.`, 'truncated');
  while (off < input.length) {
    if (off + 8 > input.length) throw new FormatError(`The zstd data of ${what} ends inside a frame header at offset ${off}.`, 'truncated');
    const magic = u32le(input, off, what);
    if (isSkippableMagic(magic)) {
      const size = u32le(input, off + 4, what);
      if (size > input.length - off - 8) throw new FormatError(`The zstd skippable frame at offset ${off} of ${what} runs past the end.`, 'truncated');
      off += 8 + size;
      continue;
    }
    const h = readZstdFrameHeader(input.subarray(off), what, off);
    if (h.contentSize === undefined || h.contentSize === 0) sized = false;
    declared += h.contentSize ?? 0;
    if (h.window > windowMax) {
      throw new FormatError(
        `The zstd frame at offset ${off} of ${what} asks for a ${h.window}-byte window, more than the ${windowMax} bytes its ${maxOutput}-byte output can need.`,
      );
    }
    off = zstdFrameEnd(input, off, h, what);
  }
  return { sized, declared };
}

/**
 * Decodes a whole zstd buffer (frames and skippable frames) synchronously, after a header walk that
 * bounds each frame's window; output past `maxOutput` is a FormatError. When every frame declares its
 * content size (as libzstd's one-shot API, which the payload generator uses, writes it), their sum is
 * checked against `maxOutput` first and fzstd's one-shot `decompress` writes each frame straight into
 * a buffer of that size (100-150 MiB/s here); its output then has the declared size, so a frame that
 * ends early is not detected here (zero-filled) - the operation's data_sha256_hash covers corruption.
 * Other frames go through fzstd's streaming decoder (15-30 MiB/s: it shifts its window per block),
 * whose callback stops the decode as soon as the output passes the bound. Dictionaries are unsupported.
 */
export function decodeZstdSync(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  const { sized, declared } = checkZstdFrames(input, maxOutput, what);
  if (sized) {
    if (declared > maxOutput) throw new FormatError(`The zstd data of ${what} declares ${declared} bytes, more than ${maxOutput}.`);
    return fzstdCall(what, () => decompress(input));
  }
  const out = new Uint8Array(maxOutput);
  let len = 0;
  const d = new Decompress((chunk) => {
    if (chunk.length > maxOutput - len) throw new FormatError(`The zstd data of ${what} decodes to more than ${maxOutput} bytes.`);
    out.set(chunk, len);
    len += chunk.length;
  });
  fzstdCall(what, () => d.push(input, true));
  return out.subarray(0, len);
}

/** Runs fzstd, turning its errors (numbered codes, typed-array errors on corrupt data) into FormatError. */
function fzstdCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AibomError) throw err;
    const typed = fzstdFormatError(err, what);
    if (typed !== undefined) throw typed;
    // fzstd reads past its input on some corrupt data: a RangeError or TypeError from a typed array.
    if (err instanceof RangeError || err instanceof TypeError) throw new FormatError(`Invalid zstd data in ${what}: ${err.message}.`);
    throw err;
  }
}

/**
 * Decodes the data of one REPLACE_BZ, REPLACE_XZ or REPLACE_ZSTD operation, which must produce
 * exactly `expected` bytes (its destination extents times the block size): more or fewer is a
 * FormatError naming `what`. `sha256`, when the manifest records one (data_sha256_hash), is checked
 * against the compressed data first.
 */
export function decodeOperation(type: number, data: Uint8Array, expected: number, what: string, sha256?: Uint8Array): Uint8Array {
  if (sha256 !== undefined && sha256.length > 0) {
    const got = crypto.createHash('sha256').update(data).digest();
    if (sha256.length !== got.length || !got.equals(sha256)) {
      throw new FormatError(
        `The data of ${what} does not match its data_sha256_hash (${Buffer.from(sha256).toString('hex')} recorded, ${got.toString('hex')} computed).`,
      );
    }
  }
  let out: Uint8Array;
  try {
    if (type === OP.REPLACE_BZ) out = decodeBzip2Sync(data, expected, what);
    else if (type === OP.REPLACE_XZ) out = decodeXzSync(data, expected, what);
    else if (type === OP.REPLACE_ZSTD) out = decodeZstdSync(data, expected, what);
    else throw new UnsupportedError(`${what} has operation ${opName(type)}, which carries no compressed data.`);
  } catch (err) {
    // The xz decoder reports output past its bound as a LimitError; here that bound is the
    // operation's own destination size, so more output is a format error, not a scan limit.
    if (err instanceof LimitError) throw new FormatError(`${what} decodes to more than the ${expected} bytes of its destination extents.`);
    throw err;
  }
  if (out.length !== expected) {
    throw new FormatError(
      `${what} decodes to ${out.length} bytes, but its destination extents hold ${expected}.`,
      out.length < expected ? 'truncated' : 'format',
    );
  }
  return out;
}
