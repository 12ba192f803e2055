/**
 * Writes fastText model bytes as fasttext.cc `saveModel` lays them out (version 12, little-endian):
 * header, Args, Dictionary, then the input and output matrices (dense, or a quantized input header).
 * For tests; the matrices hold zeros.
 */
export interface FasttextSpec {
  dim?: number;
  model?: 1 | 2 | 3;
  loss?: 1 | 2 | 3 | 4;
  words?: string[];
  labels?: string[];
  /** Declared counts, to build inconsistent files. */
  nwords?: number;
  nlabels?: number;
  quantized?: boolean;
  pruneidx?: number;
  bucket?: number;
  version?: number;
  /** Rows of the dense output matrix (labels by default). */
  outputRows?: number;
}

export function fasttextBytes(s: FasttextSpec = {}): Uint8Array {
  const out: number[] = [];
  const i32 = (v: number): void => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    out.push(...b);
  };
  const i64 = (v: number): void => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v));
    out.push(...b);
  };
  const dim = s.dim ?? 4;
  const words = s.words ?? ['the', 'cat', '</s>'];
  const labels = s.labels ?? ['__label__pos', '__label__neg'];
  i32(793712314);
  i32(s.version ?? 12);
  // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate
  for (const v of [dim, 5, 25, 1, 5, 2, s.loss ?? 3, s.model ?? 3, s.bucket ?? 10, 0, 0, 100]) i32(v);
  out.push(...Buffer.alloc(8)); // t (double)
  i32(words.length + labels.length);
  i32(s.nwords ?? words.length);
  i32(s.nlabels ?? labels.length);
  i64(1234);
  i64(s.pruneidx ?? -1);
  for (const [list, type] of [
    [words, 0],
    [labels, 1],
  ] as const) {
    for (const w of list) {
      out.push(...Buffer.from(w, 'utf8'), 0);
      i64(7);
      out.push(type);
    }
  }
  for (let k = 0; k < (s.pruneidx ?? 0); k++) i64(0);
  const rows = words.length + (s.bucket ?? 10);
  if (s.quantized) {
    out.push(1, 0); // quant_input, qnorm
    i64(rows);
    i64(dim);
    i32(0); // codesize, then the product quantizer: not read
    return Uint8Array.from(out);
  }
  out.push(0);
  i64(rows);
  i64(dim);
  out.push(...Buffer.alloc(rows * dim * 4));
  out.push(0); // qout
  i64(s.outputRows ?? labels.length);
  i64(dim);
  out.push(...Buffer.alloc((s.outputRows ?? labels.length) * dim * 4));
  return Uint8Array.from(out);
}
