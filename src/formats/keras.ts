import { z } from 'zod';
import { findSuperblock, readHdf5Root, type Hdf5Root } from '../decoders/hdf5.js';
import { memberText, probeZipDirectory, probeZipMentions } from '../decoders/zip-member.js';
import type { ZipDirectory } from '../decoders/zip-directory.js';
import { isObject } from '../detect/json-probe.js';
import { AibomError, FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * Keras models:
 *
 * - HDF5 (`model.save('m.h5')`, Keras 1 to 3's legacy format; `save_weights` files too): the root
 *   group's attributes `keras_version`, `backend`, `model_config` (the architecture as JSON) and
 *   `training_config` (loss, optimizer as JSON). Only the superblock and the root group's attribute
 *   messages are read (decoders/hdf5.ts), never the weights.
 * - Keras v3 `.keras` (`model.save('m.keras')`): a zip with `metadata.json` (keras_version, date_saved),
 *   `config.json` (the architecture) and `model.weights.h5` (the weights, not read).
 *
 * The architecture JSON gives the model class, its name and a histogram of layer classes. `Lambda`
 * layers carry Python code (marshalled bytecode) and layers from outside Keras are custom objects that a
 * loader imports: both are `security` problems.
 */

const MAX_JSON = 16 * 1024 * 1024;
const MAX_LAYERS = 100_000;
const MAX_DEPTH = 32;
const MAX_LISTED = 100;
/** JSON nodes and depth visited when looking for custom objects. */
const MAX_NODES = 1_000_000;
const MAX_JSON_DEPTH = 64;

// ---- metadata schema -------------------------------------------------------------------------------

export const kerasMetadataSchema = z
  .strictObject({
    container: z.enum(['hdf5', 'zip']).describe('`hdf5` (legacy .h5, also save_weights files) or `zip` (Keras v3 .keras)'),
    kerasVersion: z.string().optional().describe('`keras_version` (HDF5 root attribute, or metadata.json in v3)'),
    backend: z.string().optional().describe('`backend` root attribute (`tensorflow`, `theano`, `jax`...)'),
    dateSaved: z.string().optional().describe('`date_saved` of metadata.json (v3)'),
    weightsOnly: z.boolean().describe('True for an HDF5 weights file (layer_names, no model_config)'),
    modelClass: z.string().optional().describe('`class_name` of the model config (`Sequential`, `Functional`, `Model`, a subclass)'),
    modelName: z.string().optional().describe('`config.name` of the model config'),
    inputs: z
      .array(
        z.strictObject({
          name: z.string().describe('Layer name'),
          shape: z.array(z.number().int().nullable()).describe('`batch_input_shape` / `batch_shape`, null for a free dimension'),
          dtype: z.string().optional().describe('dtype of the layer (`float32`)'),
        }),
      )
      .describe("The model's InputLayers (or the first layer's batch_input_shape), first 100"),
    layerCount: z.number().int().nonnegative().describe('Layers in the model config, nested models included'),
    layers: z.record(z.string(), z.number().int().positive()).describe('Layers per class name'),
    lambdaLayers: z.number().int().nonnegative().describe('`Lambda` layers: Python code inside the model'),
    customObjects: z
      .array(z.string())
      .describe(
        'Objects from outside Keras anywhere in the config (layers, losses, activations...): `module.class_name`, or `module.function_name` for a serialized function; first 100, sorted',
      ),
    optimizer: z.string().optional().describe('Optimizer class from the training config (HDF5 training_config, v3 compile_config)'),
    loss: z.string().optional().describe('Loss from the training config when it is a name'),
    weightsFile: z.string().optional().describe('The weights member of a v3 zip (`model.weights.h5`)'),
    superblockVersion: z.number().int().optional().describe('HDF5 superblock version (0 to 3)'),
    userBlock: z.number().int().nonnegative().optional().describe('HDF5 user block size: where the superblock sits when not at 0'),
    attributes: z.array(z.string()).optional().describe('Names of the HDF5 root attributes read, in file order'),
    denseAttributes: z
      .boolean()
      .optional()
      .describe('True when (some of) the HDF5 root attributes are in dense storage the reader could not walk (filtered blocks, huge objects)'),
  })
  .meta({
    title: 'Keras metadata',
    description:
      'Keras HDF5 models and weights (root attributes only, never the datasets) and Keras v3 `.keras` zips (metadata.json and config.json): versions, model class, layer histogram; Lambda layers and custom objects are problems of code `security`.',
  });

export type KerasMetadata = z.output<typeof kerasMetadataSchema>;

/** The card: model name and class, Keras as producer with its version, layers as operators. */
export function kerasCard(md: KerasMetadata): ModelCard {
  const custom = new Set(md.customObjects.map((c) => c.slice(c.lastIndexOf('.') + 1)));
  return {
    ...opt('name', stated(md.modelName)),
    ...opt('architecture', stated(md.modelClass)),
    ...(md.kerasVersion !== undefined ? { producer: 'keras', producerVersion: md.kerasVersion } : {}),
    format: 'keras',
    ...opt('formatVersion', md.container === 'zip' ? 'keras-v3' : md.superblockVersion === undefined ? undefined : `hdf5-superblock-${md.superblockVersion}`),
    inputs: md.inputs.map((i) => ({ name: i.name, ...opt('type', i.dtype), shape: i.shape })),
    outputs: [],
    weightTypes: [],
    operators: sortCardOperators(Object.entries(md.layers).map(([name, count]) => ({ name, count, custom: custom.has(name) }))),
    customOperators: md.customObjects.length > 0,
  };
}

// ---- the architecture JSON ---------------------------------------------------------------------------------

interface Architecture {
  inputs: KerasMetadata['inputs'];
  modelClass?: string;
  modelName?: string;
  layerCount: number;
  layers: Record<string, number>;
  lambdaLayers: number;
  customObjects: Set<string>;
}

/** Custom when the config names a module outside Keras (`module` is written by Keras 3 and tf.keras 2.13+). */
function customName(node: Record<string, unknown>): string | undefined {
  const module = node.module;
  const cls = node.class_name;
  if (typeof module !== 'string' || typeof cls !== 'string') return undefined;
  if (/^(keras|tf_keras|tensorflow\.keras|tensorflow\.python\.keras)(\.|$)/.test(module) || module === 'builtins') return undefined;
  // A serialized function (a custom activation or loss) names itself in `config`.
  return cls === 'function' && typeof node.config === 'string' ? `${module}.${node.config}` : `${module}.${cls}`;
}

/**
 * Custom objects anywhere in a config (initializers, regularizers, activations, losses and metrics of
 * the compile config, not only layers): every object naming a module outside Keras. Bounded in nodes
 * and depth.
 */
function collectCustom(node: unknown, out: Set<string>, budget = { nodes: MAX_NODES }, depth = 0): void {
  if (depth > MAX_JSON_DEPTH || --budget.nodes < 0) return;
  if (Array.isArray(node)) {
    for (const x of node) collectCustom(x, out, budget, depth + 1);
    return;
  }
  if (!isObject(node)) return;
  const c = customName(node);
  if (c !== undefined) out.add(c);
  for (const v of Object.values(node)) collectCustom(v, out, budget, depth + 1);
}

/** Walks a model config: the model's class and name, its layers' classes, nested models' layers. */
function readArchitecture(config: unknown, what: string): Architecture {
  const a: Architecture = { inputs: [], layerCount: 0, layers: {}, lambdaLayers: 0, customObjects: new Set() };
  if (!isObject(config)) throw new FormatError(`Invalid Keras model: ${what} is not a JSON object.`);
  if (typeof config.class_name === 'string') a.modelClass = config.class_name;
  const inner = config.config;
  if (isObject(inner) && typeof inner.name === 'string') a.modelName = inner.name;
  collectCustom(config, a.customObjects);
  const walk = (layers: unknown, depth: number): void => {
    if (!Array.isArray(layers) || depth > MAX_DEPTH) return;
    for (const l of layers) {
      if (!isObject(l) || typeof l.class_name !== 'string') continue;
      if (++a.layerCount > MAX_LAYERS) throw new FormatError(`Invalid Keras model: ${what} has more than ${MAX_LAYERS} layers.`);
      a.layers[l.class_name] = (a.layers[l.class_name] ?? 0) + 1;
      if (l.class_name === 'Lambda') a.lambdaLayers++;
      // The model's own inputs: its top-level InputLayers, or the first layer's batch_input_shape (Keras 2
      // Sequential models without an InputLayer).
      if (
        depth === 0 &&
        isObject(l.config) &&
        a.inputs.length < MAX_LISTED &&
        (l.class_name === 'InputLayer' || (a.layerCount === 1 && l.config.batch_input_shape !== undefined))
      ) {
        const input = inputOf(l.config);
        if (input !== undefined) a.inputs.push(input);
      }
      // A nested model (Sequential inside Functional) lists its own layers.
      if (isObject(l.config)) walk(l.config.layers, depth + 1);
    }
  };
  // Keras 1 wrote a Sequential's config as the list of layers itself.
  walk(isObject(inner) ? inner.layers : inner, 0);
  return a;
}

/** An input from a layer config: its name, `batch_input_shape` (Keras 2) or `batch_shape` (Keras 3), dtype. */
function inputOf(config: Record<string, unknown>): KerasMetadata['inputs'][number] | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape;
  if (typeof config.name !== 'string' || !Array.isArray(shape) || shape.length > 64) return undefined;
  const dims = shape.map((d) => (typeof d === 'number' && Number.isSafeInteger(d) ? d : null));
  // Keras 3 writes the dtype as a DTypePolicy object; Keras 2 as a string.
  const dt = config.dtype;
  const dtype = typeof dt === 'string' ? dt : isObject(dt) && isObject(dt.config) && typeof dt.config.name === 'string' ? dt.config.name : undefined;
  return { name: config.name, shape: dims, ...opt('dtype', dtype) };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(`Invalid Keras model: ${what} is not valid JSON (${err instanceof Error ? err.message : String(err)}).`);
  }
}

function trainingFacts(tc: unknown): { optimizer?: string; loss?: string } {
  if (!isObject(tc)) return {};
  const out: { optimizer?: string; loss?: string } = {};
  const opt = tc.optimizer_config ?? tc.optimizer;
  if (isObject(opt) && typeof opt.class_name === 'string') out.optimizer = opt.class_name;
  else if (typeof opt === 'string') out.optimizer = opt;
  if (typeof tc.loss === 'string') out.loss = tc.loss;
  else if (isObject(tc.loss) && typeof tc.loss.class_name === 'string') {
    // A serialized loss function names itself in `config` (class_name `function`).
    out.loss = tc.loss.class_name === 'function' && typeof tc.loss.config === 'string' ? tc.loss.config : tc.loss.class_name;
  }
  return out;
}

function securityWarnings(a: Architecture): ModelWarning[] {
  const out: ModelWarning[] = [];
  if (a.lambdaLayers > 0) {
    out.push({
      severity: 'error',
      code: 'security',
      message: `Keras model has ${a.lambdaLayers} Lambda layer${a.lambdaLayers === 1 ? '' : 's'}: Python code inside the model, run when it is loaded or called.`,
    });
  }
  if (a.customObjects.size > 0) {
    const list = [...a.customObjects].sort();
    out.push({
      severity: 'warning',
      code: 'security',
      message: `Keras model uses custom objects from outside Keras (${list.slice(0, 20).join(', ')}${list.length > 20 ? ', ...' : ''}): loading it imports their code.`,
    });
  }
  return out;
}

function architectureFields(
  a: Architecture | undefined,
): Pick<KerasMetadata, 'inputs' | 'modelClass' | 'modelName' | 'layerCount' | 'layers' | 'lambdaLayers' | 'customObjects'> {
  return {
    inputs: a?.inputs ?? [],
    ...opt('modelClass', a?.modelClass),
    ...opt('modelName', a?.modelName),
    layerCount: a?.layerCount ?? 0,
    layers: a?.layers ?? {},
    lambdaLayers: a?.lambdaLayers ?? 0,
    customObjects: [...(a?.customObjects ?? [])].sort().slice(0, MAX_LISTED),
  };
}

// ---- HDF5 ------------------------------------------------------------------------------------------------

/** The root group of the probe's HDF5 item, read once (memoised); undefined when none or unreadable. */
function probeHdf5(probe: Probe): Hdf5Root | undefined {
  return probe.memo('keras.hdf5-root', () => {
    const at = findSuperblock(probe.head);
    if (at === undefined) return undefined;
    try {
      return readHdf5Root(probe.source, at);
    } catch (err) {
      if (err instanceof AibomError) return undefined;
      throw err;
    }
  });
}

function isKerasRoot(root: Hdf5Root): boolean {
  const names = new Set(root.attributes.map((a) => a.name));
  return names.has('keras_version') || names.has('model_config') || (names.has('backend') && names.has('layer_names'));
}

function readKerasHdf5(src: ByteSource, at: number): ModelInfo {
  const root = readHdf5Root(src, at);
  const attr = (name: string): string | undefined => {
    const v = root.attributes.find((a) => a.name === name)?.value;
    return typeof v === 'string' ? v : undefined;
  };
  if (!isKerasRoot(root) && !root.denseAttributes) {
    throw new FormatError(
      `Invalid Keras HDF5 model: the root group has no keras_version, model_config or layer_names attribute (it has ${
        root.attributes.length === 0
          ? 'none'
          : root.attributes
              .map((a) => a.name)
              .slice(0, 10)
              .join(', ')
      }).`,
    );
  }
  const config = attr('model_config');
  const arch = config === undefined ? undefined : readArchitecture(parseJson(config, 'model_config'), 'model_config');
  const training = attr('training_config');
  const md: KerasMetadata = {
    container: 'hdf5',
    ...opt('kerasVersion', attr('keras_version')),
    ...opt('backend', attr('backend')),
    weightsOnly: config === undefined && root.attributes.some((a) => a.name === 'layer_names'),
    ...architectureFields(arch),
    ...(training === undefined ? {} : trainingFacts(parseJson(training, 'training_config'))),
    superblockVersion: root.superblockVersion,
    ...(root.superblockOffset > 0 ? { userBlock: root.superblockOffset } : {}),
    attributes: root.attributes.map((a) => a.name),
    ...(root.denseAttributes ? { denseAttributes: true } : {}),
  };
  const warnings = arch === undefined ? [] : securityWarnings(arch);
  const readable = isKerasRoot(root);
  if (root.denseAttributes && !readable) {
    warnings.push({
      severity: 'info',
      code: 'unsupported',
      message: 'HDF5 root attributes are in dense storage (a fractal heap) this reader cannot walk: the Keras facts are unknown.',
    });
  }
  const info: ModelInfo = { confidence: readable ? 'high' : 'medium', metadata: md };
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

// ---- Keras v3 zip ------------------------------------------------------------------------------------------

function member(dir: ZipDirectory, name: string) {
  return dir.members.find((m) => m.name === name);
}

/** metadata.json of a v3 zip parsed, once per item; undefined when the zip is not one. */
function probeV3(probe: Probe): { dir: ZipDirectory; metadata: Record<string, unknown> } | undefined {
  return probe.memo('keras.v3', () => {
    if (!probeZipMentions(probe, 'metadata.json')) return undefined;
    const dir = probeZipDirectory(probe);
    if (dir === undefined) return undefined;
    const meta = member(dir, 'metadata.json');
    if (meta === undefined || member(dir, 'config.json') === undefined || meta.size > 1024 * 1024) return undefined;
    try {
      const parsed: unknown = JSON.parse(memberText(probe.source, dir, meta, 1024 * 1024));
      return isObject(parsed) && typeof parsed.keras_version === 'string' ? { dir, metadata: parsed } : undefined;
    } catch (err) {
      if (err instanceof AibomError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  });
}

function readKerasV3(src: ByteSource, dir: ZipDirectory, metadata: Record<string, unknown>): ModelInfo {
  const cfgMember = member(dir, 'config.json');
  if (cfgMember === undefined) throw new FormatError('Invalid Keras v3 model: the zip has no config.json.');
  const config = parseJson(memberText(src, dir, cfgMember, MAX_JSON), 'config.json');
  const arch = readArchitecture(config, 'config.json');
  const compile = isObject(config) ? config.compile_config : undefined;
  const weights = member(dir, 'model.weights.h5') ?? member(dir, 'model.weights.npz');
  const md: KerasMetadata = {
    container: 'zip',
    kerasVersion: String(metadata.keras_version),
    ...(typeof metadata.date_saved === 'string' ? { dateSaved: metadata.date_saved } : {}),
    weightsOnly: false,
    ...architectureFields(arch),
    ...(isObject(compile) ? trainingFacts(compile) : {}),
    ...opt('weightsFile', weights?.name),
  };
  const warnings = securityWarnings(arch);
  const info: ModelInfo = { confidence: 'high', metadata: md };
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

/**
 * Keras models: HDF5 `.h5` (root attributes: versions, model_config, training_config) and v3 `.keras`
 * zips (metadata.json, config.json). Never reads weights or runs Lambda code.
 */
export const keras: ModelFormat = {
  id: 'keras',
  description: 'Keras model: HDF5 .h5 with keras_version/model_config attributes, or a v3 .keras zip (config.json + metadata.json)',
  extensions: ['.keras', '.h5', '.hdf5'],
  signatures: [
    ...[0, 512, 1024, 2048, 4096, 8192, 16384, 32768].map((offset) => ({
      offset,
      magic: [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a],
      note: offset === 0 ? 'HDF5 superblock signature' : `HDF5 superblock after a ${offset}-byte user block`,
    })),
    { offset: 0, magic: 'PK\x03\x04', note: 'zip local header; match then requires metadata.json with keras_version and config.json' },
  ],
  metadataSchema: kerasMetadataSchema,
  card: (metadata) => kerasCard(kerasMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    if (probeV3(probe) !== undefined) return true;
    const root = probeHdf5(probe);
    return root !== undefined && isKerasRoot(root);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const v3 = probeV3(probe);
    if (v3 !== undefined) return readKerasV3(src, v3.dir, v3.metadata);
    const at = findSuperblock(probe.head);
    if (at === undefined)
      throw new FormatError('Invalid Keras model: neither an HDF5 superblock (at 0, 512, 1024...) nor a zip with metadata.json and config.json.');
    return readKerasHdf5(src, at);
  },
};
