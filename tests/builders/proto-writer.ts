/**
 * A minimal protobuf wire writer for test builders of protobuf-based formats (Caffe, Core ML,
 * sentencepiece): fields are appended in the order given, so a builder writes them in field-number
 * order as protobuf itself does. Negative int64s become 10-byte varints.
 */

const te = new TextEncoder();

export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

/** A varint field. */
export const pInt = (field: number, v: number | bigint | boolean): number[] => [...varint(field * 8), ...varint(typeof v === 'boolean' ? (v ? 1 : 0) : v)];
/** A length-delimited field holding bytes or a nested message. */
export const pBytes = (field: number, b: readonly number[] | Uint8Array): number[] => [...varint(field * 8 + 2), ...varint(b.length), ...b];
/** A string field. */
export const pStr = (field: number, s: string): number[] => pBytes(field, te.encode(s));
/** A 32-bit float field. */
export function pFloat(field: number, f: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, f, true);
  return [...varint(field * 8 + 5), ...b];
}
/** Packed varints. */
export const pPacked = (field: number, values: readonly (number | bigint)[]): number[] =>
  pBytes(
    field,
    values.flatMap((v) => varint(v)),
  );
/** Packed floats (`n` copies of 0.5). */
export function pFloats(field: number, n: number): number[] {
  const b = new Uint8Array(4 * n);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < n; i++) dv.setFloat32(4 * i, 0.5, true);
  return pBytes(field, b);
}
