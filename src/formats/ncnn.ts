import { z } from 'zod';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * ncnn (Tencent) models: a network description (`.param`) and its weights (`.bin`, same base name).
 * From ncnn's "param and model file structure" and `Net::load_param` / `load_param_bin`:
 *
 *   text `.param`:   line 1 the magic `7767517`; line 2 `<layer count> <blob count>`; then one layer per
 *                    line: `<type> <name> <bottom count> <top count> <bottom names...> <top names...>
 *                    <id>=<value>...` where an id of -23300 - k holds an array `n,v1,...,vn` for key k.
 *   binary `.param.bin`: int32 little-endian magic 7767517, layer count, blob count; per layer: int32
 *                    type index (ncnn's layer registry; bit 8 set for a custom layer), bottom and top
 *                    counts, bottom and top blob indexes, then the parameter dictionary: int32 id, a
 *                    4-byte value (or, for id <= -23300, an int32 length and that many 4-byte values),
 *                    ended by id -233. Binary params hold no names.
 *
 * The weights file has no header of its own; it is the model's part, never read.
 */

const MAGIC = 7767517;
/** Largest param file parsed; real ones are kilobytes (large LLM graphs a few MiB). */
export const MAX_NCNN_PARAM_BYTES = 32 * 1024 * 1024;
const MAX_LAYERS = 1_000_000;
const MAX_BLOBS = 4_000_000;
const MAX_IO_PER_LAYER = 65_536;
const MAX_ARRAY = 1 << 24;
/** ncnn's NCNN_MAX_PARAM_COUNT: parameter ids are below it. */
const MAX_PARAM_ID = 32;
const MAX_BLOB_NAMES = 1024;
const MAX_TEXT = 256;
const CUSTOM_BIT = 1 << 8;

/** ncnn's built-in layer types by registry index (the order of `ncnn_add_layer` in src/CMakeLists.txt). */
const LAYER_TYPES: readonly string[] = [
  'AbsVal ArgMax BatchNorm Bias BNLL Concat Convolution Crop Deconvolution Dropout',
  'Eltwise ELU Embed Exp Flatten InnerProduct Input Log LRN MemoryData',
  'MVN Pooling Power PReLU Proposal Reduction ReLU Reshape ROIPooling Scale',
  'Sigmoid Slice Softmax Split SPP TanH Threshold Tile RNN LSTM',
  'BinaryOp UnaryOp ConvolutionDepthWise Padding Squeeze ExpandDims Normalize Permute PriorBox DetectionOutput',
  'Interp DeconvolutionDepthWise ShuffleChannel InstanceNorm Clip Reorg YoloDetectionOutput Quantize Dequantize Yolov3DetectionOutput',
  'PSROIPooling ROIAlign Packing Requantize Cast HardSigmoid SELU HardSwish Noop PixelShuffle',
  'DeepCopy Mish StatisticsPooling Swish Gemm GroupNorm LayerNorm Softplus GRU MultiHeadAttention',
  'GELU Convolution1D Pooling1D ConvolutionDepthWise1D Convolution3D ConvolutionDepthWise3D Pooling3D MatMul Deconvolution1D DeconvolutionDepthWise1D',
  'Deconvolution3D DeconvolutionDepthWise3D Einsum DeformableConv2D GLU Fold Unfold GridSample CumulativeSum',
].flatMap((row) => row.split(' '));
const BUILTIN = new Set(LAYER_TYPES);
/** Layers whose parameter 8 (`int8_scale_term`) marks int8 weights. */
const INT8_CAPABLE = new Set([
  'Convolution',
  'ConvolutionDepthWise',
  'InnerProduct',
  'Convolution1D',
  'Deconvolution',
  'DeconvolutionDepthWise',
  'Gemm',
  'MultiHeadAttention',
  'Embed',
]);

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const blobSchema = z.strictObject({
  name: z.string().describe('Blob name (text params) or `blob_<index>` (binary params, which hold no names).'),
  shape: z.array(z.number().int().positive()).optional().describe('Input layers: `[c, h, w]` from parameters 2, 1, 0 (those set).'),
});

export const ncnnMetadataSchema = z
  .strictObject({
    variant: z.enum(['text', 'binary']).describe('`text` (`.param`) or `binary` (`.param.bin`) network description.'),
    layerCount: z.number().int().nonnegative().describe('Layer count from the header (equals the layers read).'),
    blobCount: z.number().int().nonnegative().describe('Blob count from the header.'),
    layers: countByName.describe("Layers per type; a binary param names built-in types from ncnn's registry, `custom<N>` for custom ones."),
    customLayers: z.array(z.string()).describe("Layer types outside ncnn's built-in registry."),
    inputs: z.array(blobSchema).describe('Top blobs of `Input` layers.'),
    outputs: z.array(blobSchema).describe('Blobs produced by a layer and consumed by none.'),
    blobNames: z.array(z.string()).describe('Blob names in order of appearance (text params only), at most 1024.'),
    int8Layers: z.number().int().nonnegative().describe('Convolution, InnerProduct and kin with `int8_scale_term` (parameter 8) set.'),
  })
  .meta({
    title: 'ncnn metadata',
    description:
      "ncnn network descriptions, text `.param` (first line `7767517`) or binary `.param.bin` (int32 7767517), up to 32 MiB; the weights `.bin` of the same base name is the model's part.",
  });
export type NcnnMetadata = z.infer<typeof ncnnMetadataSchema>;
type Blob = z.infer<typeof blobSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid ncnn param: ${message}`, truncated ? 'truncated' : 'format');
}

/** What the two readers collect, before inputs and outputs are derived. */
interface Graph {
  layers: Map<string, number>;
  custom: Set<string>;
  inputs: Blob[];
  produced: string[];
  consumed: Set<string>;
  int8: number;
}

function newGraph(): Graph {
  return { layers: new Map(), custom: new Set(), inputs: [], produced: [], consumed: new Set(), int8: 0 };
}

function addLayer(g: Graph, type: string, bottoms: string[], tops: string[], params: Map<number, number>): void {
  g.layers.set(type, (g.layers.get(type) ?? 0) + 1);
  for (const b of bottoms) g.consumed.add(b);
  for (const t of tops) g.produced.push(t);
  if (type === 'Input') {
    // ncnn::Input: 0=w 1=h 11=d 2=c; unset ones are 0.
    const dims = [params.get(2), params.get(1), params.get(0)].filter((d): d is number => d !== undefined && Number.isSafeInteger(d) && d > 0);
    for (const t of tops) g.inputs.push({ name: t, ...(dims.length > 0 ? { shape: dims } : {}) });
  }
  if (INT8_CAPABLE.has(type) && (params.get(8) ?? 0) !== 0) g.int8++;
}

function finish(variant: 'text' | 'binary', layerCount: number, blobCount: number, g: Graph, blobNames: string[]): NcnnMetadata {
  const seen = new Set<string>();
  const outputs: Blob[] = [];
  for (const t of g.produced) {
    if (g.consumed.has(t) || seen.has(t)) continue;
    seen.add(t);
    outputs.push({ name: t });
  }
  return {
    variant,
    layerCount,
    blobCount,
    layers: Object.fromEntries([...g.layers].sort((a, b) => cmp(a[0], b[0]))),
    customLayers: [...g.custom].sort(cmp),
    inputs: g.inputs,
    outputs,
    blobNames,
    int8Layers: g.int8,
  };
}

// ---- text params ------------------------------------------------------------------------------------------------

/** Reads a text `.param`. */
export function readNcnnText(text: string): NcnnMetadata {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== String(MAGIC)) fail(`the first line is not the magic ${MAGIC}.`);
  const header = (lines[1] ?? '').trim().split(/\s+/);
  if (header.length !== 2 || !header.every((h) => /^\d{1,10}$/.test(h)))
    fail(`line 2 ${JSON.stringify((lines[1] ?? '').slice(0, 64))} is not '<layer count> <blob count>'.`);
  const layerCount = checked(Number(header[0]), 0, MAX_LAYERS, 'Invalid ncnn param: layer count');
  const blobCount = checked(Number(header[1]), 0, MAX_BLOBS, 'Invalid ncnn param: blob count');
  const g = newGraph();
  const blobNames: string[] = [];
  const named = new Set<string>();
  let read = 0;
  for (let i = 2; i < lines.length && read < layerCount; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    const where = `line ${i + 1}`;
    if (f.length < 4) fail(`${where} has ${f.length} fields; a layer needs at least type, name and two counts.`);
    const type = f[0]!.slice(0, MAX_TEXT);
    const nb = /^\d+$/.test(f[2]!)
      ? checked(Number(f[2]), 0, MAX_IO_PER_LAYER, `Invalid ncnn param: ${where} bottom count`)
      : fail(`${where} bottom count ${JSON.stringify(f[2]!.slice(0, 32))} is not a number.`);
    const nt = /^\d+$/.test(f[3]!)
      ? checked(Number(f[3]), 0, MAX_IO_PER_LAYER, `Invalid ncnn param: ${where} top count`)
      : fail(`${where} top count ${JSON.stringify(f[3]!.slice(0, 32))} is not a number.`);
    if (f.length < 4 + nb + nt) fail(`${where} names ${f.length - 4} blobs, fewer than its ${nb} bottoms and ${nt} tops.`);
    const bottoms = f.slice(4, 4 + nb).map((s) => s.slice(0, MAX_TEXT));
    const tops = f.slice(4 + nb, 4 + nb + nt).map((s) => s.slice(0, MAX_TEXT));
    const params = new Map<number, number>();
    for (const kv of f.slice(4 + nb + nt)) {
      const eq = kv.indexOf('=');
      const id = eq > 0 ? Number(kv.slice(0, eq)) : Number.NaN;
      if (!Number.isInteger(id) || id >= MAX_PARAM_ID || (id < 0 && (id > -23300 || id <= -23300 - MAX_PARAM_ID)))
        fail(`${where} has a parameter ${JSON.stringify(kv.slice(0, 32))} whose id is not in [0, ${MAX_PARAM_ID}) or an array id.`);
      // Only scalar values are kept (Input dims, int8_scale_term); arrays are skipped.
      if (id >= 0) params.set(id, Number(kv.slice(eq + 1)));
    }
    if (!BUILTIN.has(type)) g.custom.add(type);
    for (const b of [...bottoms, ...tops]) {
      if (!named.has(b) && blobNames.length < MAX_BLOB_NAMES) blobNames.push(b);
      if (named.size < MAX_BLOBS) named.add(b);
    }
    addLayer(g, type, bottoms, tops, params);
    read++;
  }
  if (read < layerCount) fail(`the header declares ${layerCount} layers but the file ends after ${read}.`, true);
  return finish('text', layerCount, blobCount, g, blobNames);
}

// ---- binary params ----------------------------------------------------------------------------------------------

/** Reads a binary `.param.bin` held in `b`. */
export function readNcnnBinary(b: Uint8Array): NcnnMetadata {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const i32 = (what: string): number => {
    if (pos + 4 > b.length) fail(`${what} at offset ${pos} needs 4 bytes; the file ends at ${b.length}.`, true);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  if (i32('magic') !== MAGIC) fail(`the magic at offset 0 is not ${MAGIC}.`);
  const layerCount = checked(i32('layer count'), 0, MAX_LAYERS, 'Invalid ncnn param: layer count');
  const blobCount = checked(i32('blob count'), 0, MAX_BLOBS, 'Invalid ncnn param: blob count');
  const g = newGraph();
  const blob = (what: string): string => `blob_${checked(i32(what), 0, blobCount - 1, `Invalid ncnn param: ${what}`)}`;
  for (let l = 0; l < layerCount; l++) {
    const at = pos;
    const index = i32(`layer ${l} type index`);
    if (index < 0) fail(`layer ${l} type index ${index} at offset ${at} is negative.`);
    const custom = (index & CUSTOM_BIT) !== 0;
    const type = custom ? `custom${index & ~CUSTOM_BIT}` : (LAYER_TYPES[index] ?? `unknown${index}`);
    if (custom || !BUILTIN.has(type)) g.custom.add(type);
    const nb = checked(i32(`layer ${l} bottom count`), 0, MAX_IO_PER_LAYER, `Invalid ncnn param: layer ${l} bottom count`);
    const nt = checked(i32(`layer ${l} top count`), 0, MAX_IO_PER_LAYER, `Invalid ncnn param: layer ${l} top count`);
    const bottoms: string[] = [];
    for (let k = 0; k < nb; k++) bottoms.push(blob(`layer ${l} bottom ${k}`));
    const tops: string[] = [];
    for (let k = 0; k < nt; k++) tops.push(blob(`layer ${l} top ${k}`));
    const params = new Map<number, number>();
    for (let n = 0; ; n++) {
      const idAt = pos;
      const id = i32(`layer ${l} parameter id`);
      if (id === -233) break; // end of the dictionary
      if (n >= MAX_PARAM_ID) fail(`layer ${l} has more than ${MAX_PARAM_ID} parameters (offset ${idAt}).`);
      if (id <= -23300) {
        const key = -id - 23300;
        if (key >= MAX_PARAM_ID) fail(`layer ${l} array parameter id ${id} at offset ${idAt} is past the ${MAX_PARAM_ID} parameter ids.`);
        const len = checked(i32(`layer ${l} array length`), 0, MAX_ARRAY, `Invalid ncnn param: layer ${l} parameter ${key} array length`);
        if (pos + 4 * len > b.length)
          fail(`layer ${l} parameter ${key} array of ${len} values at offset ${pos} runs past the end of the ${b.length}-byte file.`, true);
        pos += 4 * len;
      } else {
        if (id < 0 || id >= MAX_PARAM_ID) fail(`layer ${l} parameter id ${id} at offset ${idAt} is not in [0, ${MAX_PARAM_ID}).`);
        // Ints and floats share the 4 bytes; the keys read here (Input dims, int8_scale_term) are ints.
        params.set(id, i32(`layer ${l} parameter ${id}`));
      }
    }
    addLayer(g, type, bottoms, tops, params);
  }
  return finish('binary', layerCount, blobCount, g, []);
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function ncnnCard(metadata: Record<string, unknown>): ModelCard {
  const m = ncnnMetadataSchema.parse(metadata);
  const custom = new Set(m.customLayers);
  return {
    format: 'ncnn',
    inputs: m.inputs.map((b) => ({ name: b.name, ...opt('shape', b.shape) })),
    outputs: m.outputs.map((b) => ({ name: b.name })),
    // The weights file records its storage per blob (float32, float16, int8 tags); it is not read.
    weightTypes: [],
    ...(m.int8Layers > 0 ? { quantized: true, quantization: 'int8' } : {}),
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: custom.has(name) }))),
    customOperators: custom.size > 0,
  };
}

function isTextParam(head: Uint8Array): boolean {
  // '7767517' then a line break, then '<digits> <digits>'.
  const s = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 64)).toString('latin1');
  return /^7767517[ \t]*\r?\n[ \t]*\d{1,10}[ \t]+\d{1,10}[ \t]*\r?\n/.test(s);
}

function isBinaryParam(head: Uint8Array): boolean {
  if (head.length < 12) return false;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const layers = dv.getInt32(4, true);
  const blobs = dv.getInt32(8, true);
  return dv.getInt32(0, true) === MAGIC && layers >= 0 && layers <= MAX_LAYERS && blobs >= 0 && blobs <= MAX_BLOBS;
}

/** The weights beside a param: `x.param` and `x.param.bin` -> `x.bin`. */
function weightsName(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const m = /^(.*)\.param(\.bin)?$/i.exec(base);
  return `${m !== null && m[1] !== '' ? m[1] : base}.bin`;
}

/**
 * ncnn networks: text `.param` or binary `.param.bin`, with the weights `.bin` of the same base name as
 * their part. Reads layer types (custom ones flagged), blob names, inputs (Input layers) and outputs
 * (blobs nobody consumes), and int8 layers. Does not read the weights, nor the older text params that
 * lack the magic line, nor params embedded in C headers (`.id.h`, `.mem.h`).
 */
export const ncnn: ModelFormat = {
  id: 'ncnn',
  description: 'ncnn network (text .param or binary .param.bin, magic 7767517) with its .bin weights as part: layers, blobs, inputs/outputs',
  extensions: ['.param'],
  signatures: [
    { offset: 0, magic: '7767517', note: 'text param magic line' },
    { offset: 0, magic: [0xdd, 0x85, 0x76, 0x00], note: 'binary param magic: int32 7767517 little-endian' },
  ],
  metadataSchema: ncnnMetadataSchema,
  card: ncnnCard,
  match(probe: Probe): boolean {
    return isTextParam(probe.head) || isBinaryParam(probe.head);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (src.size > MAX_NCNN_PARAM_BYTES) {
      throw new LimitError(
        `This ${src.size}-byte file starts like an ncnn param but is larger than the ${MAX_NCNN_PARAM_BYTES}-byte limit for network descriptions; it was not parsed.`,
        'maxParamBytes',
      );
    }
    const bytes = src.read(0, src.size);
    let metadata: NcnnMetadata;
    if (bytes.length >= 4 && bytes[0] === 0xdd && bytes[1] === 0x85 && bytes[2] === 0x76 && bytes[3] === 0x00) metadata = readNcnnBinary(bytes);
    else metadata = readNcnnText(new TextDecoder('utf-8').decode(bytes));
    return {
      confidence: 'high',
      metadata: metadata as unknown as Record<string, unknown>,
      parts: [{ path: weightsName(probe.name), role: 'weights' }],
    };
  },
};
