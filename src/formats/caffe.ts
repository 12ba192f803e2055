import { z } from 'zod';
import { ProtoReader, type ProtoMessage, probeFields, WIRE_LEN, WIRE_VARINT } from '../decoders/protobuf.js';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Caffe networks: a `NetParameter` (BVLC caffe.proto), as protobuf text (`.prototxt`, the network
 * description) or binary (`.caffemodel`, the trained network with its blobs). Fields read:
 *
 *   NetParameter:       1 name, 3 input (repeated), 4 input_dim (repeated), 8 input_shape (BlobShape),
 *                       100 layer (LayerParameter), 2 layers (V1LayerParameter, before 2015)
 *   LayerParameter:     1 name, 2 type (string), 3 bottom, 4 top, 7 blobs (BlobProto)
 *   V1LayerParameter:   4 name, 5 type (enum V1LayerParameter.LayerType), 2 bottom, 3 top, 6 blobs
 *   BlobProto:          7 shape (BlobShape: 1 dim, packed int64), legacy 1 num 2 channels 3 height 4 width
 *
 * No magic: a `.caffemodel` is recognised only by its name and a head whose fields are NetParameter's;
 * a `.prototxt` only by its name and a text holding `layer {` or `layers {` blocks.
 */

/** `V1LayerParameter.LayerType` by value, as the new string types name them. */
const V1_TYPES = [
  'None',
  'Accuracy',
  'BNLL',
  'Concat',
  'Convolution',
  'Data',
  'Dropout',
  'EuclideanLoss',
  'Flatten',
  'HDF5Data',
  'HDF5Output',
  'Im2col',
  'ImageData',
  'InfogainLoss',
  'InnerProduct',
  'LRN',
  'MultinomialLogisticLoss',
  'Pooling',
  'ReLU',
  'Sigmoid',
  'Softmax',
  'SoftmaxWithLoss',
  'Split',
  'TanH',
  'WindowData',
  'Eltwise',
  'Power',
  'SigmoidCrossEntropyLoss',
  'HingeLoss',
  'MemoryData',
  'ArgMax',
  'Threshold',
  'DummyData',
  'Slice',
  'MVN',
  'AbsVal',
  'Silence',
  'ContrastiveLoss',
  'Exp',
  'Deconvolution',
];
/** The same enum by its text names (`INNER_PRODUCT`), as V1 `.prototxt` files write it. */
const V1_ENUM = (
  'NONE ACCURACY BNLL CONCAT CONVOLUTION DATA DROPOUT EUCLIDEAN_LOSS FLATTEN HDF5_DATA HDF5_OUTPUT IM2COL IMAGE_DATA INFOGAIN_LOSS ' +
  'INNER_PRODUCT LRN MULTINOMIAL_LOGISTIC_LOSS POOLING RELU SIGMOID SOFTMAX SOFTMAX_LOSS SPLIT TANH WINDOW_DATA ELTWISE POWER ' +
  'SIGMOID_CROSS_ENTROPY_LOSS HINGE_LOSS MEMORY_DATA ARGMAX THRESHOLD DUMMY_DATA SLICE MVN ABSVAL SILENCE CONTRASTIVE_LOSS EXP DECONVOLUTION'
).split(' ');
/** NetParameter field numbers and their wire types, for the head check of a `.caffemodel`. */
const NET_FIELDS: Readonly<Record<number, number>> = {
  1: WIRE_LEN,
  2: WIRE_LEN,
  3: WIRE_LEN,
  4: WIRE_VARINT,
  5: WIRE_VARINT,
  6: WIRE_LEN,
  7: WIRE_VARINT,
  8: WIRE_LEN,
  100: WIRE_LEN,
};
/** Largest text network parsed; deploy files are kilobytes. */
export const MAX_PROTOTXT_BYTES = 16 * 1024 * 1024;
const MAX = { layers: 1_000_000, blobs: 64, dims: 64, io: 4096, text: 1024, depth: 64, tokens: 20_000_000 } as const;

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const inputSchema = z.strictObject({
  name: z.string().describe('`input` name, or the top of an `Input` layer.'),
  shape: z.array(z.number().int().nonnegative()).optional().describe('`input_shape` / `input_dim` / `input_param.shape` dims.'),
});

export const caffeMetadataSchema = z
  .strictObject({
    encoding: z.enum(['text', 'binary']).describe('`text` (`.prototxt`) or `binary` (`.caffemodel`).'),
    name: z.string().optional().describe('`NetParameter.name`.'),
    layerCount: z.number().int().nonnegative().describe('`layer` (and V1 `layers`) entries.'),
    layers: countByName.describe('Layers per type; V1 enum types by their current string names.'),
    legacyLayers: z.boolean().describe('True when the network uses V1 `layers` (Caffe before 2015).'),
    inputs: z.array(inputSchema).describe('Declared inputs and `Input` layers.'),
    outputs: z.array(z.string()).describe('Tops produced and consumed by no layer.'),
    blobs: z.number().int().nonnegative().describe('Binary only: weight blobs over all layers.'),
    parameters: z.number().int().nonnegative().describe('Binary only: elements of the blobs, from their shapes.'),
  })
  .meta({
    title: 'Caffe metadata',
    description:
      "Caffe networks: `.caffemodel` (binary NetParameter, recognised by its name and its head's fields) and `.prototxt` (text, recognised by its name and its `layer {` blocks, up to 16 MiB). Blob data is skipped, never read.",
  });
export type CaffeMetadata = z.infer<typeof caffeMetadataSchema>;
type Input = z.infer<typeof inputSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid Caffe network: ${message}`);
}

/** What both readers collect. */
class Net {
  name: string | undefined;
  layers = new Map<string, number>();
  layerCount = 0;
  legacy = false;
  inputs: Input[] = [];
  inputDims: number[] = [];
  inputShapes: number[][] = [];
  declared: string[] = [];
  consumed = new Set<string>();
  produced: string[] = [];
  blobs = 0;
  parameters = 0;

  layer(type: string, bottoms: string[], tops: string[], inputShape?: number[]): void {
    if (++this.layerCount > MAX.layers) fail(`more than ${MAX.layers} layers.`);
    this.layers.set(type, (this.layers.get(type) ?? 0) + 1);
    for (const b of bottoms) this.consumed.add(b);
    // In-place layers (ReLU with top == bottom) produce nothing new.
    for (const t of tops) if (!bottoms.includes(t)) this.produced.push(t);
    if (type === 'Input' || type === 'Data' || type === 'MemoryData' || type === 'DummyData') {
      for (const t of tops) if (this.inputs.length < MAX.io) this.inputs.push({ name: t, ...(inputShape !== undefined ? { shape: inputShape } : {}) });
    }
  }

  finish(encoding: 'text' | 'binary'): CaffeMetadata {
    const declared: Input[] = this.declared.map((name, i) => {
      const shape = this.inputShapes[i] ?? (this.inputDims.length >= 4 * (i + 1) ? this.inputDims.slice(4 * i, 4 * i + 4) : undefined);
      return { name, ...(shape !== undefined ? { shape } : {}) };
    });
    const seen = new Set<string>();
    const outputs: string[] = [];
    for (const t of this.produced) {
      if (this.consumed.has(t) || seen.has(t) || outputs.length >= MAX.io) continue;
      seen.add(t);
      outputs.push(t);
    }
    return {
      encoding,
      ...opt('name', stated(this.name)),
      layerCount: this.layerCount,
      layers: Object.fromEntries([...this.layers].sort((a, b) => cmp(a[0], b[0]))),
      legacyLayers: this.legacy,
      inputs: [...declared, ...this.inputs].slice(0, MAX.io),
      outputs,
      blobs: this.blobs,
      parameters: this.parameters,
    };
  }
}

// ---- binary ------------------------------------------------------------------------------------------------------

function blobShape(m: ProtoMessage): number[] {
  const dims: number[] = [];
  const push = (d: number): void => {
    if (dims.length >= MAX.dims) fail(`a BlobShape at offset ${m.start} has more than ${MAX.dims} dims.`);
    if (!Number.isSafeInteger(d) || d < 0) fail(`a BlobShape at offset ${m.start} has the dimension ${d}.`);
    dims.push(d);
  };
  while (m.next()) {
    if (m.field !== 1) continue;
    if (m.wire === WIRE_LEN) m.packedVarints(MAX.dims, (d) => push(Number(d)));
    else if (m.wire === WIRE_VARINT) push(m.signedNumber());
  }
  return dims;
}

/** BlobProto: its element count from `shape`, or from the legacy num/channels/height/width. */
function blobElements(m: ProtoMessage): number {
  let shape: number[] | undefined;
  const legacy = [1, 1, 1, 1];
  while (m.next()) {
    if (m.field === 7 && m.wire === WIRE_LEN) shape = blobShape(m.message('BlobShape'));
    else if (m.field >= 1 && m.field <= 4 && m.wire === WIRE_VARINT) legacy[m.field - 1] = m.int(0, 2 ** 31);
  }
  return (shape ?? legacy).reduce((a, b) => a * b, 1);
}

function readLayer(m: ProtoMessage, net: Net, v1: boolean): void {
  let type = 'unknown';
  const bottoms: string[] = [];
  const tops: string[] = [];
  let inputShape: number[] | undefined;
  // V1LayerParameter: 2 bottom, 3 top, 5 type (enum), 6 blobs; LayerParameter: 2 type, 3 bottom, 4 top, 7 blobs, 143 input_param.
  const [fBottom, fTop, fBlobs] = v1 ? [2, 3, 6] : [3, 4, 7];
  while (m.next()) {
    if (m.wire === WIRE_LEN && m.field === fBottom) bottoms.push(m.string(MAX.text));
    else if (m.wire === WIRE_LEN && m.field === fTop) tops.push(m.string(MAX.text));
    else if (!v1 && m.field === 2 && m.wire === WIRE_LEN) type = stated(m.string(MAX.text)) ?? 'unknown';
    else if (v1 && m.field === 5 && m.wire === WIRE_VARINT) {
      const code = m.int(0, 1 << 20);
      type = V1_TYPES[code] ?? `V1_${code}`;
    } else if (m.field === fBlobs && m.wire === WIRE_LEN) {
      if (++net.blobs > MAX.layers * MAX.blobs) fail('too many blobs.');
      net.parameters += blobElements(m.message('BlobProto'));
    } else if (!v1 && m.field === 143 && m.wire === WIRE_LEN) {
      // InputParameter: 1 shape (BlobShape), the first one only.
      const ip = m.message('InputParameter');
      while (ip.next()) if (ip.field === 1 && ip.wire === WIRE_LEN && inputShape === undefined) inputShape = blobShape(ip.message('BlobShape'));
    }
  }
  net.layer(type, bottoms, tops, inputShape);
}

export function readCaffemodel(src: ByteSource, head?: Uint8Array): CaffeMetadata {
  const r = new ProtoReader(src, { format: 'Caffe network', ...(head !== undefined ? { head } : {}) });
  const m = r.root('NetParameter', { 1: 'name', 2: 'layers', 3: 'input', 4: 'input_dim', 8: 'input_shape', 100: 'layer' });
  const net = new Net();
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_LEN) net.name = m.string(MAX.text);
    else if (m.field === 3 && m.wire === WIRE_LEN) {
      if (net.declared.length < MAX.io) net.declared.push(m.string(MAX.text));
    } else if (m.field === 4 && m.wire === WIRE_VARINT) {
      if (net.inputDims.length < 4 * MAX.io) net.inputDims.push(m.int(0, 2 ** 31));
    } else if (m.field === 8 && m.wire === WIRE_LEN) {
      if (net.inputShapes.length < MAX.io) net.inputShapes.push(blobShape(m.message('BlobShape')));
    } else if (m.field === 100 && m.wire === WIRE_LEN) readLayer(m.message('LayerParameter'), net, false);
    else if (m.field === 2 && m.wire === WIRE_LEN) {
      net.legacy = true;
      readLayer(m.message('V1LayerParameter'), net, true);
    }
  }
  if (!Number.isSafeInteger(net.parameters)) fail('the blobs add up to more than 2^53 elements.');
  if (net.layerCount === 0) fail('the NetParameter holds no layer.');
  return net.finish('binary');
}

// ---- text --------------------------------------------------------------------------------------------------------

type Token = { kind: 'word' | 'string' | 'punct'; text: string; at: number };

/** Protobuf text tokens: words (names, numbers, enums), quoted strings, and `: { } < > , ;`. */
function* tokens(s: string): Generator<Token> {
  let p = 0;
  let n = 0;
  while (p < s.length) {
    const c = s[p]!;
    if (c === '#') {
      const e = s.indexOf('\n', p);
      p = e < 0 ? s.length : e + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      p++;
      continue;
    }
    if (++n > MAX.tokens) fail(`more than ${MAX.tokens} tokens.`);
    if (c === '"' || c === "'") {
      let q = p + 1;
      let out = '';
      while (q < s.length && s[q] !== c) {
        if (s[q] === '\\' && q + 1 < s.length) q++;
        if (out.length < MAX.text) out += s[q];
        q++;
      }
      if (q >= s.length) fail(`a string at offset ${p} is not closed.`);
      yield { kind: 'string', text: out, at: p };
      p = q + 1;
      continue;
    }
    if (':{}<>,;[]'.includes(c)) {
      yield { kind: 'punct', text: c, at: p };
      p++;
      continue;
    }
    let q = p;
    while (q < s.length && /[\w.+-]/.test(s[q]!)) q++;
    if (q === p) fail(`an unexpected character ${JSON.stringify(c)} at offset ${p}.`);
    yield { kind: 'word', text: s.slice(p, Math.min(q, p + MAX.text)), at: p };
    p = q;
  }
}

export function readPrototxt(text: string): CaffeMetadata {
  const net = new Net();
  const path: string[] = [];
  let key: string | undefined;
  let layer: { type: string; bottoms: string[]; tops: string[]; shape?: number[]; v1: boolean } | undefined;
  let shape: number[] | undefined;
  for (const t of tokens(text)) {
    if (t.kind === 'punct') {
      if (t.text === '{' || t.text === '<') {
        if (key === undefined) fail(`a '${t.text}' at offset ${t.at} follows no field name.`);
        if (path.length >= MAX.depth) fail(`messages nest deeper than ${MAX.depth} at offset ${t.at}.`);
        path.push(key);
        if (path.length === 1 && (key === 'layer' || key === 'layers')) layer = { type: 'unknown', bottoms: [], tops: [], v1: key === 'layers' };
        if (key === 'shape' || key === 'input_shape') shape = [];
        key = undefined;
      } else if (t.text === '}' || t.text === '>') {
        const closed = path.pop();
        if (closed === undefined) fail(`a '${t.text}' at offset ${t.at} closes nothing.`);
        if ((closed === 'shape' || closed === 'input_shape') && shape !== undefined) {
          if (path.length === 0 && closed === 'input_shape') net.inputShapes.push(shape);
          else if (layer !== undefined && layer.shape === undefined) layer.shape = shape;
          shape = undefined;
        }
        if (path.length === 0 && layer !== undefined && (closed === 'layer' || closed === 'layers')) {
          if (layer.v1) net.legacy = true;
          net.layer(layer.type, layer.bottoms, layer.tops, layer.shape);
          layer = undefined;
        }
      }
      continue;
    }
    if (key === undefined) {
      if (t.kind !== 'word') fail(`a string at offset ${t.at} where a field name belongs.`);
      key = t.text;
      continue;
    }
    // `key: value` (the ':' was skipped as punctuation)
    const v = t.text;
    const depth = path.length;
    if (depth === 0) {
      if (key === 'name') net.name = v;
      else if (key === 'input' && net.declared.length < MAX.io) net.declared.push(v);
      else if (key === 'input_dim' && /^\d+$/.test(v)) net.inputDims.push(Number(v));
    } else if (layer !== undefined && depth === 1) {
      if (key === 'type') layer.type = layer.v1 && t.kind === 'word' ? (V1_TYPES[V1_ENUM.indexOf(v)] ?? v) : v;
      else if (key === 'bottom') layer.bottoms.push(v);
      else if (key === 'top') layer.tops.push(v);
    }
    if (key === 'dim' && shape !== undefined && /^\d+$/.test(v) && shape.length < MAX.dims) shape.push(Number(v));
    key = undefined;
  }
  if (path.length > 0) fail(`the message ${path[path.length - 1]} is not closed at the end of the text.`);
  if (net.layerCount === 0) fail('the text holds no layer or layers block.');
  return net.finish('text');
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function caffeCard(metadata: Record<string, unknown>): ModelCard {
  const m = caffeMetadataSchema.parse(metadata);
  return {
    ...opt('name', m.name),
    format: 'caffe',
    inputs: m.inputs.map((i) => ({ name: i.name, ...opt('shape', i.shape) })),
    outputs: m.outputs.map((name) => ({ name })),
    ...(m.encoding === 'binary' ? { parameters: m.parameters, parameterBytes: m.parameters * 4, weightTypes: ['float32'] } : { weightTypes: [] }),
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

/** The head of a `.caffemodel`: fields NetParameter declares, with their wire types, and a layer among them. */
function looksLikeCaffemodel(probe: Probe): boolean {
  const scan = probeFields(probe);
  if (scan.status === 'invalid' || scan.fields.length === 0) return false;
  return scan.fields.every((f) => NET_FIELDS[f.field] === f.wire) && scan.fields.some((f) => f.field === 100 || f.field === 2);
}

function looksLikePrototxt(head: Uint8Array): boolean {
  const s = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  return /(^|\n)\s*layers?\s*\{/.test(s) && /\btype\s*:/.test(s);
}

/**
 * Caffe networks: `.caffemodel` (layers, blobs and their element count) and `.prototxt` network
 * descriptions (layers, inputs, outputs). Each is reported on its own (a deploy `.prototxt` and a
 * `.caffemodel` name no file of each other). Does not read blob data, solver files, or Caffe2.
 */
export const caffe: ModelFormat = {
  id: 'caffe',
  description: 'Caffe network (.caffemodel binary or .prototxt text NetParameter): name, layer types, inputs/outputs, blob elements',
  // `.prototxt` is no claim: solver definitions share the extension.
  extensions: ['.caffemodel'],
  signatures: [],
  metadataSchema: caffeMetadataSchema,
  card: caffeCard,
  match(probe: Probe): boolean {
    const ext = extensionOf(probe.name);
    if (ext === '.caffemodel') return looksLikeCaffemodel(probe);
    if (ext === '.prototxt') return looksLikePrototxt(probe.head);
    return false;
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (extensionOf(probe.name) === '.prototxt') {
      if (src.size > MAX_PROTOTXT_BYTES)
        throw new LimitError(
          `This ${src.size}-byte .prototxt is larger than the ${MAX_PROTOTXT_BYTES}-byte limit for Caffe network descriptions; it was not parsed.`,
          'maxPrototxtBytes',
        );
      const metadata = readPrototxt(new TextDecoder('utf-8').decode(src.read(0, src.size)));
      return { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
    }
    const metadata = readCaffemodel(src, src === probe.source ? probe.head : undefined);
    return { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
  },
};
