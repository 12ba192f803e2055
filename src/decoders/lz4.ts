import { FormatError } from '../errors.js';

/**
 * Decodes one raw LZ4 block (the LZ4 block format: sequences of a token, literal run and match copy)
 * into `out`, which must be sized to the expected output, and returns the bytes written. Used by
 * EROFS (LZ4 and LZ4HC clusters), the LZ4 frame and legacy frame readers (boot ramdisks) and squashfs.
 * Every length and match offset is checked against input and output bounds: hostile input yields a
 * FormatError, never a read or write outside the buffers. With `partial`, the block may end before
 * `out` is full (EROFS clusters decode to a known maximum), otherwise output must fill `out` exactly
 * unless the input ends cleanly after its last literals.
 */
export function decodeLz4Block(input: Uint8Array, out: Uint8Array, what = 'LZ4 block', partial = true): number {
  let ip = 0;
  let op = 0;
  const iend = input.length;
  const oend = out.length;
  while (ip < iend) {
    const token = input[ip++]!;
    // Literal length: high nibble, 15 means more bytes follow (each 255 means continue).
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= iend) throw new FormatError(`Invalid ${what}: literal length runs past the end of the input.`, 'truncated');
        b = input[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (ip + lit > iend) throw new FormatError(`Invalid ${what}: ${lit} literals at input offset ${ip} run past the ${iend}-byte input.`, 'truncated');
    if (op + lit > oend) throw new FormatError(`Invalid ${what}: ${lit} literals at output offset ${op} overflow the ${oend}-byte output.`);
    // Short runs are copied byte by byte: a typed-array view per sequence costs more than the copy.
    if (lit < 32) {
      for (let k = 0; k < lit; k++) out[op + k] = input[ip + k]!;
    } else out.set(input.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip >= iend) break; // the last sequence has literals only
    if (ip + 2 > iend) throw new FormatError(`Invalid ${what}: match offset runs past the end of the input.`, 'truncated');
    const dist = input[ip]! | (input[ip + 1]! << 8);
    ip += 2;
    if (dist === 0 || dist > op)
      throw new FormatError(`Invalid ${what}: match distance ${dist} at output offset ${op} reaches before the start of the output.`);
    // Match length: low nibble + 4, 15 means more bytes follow.
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= iend) throw new FormatError(`Invalid ${what}: match length runs past the end of the input.`, 'truncated');
        b = input[ip++]!;
        len += b;
      } while (b === 255);
    }
    if (op + len > oend) throw new FormatError(`Invalid ${what}: a ${len}-byte match at output offset ${op} overflows the ${oend}-byte output.`);
    let from = op - dist;
    if (dist >= len && len >= 32) {
      out.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Short or overlapping copies (a run): byte by byte, as the format defines.
      for (let k = 0; k < len; k++) out[op++] = out[from++]!;
    }
  }
  if (!partial && op !== oend) throw new FormatError(`Invalid ${what}: decoded ${op} bytes where ${oend} were expected.`, 'truncated');
  return op;
}
