import { FormatError } from '../errors.js';

/**
 * The one helper every number read from input passes through before it sizes an allocation, indexes
 * a table or moves a cursor. `what` names the field in the error: "Invalid zip: entry count 4294967295
 * exceeds 500000."
 */
export function checked(value: number | bigint, min: number, max: number, what: string): number {
  const n = typeof value === 'bigint' ? (value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.NaN) : value;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new FormatError(`${what} ${String(value)} is outside [${min}, ${max}].`);
  }
  return n;
}

/** Checks that [offset, offset + length) lies within [0, size). */
export function checkedRange(offset: number | bigint, length: number | bigint, size: number, what: string): { offset: number; length: number } {
  const o = checked(offset, 0, size, `${what} offset`);
  const l = checked(length, 0, size - o, `${what} length`);
  return { offset: o, length: l };
}
