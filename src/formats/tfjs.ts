import { z } from 'zod';
import { headMentionsKey, isObject, jsonObject, MAX_JSON_BYTES } from '../detect/json-probe.js';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { leadingByte, type Probe } from '../probe.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * TensorFlow.js models (tfjs `ModelJSON`, tfjs-core `io/types.ts`): a JSON descriptor, usually
 * `model.json` but of any name, holding `modelTopology` (a Keras model config for layers models, a
 * GraphDef as JSON for graph models) and `weightsManifest`: groups of `{ paths, weights }` where each
 * path is a binary shard beside the descriptor and each weight `{ name, shape, dtype, quantization? }`.
 * Graph models add `signature` (inputs and outputs as TensorInfo) and `userDefinedMetadata`.
 * The descriptor is the model; its shards are its parts.
 */

const MAX_DEPTH = 16;
const MAX_LAYERS = 1_000_000;
const MAX_TEXT = 1024;
const MAX_RANK = 64;

/** Bytes per element of the dtypes a weights manifest may name (tfjs-core `DTYPE_VALUE_SIZE_MAP`). */
const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, float16: 2, uint8: 1, uint16: 2, int8: 1, int16: 2 };

/** TensorFlow DataType names of signatures (`DT_FLOAT`) as the card's lower-case names. */
const TF_DTYPES: Readonly<Record<string, string>> = {
  DT_FLOAT: 'float32',
  DT_DOUBLE: 'float64',
  DT_HALF: 'float16',
  DT_BFLOAT16: 'bfloat16',
  DT_INT32: 'int32',
  DT_INT64: 'int64',
  DT_INT16: 'int16',
  DT_INT8: 'int8',
  DT_UINT8: 'uint8',
  DT_UINT16: 'uint16',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
};

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const tensorSchema = z.strictObject({
  name: z.string().describe('Input or output name (signature key, or the InputLayer name).'),
  dtype: z.string().optional().describe('Element type (`float32`).'),
  shape: z.array(z.number().int().nullable()).nullable().optional().describe('Dimensions; null for a dynamic one (-1 or null in the file).'),
});

export const tfjsMetadataSchema = z
  .strictObject({
    kind: z.enum(['layers', 'graph', 'weights']).describe('What modelTopology holds: a Keras config, a GraphDef, or nothing (weights only).'),
    format: z.string().optional().describe('`format` (`layers-model`, `graph-model`).'),
    generatedBy: z.string().optional().describe('`generatedBy`: the tool and version that made the original model.'),
    convertedBy: z.string().optional().describe('`convertedBy`: the converter and version.'),
    topology: z
      .strictObject({
        className: z.string().optional().describe('Keras model class (`Sequential`, `Functional`, `Model`).'),
        name: z.string().optional().describe('The model name in its config.'),
        kerasVersion: z.string().optional().describe('`keras_version`.'),
        backend: z.string().optional().describe('`backend`.'),
        tfProducer: z.number().int().optional().describe('Graph models: `versions.producer`, the GraphDef version.'),
      })
      .describe('Facts of modelTopology.'),
    layers: countByName.describe('Layers models: layers per class name, nested models included.'),
    ops: countByName.describe('Graph models: nodes per op, including those of library functions.'),
    inputs: z.array(tensorSchema).describe('Signature inputs (graph) or InputLayers / the first layer input shape (layers).'),
    outputs: z.array(tensorSchema).describe('Signature outputs (graph models).'),
    weights: z
      .strictObject({
        groups: z.number().int().nonnegative().describe('Entries of weightsManifest.'),
        files: z.array(z.string()).describe('Shard paths in manifest order.'),
        count: z.number().int().nonnegative().describe('Weights listed.'),
        parameters: z.number().int().nonnegative().describe('Elements of all weights, from their shapes.'),
        bytes: z.number().int().nonnegative().describe('Bytes the shards should hold, from shapes and storage dtypes.'),
        dtypes: countByName.describe('Weights per dtype (after dequantization).'),
        quantization: countByName.describe('Weights per quantization storage dtype (`uint8`, `float16`).'),
      })
      .describe('The weights manifest, summarised.'),
    userDefinedMetadataKeys: z.array(z.string()).optional().describe('Keys of `userDefinedMetadata`.'),
  })
  .meta({
    title: 'TF.js metadata',
    description:
      "TensorFlow.js layers and graph models, from a `model.json` of any name recognised by its content (`modelTopology` and/or `weightsManifest`). The weight shards named by the manifest are the model's parts; a descriptor over 64 MiB is not parsed and is reported as a `limit` problem.",
  });
export type TfjsMetadata = z.infer<typeof tfjsMetadataSchema>;
type Tensor = z.infer<typeof tensorSchema>;

// ---- recognising -------------------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(`Invalid TF.js model: ${message}`);
}

function isWeightEntry(w: unknown): boolean {
  return isObject(w) && typeof w.name === 'string' && Array.isArray(w.shape) && typeof w.dtype === 'string';
}

/** A weightsManifest: an array of groups, each `{ paths: string[], weights: [{ name, shape, dtype }] }`. */
function isManifest(v: unknown): v is Record<string, unknown>[] {
  return (
    Array.isArray(v) &&
    v.every(
      (g) => isObject(g) && Array.isArray(g.paths) && g.paths.every((p) => typeof p === 'string') && Array.isArray(g.weights) && g.weights.every(isWeightEntry),
    )
  );
}

/** A modelTopology: a Keras model config (`class_name`, or `model_config` when converted) or a GraphDef (`node`). */
function topologyKind(t: unknown): 'layers' | 'graph' | undefined {
  if (!isObject(t)) return undefined;
  if (Array.isArray(t.node)) return 'graph';
  if (typeof t.class_name === 'string' || isObject(t.model_config)) return 'layers';
  return undefined;
}

/** True when the parsed JSON is a TF.js model: a recognisable topology and/or a well-formed manifest. */
function isTfjs(v: Record<string, unknown>): boolean {
  const topo = v.modelTopology;
  const man = v.weightsManifest;
  if (topo === undefined && man === undefined) return false;
  if (topo !== undefined && topo !== null && topologyKind(topo) === undefined) return false;
  if (man !== undefined && !isManifest(man)) return false;
  return topologyKind(topo) !== undefined || (isManifest(man) && man.length > 0);
}

// ---- reading --------------------------------------------------------------------------------------------------

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v.slice(0, MAX_TEXT) : undefined;
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** A Keras shape (`[null, 224, 224, 3]`) as numbers and nulls; undefined when it is not one. */
function kerasShape(v: unknown): (number | null)[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_RANK) return undefined;
  const out: (number | null)[] = [];
  for (const d of v) {
    if (d === null || d === -1) out.push(null);
    else if (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) out.push(d);
    else return undefined;
  }
  return out;
}

/** The layers of a Keras model config: `config.layers`, or `config` itself (Sequential in Keras < 2.2.3). */
function layersOf(model: Record<string, unknown>): unknown[] {
  const c = model.config;
  if (Array.isArray(c)) return c;
  if (isObject(c) && Array.isArray(c.layers)) return c.layers;
  return [];
}

/** Counts layers by class, nested models included; collects InputLayers of the outermost model. */
function walkLayers(model: Record<string, unknown>, depth: number, counts: Map<string, number>, inputs: Tensor[], state: { total: number }): void {
  if (depth > MAX_DEPTH) fail(`model configs nest more than ${MAX_DEPTH} deep.`);
  for (const layer of layersOf(model)) {
    if (!isObject(layer)) continue;
    if (++state.total > MAX_LAYERS) fail(`the topology holds more than ${MAX_LAYERS} layers.`);
    const cls = text(layer.class_name) ?? 'unknown';
    bump(counts, cls);
    const cfg = isObject(layer.config) ? layer.config : {};
    if (depth === 0 && cls === 'InputLayer') {
      const shape = kerasShape(cfg.batch_input_shape ?? cfg.batch_shape);
      const t: Tensor = { name: text(cfg.name) ?? text(layer.name) ?? 'input' };
      if (typeof cfg.dtype === 'string') t.dtype = cfg.dtype;
      if (shape !== undefined) t.shape = shape;
      inputs.push(t);
    }
    // A nested model (a Sequential inside a Functional model) is a layer with layers of its own.
    if (Array.isArray(cfg.layers) || (Array.isArray(layer.config) && depth < MAX_DEPTH)) walkLayers(layer, depth + 1, counts, [], state);
  }
}

/** First layer's declared input shape, for Sequential models without an InputLayer. */
function firstLayerInput(model: Record<string, unknown>): Tensor | undefined {
  const first = layersOf(model)[0];
  if (!isObject(first) || !isObject(first.config)) return undefined;
  const shape = kerasShape(first.config.batch_input_shape ?? first.config.batch_shape);
  if (shape === undefined) return undefined;
  const t: Tensor = { name: text(first.config.name) ?? 'input', shape };
  if (typeof first.config.dtype === 'string') t.dtype = first.config.dtype;
  return t;
}

function countOps(nodes: unknown, ops: Map<string, number>, state: { total: number }): void {
  if (!Array.isArray(nodes)) return;
  for (const n of nodes) {
    if (!isObject(n)) continue;
    if (++state.total > MAX_LAYERS) fail(`the graph holds more than ${MAX_LAYERS} nodes.`);
    bump(ops, text(n.op) ?? 'unknown');
  }
}

/** Signature TensorInfos (`{ name, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }] } }`). */
function signatureTensors(v: unknown): Tensor[] {
  if (!isObject(v)) return [];
  const out: Tensor[] = [];
  for (const key of Object.keys(v).sort()) {
    const info = v[key];
    const t: Tensor = { name: key.slice(0, MAX_TEXT) };
    if (isObject(info)) {
      if (typeof info.dtype === 'string') t.dtype = TF_DTYPES[info.dtype] ?? info.dtype.replace(/^DT_/, '').toLowerCase();
      const shape = isObject(info.tensorShape) ? info.tensorShape : undefined;
      if (shape?.unknownRank === true) t.shape = null;
      else if (shape !== undefined) {
        const dims = Array.isArray(shape.dim) ? shape.dim : [];
        t.shape = dims.slice(0, MAX_RANK).map((d) => {
          // Protobuf JSON writes int64 sizes as strings; -1 is a dynamic dimension.
          const s = isObject(d) ? Number(d.size) : Number.NaN;
          return Number.isSafeInteger(s) && s >= 0 ? s : null;
        });
      }
    }
    out.push(t);
  }
  return out;
}

function readManifest(man: Record<string, unknown>[], warnings: ModelWarning[]): TfjsMetadata['weights'] {
  const files: string[] = [];
  const dtypes = new Map<string, number>();
  const quant = new Map<string, number>();
  let count = 0;
  let parameters = 0;
  let bytes = 0;
  let badShape = 0;
  for (const group of man) {
    for (const p of group.paths as string[]) files.push(p.slice(0, MAX_TEXT));
    for (const w of group.weights as Record<string, unknown>[]) {
      count++;
      const dtype = String(w.dtype).slice(0, 64);
      bump(dtypes, dtype);
      const shape = w.shape as unknown[];
      let elements = 1;
      for (const d of shape) {
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
          elements = Number.NaN;
          break;
        }
        elements *= d;
      }
      if (!Number.isSafeInteger(elements)) {
        badShape++;
        continue;
      }
      parameters += elements;
      const q = isObject(w.quantization) ? w.quantization : undefined;
      const storage = typeof q?.dtype === 'string' ? q.dtype.slice(0, 64) : undefined;
      if (storage !== undefined) bump(quant, storage);
      bytes += elements * (DTYPE_BYTES[storage ?? dtype] ?? 0);
    }
  }
  if (badShape > 0)
    warnings.push({
      severity: 'warning',
      code: 'format',
      message: `TF.js weightsManifest: ${badShape} weight(s) have a shape that is not a list of non-negative integers; they are not counted.`,
    });
  if (!Number.isSafeInteger(parameters) || !Number.isSafeInteger(bytes)) fail('the weights manifest declares more than 2^53 elements.');
  return { groups: man.length, files, count, parameters, bytes, dtypes: sorted(dtypes), quantization: sorted(quant) };
}

/** Reads a parsed TF.js descriptor. */
export function readTfjs(v: Record<string, unknown>): { metadata: TfjsMetadata; warnings: ModelWarning[]; parts: { path: string; role: string }[] } {
  if (!isTfjs(v)) fail('the JSON has neither a Keras or GraphDef modelTopology nor a weightsManifest of { paths, weights } groups.');
  const warnings: ModelWarning[] = [];
  let topo = isObject(v.modelTopology) ? v.modelTopology : undefined;
  const kind = topologyKind(topo) ?? 'weights';
  const layers = new Map<string, number>();
  const ops = new Map<string, number>();
  let inputs: Tensor[] = [];
  let outputs: Tensor[] = [];
  const topology: TfjsMetadata['topology'] = {};
  if (kind === 'layers' && topo !== undefined) {
    const kerasVersion = text(topo.keras_version);
    const backend = text(topo.backend);
    // Converted Keras files wrap the config in model_config (with training_config beside it).
    if (isObject(topo.model_config)) topo = topo.model_config;
    const className = text(topo.class_name);
    const name = isObject(topo.config) ? text(topo.config.name) : undefined;
    if (className !== undefined) topology.className = className;
    if (name !== undefined) topology.name = name;
    if (kerasVersion !== undefined) topology.kerasVersion = kerasVersion;
    if (backend !== undefined) topology.backend = backend;
    walkLayers(topo, 0, layers, inputs, { total: 0 });
    if (inputs.length === 0) {
      const first = firstLayerInput(topo);
      if (first !== undefined) inputs = [first];
    }
  } else if (kind === 'graph' && topo !== undefined) {
    const state = { total: 0 };
    countOps(topo.node, ops, state);
    const lib = isObject(topo.library) && Array.isArray(topo.library.function) ? topo.library.function : [];
    for (const f of lib) if (isObject(f)) countOps(f.nodeDef, ops, state);
    const producer = isObject(topo.versions) ? Number(topo.versions.producer) : Number.NaN;
    if (Number.isSafeInteger(producer)) topology.tfProducer = producer;
  }
  const udm = isObject(v.userDefinedMetadata) ? v.userDefinedMetadata : undefined;
  const signature = isObject(v.signature) ? v.signature : isObject(udm?.signature) ? udm.signature : undefined;
  if (signature !== undefined) {
    inputs = signatureTensors(signature.inputs);
    outputs = signatureTensors(signature.outputs);
  }
  const manifest = isManifest(v.weightsManifest) ? v.weightsManifest : [];
  const weights = readManifest(manifest, warnings);
  const metadata: TfjsMetadata = {
    kind,
    ...(text(v.format) !== undefined ? { format: text(v.format)! } : {}),
    ...(text(v.generatedBy) !== undefined ? { generatedBy: text(v.generatedBy)! } : {}),
    ...(text(v.convertedBy) !== undefined ? { convertedBy: text(v.convertedBy)! } : {}),
    topology,
    layers: sorted(layers),
    ops: sorted(ops),
    inputs,
    outputs,
    weights,
    ...(udm !== undefined ? { userDefinedMetadataKeys: Object.keys(udm).sort().slice(0, 100) } : {}),
  };
  const parts = [...new Set(weights.files)].map((path) => ({ path, role: 'weights' }));
  return { metadata, warnings, parts };
}

// ---- the card ---------------------------------------------------------------------------------------------------

/** `TensorFlow.js Converter v1.7.0` -> [`TensorFlow.js Converter`, `1.7.0`]; `keras v2.3.1` -> [`keras`, `2.3.1`]. */
function splitVersion(s: string): [string, string | undefined] {
  const m = /^(.*?)\s+v?(\d[\w.+-]*)$/.exec(s);
  return m !== null && m[1] !== '' ? [m[1]!, m[2]] : [s, undefined];
}

export function tfjsCard(metadata: Record<string, unknown>): ModelCard {
  const m = metadata as TfjsMetadata;
  const hist = m.kind === 'graph' ? m.ops : m.layers;
  const operators = Object.entries(hist)
    .map(([name, count]) => ({ name, count, custom: false }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const quant = Object.keys(m.weights.quantization);
  const spec = (t: Tensor): ModelCard['inputs'][number] => ({
    name: t.name,
    ...(t.dtype !== undefined ? { type: t.dtype } : {}),
    ...(t.shape !== undefined ? { shape: t.shape } : {}),
  });
  const card: ModelCard = {
    format: 'tfjs',
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    weightTypes: Object.keys(m.weights.dtypes).sort(),
    operators,
    // tfjs has no custom-op marker in the descriptor; a custom layer or op is not told apart here.
    customOperators: false,
  };
  if (m.topology.name !== undefined) card.name = m.topology.name;
  if (m.topology.className !== undefined) card.architecture = m.topology.className;
  if (m.format !== undefined) card.formatVersion = m.format;
  const producer = m.convertedBy ?? m.generatedBy;
  if (producer !== undefined) {
    const [name, version] = splitVersion(producer);
    card.producer = name;
    if (version !== undefined) card.producerVersion = version;
  }
  if (m.weights.count > 0) {
    card.parameters = m.weights.parameters;
    card.parameterBytes = m.weights.bytes;
    card.quantized = quant.length > 0;
    if (quant.length > 0) card.quantization = quant.join(', ');
  }
  return card;
}

/**
 * TensorFlow.js layers and graph models: a JSON descriptor of any name recognised by its content
 * (`modelTopology` and/or `weightsManifest`), its weight shards reported as its parts. Reads layer and
 * op histograms, the signature, weight dtypes and quantization; does not read the shards, and does not
 * handle bare weights manifests (a top-level JSON array) or models embedded in JavaScript.
 */
export const tfjs: ModelFormat = {
  id: 'tfjs',
  description: 'TensorFlow.js layers or graph model (model.json of any name): topology, ops, signature, weight shards as parts',
  extensions: [],
  // No magic: JSON whose head names modelTopology or weightsManifest, parsed once and checked for their shape.
  signatures: [],
  metadataSchema: tfjsMetadataSchema,
  card: tfjsCard,
  match(probe: Probe): boolean {
    // Only JSON that names one of the two keys in its head is parsed: configs and package.json are not.
    if (leadingByte(probe) !== 0x7b) return false; // '{': every other item is out after one byte
    if (!headMentionsKey(probe.head, 'modelTopology') && !headMentionsKey(probe.head, 'weightsManifest')) return false;
    const j = jsonObject(probe);
    if (j.status === 'too-large') return true; // refused by inspect, as a Problem
    return j.status === 'object' && isTfjs(j.value);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (src !== probe.source) fail('the descriptor is not the probed item.');
    const j = jsonObject(probe);
    if (j.status === 'too-large') {
      throw new LimitError(
        `This ${j.size}-byte JSON names modelTopology or weightsManifest but is larger than the ${MAX_JSON_BYTES}-byte limit for model descriptors; it was not parsed.`,
        'maxJsonBytes',
      );
    }
    if (j.status === 'not-object') fail('the item is not a JSON object.');
    if (j.status === 'invalid') fail(`the JSON does not parse: ${j.message}`);
    const { metadata, warnings, parts } = readTfjs(j.value);
    const info: ModelInfo = {
      // A descriptor with a topology and its weights is a model; a bare manifest says less.
      confidence: metadata.kind !== 'weights' && metadata.weights.count > 0 ? 'high' : 'medium',
      metadata: metadata as unknown as Record<string, unknown>,
    };
    if (parts.length > 0) info.parts = parts;
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
