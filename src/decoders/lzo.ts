import { FormatError } from '../errors.js';

/**
 * Decodes one LZO1X block (what liblzo's `lzo1x_1` and `lzo1x_999` compressors emit, as used by
 * squashfs `-comp lzo`, UBIFS and JFFS2) into `out` and returns the bytes written. The stream is a
 * series of instructions; the one byte that opens each says what it is, read together with `state`,
 * the number of literals the previous instruction copied after itself (0, 1-3, or 4 meaning a long
 * literal run):
 * - first byte 18..255: a literal run of (byte - 17) bytes;
 * - 0..15 with state 0: a literal run of 3 + length (length 0: 15 + zero bytes x 255 + next byte);
 * - 0..15 with state 1-3: a 2-byte match, distance 1 + (bits 2-3) + (next byte << 2);
 * - 0..15 with state 4: a 3-byte match, distance 2049 + (bits 2-3) + (next byte << 2);
 * - 16..31: a match of 2 + length (3 bits, 0 extends by 7), distance 16384 + (bit 3 << 14) +
 *   (LE16 >> 2); distance exactly 16384 is the end of stream (0x11 0x00 0x00);
 * - 32..63: a match of 2 + length (5 bits, 0 extends by 31), distance 1 + (LE16 >> 2);
 * - 64..255: a match of (byte >> 5) + 1 bytes, distance 1 + (bits 2-4) + (next byte << 3).
 * After each match, the two low bits of its last operand byte (or the opcode) give 0-3 literals that
 * follow. Every length and distance is checked against the input, the output and the bytes already
 * written: hostile input is a FormatError, never a read or write outside the buffers. The stream must
 * end with its end-of-stream marker exactly at the end of `input`, as liblzo's `_safe` decoder and the
 * kernel's squashfs require. Not handled: the kernel's LZO-RLE variant (zram), other LZO1 variants.
 */
export function decodeLzo1x(input: Uint8Array, out: Uint8Array, what = 'LZO1X block'): number {
  const iend = input.length;
  const oend = out.length;
  let ip = 0;
  let op = 0;

  const needInput = (n: number): void => {
    if (ip + n > iend)
      throw new FormatError(`Invalid ${what}: an instruction at input offset ${ip} needs ${n} more bytes than the ${iend}-byte input holds.`, 'truncated');
  };
  const literals = (n: number): void => {
    needInput(n);
    if (op + n > oend) throw new FormatError(`Invalid ${what}: ${n} literals at output offset ${op} overflow the ${oend}-byte output.`);
    if (n < 8) for (let k = 0; k < n; k++) out[op + k] = input[ip + k]!;
    else out.set(input.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  /** A length field of zero extends: each zero byte adds 255, the first non-zero byte ends it. */
  const extended = (base: number): number => {
    let n = base;
    for (;;) {
      needInput(1);
      const b = input[ip++]!;
      if (b !== 0) return n + b;
      n += 255;
      // Output can hold no more than `oend` bytes; a longer run is corrupt however it ends.
      if (n > oend) throw new FormatError(`Invalid ${what}: a length at input offset ${ip} exceeds the ${oend}-byte output.`);
    }
  };
  const match = (dist: number, len: number): void => {
    if (dist > op) throw new FormatError(`Invalid ${what}: match distance ${dist} at output offset ${op} reaches before the start of the output.`);
    if (op + len > oend) throw new FormatError(`Invalid ${what}: a ${len}-byte match at output offset ${op} overflows the ${oend}-byte output.`);
    let from = op - dist;
    if (dist >= len) {
      if (len < 16) for (let k = 0; k < len; k++) out[op + k] = out[from + k]!;
      else out.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Overlapping copy (a run): byte by byte, as the format defines.
      for (let k = 0; k < len; k++) out[op++] = out[from++]!;
    }
  };

  let state = 0;
  needInput(1);
  if (input[0]! > 17) {
    // First byte 18..255: a literal run with no match before it.
    const n = input[ip++]! - 17;
    literals(n);
    state = Math.min(n, 4);
  }
  for (;;) {
    needInput(1);
    const inst = input[ip++]!;
    let dist: number;
    let len: number;
    let trailing: number;
    if (inst < 16) {
      if (state === 0) {
        // 0000LLLL after no literals: a literal run of at least 4.
        const n = (inst === 0 ? extended(15) : inst) + 3;
        literals(n);
        state = 4;
        continue;
      }
      needInput(1);
      const far = state === 4;
      dist = (far ? 2049 : 1) + ((inst >> 2) & 3) + (input[ip++]! << 2);
      len = far ? 3 : 2;
      trailing = inst & 3;
    } else if (inst < 32) {
      // 0001HLLL + LE16: a far match; distance 16384 itself marks the end of the stream.
      len = ((inst & 7) === 0 ? extended(7) : inst & 7) + 2;
      needInput(2);
      const le16 = input[ip]! | (input[ip + 1]! << 8);
      ip += 2;
      dist = 16384 + ((inst & 8) << 11) + (le16 >> 2);
      trailing = le16 & 3;
      if (dist === 16384) break;
    } else if (inst < 64) {
      // 001LLLLL + LE16: a match within 16 KiB.
      len = ((inst & 31) === 0 ? extended(31) : inst & 31) + 2;
      needInput(2);
      const le16 = input[ip]! | (input[ip + 1]! << 8);
      ip += 2;
      dist = 1 + (le16 >> 2);
      trailing = le16 & 3;
    } else {
      // 01LDDDSS / 1LLDDDSS + one byte: a short match within 2 KiB.
      needInput(1);
      len = (inst >> 5) + 1;
      dist = 1 + ((inst >> 2) & 7) + (input[ip++]! << 3);
      trailing = inst & 3;
    }
    match(dist, len);
    if (trailing > 0) literals(trailing);
    state = trailing;
  }
  if (ip !== iend) throw new FormatError(`Invalid ${what}: ${iend - ip} bytes follow the end-of-stream marker at input offset ${ip - 3}.`);
  return op;
}
