import { z } from 'zod';
import { FormatError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * GGUF (ggml-org/ggml docs/gguf.md): 'GGUF', a u32 version, the tensor and key-value counts, the
 * key-value pairs, the tensor infos, padding to `general.alignment`, then the tensor data. Version 1
 * wrote counts, string lengths, array lengths and dims as u32; versions 2 and 3 as u64 (3 only added
 * big-endian files, which carry the same version number byte-swapped). Everything here is read through
 * a chunked cursor that never reads a tensor's data: a 4 GB model costs the size of its header.
 */

// ---- a bounded little-endian cursor ------------------------------------------------------------------

/**
 * Sequential little-endian reads over a ByteSource, through a window of `chunk` bytes that slides
 * forward, so a header of a million small fields costs a few reads. Every read is checked against the
 * source's size first: a field past the end is a FormatError (code `truncated`) naming the field, its
 * offset and the file's size. Shared by the GGUF and legacy GGML readers.
 */
export class LeCursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private base = 0;
  /** Bytes actually read from the source, for tests of boundedness. */
  bytesRead = 0;

  constructor(
    private readonly src: ByteSource,
    public pos: number,
    private readonly format: string,
    private readonly chunk = 1024 * 1024,
  ) {}

  get size(): number {
    return this.src.size;
  }

  /** Bytes between the cursor and the end of the source. */
  get remaining(): number {
    return this.src.size - this.pos;
  }

  private fail(field: string, n: number): never {
    throw new FormatError(`Invalid ${this.format}: ${field} at offset ${this.pos} needs ${n} bytes, but the file ends at ${this.src.size}.`, 'truncated');
  }

  /** Makes `n` bytes at the cursor available and returns their index in the window; advances. */
  private take(n: number, field: string): number {
    if (n > this.src.size - this.pos) this.fail(field, n);
    if (this.pos < this.base || this.pos + n > this.base + this.buf.length) {
      const len = Math.min(Math.max(n, this.chunk), this.src.size - this.pos);
      this.buf = this.src.read(this.pos, len);
      this.bytesRead += this.buf.length;
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.base = this.pos;
    }
    const i = this.pos - this.base;
    this.pos += n;
    return i;
  }

  u8(field: string): number {
    const i = this.take(1, field); // take() may move the window: index first, then the view
    return this.view.getUint8(i);
  }
  i8(field: string): number {
    const i = this.take(1, field); // take() may move the window: index first, then the view
    return this.view.getInt8(i);
  }
  u16(field: string): number {
    const i = this.take(2, field); // take() may move the window: index first, then the view
    return this.view.getUint16(i, true);
  }
  i16(field: string): number {
    const i = this.take(2, field); // take() may move the window: index first, then the view
    return this.view.getInt16(i, true);
  }
  u32(field: string): number {
    const i = this.take(4, field); // take() may move the window: index first, then the view
    return this.view.getUint32(i, true);
  }
  i32(field: string): number {
    const i = this.take(4, field); // take() may move the window: index first, then the view
    return this.view.getInt32(i, true);
  }
  u64(field: string): bigint {
    const i = this.take(8, field); // take() may move the window: index first, then the view
    return this.view.getBigUint64(i, true);
  }
  i64(field: string): bigint {
    const i = this.take(8, field); // take() may move the window: index first, then the view
    return this.view.getBigInt64(i, true);
  }
  f32(field: string): number {
    const i = this.take(4, field); // take() may move the window: index first, then the view
    return this.view.getFloat32(i, true);
  }
  f64(field: string): number {
    const i = this.take(8, field); // take() may move the window: index first, then the view
    return this.view.getFloat64(i, true);
  }

  /** `n` bytes (n at most the window size: callers bound it first); the result is a view, do not modify. */
  bytes(n: number, field: string): Uint8Array {
    const i = this.take(n, field);
    return this.buf.subarray(i, i + n);
  }

  /** Moves past `n` bytes without reading them; past the end is a FormatError. */
  skip(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.src.size - this.pos) this.fail(field, n);
    this.pos += n;
  }

  /**
   * A string of `len` bytes of which the first `max` are decoded (UTF-8, invalid sequences replaced)
   * and the rest skipped: hostile or huge strings cost nothing to hold.
   */
  text(len: number, max: number, field: string): { text: string; truncated: boolean } {
    if (len > this.src.size - this.pos) this.fail(field, len);
    const keep = Math.min(len, max);
    const text = lenientUtf8.decode(this.bytes(keep, field));
    this.skip(len - keep, field);
    return { text, truncated: keep < len };
  }
}

const lenientUtf8 = new TextDecoder('utf-8', { fatal: false });

// ---- format facts ---------------------------------------------------------------------------------------

/** GGUF value types (gguf.md `gguf_metadata_value_type`), by value, with their fixed sizes (0: variable). */
const VALUE_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['uint8', 1],
  ['int8', 1],
  ['uint16', 2],
  ['int16', 2],
  ['uint32', 4],
  ['int32', 4],
  ['float32', 4],
  ['bool', 1],
  ['string', 0], // u64 length (u32 in v1) + bytes
  ['array', 0], // u32 element type, u64 count (u32 in v1), elements
  ['uint64', 8],
  ['int64', 8],
  ['float64', 8],
];
const T_STRING = 8;
const T_ARRAY = 9;

/**
 * ggml tensor types (ggml.h `ggml_type`), by value: name, elements per block and bytes per block, as
 * gguf-py's GGML_QUANT_SIZES and ggml-common.h's block structs state them. Gaps are types removed from
 * ggml (Q4_2, Q4_3, the repacked Q4_0_4_4 family); a file using one is reported with an unknown size.
 */
const GGML_TYPES: Readonly<Record<number, readonly [string, number, number]>> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36], // two halfs + 32 int8 (gguf-py still says 40, from when d and s were floats)
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66],
  17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98],
  19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18],
  21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82],
  23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56],
  30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54],
  35: ['TQ2_0', 256, 66],
  39: ['MXFP4', 32, 17],
  40: ['NVFP4', 64, 36],
  41: ['Q1_0', 128, 18],
};

/** Name of a ggml type value; `unknown(<n>)` for one this reader does not know. */
export function ggmlTypeName(t: number): string {
  return GGML_TYPES[t]?.[0] ?? `unknown(${t})`;
}

/** Types that are plain floats or integers, not quantized blocks. */
const PLAIN_TYPES = new Set(['F32', 'F16', 'BF16', 'F64', 'I8', 'I16', 'I32', 'I64']);

/** Card names of plain ggml types; quantized types keep their ggml name in lower case (`q4_k`). */
const CARD_TYPE: Readonly<Record<string, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
};

/** `llama_ftype` (llama.h) / gguf-py `LlamaFileType`, by value, without the `MOSTLY_` prefix. */
const FILE_TYPES: Readonly<Record<number, string>> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  4: 'Q4_1_SOME_F16',
  5: 'Q4_2', // removed from llama.cpp, still found in old files
  6: 'Q4_3', // removed
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  33: 'Q4_0_4_4', // removed
  34: 'Q4_0_4_8', // removed
  35: 'Q4_0_8_8', // removed
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
  39: 'NVFP4',
  40: 'Q1_0',
  1024: 'GUESSED',
};

/** Name of a `general.file_type` value, `unknown(<n>)` past the table. */
export function fileTypeName(t: number): string {
  return FILE_TYPES[t] ?? `unknown(${t})`;
}

// ---- bounds ------------------------------------------------------------------------------------------------

const MAX = {
  /** Far above any real model (llama.cpp files hold 20-60 pairs); also bounded by the file's size. */
  kv: 1_000_000,
  /** Kept in the metadata; further pairs are counted, not listed. */
  listedKv: 4096,
  tensors: 10_000_000,
  keyBytes: 65_535, // gguf.md: a key is at most 2^16 - 1 bytes
  /** String values kept; longer ones are cut (chat templates run to a few KiB, licences to more). */
  text: 4096,
  /** Arrays up to this length are listed; longer ones (tokens, merges, scores) are summarised. */
  inlineArray: 16,
  inlineText: 256,
  nameBytes: 65_535,
  /** ggml's GGML_MAX_DIMS. */
  dims: 4,
  /** Nesting of arrays of arrays (allowed by the spec, used by nothing we know). */
  arrayDepth: 4,
} as const;

// ---- metadata ------------------------------------------------------------------------------------------------

const scalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** One key-value pair of the header, as recorded (huge arrays summarised, long strings cut). */
export const ggufEntrySchema = z.strictObject({
  key: z.string().describe('The key as written (`general.architecture`).'),
  type: z.string().describe('GGUF value type: uint8 ... float64, string, or array.'),
  elementType: z.string().optional().describe('For arrays: the element type.'),
  length: z.number().int().nonnegative().optional().describe('For arrays: the number of elements.'),
  value: z
    .union([scalarSchema, z.array(scalarSchema)])
    .optional()
    .describe(
      '64-bit integers beyond 2^53 as decimal strings; non-finite floats as strings; arrays of at most 16 scalars or strings listed, longer ones only summarised by elementType and length.',
    ),
  truncated: z.literal(true).optional().describe('The string (or a listed string) was cut at 4096 (256 in arrays) bytes.'),
});
export type GgufEntry = z.infer<typeof ggufEntrySchema>;

const countByName = z.record(z.string(), z.number().int().nonnegative());

export const ggufMetadataSchema = z
  .strictObject({
    ggufVersion: z.number().int().describe('GGUF format version (1, 2 or 3).'),
    kvCount: z.number().int().nonnegative().describe('Key-value pairs in the header.'),
    tensorCount: z.number().int().nonnegative().describe('Tensors in the file.'),
    alignment: z.number().int().positive().describe('Alignment of tensor data (`general.alignment`, 32 when absent).'),
    dataOffset: z.number().int().nonnegative().describe('File offset where tensor data starts.'),
    dataBytes: z.number().int().nonnegative().describe('Bytes the tensors declare (end of the last tensor from dataOffset).'),
    architecture: z.string().optional().describe('`general.architecture` (`llama`, `whisper`, `bert`).'),
    name: z.string().optional().describe('`general.name`.'),
    basename: z.string().optional().describe('`general.basename`.'),
    sizeLabel: z.string().optional().describe('`general.size_label` (`7B`).'),
    version: z.string().optional().describe('`general.version`, the model version.'),
    author: z.string().optional().describe('`general.author`.'),
    organization: z.string().optional().describe('`general.organization`.'),
    description: z.string().optional().describe('`general.description`.'),
    license: z.string().optional().describe('`general.license` (an SPDX id or text).'),
    fileType: z.number().int().optional().describe('`general.file_type`, the llama_ftype value.'),
    quantization: z.string().optional().describe('Name of `general.file_type` (`Q4_K_M`).'),
    quantizationVersion: z.number().int().optional().describe('`general.quantization_version`.'),
    contextLength: z.number().int().optional().describe('`<architecture>.context_length`.'),
    embeddingLength: z.number().int().optional().describe('`<architecture>.embedding_length`.'),
    blockCount: z.number().int().optional().describe('`<architecture>.block_count`.'),
    tokenizer: z
      .strictObject({
        model: z.string().optional().describe('`tokenizer.ggml.model` (`llama`, `gpt2`).'),
        tokens: z.number().int().nonnegative().optional().describe('Length of `tokenizer.ggml.tokens`.'),
        merges: z.number().int().nonnegative().optional().describe('Length of `tokenizer.ggml.merges`.'),
      })
      .describe('The embedded tokenizer, summarised.'),
    parameters: z
      .strictObject({
        count: z.number().int().nonnegative().describe('Elements of all tensors, from their shapes.'),
        bytes: z.number().int().nonnegative().describe('Bytes of all tensors of known type.'),
        byType: countByName.describe('Elements per ggml type (`Q4_K`, `F32`).'),
      })
      .describe('Parameters computed from the tensor infos.'),
    tensorTypes: countByName.describe('Tensors per ggml type.'),
    kv: z.array(ggufEntrySchema).describe('Every key-value pair in file order (the first 4096).'),
    kvListed: z.number().int().nonnegative().optional().describe('Present when fewer pairs are listed than the file holds.'),
  })
  .meta({
    title: 'GGUF metadata',
    description:
      "llama.cpp / ggml models, GGUF versions 1-3, found by the magic 'GGUF' at offset 0. Every key-value pair of the header is listed; long token and merge lists are summarised by element type and length, never copied. Parameter counts and bytes per ggml type are computed from the tensor shapes; only the header is read, so a 4 GB model costs a few MiB. Tensor data cut short is a `truncated` problem on a model still reported.",
  });
export type GgufMetadata = z.infer<typeof ggufMetadataSchema>;

// ---- reading -------------------------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(`Invalid GGUF: ${message}`);
}

/** A u64 as a JS number when it is at most 2^53, else undefined. */
function safeNumber(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/** Reads lengths and counts whose width depends on the version (u32 in v1, u64 after). */
class GgufCursor extends LeCursor {
  constructor(
    src: ByteSource,
    pos: number,
    readonly wide: boolean,
  ) {
    super(src, pos, 'GGUF');
  }
  /** A length or count, checked to be at most `max`: the field named in the error. */
  count(field: string, max: number): number {
    const at = this.pos;
    const v = this.wide ? this.u64(field) : BigInt(this.u32(field));
    const n = safeNumber(v);
    if (n === undefined || n > max) fail(`${field} at offset ${at} is ${v}, more than ${max}.`);
    return n;
  }
  /** A GGUF string: its length, checked against what is left of the file, then at most `max` bytes decoded. */
  string(field: string, max: number): { text: string; truncated: boolean } {
    const at = this.pos;
    const len = this.count(`${field} length`, Number.MAX_SAFE_INTEGER);
    if (len > this.remaining) fail(`${field} at offset ${at} declares ${len} bytes, but only ${this.remaining} remain in the file.`);
    return this.text(len, max, field);
  }
}

function scalarValue(c: GgufCursor, type: number, field: string): string | number | boolean {
  switch (type) {
    case 0:
      return c.u8(field);
    case 1:
      return c.i8(field);
    case 2:
      return c.u16(field);
    case 3:
      return c.i16(field);
    case 4:
      return c.u32(field);
    case 5:
      return c.i32(field);
    case 6:
      return jsonFloat(c.f32(field));
    case 7:
      return c.u8(field) !== 0;
    case 10: {
      const v = c.u64(field);
      return safeNumber(v) ?? v.toString();
    }
    case 11: {
      const v = c.i64(field);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    case 12:
      return jsonFloat(c.f64(field));
    default:
      return fail(`${field} has value type ${type}, not a GGUF scalar type.`);
  }
}

/** Floats as JSON numbers; NaN and infinities, which JSON cannot hold, as their names. */
function jsonFloat(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

function valueTypeName(type: number, field: string, at: number): string {
  const t = VALUE_TYPES[type];
  if (t === undefined) fail(`${field} at offset ${at} has value type ${type}, outside 0..12.`);
  return t[0];
}

/** Skips one array's elements without keeping them; nested arrays are walked to find their end. */
function skipArray(c: GgufCursor, elemType: number, n: number, field: string, depth: number): void {
  const size = VALUE_TYPES[elemType]?.[1] ?? 0;
  if (size > 0) {
    c.skip(n * size, `${field} elements`);
    return;
  }
  if (depth >= MAX.arrayDepth) fail(`${field} nests arrays more than ${MAX.arrayDepth} deep.`);
  for (let i = 0; i < n; i++) {
    if (elemType === T_STRING) {
      const at = c.pos;
      const len = c.count(`${field}[${i}] length`, Number.MAX_SAFE_INTEGER);
      if (len > c.remaining) fail(`${field}[${i}] at offset ${at} declares ${len} bytes, but only ${c.remaining} remain in the file.`);
      c.skip(len, `${field}[${i}]`);
    } else {
      readArrayHeader(c, `${field}[${i}]`, depth + 1, true);
    }
  }
}

/** Reads an array value: element type and count, checked against the file, then the elements. */
function readArrayHeader(c: GgufCursor, field: string, depth: number, skipOnly: boolean): Omit<GgufEntry, 'key' | 'type'> {
  const at = c.pos;
  const elemType = c.u32(`${field} element type`);
  const elementType = valueTypeName(elemType, `${field} element type`, at);
  const n = c.count(`${field} element count`, Number.MAX_SAFE_INTEGER);
  // Each element takes at least its fixed size, or a length field: refuse counts the file cannot hold.
  const minSize = VALUE_TYPES[elemType]![1] || (elemType === T_STRING ? (c.wide ? 8 : 4) : c.wide ? 12 : 8);
  if (n > c.remaining / minSize) fail(`${field} at offset ${at} declares ${n} ${elementType} elements, more than the ${c.remaining} bytes left can hold.`);
  const out: Omit<GgufEntry, 'key' | 'type'> = { elementType, length: n };
  if (skipOnly || n > MAX.inlineArray || elemType === T_ARRAY) {
    skipArray(c, elemType, n, field, depth);
    return out;
  }
  const values: (string | number | boolean)[] = [];
  for (let i = 0; i < n; i++) {
    if (elemType === T_STRING) {
      const s = c.string(`${field}[${i}]`, MAX.inlineText);
      values.push(s.text);
      if (s.truncated) out.truncated = true;
    } else {
      values.push(scalarValue(c, elemType, `${field}[${i}]`));
    }
  }
  out.value = values;
  return out;
}

/** Reads one key-value pair. */
function readEntry(c: GgufCursor, index: number): GgufEntry {
  const keyAt = c.pos;
  const key = c.string(`key ${index}`, MAX.keyBytes);
  if (key.truncated) fail(`key ${index} at offset ${keyAt} is longer than ${MAX.keyBytes} bytes.`);
  const field = `value of '${key.text}'`;
  const typeAt = c.pos;
  const type = c.u32(`type of '${key.text}'`);
  const typeName = valueTypeName(type, `type of '${key.text}'`, typeAt);
  if (type === T_STRING) {
    const s = c.string(field, MAX.text);
    return s.truncated ? { key: key.text, type: typeName, value: s.text, truncated: true } : { key: key.text, type: typeName, value: s.text };
  }
  if (type === T_ARRAY) return { key: key.text, type: typeName, ...readArrayHeader(c, field, 0, false) };
  return { key: key.text, type: typeName, value: scalarValue(c, type, field) };
}

interface TensorTotals {
  count: number;
  bytes: number;
  byType: Map<string, number>;
  tensorTypes: Map<string, number>;
  /** End of the last tensor's data, relative to the data section. */
  dataEnd: number;
  /** The tensor whose data ends last, for the error message. */
  lastName: string;
}

function addChecked(a: number, b: number, what: string): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) fail(`${what} exceeds 2^53.`);
  return s;
}

function readTensorInfo(c: GgufCursor, i: number, alignment: number, t: TensorTotals): void {
  const what = `tensor info ${i}`;
  const name = c.string(`${what} name`, MAX.inlineText).text;
  const label = `tensor ${i} ('${name}')`;
  const dimsAt = c.pos;
  const nDims = c.u32(`${label} n_dimensions`);
  if (nDims > MAX.dims) fail(`${label} n_dimensions at offset ${dimsAt} is ${nDims}, more than ggml's ${MAX.dims}.`);
  let elements = 1;
  let first = 1;
  for (let d = 0; d < nDims; d++) {
    const at = c.pos;
    const v = c.wide ? c.u64(`${label} dimension ${d}`) : BigInt(c.u32(`${label} dimension ${d}`));
    const dim = safeNumber(v);
    if (dim === undefined) fail(`${label} dimension ${d} at offset ${at} is ${v}, more than 2^53.`);
    if (d === 0) first = dim;
    elements *= dim;
    if (!Number.isSafeInteger(elements)) fail(`${label} has more than 2^53 elements (dimension ${d} at offset ${at} is ${dim}).`);
  }
  const typeAt = c.pos;
  const type = c.u32(`${label} type`);
  const offAt = c.pos;
  const offset = safeNumber(c.u64(`${label} offset`));
  if (offset === undefined) fail(`${label} data offset at offset ${offAt} is more than 2^53.`);
  if (offset % alignment !== 0) fail(`${label} data offset ${offset} at offset ${offAt} is not a multiple of the alignment ${alignment}.`);
  const known = GGML_TYPES[type];
  const typeName = ggmlTypeName(type);
  t.count = addChecked(t.count, elements, 'The parameter count');
  t.byType.set(typeName, addChecked(t.byType.get(typeName) ?? 0, elements, `The ${typeName} element count`));
  t.tensorTypes.set(typeName, (t.tensorTypes.get(typeName) ?? 0) + 1);
  if (known === undefined) return; // a type newer than this reader: its size is unknown, its data unchecked
  const [, block, blockBytes] = known;
  if (first % block !== 0)
    fail(`${label} dimension 0 is ${first}, not a multiple of the ${block}-element block of ${typeName} (type ${type} at offset ${typeAt}).`);
  const bytes = (elements / block) * blockBytes;
  if (!Number.isSafeInteger(bytes)) fail(`${label} takes more than 2^53 bytes.`);
  t.bytes = addChecked(t.bytes, bytes, 'The parameter byte count');
  const end = addChecked(offset, bytes, `${label} data end`);
  if (end > t.dataEnd) {
    t.dataEnd = end;
    t.lastName = name;
  }
}

function sortedRecord(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** A scalar entry's value as a string, when it is one. */
function str(e: GgufEntry | undefined): string | undefined {
  return e !== undefined && e.type === 'string' && typeof e.value === 'string' ? e.value : undefined;
}

/** An integer entry's value, when it is one that fits. */
function int(e: GgufEntry | undefined): number | undefined {
  return e !== undefined && e.type !== 'string' && e.type !== 'array' && typeof e.value === 'number' && Number.isInteger(e.value) ? e.value : undefined;
}

/** Reads a GGUF header and tensor infos; throws FormatError when they break the spec. */
export function readGguf(src: ByteSource): { metadata: GgufMetadata; warnings: ModelWarning[]; bytesRead: number } {
  const head = new LeCursor(src, 0, 'GGUF');
  const magic = head.bytes(4, 'magic');
  // 'GGUF' at offset 0
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46) fail(`the file does not start with 'GGUF'.`);
  const version = head.u32('version');
  if (version === 0 || version > 3) {
    // A big-endian file (gguf.md v3) carries its version byte-swapped: 3 reads as 0x03000000.
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped >= 1 && swapped <= 3) throw new UnsupportedError(`GGUF version ${swapped} in big-endian byte order is not supported.`);
    if (version === 0) fail(`version at offset 4 is 0, expected 1, 2 or 3.`);
    throw new UnsupportedError(`GGUF version ${version} at offset 4 is newer than the versions 1-3 this reader knows.`);
  }
  const c = new GgufCursor(src, 8, version >= 2);
  const tensorCount = c.count('tensor_count', MAX.tensors);
  const kvCount = c.count('metadata_kv_count', MAX.kv);
  const headerEnd = c.pos;
  // Before any loop: each pair takes at least a key length, a type and one byte, each tensor info a
  // name length, n_dimensions, a type and an offset. Counts the file cannot hold are refused here.
  const minKv = c.wide ? 13 : 9;
  const minTensor = c.wide ? 24 : 20;
  const need = kvCount * minKv + tensorCount * minTensor;
  if (need > src.size - headerEnd) {
    fail(
      `metadata_kv_count ${kvCount} and tensor_count ${tensorCount} need at least ${need} bytes after offset ${headerEnd}, but the file has ${src.size - headerEnd}.`,
    );
  }

  const kv: GgufEntry[] = [];
  const byKey = new Map<string, GgufEntry>();
  const seen = new Set<string>();
  for (let i = 0; i < kvCount; i++) {
    const at = c.pos;
    const e = readEntry(c, i);
    if (seen.has(e.key)) fail(`key '${e.key}' at offset ${at} appears twice.`);
    seen.add(e.key);
    if (kv.length < MAX.listedKv) kv.push(e);
    byKey.set(e.key, e);
  }

  let alignment = 32;
  const align = byKey.get('general.alignment');
  if (align !== undefined) {
    const v = align.type === 'uint32' ? int(align) : undefined;
    if (v === undefined || v === 0 || (v & (v - 1)) !== 0)
      fail(`general.alignment is ${JSON.stringify(align.value)} (${align.type}), expected a uint32 power of two.`);
    alignment = v;
  }

  const totals: TensorTotals = { count: 0, bytes: 0, byType: new Map(), tensorTypes: new Map(), dataEnd: 0, lastName: '' };
  for (let i = 0; i < tensorCount; i++) readTensorInfo(c, i, alignment, totals);
  const infoEnd = c.pos;
  const dataOffset = Math.ceil(infoEnd / alignment) * alignment;

  const warnings: ModelWarning[] = [];
  const available = Math.max(0, src.size - dataOffset);
  if (totals.dataEnd > available) {
    warnings.push({
      severity: 'error',
      code: 'truncated',
      message: `GGUF tensor data needs ${totals.dataEnd} bytes from offset ${dataOffset} (up to the end of tensor '${totals.lastName}'), but the file has ${available}: it is truncated.`,
    });
  }

  const arch = str(byKey.get('general.architecture'));
  const fileType = int(byKey.get('general.file_type'));
  const tokens = byKey.get('tokenizer.ggml.tokens');
  const merges = byKey.get('tokenizer.ggml.merges');
  const tokenizerModel = str(byKey.get('tokenizer.ggml.model'));
  const opt = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [k]: v } as { [P in K]?: V }));
  const metadata: GgufMetadata = {
    ggufVersion: version,
    kvCount,
    tensorCount,
    alignment,
    dataOffset,
    dataBytes: totals.dataEnd,
    ...opt('architecture', arch),
    ...opt('name', str(byKey.get('general.name'))),
    ...opt('basename', str(byKey.get('general.basename'))),
    ...opt('sizeLabel', str(byKey.get('general.size_label'))),
    ...opt('version', str(byKey.get('general.version'))),
    ...opt('author', str(byKey.get('general.author'))),
    ...opt('organization', str(byKey.get('general.organization'))),
    ...opt('description', str(byKey.get('general.description'))),
    ...opt('license', str(byKey.get('general.license'))),
    ...opt('fileType', fileType),
    ...opt('quantization', fileType === undefined ? undefined : fileTypeName(fileType)),
    ...opt('quantizationVersion', int(byKey.get('general.quantization_version'))),
    ...opt('contextLength', arch === undefined ? undefined : int(byKey.get(`${arch}.context_length`))),
    ...opt('embeddingLength', arch === undefined ? undefined : int(byKey.get(`${arch}.embedding_length`))),
    ...opt('blockCount', arch === undefined ? undefined : int(byKey.get(`${arch}.block_count`))),
    tokenizer: {
      ...opt('model', tokenizerModel),
      ...opt('tokens', tokens?.type === 'array' ? tokens.length : undefined),
      ...opt('merges', merges?.type === 'array' ? merges.length : undefined),
    },
    parameters: { count: totals.count, bytes: totals.bytes, byType: sortedRecord(totals.byType) },
    tensorTypes: sortedRecord(totals.tensorTypes),
    kv,
    ...opt('kvListed', kv.length < kvCount ? kv.length : undefined),
  };
  return { metadata, warnings, bytesRead: head.bytesRead + c.bytesRead };
}

/** The normalized card of a GGUF model: the `general.*` facts, parameters and ggml types. */
export function ggufCard(metadata: Record<string, unknown>): ModelCard {
  const m = metadata as GgufMetadata;
  const types = Object.keys(m.parameters.byType);
  const quantizedTypes = types.some((t) => !PLAIN_TYPES.has(t) && !t.startsWith('unknown'));
  const card: ModelCard = {
    format: 'gguf',
    formatVersion: String(m.ggufVersion),
    inputs: [],
    outputs: [],
    parameters: m.parameters.count,
    parameterBytes: m.parameters.bytes,
    weightTypes: [...new Set(types.map((t) => CARD_TYPE[t] ?? t.toLowerCase()))].sort(),
    operators: [],
    customOperators: false,
  };
  if (m.name !== undefined) card.name = m.name;
  if (m.version !== undefined) card.version = m.version;
  if (m.description !== undefined) card.description = m.description;
  if (m.author !== undefined) card.author = m.author;
  else if (m.organization !== undefined) card.author = m.organization;
  if (m.license !== undefined) card.license = m.license;
  if (m.architecture !== undefined) card.architecture = m.architecture;
  if (m.tensorCount > 0) card.quantized = quantizedTypes;
  if (m.quantization !== undefined) card.quantization = m.quantization;
  return card;
}

/**
 * GGUF models (llama.cpp, whisper.cpp, ggml): every key-value pair of the header (huge arrays such as
 * token lists summarised by type and length), the tensor infos reduced to parameter counts per ggml
 * type, and a check that the tensor data fits in the file. Does not read tensor data, and does not read
 * big-endian GGUF (reported as unsupported).
 */
export const gguf: ModelFormat = {
  id: 'gguf',
  description: 'GGUF model (llama.cpp / ggml): architecture, name, licence, quantization, context length, tokenizer, parameters',
  extensions: ['.gguf'],
  // 'GGUF' at offset 0 is a real magic: a matched file that then fails is a corrupt model.
  signatures: [{ offset: 0, magic: 'GGUF', note: 'GGUF magic' }],
  metadataSchema: ggufMetadataSchema,
  card: ggufCard,
  match(probe: Probe): boolean {
    // 'GGUF' then a version whose low bytes are plausible (1-3 little-endian, or byte-swapped big-endian).
    const h = probe.head;
    if (h.length < 8 || h[0] !== 0x47 || h[1] !== 0x47 || h[2] !== 0x55 || h[3] !== 0x46) return false;
    const le = h[4]! | (h[5]! << 8) | (h[6]! << 16) | (h[7]! << 24);
    return (le >= 1 && le <= 0xffff) || (h[4] === 0 && h[5] === 0 && h[6] === 0 && h[7]! >= 1 && h[7]! <= 3);
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const { metadata, warnings } = readGguf(src);
    const info: ModelInfo = {
      // A model whose data is cut short is still a GGUF model, but not one that would load.
      confidence: warnings.length === 0 ? 'high' : 'medium',
      metadata: metadata as unknown as Record<string, unknown>,
    };
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
