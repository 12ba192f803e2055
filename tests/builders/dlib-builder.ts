/**
 * dlib::serialize encodings for tests (dlib/serialize.h): packed integers (a header byte holding the
 * count of little-endian value bytes and the sign in bit 7), strings (packed length + bytes), floats
 * (packed mantissa and exponent). Layouts of a shape_predictor and of a DNN's head and tail built on them.
 */
export function packInt(v: number): number[] {
  const neg = v < 0;
  let x = Math.abs(v);
  const bytes: number[] = [];
  do {
    bytes.push(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  return [bytes.length | (neg ? 0x80 : 0), ...bytes];
}

export function packString(s: string): number[] {
  return [...packInt(s.length), ...Buffer.from(s, 'latin1')];
}

/** A float as dlib's portable pair (mantissa, exponent); the value itself does not matter to the reader. */
export function packFloat(i: number): number[] {
  return [...packInt(1000 + i), ...packInt(-10)];
}

/** A shape_predictor: version 1, initial_shape (2 * landmarks x 1), forests of trees (trees left empty). */
export function shapePredictorBytes(landmarks = 68, forests = 15, trees = 500, rowsOverride?: number): Uint8Array {
  const rows = rowsOverride ?? landmarks * 2;
  const out = [...packInt(1), ...packInt(-rows), ...packInt(-1)];
  for (let i = 0; i < rows; i++) out.push(...packFloat(i));
  out.push(...packInt(forests));
  if (forests > 0) out.push(...packInt(trees));
  out.push(...new Array<number>(64).fill(0));
  return Uint8Array.from(out);
}

/** A DNN: version ints down to the input layer, then layers by name with some parameter bytes, then the loss. */
export function dnnBytes(input: string, layers: string[], loss: string, depth = 6): Uint8Array {
  const out: number[] = [...packInt(1)];
  for (let i = 0; i < depth; i++) out.push(...packInt(2));
  out.push(...packString(input), ...packInt(150), ...packInt(150));
  for (const l of layers) out.push(...packString(l), ...packInt(5), ...packFloat(1), ...packFloat(2));
  out.push(...packString(loss), ...packFloat(3));
  return Uint8Array.from(out);
}
