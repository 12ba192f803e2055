import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * fastText models (`.bin`, quantized `.ftz`), as fasttext.cc `saveModel` writes them, little-endian:
 *
 *   int32 magic 793712314, int32 version (11 or 12)
 *   Args: int32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn,
 *         lrUpdateRate; double t                                          (offsets 8..63)
 *   Dictionary: int32 size, nwords, nlabels; int64 ntokens, pruneidx_size (-1: none)   (64..91)
 *         size entries of { NUL-terminated word, int64 count, int8 type (0 word, 1 label) },
 *         then pruneidx_size pairs of int32
 *   bool quant_input; the input matrix: DenseMatrix { int64 m, n, m*n floats } or QuantMatrix
 *         { bool qnorm, int64 m, n, ... }; then bool qout and the output matrix.
 *
 * The dictionary is walked entry by entry through a read-ahead window (a large model holds millions of
 * words); label names are kept up to a bound. Matrix data is never read.
 */

const MAGIC = 793712314;
const MAX_ENTRIES = 100_000_000;
const MAX_WORD = 64 * 1024;
const MAX_LABELS_KEPT = 1000;
const WINDOW = 1024 * 1024;

const LOSSES = ['hs', 'ns', 'softmax', 'ova'] as const; // loss_name 1..4
const MODELS = ['cbow', 'skipgram', 'supervised'] as const; // model_name 1..3

export const fasttextMetadataSchema = z
  .strictObject({
    version: z.number().int().describe('File version (11 or 12).'),
    model: z.string().describe('`cbow`, `skipgram` or `supervised` (a classifier).'),
    loss: z.string().describe('`hs`, `ns`, `softmax` or `ova`.'),
    dim: z.number().int().nonnegative().describe('Vector dimensions.'),
    epoch: z.number().int().describe('Training epochs.'),
    wordNgrams: z.number().int().describe('Word n-gram length.'),
    minn: z.number().int().describe('Shortest character n-gram (0: none).'),
    maxn: z.number().int().describe('Longest character n-gram.'),
    bucket: z.number().int().describe('Hash buckets for n-grams.'),
    words: z.number().int().nonnegative().describe('Words in the dictionary.'),
    labels: z.number().int().nonnegative().describe('Labels (classes) in the dictionary.'),
    tokens: z.number().int().nonnegative().describe('Tokens seen in training.'),
    labelNames: z.array(z.string()).describe(`Label names in dictionary order (at most ${MAX_LABELS_KEPT}).`),
    pruned: z.boolean().describe('True when the dictionary was pruned (`-cutoff` at quantization).'),
    quantized: z.boolean().describe('True when the input matrix is product-quantized (a `.ftz`).'),
    inputRows: z.number().int().nonnegative().describe('Rows of the input matrix (words + buckets).'),
    outputRows: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Rows of the output matrix (labels or words); absent for a quantized input, whose size is not computed.'),
  })
  .meta({
    title: 'fastText metadata',
    description:
      'fastText word-vector and text-classification models (`.bin`, `.ftz`; magic 793712314): training arguments, dictionary sizes with label names, quantization, matrix sizes. The dictionary is walked without loading the matrices.',
  });
export type FasttextMetadata = z.infer<typeof fasttextMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid fastText model: ${message}`, truncated ? 'truncated' : 'format');
}

/** Sequential little-endian reads through a read-ahead window. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  constructor(
    private readonly src: ByteSource,
    public pos: number,
  ) {}
  private ensure(n: number, what: string): number {
    if (this.pos + n > this.src.size) fail(`${what} at offset ${this.pos} needs ${n} bytes, ${Math.max(0, this.src.size - this.pos)} remain.`, true);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      this.buf = this.src.read(this.pos, Math.min(Math.max(n, WINDOW), this.src.size - this.pos));
      this.bufStart = this.pos;
    }
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }
  i32(what: string): number {
    const i = this.ensure(4, what);
    return new DataView(this.buf.buffer, this.buf.byteOffset + i, 4).getInt32(0, true);
  }
  i64(what: string): number {
    const i = this.ensure(8, what);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + i, 8).getBigInt64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} at offset ${this.pos - 8} is out of range.`);
    return Number(v);
  }
  u8(what: string): number {
    return this.buf[this.ensure(1, what)]!;
  }
  /** A NUL-terminated string of at most MAX_WORD bytes (without its NUL). */
  word(what: string): Uint8Array {
    const start = this.pos;
    let p = start;
    for (;;) {
      if (p >= this.src.size) fail(`${what} at offset ${start} runs past the end of the ${this.src.size}-byte file without its NUL.`, true);
      if (p < this.bufStart || p >= this.bufStart + this.buf.length) {
        this.buf = this.src.read(p, Math.min(WINDOW, this.src.size - p));
        this.bufStart = p;
      }
      const end = this.buf.indexOf(0, p - this.bufStart);
      const stop = end >= 0 ? this.bufStart + end : this.bufStart + this.buf.length;
      if (stop - start > MAX_WORD) fail(`${what} at offset ${start} is longer than ${MAX_WORD} bytes without its NUL.`);
      if (end >= 0) {
        this.pos = stop + 1;
        return start >= this.bufStart ? this.buf.subarray(start - this.bufStart, end) : this.src.read(start, stop - start);
      }
      p = stop;
    }
  }
  skip(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.src.size) fail(`${what} of ${n} bytes at offset ${this.pos} runs past the end of the ${this.src.size}-byte file.`, true);
    this.pos += n;
  }
}

function checkedInt(v: number, min: number, max: number, field: string, at: number): number {
  if (v < min || v > max) fail(`field ${field} at offset ${at} is ${v}, outside [${min}, ${max}].`);
  return v;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Reads the header, the dictionary and the matrix headers. */
export function readFasttext(src: ByteSource): ModelInfo {
  const c = new Cursor(src, 0);
  if (c.i32('magic') !== MAGIC) fail('the magic at offset 0 is not 793712314.');
  const version = checkedInt(c.i32('version'), 11, 12, 'version', 4);
  const a: number[] = [];
  for (let i = 0; i < 12; i++) a.push(c.i32(`argument ${i}`));
  c.skip(8, 'argument t');
  const [dim, , epoch, , , wordNgrams, loss, model, bucket, minn, maxn] = a as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  checkedInt(dim, 1, 1_000_000, 'dim', 8);
  checkedInt(loss, 1, 4, 'loss', 32);
  checkedInt(model, 1, 3, 'model', 36);
  checkedInt(bucket, 0, 1_000_000_000, 'bucket', 40);
  const size = checkedInt(c.i32('dictionary size'), 0, MAX_ENTRIES, 'dictionary size', 64);
  const nwords = checkedInt(c.i32('nwords'), 0, size, 'nwords', 68);
  const nlabels = c.i32('nlabels');
  if (nwords + nlabels !== size) fail(`nwords ${nwords} + nlabels ${nlabels} at offsets 68 and 72 is not the dictionary size ${size}.`);
  const tokens = checkedInt(c.i64('ntokens'), 0, Number.MAX_SAFE_INTEGER, 'ntokens', 76);
  const pruneSize = checkedInt(c.i64('pruneidx_size'), -1, MAX_ENTRIES, 'pruneidx_size', 84);
  const labelNames: string[] = [];
  let words = 0;
  let labels = 0;
  for (let i = 0; i < size; i++) {
    const w = c.word(`dictionary entry ${i}`);
    c.skip(8, `dictionary entry ${i} count`);
    const type = c.u8(`dictionary entry ${i} type`);
    if (type === 0) words++;
    else if (type === 1) {
      labels++;
      if (labelNames.length < MAX_LABELS_KEPT) labelNames.push(utf8.decode(w).slice(0, 256));
    } else fail(`dictionary entry ${i} at offset ${c.pos - 1} has type ${type}, not 0 (word) or 1 (label).`);
  }
  if (words !== nwords || labels !== nlabels) fail(`the dictionary holds ${words} words and ${labels} labels, not the ${nwords} and ${nlabels} declared.`);
  if (pruneSize > 0) c.skip(8 * pruneSize, 'pruneidx');
  const quant = c.u8('quant_input');
  if (quant > 1) fail(`quant_input at offset ${c.pos - 1} is ${quant}, not a bool.`);
  if (quant === 1) c.skip(1, 'qnorm');
  const rows = checkedInt(c.i64('input matrix rows'), 0, Number.MAX_SAFE_INTEGER, 'input matrix rows', c.pos - 8);
  const cols = c.i64('input matrix columns');
  if (cols !== dim) fail(`the input matrix has ${cols} columns, not dim ${dim}.`);
  let outputRows: number | undefined;
  if (quant === 0) {
    c.skip(rows * cols * 4, 'input matrix data');
    const qout = c.u8('qout');
    if (qout === 0) {
      outputRows = checkedInt(c.i64('output matrix rows'), 0, Number.MAX_SAFE_INTEGER, 'output matrix rows', c.pos - 8);
      const outCols = c.i64('output matrix columns');
      if (outCols !== dim) fail(`the output matrix has ${outCols} columns, not dim ${dim}.`);
      // The last structure of the file: a cut model fails here rather than when it is loaded.
      c.skip(outputRows * outCols * 4, 'output matrix data');
    }
  }
  const metadata: FasttextMetadata = {
    version,
    model: MODELS[model - 1]!,
    loss: LOSSES[loss - 1]!,
    dim,
    epoch,
    wordNgrams,
    minn,
    maxn,
    bucket,
    words,
    labels,
    tokens,
    labelNames,
    pruned: pruneSize >= 0,
    quantized: quant === 1,
    inputRows: rows,
    ...opt('outputRows', outputRows),
  };
  return { confidence: 'high', metadata };
}

/** The card: a classifier's labels are its output classes; parameters from the matrix sizes when known. */
export function fasttextCard(md: FasttextMetadata): ModelCard {
  const supervised = md.model === 'supervised';
  return {
    format: 'fasttext',
    formatVersion: String(md.version),
    task: supervised ? 'text-classification' : 'word-embedding',
    architecture: md.model,
    inputs: [],
    outputs: supervised ? [{ name: 'labels', shape: [md.labels] }] : [{ name: 'vector', type: 'float32', shape: [md.dim] }],
    ...(md.outputRows !== undefined ? { parameters: Math.min((md.inputRows + md.outputRows) * md.dim, Number.MAX_SAFE_INTEGER) } : {}),
    weightTypes: md.quantized ? [] : ['float32'],
    quantized: md.quantized,
    ...(md.quantized ? { quantization: 'product' } : {}),
    operators: [],
    customOperators: false,
  };
}

/**
 * fastText `.bin` and `.ftz` models. `match` checks the magic and a version of 11 or 12; `inspect`
 * walks the dictionary. Not handled: the `.vec` text vectors (plain data, no header of their own).
 */
export const fasttext: ModelFormat = {
  id: 'fasttext',
  description: 'fastText model (.bin, .ftz): arguments, dictionary sizes and labels, quantization',
  extensions: ['.ftz'],
  // 793712314 as int32 little-endian.
  signatures: [{ offset: 0, magic: [0xba, 0x16, 0x4f, 0x2f], note: 'fastText magic 793712314' }],
  metadataSchema: fasttextMetadataSchema,
  card: (metadata) => fasttextCard(fasttextMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = probe.head;
    return (
      h.length >= 8 &&
      h[0] === 0xba &&
      h[1] === 0x16 &&
      h[2] === 0x4f &&
      h[3] === 0x2f &&
      (h[4] === 11 || h[4] === 12) &&
      h[5] === 0 &&
      h[6] === 0 &&
      h[7] === 0
    );
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readFasttext(src);
  },
};
