import { z } from 'zod';
import { FlatBufferReader, type FlatTable } from '../decoders/flatbuffers.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * MNN (Alibaba) models: one FlatBuffer, root table `MNN.Net`, no file identifier (schema/default/MNN.fbs
 * and its includes). Field ids, in schema order:
 *
 *   Net: 0 bizCode:string, 1 extraTensorDescribe:[TensorDescribe], 2 extraInfo:ExtraInfo, 3 oplists:[Op],
 *        4 outputName:[string], 5 preferForwardType:byte, 6 sourceType:byte, 7 tensorName:[string],
 *        8 tensorNumber:int, 9 usage:byte, 10 subgraphs:[SubGraphProto], 11 mnn_uuid:string
 *   Op:  0 inputIndexes:[int], 1 main_type:ubyte, 2 main:OpParameter, 3 name:string, 4 outputIndexes:[int],
 *        5 type:OpType(int), 6 defaultDimentionFormat:byte
 *   ExtraInfo: 0 buffer:[byte], 1 name:string, 2 version:string
 *   Input (OpParameter 21): 0 dims:[int], 1 dtype:DataType(int, default DT_FLOAT), 2 dformat:byte
 *   Extra (OpParameter 78): 0 type:string, 1 engine:string     (a custom operator)
 *   Convolution2D (OpParameter 9): 1 weight:[float], 2 bias:[float], 3 quanParameter:IDSTQuan
 *   InnerProduct (OpParameter 20): 3 weight:[float], 4 bias:[float], 7 quanParameter:IDSTQuan
 *   Blob (OpParameter 7): 9 float32s:[float]
 *
 * Weights live inside the FlatBuffer; their vectors are counted by length, never read.
 */

/** `MNN.OpType` by value (sparse: 0-122, 128-156, 256-269, 512-518, 600-604). */
const OP_TYPES = new Map<number, string>();
for (const [start, names] of [
  [
    0,
    'AbsVal QuantizedAdd ArgMax AsString InstanceNorm BatchToSpaceND Copy BinaryOp Bnll Cast Concat Const Convolution ConvolutionDepthwise Crop CropAndResize ImageProcess Deconvolution DeconvolutionDepthwise Dequantize DetectionOutput Dropout Eltwise ELU Unique Exp ExpandDims Fill Flatten Im2Col Gather GatherV2 Im2Seq InnerProduct Input Interp Log LRN LSTM MatMul MVN NonMaxSuppression NonMaxSuppressionV2 Normalize Pack Padding Permute Pooling Power PReLU PriorBox Proposal QuantizedAvgPool QuantizedBiasAdd QuantizedConcat QuantizedDepthwiseConv2D QuantizedLogistic RasterAndInterpolate QuantizedMaxPool Texture RasterDiff QuantizedReshape QuantizedSoftmax QuantizeMaxMin QuantizeV2 Range Rank ReduceJoin Reduction ReLU ReLU6 RequantizationRange Requantize Reshape Resize RNN ROIPooling Scale Selu Seq2Out Shape Sigmoid Size Slice SliceTf Softmax SpaceToBatchND SpatialProduct Col2Im Segment Squeeze StridedSlice StringJoin StringSplit StringToNumber TanH TfQuantizedConv2D Threshold Tile TopKV2 Transpose UnaryOp Unpack Where Moments RNNSequenceGRU BatchMatMul Unsqueeze CosineSimilarity DepthToSpace SpaceToDepth ReverseSequence Pooling3D Convolution3D MatrixBandPart GatherND DetectionPostProcess UnravelIndex ScatterNd OneHot BroadcastTo Dilation2D Interp3D',
  ],
  [
    128,
    'Raster ConvertTensor ArgMin LinSpace RandomUniform TensorArray TensorArraySize TensorArrayRead TensorArrayWrite TensorArrayGather TensorArrayScatter TensorArraySplit TensorArrayConcat LSTMBlockCell Reverse ROIAlign RandomNormal TensorArrayInsert TensorArrayErase EyeLike CumSum Det CumProd ScatterElements GatherElements Svd Histogram QuantizeLinear DequantizeLinear',
  ],
  [
    256,
    'Plugin Select ZerosLike Broastcast SetDiff1D ReluGrad Identity PoolGrad SoftmaxGrad Conv2DBackPropFilter TrainableParam BatchNorm ConvTranspose3D ZeroGrad',
  ],
  [512, 'Extra ConvInt8 Int8ToFloat DepthwiseConvInt8 PoolInt8 FloatToInt8 EltwiseInt8'],
  [600, 'While If _602 LayerNorm GridSample'],
] as const) {
  names.split(' ').forEach((n, i) => {
    if (!n.startsWith('_')) OP_TYPES.set(start + i, n);
  });
}
const OP_INPUT = 34;
const OP_EXTRA = 512;
const OP_PLUGIN = 256;
/** Ops that run in int8 (MNN's own quantized kernels). */
const INT8_OPS = new Set([513, 515, 516, 517, 518, 55, 96]);
const PARAM_BLOB = 7;
const PARAM_CONV2D = 9;
const PARAM_INNER_PRODUCT = 20;
const PARAM_INPUT = 21;
const PARAM_PLUGIN = 30;
const PARAM_EXTRA = 78;

const SOURCES = ['CAFFE', 'TENSORFLOW', 'TFLITE', 'ONNX', 'TORCH'];
const USAGES = ['INFERENCE', 'TRAIN', 'INFERENCE_STATIC'];
const FORWARD_TYPES = ['CPU', 'METAL', 'OPENCL', 'OPENGLES', 'VULKAN'];
const DATA_FORMATS = ['NCHW', 'NHWC', 'NC4HW4', 'NHWC4', 'UNKNOWN'];
/** `MNN.DataType` by value, as card names. */
const DATA_TYPES = [
  'invalid',
  'float32',
  'float64',
  'int32',
  'uint8',
  'int16',
  'int8',
  'string',
  'complex64',
  'int64',
  'bool',
  'qint8',
  'quint8',
  'qint32',
  'bfloat16',
  'qint16',
  'quint16',
  'uint16',
  'complex128',
  'float16',
  'resource',
  'variant',
];

const MAX = { ops: 1_000_000, tensors: 4_000_000, io: 4096, dims: 64, indexes: 65_536, text: 1024, subgraphs: 100_000, weights: 2 ** 31 } as const;

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const tensorSchema = z.strictObject({
  name: z.string().describe('Tensor name (`tensorName[index]`, or `#<index>` when the name is missing).'),
  dtype: z.string().optional().describe("Inputs: the Input op's `dtype` (`float32`)."),
  shape: z.array(z.number().int()).optional().describe("Inputs: the Input op's `dims` (-1 for a dynamic one, as written)."),
  format: z.string().optional().describe("Inputs: the Input op's `dformat` (`NCHW`, `NHWC`, `NC4HW4`)."),
});

export const mnnMetadataSchema = z
  .strictObject({
    bizCode: z.string().optional().describe('`bizCode`: the business code the converter was given (often `MNN` or a product name).'),
    version: z.string().optional().describe('`extraInfo.version`: the MNN converter version that wrote the model.'),
    extraName: z.string().optional().describe('`extraInfo.name`.'),
    uuid: z.string().optional().describe('`mnn_uuid`.'),
    sourceType: z.string().describe('`sourceType`: the framework converted from (`CAFFE`, `TENSORFLOW`, `TFLITE`, `ONNX`, `TORCH`, `unknown(<n>)`).'),
    usage: z.string().describe('`usage` (`INFERENCE`, `TRAIN`, `INFERENCE_STATIC`).'),
    preferForwardType: z.string().describe('`preferForwardType` (`CPU`, `METAL`, `OPENCL`, `OPENGLES`, `VULKAN`).'),
    opCount: z.number().int().nonnegative().describe('Entries of `oplists`.'),
    ops: countByName.describe('Ops per OpType name; custom ops (Extra, Plugin) by their own type string.'),
    customOps: z.array(z.string()).describe('Types of Extra and Plugin ops (`engine:type` for Extra ops that name an engine).'),
    tensorCount: z.number().int().nonnegative().describe('Entries of `tensorName`.'),
    inputs: z.array(tensorSchema).describe('Outputs of Input ops.'),
    outputs: z.array(tensorSchema).describe('`outputName`, or the tensors produced by an op and consumed by none.'),
    subgraphs: z.number().int().nonnegative().describe('Entries of `subgraphs` (control flow bodies).'),
    int8Ops: z.number().int().nonnegative().describe("Ops of MNN's int8 kernels (ConvInt8, FloatToInt8...)."),
    quantizedWeightOps: z
      .number()
      .int()
      .nonnegative()
      .describe('Convolution2D and InnerProduct parameters carrying `quanParameter` (int8-compressed weights).'),
    parameters: z.number().int().nonnegative().describe('Float weight elements of Convolution2D, InnerProduct and Const blobs, from vector lengths.'),
  })
  .meta({
    title: 'MNN metadata',
    description:
      'MNN models: a FlatBuffer without file identifier whose root is `MNN.Net`, recognised by the structure of its root table (oplists and tensorName present, enums in range) and then walked with bounded reads.',
  });
export type MnnMetadata = z.infer<typeof mnnMetadataSchema>;
type Tensor = z.infer<typeof tensorSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid MNN model: ${message}`);
}

function enumName(table: readonly string[], v: number): string {
  return table[v] ?? `unknown(${v})`;
}

/** Reads the Net through bounded reads of `src`. */
export function readMnn(src: ByteSource): MnnMetadata {
  const r = new FlatBufferReader(src, { label: 'MNN model' });
  const net = r.root();
  const tensorNames = net.vector(7, 4, MAX.tensors, 'Net.tensorName');
  if (tensorNames === undefined) fail('Net.tensorName (field 7) is absent.');
  const oplists = net.vector(3, 4, MAX.ops, 'Net.oplists');
  if (oplists === undefined) fail('Net.oplists (field 3) is absent.');
  const tensorCount = tensorNames.length;
  const tensorName = (i: number): string => {
    if (i < 0 || i >= tensorCount) return `#${i}`;
    return stated(tensorNames.string(i, MAX.text)) ?? `#${i}`;
  };
  const ops = new Map<string, number>();
  const custom = new Set<string>();
  const inputs: Tensor[] = [];
  const consumed = new Set<number>();
  const produced: number[] = [];
  let int8Ops = 0;
  let quantizedWeightOps = 0;
  let parameters = 0;
  const vlen = (t: FlatTable, id: number, what: string): number => t.vector(id, 4, MAX.weights, what)?.length ?? 0;
  for (let i = 0; i < oplists.length; i++) {
    const op = oplists.table(i, `Op ${i}`);
    const type = op.i32(5);
    const mainType = op.u8(1);
    const main = mainType !== 0 ? op.table(2, `Op ${i} main`) : undefined;
    let name = OP_TYPES.get(type) ?? `unknown(${type})`;
    if ((type === OP_EXTRA && mainType === PARAM_EXTRA) || (type === OP_PLUGIN && mainType === PARAM_PLUGIN)) {
      // Extra: 0 type, 1 engine; Plugin: 0 type.
      const t = main?.string(0, MAX.text, `Op ${i} custom type`);
      const engine = type === OP_EXTRA ? main?.string(1, MAX.text, `Op ${i} engine`) : undefined;
      const own = stated(t);
      if (own !== undefined) name = stated(engine) !== undefined ? `${engine}:${own}` : own;
      custom.add(name);
    } else if (type === OP_EXTRA || type === OP_PLUGIN) custom.add(name);
    ops.set(name, (ops.get(name) ?? 0) + 1);
    if (INT8_OPS.has(type)) int8Ops++;
    if (main !== undefined) {
      if (mainType === PARAM_CONV2D) {
        parameters += vlen(main, 1, `Op ${i} Convolution2D.weight`) + vlen(main, 2, `Op ${i} Convolution2D.bias`);
        if (main.has(3)) quantizedWeightOps++;
      } else if (mainType === PARAM_INNER_PRODUCT) {
        parameters += vlen(main, 3, `Op ${i} InnerProduct.weight`) + vlen(main, 4, `Op ${i} InnerProduct.bias`);
        if (main.has(7)) quantizedWeightOps++;
      } else if (mainType === PARAM_BLOB) {
        parameters += vlen(main, 9, `Op ${i} Blob.float32s`);
      }
    }
    const ins = op.vector(0, 4, MAX.indexes, `Op ${i} inputIndexes`);
    for (let k = 0; k < (ins?.length ?? 0); k++) consumed.add(ins!.i32(k));
    const outs = op.vector(4, 4, MAX.indexes, `Op ${i} outputIndexes`);
    for (let k = 0; k < (outs?.length ?? 0); k++) produced.push(outs!.i32(k));
    if (type === OP_INPUT && outs !== undefined) {
      const param = mainType === PARAM_INPUT ? main : undefined;
      for (let k = 0; k < outs.length && inputs.length < MAX.io; k++) {
        const t: Tensor = { name: tensorName(outs.i32(k)) };
        if (param !== undefined) {
          const dims = param.vector(0, 4, MAX.dims, `Op ${i} Input.dims`);
          if (dims !== undefined) t.shape = dims.numbers(MAX.dims, (j) => dims.i32(j));
          t.dtype = enumName(DATA_TYPES, param.i32(1, 1));
          t.format = enumName(DATA_FORMATS, param.i8(2, 2));
        }
        inputs.push(t);
      }
    }
  }
  if (!Number.isSafeInteger(parameters)) fail('the weights add up to more than 2^53 elements.');
  let outputs: Tensor[];
  const outputName = net.vector(4, 4, MAX.io, 'Net.outputName');
  if (outputName !== undefined && outputName.length > 0) {
    outputs = [];
    for (let i = 0; i < outputName.length; i++) outputs.push({ name: outputName.string(i, MAX.text) });
  } else {
    const seen = new Set<number>();
    outputs = [];
    for (const t of produced) {
      if (consumed.has(t) || seen.has(t) || outputs.length >= MAX.io) continue;
      seen.add(t);
      outputs.push({ name: tensorName(t) });
    }
  }
  const extra = net.table(2, 'Net.extraInfo');
  const subgraphs = net.vector(10, 4, MAX.subgraphs, 'Net.subgraphs');
  return {
    ...opt('bizCode', stated(net.string(0, MAX.text, 'Net.bizCode'))),
    ...opt('version', stated(extra?.string(2, MAX.text, 'ExtraInfo.version'))),
    ...opt('extraName', stated(extra?.string(1, MAX.text, 'ExtraInfo.name'))),
    ...opt('uuid', stated(net.string(11, MAX.text, 'Net.mnn_uuid'))),
    sourceType: enumName(SOURCES, net.i8(6)),
    usage: enumName(USAGES, net.i8(9)),
    preferForwardType: enumName(FORWARD_TYPES, net.i8(5)),
    opCount: oplists.length,
    ops: Object.fromEntries([...ops].sort((a, b) => cmp(a[0], b[0]))),
    customOps: [...custom].sort(cmp),
    tensorCount,
    inputs,
    outputs,
    subgraphs: subgraphs?.length ?? 0,
    int8Ops,
    quantizedWeightOps,
    parameters,
  };
}

// ---- recognising ------------------------------------------------------------------------------------------------

/**
 * True when the head holds a plausible `MNN.Net` root table: a small aligned root offset, a vtable in
 * the head with oplists (3) and tensorName (7) present and pointing inside the item, and the three
 * byte enums in range. No FlatBuffers file identifier: MNN writes none, so four identifier-like bytes
 * at offset 4 (TFLite's `TFL3`, ORT's `ORTM`) rule it out.
 */
export function looksLikeMnn(head: Uint8Array, size: number): boolean {
  if (head.length < 32) return false;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const ident = head.subarray(4, 8);
  if (ident.every((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))) return false;
  const root = dv.getUint32(0, true);
  if (root < 8 || root % 4 !== 0 || root + 4 > head.length) return false;
  const vt = root - dv.getInt32(root, true);
  if (vt < 4 || vt + 4 > head.length) return false;
  const vtSize = dv.getUint16(vt, true);
  const inline = dv.getUint16(vt + 2, true);
  // Net has 12 fields (a few more may come): at most 4 + 2 * 24 bytes of vtable.
  if (vtSize < 4 + 2 * 8 || vtSize > 4 + 2 * 24 || vtSize % 2 !== 0 || vt + vtSize > head.length || inline < 8 || root + inline > head.length) return false;
  const field = (id: number): number => (4 + 2 * id < vtSize ? dv.getUint16(vt + 4 + 2 * id, true) : 0);
  for (let id = 0; 4 + 2 * id < vtSize; id++) if (field(id) !== 0 && field(id) + 1 > inline) return false;
  // oplists and tensorName: uoffsets to vectors inside the item.
  for (const id of [3, 7]) {
    const f = field(id);
    if (f === 0 || f + 4 > inline) return false;
    const target = root + f + dv.getUint32(root + f, true);
    if (target + 4 > size || target === root + f) return false;
  }
  const byteEnum = (id: number, max: number): boolean => field(id) === 0 || dv.getInt8(root + field(id)) <= max;
  return byteEnum(5, 4) && byteEnum(6, 4) && byteEnum(9, 2) && [5, 6, 9].every((id) => field(id) === 0 || dv.getInt8(root + field(id)) >= 0);
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function mnnCard(metadata: Record<string, unknown>): ModelCard {
  const m = mnnMetadataSchema.parse(metadata);
  const custom = new Set(m.customOps);
  const spec = (t: Tensor): ModelCard['inputs'][number] => ({
    name: t.name,
    ...opt('type', t.dtype),
    ...opt(
      'shape',
      t.shape?.map((d) => (d < 0 ? null : d)),
    ),
  });
  const quantized = m.int8Ops > 0 || m.quantizedWeightOps > 0;
  return {
    // The converter records MNN's own version in extraInfo (Interpreter::getModelVersion); the framework
    // converted from (sourceType) stays in the metadata: it is not the tool that wrote this file.
    ...opt('producer', m.version !== undefined ? 'MNN' : undefined),
    ...opt('producerVersion', m.version),
    format: 'mnn',
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    parameters: m.parameters,
    weightTypes: [],
    quantized,
    ...opt('quantization', m.int8Ops > 0 ? 'int8' : m.quantizedWeightOps > 0 ? 'int8 weights (IDSTQuan)' : undefined),
    operators: sortCardOperators(Object.entries(m.ops).map(([name, count]) => ({ name, count, custom: custom.has(name) }))),
    customOperators: custom.size > 0,
  };
}

/**
 * MNN models (`.mnn`): bizCode, converter version, source framework, op histogram with custom (Extra,
 * Plugin) ops, inputs with dims, outputs, int8 ops, weight element count. Recognised by the structure
 * of the root table; does not read weight values, subgraph bodies, or MNN's encrypted models.
 */
export const mnn: ModelFormat = {
  id: 'mnn',
  description: 'MNN model (FlatBuffers MNN.Net, no identifier): version, bizCode, source framework, inputs, operator types',
  extensions: ['.mnn'],
  // No magic: a FlatBuffer without file identifier, recognised by its root table's structure.
  signatures: [],
  metadataSchema: mnnMetadataSchema,
  card: mnnCard,
  match(probe: Probe): boolean {
    return looksLikeMnn(probe.head, probe.size);
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const metadata = readMnn(src);
    if (metadata.opCount === 0) fail('Net.oplists is empty.');
    return { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
  },
};
