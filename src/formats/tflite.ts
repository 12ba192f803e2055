import type { ByteSource } from '../io/byte-source.js';
import { DEFAULT_LIMITS, RATIO_FLOOR, type Limits } from '../io/limits.js';
import type { Probe } from '../probe.js';
import type { AssociatedFile, InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';
import { AibomError, FormatError } from '../errors.js';
import { FlatBufferReader, type ByteRange, type FlatBufferReaderOptions, type FlatTable, type FlatVector } from '../decoders/flatbuffers.js';
import { hashMember, readZipDirectory } from '../decoders/zip-directory.js';
import {
  tfliteMetadataSchema,
  type TfliteMetadata,
  type TfliteMetadataFile,
  type TfliteMetadataTensor,
  type TfliteModelMetadata,
  type TfliteOperator,
  type TfliteTensor,
} from './tflite-metadata.js';
import { tfliteCard } from './tflite-card.js';

/*
 * TensorFlow Lite models: a FlatBuffer with file identifier 'TFL3' whose root table is `tflite.Model`
 * (tensorflow/compiler/mlir/lite/schema/schema.fbs), optionally carrying a `TFLITE_METADATA` buffer
 * (a `tflite.ModelMetadata` FlatBuffer, identifier 'M001', tflite-support metadata_schema.fbs) and a
 * zip of associated files appended after the FlatBuffer.
 *
 * Field ids below count from 0 in schema order; a union takes two ids (type byte, then value).
 */

// ---- schema facts -------------------------------------------------------------------------------

/** `tflite.TensorType`, by value. */
const TENSOR_TYPES = [
  'float32',
  'float16',
  'int32',
  'uint8',
  'int64',
  'string',
  'bool',
  'int16',
  'complex64',
  'int8',
  'float64',
  'complex128',
  'uint64',
  'resource',
  'variant',
  'uint32',
  'uint16',
  'int4',
  'bfloat16',
] as const;

/** Bytes per element of each TensorType (0 where not fixed: string, resource, variant; int4 packs two). */
const TENSOR_TYPE_BYTES = [4, 2, 4, 1, 8, 0, 1, 2, 8, 1, 8, 16, 8, 0, 0, 4, 2, 0.5, 2];

/** `tflite.BuiltinOperator`, by value, ten per row (rows start at 0, 10, 20, ...). */
const BUILTIN_OPERATORS: readonly string[] = [
  'ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED',
  'HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU',
  'RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS',
  'SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE',
  'MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT',
  'LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG',
  'PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE',
  'EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN',
  'FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN',
  'FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE',
  'MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE',
  'RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE',
  'NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE',
  'BROADCAST_TO RFFT2D CONV_3D IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE',
  'REDUCE_ALL CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL',
  'GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST',
  'BITWISE_XOR RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD STABLEHLO_DIVIDE STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP STABLEHLO_CONCATENATE',
  'STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR',
  'STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE STABLEHLO_OR STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT STABLEHLO_SUBTRACT STABLEHLO_TANH',
  'STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT STABLEHLO_DYNAMIC_SLICE STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA STABLEHLO_DOT_GENERAL STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT',
  'STABLEHLO_WHILE STABLEHLO_GATHER STABLEHLO_TRANSPOSE DILATE STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW STABLEHLO_COMPOSITE COMPLEX',
].flatMap((row) => row.split(' '));

/** `BuiltinOperator.CUSTOM`: the operator is named by `OperatorCode.custom_code`. */
const CUSTOM_CODE = 32;

/** `tflite.AssociatedFileType` (metadata_schema.fbs), by value. */
const ASSOCIATED_FILE_TYPES = ['UNKNOWN', 'DESCRIPTIONS', 'TENSOR_AXIS_LABELS', 'TENSOR_VALUE_LABELS', 'TENSOR_AXIS_SCORE_CALIBRATION', 'VOCABULARY'] as const;

/** TensorType name of a value; `unknown(<n>)` past the enum. */
export function tensorTypeName(code: number): string {
  return TENSOR_TYPES[code] ?? `unknown(${code})`;
}

/** BuiltinOperator name of a value; `UNKNOWN_<n>` past the enum. */
export function builtinOperatorName(code: number): string {
  return BUILTIN_OPERATORS[code] ?? `UNKNOWN_${code}`;
}

// ---- bounds ---------------------------------------------------------------------------------------

const MAX = {
  subgraphs: 100_000,
  tensors: 1_000_000, // per subgraph
  operators: 1_000_000, // per subgraph
  operatorCodes: 100_000,
  buffers: 2_000_000, // kept as two Float64Arrays: 32 MB at most
  metadata: 10_000,
  signatureDefs: 10_000,
  signatureTensors: 100_000,
  ioTensors: 1_000_000, // entries of SubGraph.inputs/outputs, Operator.inputs/outputs
  listedIo: 4096, // subgraph inputs/outputs described in the metadata
  dims: 1024,
  quantValues: 16,
  text: 4096,
  metadataFiles: 10_000,
  metadataTensors: 100_000,
} as const;

// ---- decoding -------------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(`Invalid TFLite: ${message}`);
}

function toSafe(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is not a valid size or offset.`);
  return Number(v);
}

/** Where each Buffer's bytes are (offset -1: none) and how many, in typed arrays to bound memory. */
class BufferTable {
  constructor(
    readonly offsets: Float64Array,
    readonly sizes: Float64Array,
  ) {}
  get count(): number {
    return this.sizes.length;
  }
  size(i: number): number {
    return this.sizes[i] ?? 0;
  }
  range(i: number): ByteRange | undefined {
    const offset = this.offsets[i] ?? -1;
    return offset < 0 ? undefined : { offset, length: this.size(i) };
  }
}

function readBuffers(model: FlatTable, src: ByteSource): BufferTable {
  // Model.buffers: field 4
  const vec = model.vector(4, 4, MAX.buffers, 'Model.buffers');
  const n = vec?.length ?? 0;
  const table = new BufferTable(new Float64Array(n).fill(-1), new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const b = vec!.table(i, `Buffer ${i}`);
    // Buffer.data: field 0, a [ubyte] inside the FlatBuffer
    const data = b.bytesRange(0, Number.MAX_SAFE_INTEGER, `Buffer ${i} data`);
    if (data && data.length > 0) {
      table.offsets[i] = data.offset;
      table.sizes[i] = data.length;
      continue;
    }
    // Buffer.offset / Buffer.size: fields 1 and 2, for models over 2 GB whose data follows the
    // FlatBuffer; the offset counts from the start of the file and is meaningful only when > 1.
    const offset = toSafe(b.u64(1), `Buffer ${i} offset`);
    const size = toSafe(b.u64(2), `Buffer ${i} size`);
    if (offset > 1) {
      if (offset + size > src.size) fail(`Buffer ${i} offset ${offset} with size ${size} runs past the end of the ${src.size}-byte file.`);
      table.offsets[i] = offset;
      table.sizes[i] = size;
    }
  }
  return table;
}

function opKind(name: string): TfliteOperator['kind'] {
  if (name.startsWith('Flex')) return 'flex';
  if (name === 'edgetpu-custom-op') return 'edgetpu';
  return 'custom';
}

function readOperatorCodes(model: FlatTable): { name: string; kind: TfliteOperator['kind']; version: number }[] {
  // Model.operator_codes: field 1
  const vec = model.vector(1, 4, MAX.operatorCodes, 'Model.operator_codes');
  const out: { name: string; kind: TfliteOperator['kind']; version: number }[] = [];
  if (!vec) return out;
  for (let i = 0; i < vec.length; i++) {
    const oc = vec.table(i, `OperatorCode ${i}`);
    // OperatorCode.deprecated_builtin_code: field 0 (byte); builtin_code: field 3 (int). Old models
    // set only the first, new ones both: the code is the larger of the two.
    const code = Math.max(oc.i8(0), oc.i32(3));
    const version = oc.i32(2, 1); // OperatorCode.version: field 2, default 1
    if (code === CUSTOM_CODE) {
      const custom = oc.string(1, MAX.text, `OperatorCode ${i} custom_code`); // OperatorCode.custom_code: field 1
      if (custom !== undefined) {
        out.push({ name: custom, kind: opKind(custom), version });
        continue;
      }
    }
    out.push({ name: builtinOperatorName(code), kind: 'builtin', version });
  }
  return out;
}

function checkTensorIndices(vec: FlatVector | undefined, tensorCount: number, what: string, allowOptional: boolean): number[] {
  if (!vec) return [];
  const out = vec.int32s();
  for (let k = 0; k < out.length; k++) {
    const t = out[k]!;
    if ((t < 0 && !(allowOptional && t === -1)) || t >= tensorCount) {
      fail(`${what} entry ${k} is tensor index ${t}, outside the ${tensorCount}-entry tensors table.`);
    }
  }
  return out;
}

function shapeOf(t: FlatTable, id: number, what: string): number[] | undefined {
  const v = t.vector(id, 4, MAX.dims, what);
  return v ? v.int32s() : undefined;
}

function describeTensor(t: FlatTable, index: number, sgIndex: number): TfliteTensor {
  const what = `Subgraph ${sgIndex} tensor ${index}`;
  const out: TfliteTensor = {
    name: t.string(3, MAX.text, `${what} name`) ?? '', // Tensor.name: field 3
    type: tensorTypeName(t.i8(1)), // Tensor.type: field 1
    shape: shapeOf(t, 0, `${what} shape`) ?? [], // Tensor.shape: field 0
    quantized: false,
  };
  const sig = shapeOf(t, 7, `${what} shape_signature`); // Tensor.shape_signature: field 7
  if (sig) out.shapeSignature = sig;
  const q = t.table(4, `${what} quantization`); // Tensor.quantization: field 4
  if (q) {
    // QuantizationParameters.scale: field 2 ([float]); zero_point: field 3 ([long])
    const scale = q.vector(2, 4, Number.MAX_SAFE_INTEGER, `${what} quantization scale`);
    const zp = q.vector(3, 8, Number.MAX_SAFE_INTEGER, `${what} quantization zero_point`);
    if (scale && scale.length > 0) {
      out.quantized = true;
      const scales = scale.numbers(MAX.quantValues, (i) => scale.f32(i));
      // NaN and infinite scales have no JSON form; no working model has them, so they are left out.
      if (scales.every(Number.isFinite)) {
        out.quantization = { scale: scales, zeroPoint: zp ? zp.numbers(MAX.quantValues, (i) => Number(zp.i64(i))) : [] };
      }
    }
  }
  return out;
}

function elementCount(shape: number[], bytes: number, typeCode: number): number {
  if (shape.every((d) => d >= 0)) {
    const n = shape.reduce((a, d) => a * d, 1);
    // A hostile shape (forty dims of 2^31 - 1) multiplies past 2^53, even to Infinity, which JSON
    // writes as null; no buffer holds that many elements, so such a shape is estimated like below.
    if (Number.isSafeInteger(n)) return n;
  }
  // A constant with a dynamic dimension does not happen in valid models; estimate from the bytes.
  const per = TENSOR_TYPE_BYTES[typeCode] ?? 0;
  return per > 0 ? Math.floor(bytes / per) : 0;
}

/** a + b, held at 2^53 - 1 so that a total stays an exact integer (hostile shapes and shared buffers). */
function capAdd(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}

function trimNul(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, end)).trim();
}

/** `{ [key]: value }`, or `{}` when value is undefined: optional keys stay absent, in a fixed order. */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

// ---- ModelMetadata (metadata_schema.fbs) ------------------------------------------------------------

function readAssociatedFiles(t: FlatTable, id: number, what: string, all: TfliteMetadataFile[]): TfliteMetadataFile[] {
  const vec = t.vector(id, 4, MAX.metadataFiles, what);
  const out: TfliteMetadataFile[] = [];
  if (!vec) return out;
  for (let i = 0; i < vec.length; i++) {
    const f = vec.table(i, `${what}[${i}]`);
    // AssociatedFile.name: field 0, description: 1, type: 2 (byte), locale: 3
    const typeCode = f.i8(2);
    const file: TfliteMetadataFile = {
      name: f.string(0, MAX.text) ?? '',
      type: ASSOCIATED_FILE_TYPES[typeCode] ?? `UNKNOWN_${typeCode}`,
      ...opt('description', f.string(1, MAX.text)),
      ...opt('locale', f.string(3, MAX.text)),
    };
    out.push(file);
    all.push(file);
  }
  return out;
}

/** Files named by tokenizer process units (BertTokenizerOptions, SentencePieceTokenizerOptions). */
function readProcessUnitFiles(t: FlatTable, id: number, what: string, all: TfliteMetadataFile[]): void {
  const vec = t.vector(id, 4, MAX.metadataFiles, what);
  if (!vec) return;
  for (let i = 0; i < vec.length; i++) {
    const pu = vec.table(i, `${what}[${i}]`);
    const kind = pu.u8(0); // ProcessUnit.options_type: field 0 (union type)
    const options = pu.table(1, `${what}[${i}] options`); // ProcessUnit.options: field 1
    if (!options) continue;
    if (kind === 4) readAssociatedFiles(options, 0, `${what}[${i}] vocab_file`, all); // BertTokenizerOptions.vocab_file: 0
    if (kind === 5) {
      readAssociatedFiles(options, 0, `${what}[${i}] sentencePiece_model`, all); // SentencePieceTokenizerOptions: 0
      readAssociatedFiles(options, 1, `${what}[${i}] vocab_file`, all); // and 1
    }
  }
}

function readTensorMetadata(vec: FlatVector | undefined, what: string, all: TfliteMetadataFile[]): TfliteMetadataTensor[] {
  const out: TfliteMetadataTensor[] = [];
  if (!vec) return out;
  for (let i = 0; i < vec.length; i++) {
    const t = vec.table(i, `${what}[${i}]`);
    // TensorMetadata.name: 0, description: 1, process_units: 4, associated_files: 6
    const name = t.string(0, MAX.text);
    const description = t.string(1, MAX.text);
    out.push({
      ...opt('name', name),
      ...opt('description', description),
      associatedFiles: readAssociatedFiles(t, 6, `${what}[${i}] associated_files`, all),
    });
    readProcessUnitFiles(t, 4, `${what}[${i}] process_units`, all);
  }
  return out;
}

/** Decodes a ModelMetadata buffer; `all` collects every associated file it names, wherever. */
function readModelMetadata(reader: FlatBufferReader, all: TfliteMetadataFile[]): TfliteModelMetadata {
  const m = reader.root('M001');
  const sgs = m.vector(3, 4, MAX.subgraphs, 'ModelMetadata.subgraph_metadata'); // field 3
  const subgraphs: TfliteModelMetadata['subgraphs'] = [];
  for (let i = 0; i < (sgs?.length ?? 0); i++) {
    const sg = sgs!.table(i, `SubGraphMetadata ${i}`);
    const w = `SubGraphMetadata ${i}`;
    // SubGraphMetadata.name: 0, description: 1, input_tensor_metadata: 2, output_tensor_metadata: 3,
    // associated_files: 4, input_process_units: 5, output_process_units: 6
    const name = sg.string(0, MAX.text);
    const description = sg.string(1, MAX.text);
    const entry: TfliteModelMetadata['subgraphs'][number] = {
      ...opt('name', name),
      ...opt('description', description),
      inputs: readTensorMetadata(sg.vector(2, 4, MAX.metadataTensors, `${w} inputs`), `${w} input`, all),
      outputs: readTensorMetadata(sg.vector(3, 4, MAX.metadataTensors, `${w} outputs`), `${w} output`, all),
      associatedFiles: readAssociatedFiles(sg, 4, `${w} associated_files`, all),
    };
    readProcessUnitFiles(sg, 5, `${w} input_process_units`, all);
    readProcessUnitFiles(sg, 6, `${w} output_process_units`, all);
    subgraphs.push(entry);
  }
  // ModelMetadata.name: 0, description: 1, version: 2, author: 4, license: 5, associated_files: 6,
  // min_parser_version: 7
  return {
    ...opt('name', m.string(0, MAX.text)),
    ...opt('description', m.string(1, MAX.text)),
    ...opt('version', m.string(2, MAX.text)),
    ...opt('author', m.string(4, MAX.text)),
    ...opt('license', m.string(5, MAX.text)),
    ...opt('minParserVersion', m.string(7, MAX.text)),
    subgraphs,
    associatedFiles: readAssociatedFiles(m, 6, 'ModelMetadata.associated_files', all),
  };
}

// ---- the associated-files zip -----------------------------------------------------------------------

function isHostileName(name: string): boolean {
  return name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name) || name.split('/').includes('..') || name.includes('\0');
}

/** Bytes hashed (stored) or inflated (deflated) over all associated files of one model. */
const MAX_ASSOCIATED_BYTES = 512 * 1024 * 1024;

function readAppendedZip(src: ByteSource, modelEnd: number, described: TfliteMetadataFile[], warnings: ModelWarning[], maxRatio: number): AssociatedFile[] {
  const out: AssociatedFile[] = [];
  let dir: ReturnType<typeof readZipDirectory>;
  try {
    dir = readZipDirectory(src, { maxEntries: 10_000 });
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    warnings.push({ severity: 'warning', code: err.code, message: `Associated files zip not read: ${err.message}` });
    return out;
  }
  if (!dir || dir.members.length === 0) return out;
  const first = Math.min(...dir.members.map((m) => m.localHeaderOffset));
  if (first < modelEnd) {
    warnings.push({
      severity: 'warning',
      code: 'format',
      message: `A zip directory ends the file, but its first member at offset ${first} lies inside the model's data (which ends at ${modelEnd}); its members are not listed.`,
    });
    return out;
  }
  const byName = new Map<string, TfliteMetadataFile>();
  for (const f of described) if (!byName.has(f.name)) byName.set(f.name, f);
  const seen = new Set<string>();
  let budget = MAX_ASSOCIATED_BYTES;
  for (const m of dir.members) {
    if (m.name.endsWith('/')) continue; // a directory entry
    if (isHostileName(m.name)) {
      warnings.push({
        severity: 'warning',
        code: 'hostile-path',
        message: `Associated file name ${JSON.stringify(m.name)} is absolute or climbs out of its folder; it is listed, never extracted.`,
      });
    }
    if (seen.has(m.name)) {
      warnings.push({ severity: 'warning', code: 'duplicate-entry', message: `Associated file ${JSON.stringify(m.name)} appears twice in the zip.` });
    }
    seen.add(m.name);
    // Members may overlap (many entries over one range): bound the total work, and the ratio.
    if (m.size > budget) {
      warnings.push({
        severity: 'warning',
        code: 'limit',
        message: `Associated file ${JSON.stringify(m.name)} of ${m.size} bytes was not hashed: the model's associated files exceed ${MAX_ASSOCIATED_BYTES} bytes.`,
      });
      continue;
    }
    if (m.method !== 0 && m.size > RATIO_FLOOR && m.size > maxRatio * Math.max(1, m.compressedSize)) {
      warnings.push({
        severity: 'warning',
        code: 'limit',
        message: `Associated file ${JSON.stringify(m.name)} would inflate ${m.compressedSize} bytes to ${m.size}, over the ${maxRatio}:1 ratio limit.`,
      });
      continue;
    }
    budget -= m.size;
    try {
      const digest = hashMember(src, dir, m);
      if (!digest.crcOk) {
        warnings.push({
          severity: 'warning',
          code: 'format',
          message: `Associated file ${JSON.stringify(m.name)} does not match its recorded CRC-32 ${m.crc32.toString(16).padStart(8, '0')}.`,
        });
      }
      const meta = byName.get(m.name);
      out.push({
        name: m.name,
        size: digest.size,
        sha256: digest.sha256,
        ...opt('type', meta?.type),
        ...opt('description', meta?.description),
      });
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      warnings.push({ severity: 'warning', code: err.code, message: `Associated file ${JSON.stringify(m.name)} not read: ${err.message}` });
    }
  }
  return out;
}

// ---- the model --------------------------------------------------------------------------------------

/** Tuning of `readTflite`; the defaults suit every real model. */
export interface ReadTfliteOptions extends Pick<FlatBufferReaderOptions, 'maxWork' | 'pageSize' | 'maxPages'> {
  /** Scan limits; the ratio limit applies to deflated associated files. */
  limits?: Readonly<Limits>;
}

/**
 * Decodes and validates a TFLite model synchronously (what `tflite.inspect` does). Reads only the
 * FlatBuffer's structure, the metadata buffers and the appended zip, never the weights. Throws
 * FormatError on any structural violation of the Model; broken metadata or zip become warnings.
 */
export function readTflite(src: ByteSource, options: ReadTfliteOptions = {}): ModelInfo {
  const { limits, ...readerOptions } = options;
  const reader = new FlatBufferReader(src, { label: 'TFLite', ...readerOptions });
  const model = reader.root('TFL3');
  const warnings: ModelWarning[] = [];

  const schemaVersion = model.u32(0); // Model.version: field 0
  if (schemaVersion !== 3) fail(`Model.version ${schemaVersion} is not the schema version 3 that every 'TFL3' runtime requires.`);

  const opcodes = readOperatorCodes(model);
  const buffers = readBuffers(model, src);
  const bufferCount = buffers.count;
  const description = model.string(3, MAX.text, 'Model.description'); // Model.description: field 3

  const checkBuffer = (index: number, what: string): { size: number; range: ByteRange | undefined } => {
    if (index >= bufferCount) fail(`${what} buffer index ${index} exceeds the ${bufferCount}-entry buffers table.`);
    return { size: buffers.size(index), range: buffers.range(index) };
  };

  // Model.subgraphs: field 2
  const sgVec = model.vector(2, 4, MAX.subgraphs, 'Model.subgraphs');
  const subgraphs: TfliteMetadata['subgraphs'] = [];
  const tensorCounts: number[] = [];
  const opUses = new Array<number>(opcodes.length).fill(0);
  const seenBuffers = new Set<number>();
  const params = { count: 0, bytes: 0, byType: new Map<string, number>() };
  let anyOperators = false;

  for (let s = 0; s < (sgVec?.length ?? 0); s++) {
    const sg = sgVec!.table(s, `Subgraph ${s}`);
    // SubGraph.tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4
    const tensors = sg.vector(0, 4, MAX.tensors, `Subgraph ${s} tensors`);
    const tensorCount = tensors?.length ?? 0;
    tensorCounts.push(tensorCount);
    const inputs = checkTensorIndices(sg.vector(1, 4, MAX.ioTensors, `Subgraph ${s} inputs`), tensorCount, `Subgraph ${s} inputs`, false);
    const outputs = checkTensorIndices(sg.vector(2, 4, MAX.ioTensors, `Subgraph ${s} outputs`), tensorCount, `Subgraph ${s} outputs`, false);
    const name = sg.string(4, MAX.text, `Subgraph ${s} name`);

    for (let i = 0; i < tensorCount; i++) {
      const t = tensors!.table(i, `Subgraph ${s} tensor ${i}`);
      const bufferIndex = t.u32(2); // Tensor.buffer: field 2 (0 = the empty sentinel)
      const buf = checkBuffer(bufferIndex, `Subgraph ${s} tensor ${i}`);
      if (bufferIndex > 0 && buf.size > 0 && !seenBuffers.has(bufferIndex)) {
        // A constant: its parameters counted once per buffer, even when tensors share it.
        seenBuffers.add(bufferIndex);
        const typeCode = t.i8(1);
        const shape = shapeOf(t, 0, `Subgraph ${s} tensor ${i} shape`) ?? [];
        const n = elementCount(shape, buf.size, typeCode);
        const type = tensorTypeName(typeCode);
        params.count = capAdd(params.count, n);
        params.bytes = capAdd(params.bytes, buf.size);
        params.byType.set(type, capAdd(params.byType.get(type) ?? 0, n));
      }
    }

    const ops = sg.vector(3, 4, MAX.operators, `Subgraph ${s} operators`);
    const operatorCount = ops?.length ?? 0;
    if (operatorCount > 0) anyOperators = true;
    for (let o = 0; o < operatorCount; o++) {
      const op = ops!.table(o, `Subgraph ${s} operator ${o}`);
      const opcode = op.u32(0); // Operator.opcode_index: field 0
      if (opcode >= opcodes.length) fail(`Subgraph ${s} operator ${o} opcode index ${opcode} exceeds the ${opcodes.length}-entry operator_codes table.`);
      opUses[opcode]! += 1;
      // Operator.inputs: field 1 (-1 marks an omitted optional input), outputs: field 2
      checkTensorIndices(op.vector(1, 4, MAX.ioTensors, `Subgraph ${s} operator ${o} inputs`), tensorCount, `Subgraph ${s} operator ${o} inputs`, true);
      checkTensorIndices(op.vector(2, 4, MAX.ioTensors, `Subgraph ${s} operator ${o} outputs`), tensorCount, `Subgraph ${s} operator ${o} outputs`, true);
    }

    const listIo = (indices: number[], kind: string): TfliteTensor[] => {
      if (indices.length > MAX.listedIo) {
        warnings.push({ severity: 'info', code: 'limit', message: `Subgraph ${s} has ${indices.length} ${kind}; the first ${MAX.listedIo} are described.` });
      }
      return indices.slice(0, MAX.listedIo).map((ti) => describeTensor(tensors!.table(ti, `Subgraph ${s} tensor ${ti}`), ti, s));
    };
    const entry: TfliteMetadata['subgraphs'][number] = {
      tensorCount,
      operatorCount,
      inputs: listIo(inputs, 'inputs'),
      outputs: listIo(outputs, 'outputs'),
    };
    subgraphs.push(name === undefined ? entry : { name, ...entry });
  }

  // Operator uses, merged by (name, kind, version) and sorted.
  const merged = new Map<string, TfliteOperator>();
  opcodes.forEach((oc, i) => {
    const key = `${oc.kind}\0${oc.name}\0${oc.version}`;
    const prev = merged.get(key);
    if (prev) prev.count += opUses[i]!;
    else merged.set(key, { name: oc.name, kind: oc.kind, version: oc.version, count: opUses[i]! });
  });
  const operators = [...merged.values()].sort((a, b) => cmp(a.name, b.name) || a.version - b.version || cmp(a.kind, b.kind));

  // Model.signature_defs: field 7
  const sigVec = model.vector(7, 4, MAX.signatureDefs, 'Model.signature_defs');
  const signatureDefs: TfliteMetadata['signatureDefs'] = [];
  for (let i = 0; i < (sigVec?.length ?? 0); i++) {
    const sd = sigVec!.table(i, `SignatureDef ${i}`);
    const subgraphIndex = sd.u32(4); // SignatureDef.subgraph_index: field 4
    const count = tensorCounts[subgraphIndex];
    if (count === undefined) fail(`SignatureDef ${i} subgraph index ${subgraphIndex} exceeds the ${subgraphs.length}-entry subgraphs table.`);
    const maps = (id: number, kind: string): { name: string; tensorIndex: number }[] => {
      const v = sd.vector(id, 4, MAX.signatureTensors, `SignatureDef ${i} ${kind}`);
      const out: { name: string; tensorIndex: number }[] = [];
      for (let k = 0; k < (v?.length ?? 0); k++) {
        const tm = v!.table(k, `SignatureDef ${i} ${kind} ${k}`);
        const tensorIndex = tm.u32(1); // TensorMap.tensor_index: field 1
        if (tensorIndex >= count)
          fail(`SignatureDef ${i} ${kind} ${k} tensor index ${tensorIndex} exceeds the ${count}-entry tensors table of subgraph ${subgraphIndex}.`);
        out.push({ name: tm.string(0, MAX.text) ?? '', tensorIndex }); // TensorMap.name: field 0
      }
      return out;
    };
    // SignatureDef.inputs: field 0, outputs: field 1, signature_key: field 2
    signatureDefs.push({ key: sd.string(2, MAX.text) ?? '', subgraphIndex, inputs: maps(0, 'inputs'), outputs: maps(1, 'outputs') });
  }

  // Model.metadata: field 6 (Metadata.name: 0, Metadata.buffer: 1)
  const mdVec = model.vector(6, 4, MAX.metadata, 'Model.metadata');
  const metadataEntries: TfliteMetadata['metadataEntries'] = [];
  let minRuntimeVersion: string | undefined;
  let modelMetadata: TfliteModelMetadata | undefined;
  const described: TfliteMetadataFile[] = [];
  for (let i = 0; i < (mdVec?.length ?? 0); i++) {
    const md = mdVec!.table(i, `Metadata ${i}`);
    const name = md.string(0, MAX.text, `Metadata ${i} name`) ?? '';
    const bufferIndex = md.u32(1);
    const buf = checkBuffer(bufferIndex, `Metadata ${i} (${JSON.stringify(name)})`);
    metadataEntries.push({ name, size: buf.size });
    if (name === 'min_runtime_version' && buf.range && minRuntimeVersion === undefined) {
      // A NUL-padded version string; some converters leave it all NULs, which says nothing.
      const v = trimNul(reader.bytes(buf.range.offset, Math.min(buf.range.length, 256), 'min_runtime_version'));
      if (v !== '') minRuntimeVersion = v;
    } else if (name === 'TFLITE_METADATA' && buf.range && modelMetadata === undefined) {
      try {
        modelMetadata = readModelMetadata(reader.nested(buf.range, 'TFLite metadata'), described);
      } catch (err) {
        if (!(err instanceof AibomError)) throw err;
        described.length = 0;
        warnings.push({ severity: 'warning', code: err.code, message: `TFLITE_METADATA not read: ${err.message}` });
      }
    }
  }

  // The FlatBuffer and every byte its buffers reference end here; an appended zip begins after.
  let modelEnd = reader.extent;
  for (let i = 0; i < bufferCount; i++) {
    const offset = buffers.offsets[i]!;
    if (offset >= 0) modelEnd = Math.max(modelEnd, offset + buffers.sizes[i]!);
  }
  const associatedFiles = readAppendedZip(src, modelEnd, described, warnings, limits?.maxRatio ?? DEFAULT_LIMITS.maxRatio);

  const metadata: TfliteMetadata = {
    schemaVersion,
    ...(description !== undefined ? { description } : {}),
    subgraphs,
    operators,
    operatorCodes: opcodes.length,
    buffers: { count: bufferCount, bytes: buffers.sizes.reduce(capAdd, 0) },
    parameters: { count: params.count, bytes: params.bytes, byType: Object.fromEntries([...params.byType].sort((a, b) => cmp(a[0], b[0]))) },
    weightTypes: [...params.byType.keys()].sort(cmp),
    signatureDefs,
    metadataEntries,
    ...(minRuntimeVersion !== undefined ? { minRuntimeVersion } : {}),
    ...(modelMetadata !== undefined ? { modelMetadata } : {}),
  };
  const info: ModelInfo = {
    confidence: subgraphs.length > 0 && anyOperators ? 'high' : 'medium',
    metadata,
  };
  if (associatedFiles.length > 0) info.associatedFiles = associatedFiles;
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `head` starts like a TFLite FlatBuffer: 'TFL3' at offset 4 and a plausible root table. */
function looksLikeTflite(head: Uint8Array, size: number): boolean {
  // 'TFL3' at offset 4: the FlatBuffers file identifier of schema.fbs
  if (head.length < 8 || head[4] !== 0x54 || head[5] !== 0x46 || head[6] !== 0x4c || head[7] !== 0x33) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const root = v.getUint32(0, true);
  if (root < 8 || root + 4 > size) return false;
  if (root + 4 <= head.length) {
    const vtable = root - v.getInt32(root, true);
    if (vtable < 0 || vtable + 4 > size) return false;
    if (vtable + 4 <= head.length) {
      const vsize = v.getUint16(vtable, true);
      if (vsize < 4 || vsize % 2 !== 0) return false;
    }
  }
  return true;
}

/**
 * TensorFlow Lite models (`.tflite`): operators, tensors, quantization, signatures, TFLite metadata and
 * associated files from an appended zip. Does not run the model, decode builtin options or read
 * weights; the appended zip is described here, never reported as a container of its own.
 */
export const tflite: ModelFormat = {
  id: 'tflite',
  description: 'TensorFlow Lite FlatBuffer model (file identifier TFL3)',
  extensions: ['.tflite', '.lite', '.tfl'],
  // 'TFL3' at offset 4 is a real file identifier: a matched file that fails to parse is a corrupt model.
  signatures: [{ offset: 4, magic: 'TFL3', note: 'FlatBuffers file identifier' }],
  metadataSchema: tfliteMetadataSchema,
  card: (metadata) => tfliteCard(tfliteMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    return probe.memo('tflite.match', () => looksLikeTflite(probe.head, probe.size));
  },
  async inspect(src: ByteSource, _probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    return readTflite(src, { limits: ctx.limits });
  },
};

// The metadata's types live beside its schema; re-exported here for code that imports the format.
export type {
  TfliteMetadata,
  TfliteMetadataFile,
  TfliteMetadataTensor,
  TfliteModelMetadata,
  TfliteOperator,
  TfliteTensor,
} from './tflite-metadata.js';
