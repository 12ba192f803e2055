import fs from 'node:fs';
import zlib from 'node:zlib';
import { Builder } from 'flatbuffers';

/**
 * Writes real TFLite models (schema.fbs of tensorflow/lite, identifier 'TFL3') with the `flatbuffers`
 * npm Builder, for tests and benchmarks. Field ids and enum values are written from the schema here,
 * independently of src/formats/tflite.ts, so the two check each other.
 *
 *   new TfliteBuilder()
 *     .description('x')
 *     .subgraph((sg) => sg.name('main')
 *       .tensor('input', 'float32', [1, 224, 224, 3], { shapeSignature: [-1, 224, 224, 3] })
 *       .tensor('w', 'int8', [8, 3, 3, 3], { data: bytes, quant: { scale: [0.1], zeroPoint: [0] } })
 *       .tensor('out', 'float32', [1, 8])
 *       .operator('CONV_2D', [0, 1], [2])
 *       .inputs([0]).outputs([2]))
 *     .signature('serving_default', { inputs: { x: 0 }, outputs: { y: 2 } })
 *     .metadataEntry('min_runtime_version', '2.3.0')
 *     .modelMetadata({ name: 'm', associatedFiles: [{ name: 'labels.txt', type: 'TENSOR_AXIS_LABELS' }] })
 *     .appendZip({ 'labels.txt': 'cat\ndog\n' })
 *     .build();
 */

/** TensorType values (schema.fbs `enum TensorType : byte`). */
export const TENSOR_TYPE = {
  float32: 0,
  float16: 1,
  int32: 2,
  uint8: 3,
  int64: 4,
  string: 5,
  bool: 6,
  int16: 7,
  complex64: 8,
  int8: 9,
  float64: 10,
  complex128: 11,
  uint64: 12,
  resource: 13,
  variant: 14,
  uint32: 15,
  uint16: 16,
  int4: 17,
  bfloat16: 18,
} as const;
export type TensorTypeName = keyof typeof TENSOR_TYPE;

/** The BuiltinOperator values these tests use (schema.fbs `enum BuiltinOperator : int32`); any code may be passed as a number. */
export const BUILTIN = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RESHAPE: 22,
  SOFTMAX: 25,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  QUANTIZE: 114,
  HARD_SWISH: 117,
  PLACEHOLDER_FOR_GREATER_OP_CODES: 127,
  BROADCAST_TO: 130,
  GELU: 150,
  STABLEHLO_COMPOSITE: 206,
  COMPLEX: 207,
} as const;

/** AssociatedFileType values (metadata_schema.fbs). */
export const ASSOCIATED_FILE_TYPE = {
  UNKNOWN: 0,
  DESCRIPTIONS: 1,
  TENSOR_AXIS_LABELS: 2,
  TENSOR_VALUE_LABELS: 3,
  TENSOR_AXIS_SCORE_CALIBRATION: 4,
  VOCABULARY: 5,
} as const;

/** Options of one tensor. */
export interface TensorOptions {
  shapeSignature?: number[];
  /** Constant data: gets a buffer of its own. */
  data?: Uint8Array;
  /** Store `data` after the FlatBuffer, through Buffer.offset/size (the >2 GB layout). */
  external?: boolean;
  /** Force this Tensor.buffer index (for hostile models); default: a new buffer for `data`, else 0. */
  buffer?: number;
  quant?: { scale: number[]; zeroPoint: number[]; quantizedDimension?: number };
}

/** Options of one operator. */
export interface OperatorOptions {
  version?: number;
  /** Write only OperatorCode.deprecated_builtin_code (field 0), as models before schema 3a did. */
  deprecatedOnly?: boolean;
}

interface TensorSpec {
  name: string;
  type: number;
  shape: number[];
  opts: TensorOptions;
  bufferIndex: number;
}

interface OpSpec {
  code: number;
  custom?: string;
  version: number;
  deprecatedOnly: boolean;
  inputs: number[];
  outputs: number[];
}

interface BufferSpec {
  data: Uint8Array;
  external: boolean;
  /** Buffer.size when `data` is not held (the streamed weights of buildLarge). */
  size?: number;
}

/** An associated file in model metadata. */
export interface MetadataFileSpec {
  name: string;
  type?: keyof typeof ASSOCIATED_FILE_TYPE;
  description?: string;
  locale?: string;
}

/** A TensorMetadata. */
export interface MetadataTensorSpec {
  name?: string;
  description?: string;
  associatedFiles?: MetadataFileSpec[];
}

/** ModelMetadata (metadata_schema.fbs), written as its own 'M001' FlatBuffer inside a buffer. */
export interface ModelMetadataSpec {
  name?: string;
  description?: string;
  version?: string;
  author?: string;
  license?: string;
  minParserVersion?: string;
  subgraphs?: { name?: string; description?: string; inputs?: MetadataTensorSpec[]; outputs?: MetadataTensorSpec[]; associatedFiles?: MetadataFileSpec[] }[];
  associatedFiles?: MetadataFileSpec[];
}

/** Options of the appended zip. */
export interface ZipOptions {
  /** Deflate members (default: stored, as the TFLite metadata populator writes them). */
  deflate?: boolean;
  /** Set the encrypted flag on these members (their bytes stay plain). */
  encrypted?: string[];
  /** Write offsets relative to the zip's start instead of the file's. */
  relativeOffsets?: boolean;
}

/** Builds one subgraph; see TfliteBuilder.subgraph. */
export class SubgraphBuilder {
  /** @internal */ readonly tensors: TensorSpec[] = [];
  /** @internal */ readonly ops: OpSpec[] = [];
  /** @internal */ inputList: number[] = [];
  /** @internal */ outputList: number[] = [];
  /** @internal */ sgName: string | undefined;

  constructor(private readonly model: TfliteBuilder) {}

  name(n: string): this {
    this.sgName = n;
    return this;
  }

  /** Adds a tensor; its index is the number of tensors added before it. */
  tensor(name: string, type: TensorTypeName | number, shape: number[], opts: TensorOptions = {}): this {
    const code = typeof type === 'number' ? type : TENSOR_TYPE[type];
    const bufferIndex = opts.buffer ?? (opts.data ? this.model.addBuffer(opts.data, opts.external ?? false) : 0);
    this.tensors.push({ name, type: code, shape, opts, bufferIndex });
    return this;
  }

  /** Adds a builtin operator by enum name or code. */
  operator(op: keyof typeof BUILTIN | number, inputs: number[], outputs: number[], opts: OperatorOptions = {}): this {
    const code = typeof op === 'number' ? op : BUILTIN[op];
    this.ops.push({ code, version: opts.version ?? 1, deprecatedOnly: opts.deprecatedOnly ?? false, inputs, outputs });
    return this;
  }

  /** Adds a custom operator (BuiltinOperator CUSTOM with custom_code), e.g. 'FlexAddV2' or 'edgetpu-custom-op'. */
  customOperator(customCode: string, inputs: number[], outputs: number[], opts: OperatorOptions = {}): this {
    this.ops.push({ code: BUILTIN.CUSTOM, custom: customCode, version: opts.version ?? 1, deprecatedOnly: opts.deprecatedOnly ?? false, inputs, outputs });
    return this;
  }

  inputs(list: number[]): this {
    this.inputList = list;
    return this;
  }

  outputs(list: number[]): this {
    this.outputList = list;
    return this;
  }
}

/** Where the large buffer of `encode` ended up. */
interface Encoded {
  bytes: Uint8Array;
  /** Position of the length prefix of the buffer written first (hence last in the file). */
  lateLengthPos?: number;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const enc = new TextEncoder();

/** Writes a whole TFLite model; see the file comment for an example. */
export class TfliteBuilder {
  private desc: string | undefined;
  private schemaVersion = 3;
  private readonly subgraphs: SubgraphBuilder[] = [];
  private readonly buffers: BufferSpec[] = [{ data: new Uint8Array(0), external: false }]; // buffer 0: the empty sentinel
  private readonly metadata: { name: string; data: Uint8Array }[] = [];
  private readonly signatures: { key: string; subgraph: number; inputs: [string, number][]; outputs: [string, number][] }[] = [];
  private zip: { files: [string, Uint8Array][]; opts: ZipOptions } | undefined;
  private lateBuffer: number | undefined;

  /** Model.description (field 3). */
  description(d: string): this {
    this.desc = d;
    return this;
  }

  /** Model.version (field 0); 3 unless a test needs another. */
  version(v: number): this {
    this.schemaVersion = v;
    return this;
  }

  /** Adds a subgraph built by `fn`. */
  subgraph(fn: (sg: SubgraphBuilder) => SubgraphBuilder | void): this {
    const sg = new SubgraphBuilder(this);
    fn(sg);
    this.subgraphs.push(sg);
    return this;
  }

  /** @internal Adds a buffer and returns its index. */
  addBuffer(data: Uint8Array, external: boolean): number {
    this.buffers.push({ data, external });
    return this.buffers.length - 1;
  }

  /** Adds a SignatureDef; `inputs`/`outputs` map alias names to tensor indices. */
  signature(key: string, spec: { subgraph?: number; inputs: Record<string, number>; outputs: Record<string, number> }): this {
    this.signatures.push({ key, subgraph: spec.subgraph ?? 0, inputs: Object.entries(spec.inputs), outputs: Object.entries(spec.outputs) });
    return this;
  }

  /** Adds a Model.metadata entry whose buffer holds `value` (a string is written with a trailing NUL). */
  metadataEntry(name: string, value: string | Uint8Array): this {
    this.metadata.push({ name, data: typeof value === 'string' ? enc.encode(`${value}\0`) : value });
    return this;
  }

  /** Adds the TFLITE_METADATA entry: a ModelMetadata FlatBuffer with identifier 'M001'. */
  modelMetadata(spec: ModelMetadataSpec): this {
    return this.metadataEntry('TFLITE_METADATA', buildModelMetadata(spec));
  }

  /** Appends a zip of associated files after the model, as the TFLite metadata populator does. */
  appendZip(files: Record<string, string | Uint8Array>, opts: ZipOptions = {}): this {
    this.zip = { files: Object.entries(files).map(([n, v]) => [n, typeof v === 'string' ? enc.encode(v) : v]), opts };
    return this;
  }

  /** The model's bytes. */
  build(): Uint8Array {
    const { fb, externals } = this.encodeWithExternals();
    let bytes = fb;
    if (externals.length > 0) {
      const parts: Uint8Array[] = [fb];
      let at = fb.length;
      for (const e of externals) {
        parts.push(new Uint8Array(e.offset - at), e.data);
        at = e.offset + e.data.length;
      }
      bytes = concat(parts);
    }
    if (this.zip) bytes = concat([bytes, buildZip(this.zip.files, bytes.length, this.zip.opts)]);
    return bytes;
  }

  /**
   * Writes to `path` a model whose last tensor holds `bufferBytes` bytes of weights at the end of the
   * file (or after the FlatBuffer through Buffer.offset/size with `external`), streaming the weights in
   * 1 MiB chunks so the model is never whole in memory. Returns the file size.
   */
  static buildLarge(path: string, opts: { bufferBytes: number; external?: boolean }): number {
    const n = align(opts.bufferBytes, 64);
    const placeholder = new Uint8Array(16);
    const b = new TfliteBuilder().description('large weights for the bounded-reading benchmark');
    b.subgraph((sg) =>
      sg
        .name('main')
        .tensor('input', 'float32', [1, 16])
        .tensor('output', 'float32', [1, n / 64])
        .tensor('weights', 'float32', [n / 64, 16], { data: placeholder, external: opts.external ?? false })
        .operator('FULLY_CONNECTED', [0, 2], [1])
        .inputs([0])
        .outputs([1]),
    );
    const weightsBuffer = b.buffers.length - 1;
    const chunk = (off: number, len: number): Uint8Array => {
      const c = new Uint8Array(len);
      for (let i = 0; i < len; i++) c[i] = ((off + i) * 2654435761) >>> 24;
      return c;
    };
    const fd = fs.openSync(path, 'w');
    try {
      const writeWeights = (): void => {
        const step = 1 << 20;
        const pattern = chunk(0, step);
        for (let off = 0; off < n; off += step) fs.writeSync(fd, pattern, 0, Math.min(step, n - off));
      };
      if (opts.external) {
        // Two passes fix every Buffer.offset; then the weights follow the FlatBuffer at that offset.
        b.buffers[weightsBuffer] = { data: new Uint8Array(0), external: true, size: n }; // streamed below
        const { fb, externals } = b.encodeWithExternals(true);
        fs.writeSync(fd, fb);
        const e = externals[0]!;
        fs.writeSync(fd, new Uint8Array(e.offset - fb.length));
        writeWeights();
      } else {
        // The buffer created first sits at the end of the FlatBuffer: write a 16-byte placeholder,
        // then patch its length and stream the real bytes in its place.
        b.lateBuffer = weightsBuffer;
        const { bytes, lateLengthPos } = b.encode(new Map());
        const pos = lateLengthPos!;
        const head = bytes.slice(0, pos + 4);
        new DataView(head.buffer).setUint32(pos, n, true);
        fs.writeSync(fd, head);
        writeWeights();
        fs.writeSync(fd, bytes.subarray(pos + 4 + placeholder.length));
      }
      return fs.fstatSync(fd).size;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Encodes twice when buffers live outside the FlatBuffer, so each Buffer.offset is final. */
  private encodeWithExternals(sizesOnly = false): { fb: Uint8Array; externals: { offset: number; data: Uint8Array }[] } {
    const ext = this.buffers.map((b, i) => ({ i, b })).filter((x) => x.b.external);
    if (ext.length === 0) return { fb: this.encode(new Map()).bytes, externals: [] };
    const offsets = new Map<number, number>(ext.map((x) => [x.i, 0x7fffffff]));
    const first = this.encode(offsets).bytes;
    let at = align(first.length, 16);
    const externals: { offset: number; data: Uint8Array }[] = [];
    for (const x of ext) {
      offsets.set(x.i, at);
      externals.push({ offset: at, data: sizesOnly ? new Uint8Array(0) : x.b.data });
      at = align(at + (x.b.size ?? x.b.data.length), 16);
    }
    const fb = this.encode(offsets).bytes;
    if (fb.length !== first.length) throw new Error('TfliteBuilder: external offsets changed the FlatBuffer size');
    return { fb, externals };
  }

  /** The FlatBuffer itself; `offsets` gives Buffer.offset for external buffers. */
  private encode(offsets: Map<number, number>): Encoded {
    const b = new Builder(1024);
    let lateOff: number | undefined;
    const dataVec = new Map<number, number>();
    // Buffer.data vectors first: the first object written ends up last in the file.
    if (this.lateBuffer !== undefined) {
      lateOff = b.createByteVector(new Uint8Array(16));
      dataVec.set(this.lateBuffer, lateOff);
    }
    const metaStart = this.buffers.length;
    const allBuffers: BufferSpec[] = [...this.buffers, ...this.metadata.map((m) => ({ data: m.data, external: false }))];
    allBuffers.forEach((buf, i) => {
      if (i === this.lateBuffer || buf.external || buf.data.length === 0) return;
      dataVec.set(i, b.createByteVector(buf.data));
    });
    const bufferTables = allBuffers.map((buf, i) => {
      b.startObject(3);
      const v = dataVec.get(i);
      if (v !== undefined) b.addFieldOffset(0, v, 0); // Buffer.data: field 0
      if (buf.external) {
        b.addFieldInt64(1, BigInt(offsets.get(i) ?? 0), 0n); // Buffer.offset: field 1
        b.addFieldInt64(2, BigInt(buf.size ?? buf.data.length), 0n); // Buffer.size: field 2
      }
      return b.endObject();
    });

    // Operator codes, deduplicated in order of first use.
    const codes: OpSpec[] = [];
    const codeIndex = (op: OpSpec): number => {
      let i = codes.findIndex((c) => c.code === op.code && c.custom === op.custom && c.version === op.version && c.deprecatedOnly === op.deprecatedOnly);
      if (i < 0) i = codes.push(op) - 1;
      return i;
    };

    const intVec = (xs: number[]): number => {
      b.startVector(4, xs.length, 4);
      for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
      return b.endVector();
    };
    const offVec = (xs: number[]): number => {
      b.startVector(4, xs.length, 4);
      for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
      return b.endVector();
    };

    const sgOffsets = this.subgraphs.map((sg) => {
      const tensorOffs = sg.tensors.map((t) => {
        const name = b.createString(t.name);
        const shape = intVec(t.shape);
        const sig = t.opts.shapeSignature ? intVec(t.opts.shapeSignature) : 0;
        let quant = 0;
        if (t.opts.quant) {
          const q = t.opts.quant;
          b.startVector(4, q.scale.length, 4);
          for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
          const scale = b.endVector();
          b.startVector(8, q.zeroPoint.length, 8);
          for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
          const zp = b.endVector();
          b.startObject(7);
          b.addFieldOffset(2, scale, 0); // QuantizationParameters.scale: field 2
          b.addFieldOffset(3, zp, 0); // QuantizationParameters.zero_point: field 3
          b.addFieldInt32(6, q.quantizedDimension ?? 0, 0); // quantized_dimension: field 6
          quant = b.endObject();
        }
        b.startObject(10);
        b.addFieldOffset(0, shape, 0); // Tensor.shape: field 0
        b.addFieldInt8(1, t.type, 0); // Tensor.type: field 1
        b.addFieldInt32(2, t.bufferIndex, 0); // Tensor.buffer: field 2
        b.addFieldOffset(3, name, 0); // Tensor.name: field 3
        if (quant) b.addFieldOffset(4, quant, 0); // Tensor.quantization: field 4
        if (sig) b.addFieldOffset(7, sig, 0); // Tensor.shape_signature: field 7
        return b.endObject();
      });
      const opOffs = sg.ops.map((op) => {
        const ins = intVec(op.inputs);
        const outs = intVec(op.outputs);
        b.startObject(13);
        b.addFieldInt32(0, codeIndex(op), 0); // Operator.opcode_index: field 0
        b.addFieldOffset(1, ins, 0); // Operator.inputs: field 1
        b.addFieldOffset(2, outs, 0); // Operator.outputs: field 2
        return b.endObject();
      });
      const tensors = offVec(tensorOffs);
      const inputs = intVec(sg.inputList);
      const outputs = intVec(sg.outputList);
      const operators = offVec(opOffs);
      const name = sg.sgName !== undefined ? b.createString(sg.sgName) : 0;
      b.startObject(5);
      b.addFieldOffset(0, tensors, 0); // SubGraph.tensors: field 0
      b.addFieldOffset(1, inputs, 0); // SubGraph.inputs: field 1
      b.addFieldOffset(2, outputs, 0); // SubGraph.outputs: field 2
      b.addFieldOffset(3, operators, 0); // SubGraph.operators: field 3
      if (name) b.addFieldOffset(4, name, 0); // SubGraph.name: field 4
      return b.endObject();
    });

    const codeOffs = codes.map((c) => {
      const custom = c.custom !== undefined ? b.createString(c.custom) : 0;
      b.startObject(4);
      // OperatorCode.deprecated_builtin_code: field 0 (byte, saturating at 127 =
      // PLACEHOLDER_FOR_GREATER_OP_CODES), builtin_code: field 3 (int).
      b.addFieldInt8(0, Math.min(c.code, 127), 0);
      if (custom) b.addFieldOffset(1, custom, 0); // OperatorCode.custom_code: field 1
      b.addFieldInt32(2, c.version, 1); // OperatorCode.version: field 2, default 1
      if (!c.deprecatedOnly) b.addFieldInt32(3, c.code, 0);
      return b.endObject();
    });

    const metaOffs = this.metadata.map((m, i) => {
      const name = b.createString(m.name);
      b.startObject(2);
      b.addFieldOffset(0, name, 0); // Metadata.name: field 0
      b.addFieldInt32(1, metaStart + i, 0); // Metadata.buffer: field 1
      return b.endObject();
    });

    const tensorMaps = (xs: [string, number][]): number =>
      offVec(
        xs.map(([n, idx]) => {
          const name = b.createString(n);
          b.startObject(2);
          b.addFieldOffset(0, name, 0); // TensorMap.name: field 0
          b.addFieldInt32(1, idx, 0); // TensorMap.tensor_index: field 1
          return b.endObject();
        }),
      );
    const sigOffs = this.signatures.map((s) => {
      const ins = tensorMaps(s.inputs);
      const outs = tensorMaps(s.outputs);
      const key = b.createString(s.key);
      b.startObject(5);
      b.addFieldOffset(0, ins, 0); // SignatureDef.inputs: field 0
      b.addFieldOffset(1, outs, 0); // SignatureDef.outputs: field 1
      b.addFieldOffset(2, key, 0); // SignatureDef.signature_key: field 2
      b.addFieldInt32(4, s.subgraph, 0); // SignatureDef.subgraph_index: field 4
      return b.endObject();
    });

    const operatorCodes = offVec(codeOffs);
    const subgraphs = offVec(sgOffsets);
    const description = this.desc !== undefined ? b.createString(this.desc) : 0;
    const buffers = offVec(bufferTables);
    const metadata = this.metadata.length > 0 ? offVec(metaOffs) : 0;
    const signatureDefs = this.signatures.length > 0 ? offVec(sigOffs) : 0;
    b.startObject(8);
    b.addFieldInt32(0, this.schemaVersion, 0); // Model.version: field 0
    b.addFieldOffset(1, operatorCodes, 0); // Model.operator_codes: field 1
    b.addFieldOffset(2, subgraphs, 0); // Model.subgraphs: field 2
    if (description) b.addFieldOffset(3, description, 0); // Model.description: field 3
    b.addFieldOffset(4, buffers, 0); // Model.buffers: field 4
    if (metadata) b.addFieldOffset(6, metadata, 0); // Model.metadata: field 6
    if (signatureDefs) b.addFieldOffset(7, signatureDefs, 0); // Model.signature_defs: field 7
    b.finish(b.endObject(), 'TFL3');
    const bytes = b.asUint8Array().slice();
    const out: Encoded = { bytes };
    if (lateOff !== undefined) out.lateLengthPos = bytes.length - lateOff;
    return out;
  }
}

/** Writes a ModelMetadata FlatBuffer (metadata_schema.fbs, identifier 'M001'). */
export function buildModelMetadata(spec: ModelMetadataSpec): Uint8Array {
  const b = new Builder(256);
  const str = (s: string | undefined): number => (s === undefined ? 0 : b.createString(s));
  const offVec = (xs: number[]): number => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
    return b.endVector();
  };
  const files = (list: MetadataFileSpec[] | undefined): number =>
    list === undefined
      ? 0
      : offVec(
          list.map((f) => {
            const name = str(f.name);
            const description = str(f.description);
            const locale = str(f.locale);
            b.startObject(4);
            if (name) b.addFieldOffset(0, name, 0); // AssociatedFile.name: field 0
            if (description) b.addFieldOffset(1, description, 0); // description: field 1
            b.addFieldInt8(2, ASSOCIATED_FILE_TYPE[f.type ?? 'UNKNOWN'], 0); // type: field 2
            if (locale) b.addFieldOffset(3, locale, 0); // locale: field 3
            return b.endObject();
          }),
        );
  const tensors = (ts: MetadataTensorSpec[] | undefined): number =>
    ts === undefined
      ? 0
      : offVec(
          ts.map((t) => {
            const name = str(t.name);
            const description = str(t.description);
            const af = files(t.associatedFiles);
            b.startObject(7);
            if (name) b.addFieldOffset(0, name, 0); // TensorMetadata.name: field 0
            if (description) b.addFieldOffset(1, description, 0); // description: field 1
            if (af) b.addFieldOffset(6, af, 0); // associated_files: field 6
            return b.endObject();
          }),
        );
  const sgs = (spec.subgraphs ?? []).map((sg) => {
    const name = str(sg.name);
    const description = str(sg.description);
    const ins = tensors(sg.inputs);
    const outs = tensors(sg.outputs);
    const af = files(sg.associatedFiles);
    b.startObject(7);
    if (name) b.addFieldOffset(0, name, 0); // SubGraphMetadata.name: field 0
    if (description) b.addFieldOffset(1, description, 0); // description: field 1
    if (ins) b.addFieldOffset(2, ins, 0); // input_tensor_metadata: field 2
    if (outs) b.addFieldOffset(3, outs, 0); // output_tensor_metadata: field 3
    if (af) b.addFieldOffset(4, af, 0); // associated_files: field 4
    return b.endObject();
  });
  const name = str(spec.name);
  const description = str(spec.description);
  const version = str(spec.version);
  const subgraphs = spec.subgraphs ? offVec(sgs) : 0;
  const author = str(spec.author);
  const license = str(spec.license);
  const af = files(spec.associatedFiles);
  const minParser = str(spec.minParserVersion);
  b.startObject(8);
  if (name) b.addFieldOffset(0, name, 0); // ModelMetadata.name: field 0
  if (description) b.addFieldOffset(1, description, 0); // description: field 1
  if (version) b.addFieldOffset(2, version, 0); // version: field 2
  if (subgraphs) b.addFieldOffset(3, subgraphs, 0); // subgraph_metadata: field 3
  if (author) b.addFieldOffset(4, author, 0); // author: field 4
  if (license) b.addFieldOffset(5, license, 0); // license: field 5
  if (af) b.addFieldOffset(6, af, 0); // associated_files: field 6
  if (minParser) b.addFieldOffset(7, minParser, 0); // min_parser_version: field 7
  b.finish(b.endObject(), 'M001');
  return b.asUint8Array().slice();
}

/**
 * A zip of `files` meant to start at `base` in the output (local headers, central directory, End Of
 * Central Directory record), with CRC-32 from node:zlib.
 */
export function buildZip(files: [string, Uint8Array][], base: number, opts: ZipOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let at = 0;
  const origin = opts.relativeOffsets ? 0 : base;
  for (const [name, content] of files) {
    const nameBytes = enc.encode(name);
    const method = opts.deflate ? 8 : 0;
    const data = opts.deflate ? zlib.deflateRawSync(content) : content;
    const crc = zlib.crc32(content);
    const flags = 0x800 | (opts.encrypted?.includes(name) ? 1 : 0);
    const local = new Uint8Array(30 + nameBytes.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true); // 'PK\x03\x04'
    l.setUint16(4, 20, true);
    l.setUint16(6, flags, true);
    l.setUint16(8, method, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, data.length, true);
    l.setUint32(22, content.length, true);
    l.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const cd = new Uint8Array(46 + nameBytes.length);
    const c = new DataView(cd.buffer);
    c.setUint32(0, 0x02014b50, true); // 'PK\x01\x02'
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(8, flags, true);
    c.setUint16(10, method, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, content.length, true);
    c.setUint16(28, nameBytes.length, true);
    c.setUint32(42, origin + at, true);
    cd.set(nameBytes, 46);
    central.push(cd);
    parts.push(local, data);
    at += local.length + data.length;
  }
  const cdSize = central.reduce((a, p) => a + p.length, 0);
  const eocd = new Uint8Array(22);
  const e = new DataView(eocd.buffer);
  e.setUint32(0, 0x06054b50, true); // 'PK\x05\x06'
  e.setUint16(8, files.length, true);
  e.setUint16(10, files.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, origin + at, true);
  return concat([...parts, ...central, eocd]);
}

/**
 * A tiny valid model (one FULLY_CONNECTED over a 4x4 float32 weight of ones) for tests that need a
 * real TFLite file somewhere deep in a container, not its details. `description` tells copies apart.
 */
export function tinyTflite(description: string): Uint8Array {
  return new TfliteBuilder()
    .description(description)
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('in', 'float32', [1, 4])
        .tensor('w', 'float32', [4, 4], { data: new Uint8Array(64).fill(1) })
        .tensor('out', 'float32', [1, 4])
        .operator('FULLY_CONNECTED', [0, 1], [2])
        .inputs([0])
        .outputs([2]),
    )
    .build();
}
