import { z } from 'zod';
import { ProtoReader, type ProtoMessage, WIRE_LEN, WIRE_VARINT } from '../decoders/protobuf.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Core ML models (`.mlmodel`): a protobuf `Model` (coremltools mlmodel/format/Model.proto). Fields read:
 *
 *   Model:              1 specificationVersion, 2 description, 10 isUpdatable, then the `Type` oneof whose
 *                       field number names the model kind (200 pipelineClassifier ... 500 neuralNetwork,
 *                       502 mlProgram, 555 customModel, 2000 textClassifier, 3000 serializedModel)
 *   ModelDescription:   1 input, 10 output (FeatureDescription), 11 predictedFeatureName, 100 metadata
 *   Metadata:           1 shortDescription, 2 versionString, 3 author, 4 license, 100 userDefined (map)
 *   FeatureDescription: 1 name, 2 shortDescription, 3 type (FeatureType: oneof 1 int64 ... 5 multiArray
 *                       (ArrayFeatureType: 1 shape, 2 dataType), 4 image (1 width, 2 height, 3 colorSpace))
 *   NeuralNetwork*:     1 layers (NeuralNetworkLayer: 1 name, then a `layer` oneof from field 100 on)
 *   Pipeline:           1 models (Model); pipelineClassifier / pipelineRegressor: 1 pipeline
 *
 * No magic: recognised only by a `.mlmodel` name and a head starting with specificationVersion then
 * description (`08 <v> 12`), as coremltools writes it.
 */

/** `Model.Type` oneof members by field number. */
const MODEL_TYPES: Readonly<Record<number, string>> = {
  200: 'pipelineClassifier',
  201: 'pipelineRegressor',
  202: 'pipeline',
  300: 'glmRegressor',
  301: 'supportVectorRegressor',
  302: 'treeEnsembleRegressor',
  303: 'neuralNetworkRegressor',
  304: 'bayesianProbitRegressor',
  400: 'glmClassifier',
  401: 'supportVectorClassifier',
  402: 'treeEnsembleClassifier',
  403: 'neuralNetworkClassifier',
  404: 'kNearestNeighborsClassifier',
  500: 'neuralNetwork',
  501: 'itemSimilarityRecommender',
  502: 'mlProgram',
  555: 'customModel',
  556: 'linkedModel',
  560: 'classConfidenceThresholding',
  600: 'oneHotEncoder',
  601: 'imputer',
  602: 'featureVectorizer',
  603: 'dictVectorizer',
  604: 'scaler',
  606: 'categoricalMapping',
  607: 'normalizer',
  609: 'arrayFeatureExtractor',
  610: 'nonMaximumSuppression',
  900: 'identity',
  2000: 'textClassifier',
  2001: 'wordTagger',
  2002: 'visionFeaturePrint',
  2003: 'soundAnalysisPreprocessing',
  2004: 'gazetteer',
  2005: 'wordEmbedding',
  2006: 'audioFeaturePrint',
  3000: 'serializedModel',
};
const NEURAL = new Set([303, 403, 500]);
const PIPELINES = new Set([200, 201, 202]);
/** `NeuralNetworkLayer.layer` oneof members by field number (NeuralNetwork.proto, the common ones). */
const LAYERS: Readonly<Record<number, string>> = {
  100: 'convolution',
  120: 'pooling',
  130: 'activation',
  140: 'innerProduct',
  150: 'embedding',
  160: 'batchnorm',
  165: 'mvn',
  170: 'l2normalize',
  175: 'softmax',
  180: 'lrn',
  190: 'crop',
  200: 'padding',
  210: 'upsample',
  211: 'resizeBilinear',
  212: 'cropResize',
  220: 'unary',
  230: 'add',
  231: 'multiply',
  240: 'average',
  245: 'scale',
  250: 'bias',
  260: 'max',
  261: 'min',
  270: 'dot',
  280: 'reduce',
  290: 'loadConstant',
  300: 'reshape',
  301: 'flatten',
  310: 'permute',
  320: 'concat',
  330: 'split',
  340: 'sequenceRepeat',
  345: 'reorganizeData',
  350: 'slice',
  400: 'simpleRecurrent',
  410: 'gru',
  420: 'uniDirectionalLSTM',
  430: 'biDirectionalLSTM',
  500: 'custom',
};
const FEATURE_KINDS = ['unknown', 'int64', 'double', 'string', 'image', 'multiArray', 'dictionary', 'sequence', 'state'];
/** `ArrayFeatureType.ArrayDataType`: the kind in the high bits, the width in the low ones. */
const ARRAY_TYPES: Readonly<Record<number, string>> = { 65552: 'float16', 65568: 'float32', 65600: 'float64', 131080: 'int8', 131104: 'int32' };
const MAX = { io: 4096, dims: 64, text: 1024, props: 256, layers: 4_000_000, pipeline: 1024 } as const;

// ---- metadata schema -------------------------------------------------------------------------------------

const featureSchema = z.strictObject({
  name: z.string().describe('Feature name.'),
  kind: z.string().describe('FeatureType kind (`multiArray`, `image`, `string`, `int64`, `double`, `dictionary`, `sequence`, `state`).'),
  dataType: z.string().optional().describe('multiArray element type (`float32`, `float16`, `int32`...).'),
  shape: z.array(z.number().int().nonnegative()).optional().describe('multiArray shape, or `[height, width]` of an image.'),
  shortDescription: z.string().optional().describe("The feature's own short description."),
});

export const coremlMetadataSchema = z
  .strictObject({
    specificationVersion: z.number().int().nonnegative().describe('`specificationVersion` (1-9): the Core ML spec the model needs.'),
    modelType: z
      .string()
      .describe(
        'The `Type` oneof member present (`neuralNetworkClassifier`, `mlProgram`, `pipeline`...), `unknown(<field>)` past the table, `none` when absent.',
      ),
    typeField: z.number().int().nonnegative().optional().describe('Its protobuf field number.'),
    isUpdatable: z.boolean().optional().describe('`isUpdatable` (on-device training).'),
    shortDescription: z.string().optional().describe('`metadata.shortDescription`.'),
    version: z.string().optional().describe('`metadata.versionString`.'),
    author: z.string().optional().describe('`metadata.author`.'),
    license: z.string().optional().describe('`metadata.license`.'),
    userDefined: z
      .record(z.string(), z.string())
      .describe('`metadata.userDefined` (coremltools records its version and the source framework here), at most 256 entries.'),
    inputs: z.array(featureSchema).describe('`description.input`.'),
    outputs: z.array(featureSchema).describe('`description.output`.'),
    predictedFeatureName: z.string().optional().describe('`description.predictedFeatureName` of classifiers.'),
    layerCount: z.number().int().nonnegative().optional().describe('Neural networks: `layers` entries.'),
    layers: z.record(z.string(), z.number().int().nonnegative()).describe('Neural networks: layers per kind (`layer<field>` past the known kinds).'),
    pipelineModels: z.array(z.string()).describe('Pipelines: the types of their models, in order.'),
  })
  .meta({
    title: 'Core ML metadata',
    description:
      "Core ML `.mlmodel` files (protobuf Model): spec version, model type, the description's metadata (author, licence, short description, user-defined keys), inputs and outputs, neural network layer kinds and pipeline members. Weights are skipped.",
  });
export type CoremlMetadata = z.infer<typeof coremlMetadataSchema>;
type Feature = z.infer<typeof featureSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid Core ML model: ${message}`);
}

function readFeature(m: ProtoMessage): Feature {
  const f: Feature = { name: '', kind: 'unknown' };
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_LEN) f.name = m.string(MAX.text);
    else if (m.field === 2 && m.wire === WIRE_LEN) {
      const d = stated(m.string(MAX.text));
      if (d !== undefined) f.shortDescription = d;
    } else if (m.field === 3 && m.wire === WIRE_LEN) {
      const t = m.message('FeatureType');
      while (t.next()) {
        if (t.wire !== WIRE_LEN || t.field < 1 || t.field > 8) continue;
        f.kind = FEATURE_KINDS[t.field]!;
        const inner = t.message(f.kind);
        if (t.field === 5) {
          const shape: number[] = [];
          while (inner.next()) {
            if (inner.field === 1) {
              const push = (d: number): void => {
                if (shape.length < MAX.dims && Number.isSafeInteger(d) && d >= 0) shape.push(d);
              };
              if (inner.wire === WIRE_LEN) inner.packedVarints(MAX.dims, (d) => push(Number(d)));
              else if (inner.wire === WIRE_VARINT) push(inner.signedNumber());
            } else if (inner.field === 2 && inner.wire === WIRE_VARINT) {
              const code = inner.int(0, 2 ** 31);
              f.dataType = ARRAY_TYPES[code] ?? `unknown(${code})`;
            }
          }
          if (shape.length > 0) f.shape = shape;
        } else if (t.field === 4) {
          let width: number | undefined;
          let height: number | undefined;
          while (inner.next()) {
            if (inner.field === 1 && inner.wire === WIRE_VARINT) width = inner.int(0, 2 ** 31);
            else if (inner.field === 2 && inner.wire === WIRE_VARINT) height = inner.int(0, 2 ** 31);
          }
          if (width !== undefined && height !== undefined) f.shape = [height, width];
        }
      }
    }
  }
  return f;
}

function readDescription(m: ProtoMessage, md: CoremlMetadata): void {
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_LEN) {
      if (md.inputs.length < MAX.io) md.inputs.push(readFeature(m.message('FeatureDescription')));
    } else if (m.field === 10 && m.wire === WIRE_LEN) {
      if (md.outputs.length < MAX.io) md.outputs.push(readFeature(m.message('FeatureDescription')));
    } else if (m.field === 11 && m.wire === WIRE_LEN) {
      const p = stated(m.string(MAX.text));
      if (p !== undefined) md.predictedFeatureName = p;
    } else if (m.field === 100 && m.wire === WIRE_LEN) {
      const meta = m.message('Metadata', { 1: 'shortDescription', 2: 'versionString', 3: 'author', 4: 'license', 100: 'userDefined' });
      while (meta.next()) {
        if (meta.wire !== WIRE_LEN) continue;
        const key = ({ 1: 'shortDescription', 2: 'version', 3: 'author', 4: 'license' } as const)[meta.field as 1 | 2 | 3 | 4];
        if (key !== undefined) {
          const v = stated(meta.string(MAX.text));
          if (v !== undefined) md[key] = v;
        } else if (meta.field === 100 && Object.keys(md.userDefined).length < MAX.props) {
          // map<string, string> entry: 1 key, 2 value
          const e = meta.message('userDefined entry');
          let k = '';
          let v = '';
          while (e.next()) {
            if (e.field === 1 && e.wire === WIRE_LEN) k = e.string(256);
            else if (e.field === 2 && e.wire === WIRE_LEN) v = e.string(MAX.text);
          }
          md.userDefined[k] = v;
        }
      }
    }
  }
}

function readLayers(m: ProtoMessage, md: CoremlMetadata, layers: Map<string, number>): void {
  while (m.next()) {
    if (m.field !== 1 || m.wire !== WIRE_LEN) continue;
    md.layerCount = (md.layerCount ?? 0) + 1;
    if (md.layerCount > MAX.layers) fail(`more than ${MAX.layers} layers.`);
    const layer = m.message('NeuralNetworkLayer');
    let kind: string | undefined;
    while (layer.next()) if (layer.field >= 100 && layer.wire === WIRE_LEN) kind = LAYERS[layer.field] ?? `layer${layer.field}`;
    const k = kind ?? 'unknown';
    layers.set(k, (layers.get(k) ?? 0) + 1);
  }
}

/** The type of a (pipeline member) Model: its oneof field, without reading the rest. */
function modelType(m: ProtoMessage): string {
  let t = 'none';
  while (m.next()) if (m.field >= 200 && m.wire === WIRE_LEN) t = MODEL_TYPES[m.field] ?? `unknown(${m.field})`;
  return t;
}

function readPipeline(m: ProtoMessage, md: CoremlMetadata): void {
  while (m.next()) if (m.field === 1 && m.wire === WIRE_LEN && md.pipelineModels.length < MAX.pipeline) md.pipelineModels.push(modelType(m.message('Model')));
}

export function readCoreml(src: ByteSource, head?: Uint8Array): CoremlMetadata {
  const r = new ProtoReader(src, { format: 'Core ML model', ...(head !== undefined ? { head } : {}) });
  const m = r.root('Model', { 1: 'specificationVersion', 2: 'description', 10: 'isUpdatable' });
  const md: CoremlMetadata = { specificationVersion: 0, modelType: 'none', userDefined: {}, inputs: [], outputs: [], layers: {}, pipelineModels: [] };
  const layers = new Map<string, number>();
  let sawVersion = false;
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_VARINT) {
      md.specificationVersion = m.int(0, 1000);
      sawVersion = true;
    } else if (m.field === 2 && m.wire === WIRE_LEN) readDescription(m.message('ModelDescription'), md);
    else if (m.field === 10 && m.wire === WIRE_VARINT) md.isUpdatable = m.int(0, 1) === 1;
    else if (m.field >= 200 && m.wire === WIRE_LEN) {
      md.typeField = m.field;
      md.modelType = MODEL_TYPES[m.field] ?? `unknown(${m.field})`;
      if (NEURAL.has(m.field)) readLayers(m.message(md.modelType), md, layers);
      else if (m.field === 202) readPipeline(m.message('Pipeline'), md);
      else if (PIPELINES.has(m.field)) {
        const pc = m.message(md.modelType);
        while (pc.next()) if (pc.field === 1 && pc.wire === WIRE_LEN) readPipeline(pc.message('Pipeline'), md);
      }
    }
  }
  if (!sawVersion) fail('Model.specificationVersion (field 1) is absent.');
  md.layers = Object.fromEntries([...layers].sort((a, b) => cmp(a[0], b[0])));
  md.userDefined = Object.fromEntries(Object.entries(md.userDefined).sort((a, b) => cmp(a[0], b[0])));
  return md;
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function coremlCard(metadata: Record<string, unknown>): ModelCard {
  const m = coremlMetadataSchema.parse(metadata);
  const spec = (f: Feature): ModelCard['inputs'][number] => ({ name: f.name, type: f.dataType ?? f.kind, ...opt('shape', f.shape) });
  const tools = m.userDefined['com.github.apple.coremltools.version'];
  return {
    ...opt('version', m.version),
    ...opt('description', m.shortDescription),
    ...opt('author', m.author),
    ...opt('license', m.license),
    architecture: m.modelType,
    ...opt('producer', tools !== undefined ? 'coremltools' : undefined),
    ...opt('producerVersion', stated(tools)),
    format: 'coreml',
    formatVersion: String(m.specificationVersion),
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    weightTypes: [],
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: name === 'custom' }))),
    customOperators: (m.layers.custom ?? 0) > 0 || m.modelType === 'customModel',
  };
}

/**
 * Core ML `.mlmodel`: spec version, model type, metadata (author, licence, short description, version,
 * user-defined), inputs/outputs, neural network layer kinds, pipeline members. Does not read ML
 * Program operations or weights, nor `.mlpackage` / `.mlmodelc` folders.
 */
export const coreml: ModelFormat = {
  id: 'coreml',
  description: 'Core ML model (.mlmodel, protobuf Model): spec version, model type, author/licence/description, inputs/outputs, layers',
  extensions: ['.mlmodel'],
  // No magic: a protobuf that starts like ONNX (`08 ..`); only items named `.mlmodel` are considered.
  signatures: [],
  metadataSchema: coremlMetadataSchema,
  card: coremlCard,
  match(probe: Probe): boolean {
    const h = probe.head;
    // `08 <specificationVersion 1-20> 12 <description>` (or the type oneof when there is no description).
    return (
      extensionOf(probe.name) === '.mlmodel' &&
      h.length >= 4 &&
      h[0] === 0x08 &&
      h[1]! >= 1 &&
      h[1]! <= 20 &&
      (h[2] === 0x12 || h[2] === 0x50 || (h[2]! & 0x80) !== 0)
    );
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return { confidence: 'high', metadata: readCoreml(src, src === probe.source ? probe.head : undefined) as unknown as Record<string, unknown> };
  },
};
