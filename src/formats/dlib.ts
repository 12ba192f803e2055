import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * dlib models (`.dat`), written by dlib::serialize (dlib/serialize.h). Integers are packed: one byte
 * whose low 4 bits give the count of value bytes that follow (little-endian) and whose bit 7 is the sign
 * (`01 01` is 1, `81 88` is -136). A string is its packed length, then its bytes. A float is two packed
 * integers (mantissa, exponent).
 *
 * - shape_predictor: int version 1; initial_shape, a matrix<float,0,1> written as -rows, -cols (negative
 *   to mark the current matrix layout) then rows * cols floats; forests, a vector (packed size) of
 *   vectors of regression trees; then anchor indices and deltas. The landmark count is rows / 2.
 * - DNN networks (face recognition ResNet, MMOD detector): nested layers, each written as version ints
 *   around its sub-network, so the head is a run of version ints down to the input layer's name
 *   (`input_rgb_image_sized`, `input_rgb_image_pyramid`), and each layer's details start with its name
 *   (`con_`, `relu_`, `fc_`...); the loss layer (`loss_metric_`, `loss_mmod_`) is written last.
 */

const MAX_LANDMARKS = 100_000;
const MAX_FORESTS = 10_000;
const SCAN_LIMIT = 512 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const TAIL = 256 * 1024;

/** Layer names as dlib writes them in each layer's details (dlib/dnn/layers.h, loss.h, input.h). */
const LAYERS = [
  'con_',
  'cont_',
  'fc_',
  'fc_no_bias',
  'relu_',
  'prelu_',
  'leaky_relu_',
  'sig_',
  'htan_',
  'mish_',
  'gelu_',
  'softmax_',
  'bn_con',
  'bn_fc',
  'affine_con',
  'affine_fc',
  'affine_',
  'max_pool',
  'avg_pool',
  'add_prev',
  'mult_prev',
  'concat_',
  'dropout_',
  'multiply_',
  'l2normalize_',
  'upsample_',
  'resize_to_',
  'extract_',
];
const LOSSES = [
  'loss_metric_',
  'loss_mmod_',
  'loss_multiclass_log_',
  'loss_binary_log_',
  'loss_mean_squared_',
  'loss_multiclass_log_per_pixel_',
  'loss_mean_squared_multioutput_',
];

export const dlibMetadataSchema = z
  .strictObject({
    kind: z.enum(['shape-predictor', 'dnn']).describe('A shape_predictor (landmarks) or a DNN network.'),
    shapePredictor: z
      .strictObject({
        version: z.number().int().describe('Serialization version (1).'),
        landmarks: z.number().int().nonnegative().describe('Landmarks predicted (rows of initial_shape / 2): 68 or 5 for the face models.'),
        cascadeDepth: z.number().int().nonnegative().describe('Forests in the cascade.'),
        treesPerLevel: z.number().int().nonnegative().describe('Regression trees in the first forest.'),
      })
      .optional()
      .describe('shape_predictor models only.'),
    dnn: z
      .strictObject({
        input: z.string().describe('The input layer (`input_rgb_image_sized`, `input_rgb_image_pyramid`).'),
        loss: z.string().optional().describe('The loss layer found at the end of the file (`loss_metric_`: an embedding network; `loss_mmod_`: a detector).'),
        layers: z.record(z.string(), z.number().int().nonnegative()).describe('Layers per name, counted by their length-prefixed names.'),
      })
      .optional()
      .describe('DNN networks only.'),
  })
  .meta({
    title: 'dlib metadata',
    description:
      'dlib models written by `dlib::serialize`: shape predictors (landmark count, cascade depth, trees) and DNN networks (input layer, loss layer, layer histogram), such as the face recognition ResNet and the MMOD face detector. Recognised by content; `.dat` is no claim.',
  });
export type DlibMetadata = z.infer<typeof dlibMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid dlib model: ${message}`, truncated ? 'truncated' : 'format');
}

/** Packed integers and strings over bytes in memory; `pos` moves forward. */
class Packed {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  int(what: string): number {
    const at = this.pos;
    const h = this.b[at];
    if (h === undefined) fail(`${what} at offset ${at} is past the bytes read.`, true);
    const n = h & 0x0f;
    if ((h & 0x70) !== 0 || n > 8) fail(`${what} at offset ${at} has header byte 0x${h.toString(16)}, not a packed integer.`);
    if (at + 1 + n > this.b.length) fail(`${what} at offset ${at} needs ${n + 1} bytes.`, true);
    let v = 0;
    for (let i = n; i >= 1; i--) v = v * 256 + this.b[at + i]!;
    this.pos = at + 1 + n;
    return h & 0x80 ? -v : v;
  }
  string(max: number, what: string): string | undefined {
    const at = this.pos;
    const n = this.int(`${what} length`);
    if (n < 0 || n > max || this.pos + n > this.b.length) {
      this.pos = at;
      return undefined;
    }
    const s = new TextDecoder('latin1').decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

/** The DNN input layer name after the leading version ints, or undefined. */
function dnnInput(head: Uint8Array): string | undefined {
  const p = new Packed(head.subarray(0, 2048));
  try {
    for (let i = 0; i < 400; i++) {
      const at = p.pos;
      // A string of 5..64 characters starting with 'input' ends the run of version ints.
      if (head[at] === 0x01 && head[at + 1]! >= 5 && head[at + 1]! <= 64) {
        const s = p.string(64, 'input layer');
        if (s !== undefined && /^input[a-z_<>]*$/.test(s)) return s;
        p.pos = at;
      }
      const v = p.int('version');
      if (v < 0 || v > 16) return undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function readShapePredictor(src: ByteSource): NonNullable<DlibMetadata['shapePredictor']> {
  // initial_shape: rows*cols floats of at most 2 * 10 bytes each; read enough for the largest allowed.
  const head = src.read(0, Math.min(src.size, 16 + 20 * 2 * MAX_LANDMARKS + 32));
  const p = new Packed(head);
  const version = p.int('version');
  if (version !== 1) fail(`the shape_predictor version at offset 0 is ${version}, not 1.`);
  const rows = -p.int('initial_shape rows');
  const cols = -p.int('initial_shape columns');
  if (cols !== 1 || rows <= 0 || rows % 2 !== 0 || rows / 2 > MAX_LANDMARKS)
    fail(`initial_shape is ${rows} x ${cols}, not a column of 2 x landmarks (at most ${MAX_LANDMARKS}).`);
  for (let i = 0; i < rows; i++) {
    p.int(`initial_shape value ${i} mantissa`);
    p.int(`initial_shape value ${i} exponent`);
  }
  const forests = p.int('forests count');
  if (forests < 0 || forests > MAX_FORESTS) fail(`the forests count at offset ${p.pos} is ${forests}, outside [0, ${MAX_FORESTS}].`);
  const trees = forests > 0 ? p.int('trees count') : 0;
  if (trees < 0 || trees > 1_000_000) fail(`the first forest's tree count is ${trees}.`);
  return { version, landmarks: rows / 2, cascadeDepth: forests, treesPerLevel: trees };
}

/** Counts each known layer name written as a packed string (`01 <len> name`) over the whole file. */
function countLayers(src: ByteSource): Record<string, number> {
  const needles = LAYERS.map((name) => ({ name, bytes: Buffer.from([0x01, name.length, ...Buffer.from(name, 'latin1')]) }));
  const counts = new Map<string, number>();
  const end = Math.min(src.size, SCAN_LIMIT);
  const overlap = 32;
  for (let off = 0; off < end; off += CHUNK) {
    const b = Buffer.from(src.read(off, Math.min(CHUNK + overlap, end - off)));
    for (const n of needles) {
      for (let i = b.indexOf(n.bytes); i >= 0 && i < CHUNK; i = b.indexOf(n.bytes, i + 1)) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
    }
  }
  return Object.fromEntries([...counts].sort((a, b) => cmp(a[0], b[0])));
}

function findLoss(src: ByteSource): string | undefined {
  const start = Math.max(0, src.size - TAIL);
  const tail = Buffer.from(src.read(start, src.size - start));
  let best: { name: string; at: number } | undefined;
  for (const name of LOSSES) {
    const at = tail.lastIndexOf(Buffer.from([0x01, name.length, ...Buffer.from(name, 'latin1')]));
    if (at >= 0 && (best === undefined || at > best.at || (at === best.at && name.length > best.name.length))) best = { name, at };
  }
  return best?.name;
}

/** Reads a dlib model after `match`. */
export function readDlib(src: ByteSource, head: Uint8Array): ModelInfo {
  const input = dnnInput(head);
  if (input !== undefined) {
    const loss = findLoss(src);
    const metadata: DlibMetadata = { kind: 'dnn', dnn: { input, ...opt('loss', loss), layers: countLayers(src) } };
    return { confidence: loss !== undefined ? 'high' : 'medium', metadata };
  }
  return { confidence: 'high', metadata: { kind: 'shape-predictor', shapePredictor: readShapePredictor(src) } satisfies DlibMetadata };
}

/** The card: landmarks as the output of a shape predictor; the layer histogram as a network's operators. */
export function dlibCard(md: DlibMetadata): ModelCard {
  const sp = md.shapePredictor;
  const loss = md.dnn?.loss;
  const task = sp ? 'face-landmarks' : loss === 'loss_metric_' ? 'embedding' : loss === 'loss_mmod_' ? 'object-detection' : undefined;
  return {
    format: 'dlib',
    architecture: sp ? 'shape_predictor' : 'dnn',
    ...opt('task', task),
    producer: 'dlib',
    inputs: md.dnn ? [{ name: md.dnn.input }] : [],
    outputs: sp ? [{ name: 'landmarks', shape: [sp.landmarks, 2] }] : [],
    weightTypes: ['float32'],
    operators: sortCardOperators(Object.entries(md.dnn?.layers ?? {}).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

/**
 * dlib shape predictors and DNN networks. `match` needs `01 01` (version 1) at offset 0 and then either
 * a negative rows and columns of a column matrix (`81 xx 81 01`: a shape predictor) or a run of
 * version ints ending in an `input...` layer name within the first 2 KiB. Not handled: HOG object
 * detectors (`.svm`), other serialized dlib objects.
 */
export const dlib: ModelFormat = {
  id: 'dlib',
  description: 'dlib model (.dat): shape predictor landmarks, or DNN input, loss and layers',
  extensions: [],
  signatures: [{ offset: 0, magic: [0x01, 0x01], note: 'dlib packed int 1 (the serialization version)' }],
  metadataSchema: dlibMetadataSchema,
  card: (metadata) => dlibCard(dlibMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length < 6 || h[0] !== 0x01 || h[1] !== 0x01) return false;
    // 81 <rows> 81 01 (or 82 <rows lo> <rows hi> 81 01): -rows, -1.
    const shape = (h[2] === 0x81 && h[4] === 0x81 && h[5] === 0x01 && h[3]! % 2 === 0) || (h[2] === 0x82 && h[5] === 0x81 && h[6] === 0x01 && h[3]! % 2 === 0);
    return shape || dnnInput(h) !== undefined;
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readDlib(src, probe.source === src ? probe.head : src.read(0, Math.min(src.size, 2048)));
  },
};
