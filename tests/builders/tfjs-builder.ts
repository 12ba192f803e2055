/**
 * Builds TF.js model descriptors for tests, from tfjs-core's `io/types.ts` (`ModelJSON`,
 * `WeightsManifestConfig`, `WeightsManifestEntry` with its optional `quantization`) and the converter's
 * output layout: a layers model's `modelTopology` is a Keras model config (`class_name`, `config.layers`,
 * `keras_version`, `backend`, or wrapped in `model_config` when converted from Keras), a graph model's
 * is a GraphDef in protobuf JSON (`node: [{ name, op, input, attr }]`, `library.function[].nodeDef`,
 * `versions.producer`) with `signature` beside it.
 */

export interface TfjsWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}

export interface TfjsGroup {
  paths: string[];
  weights: TfjsWeight[];
}

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** A Keras layer entry as tfjs-layers serialises it. */
export function layer(className: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  return { class_name: className, config: { name: `${className.toLowerCase()}_1`, trainable: true, ...config } };
}

/** A layers model: Sequential or Functional topology and a weights manifest. */
export function layersModel(opts: {
  className?: string;
  name?: string;
  layers: Record<string, unknown>[];
  manifest?: TfjsGroup[];
  converted?: boolean;
  generatedBy?: string;
  convertedBy?: string | null;
}): Record<string, unknown> {
  const config = { class_name: opts.className ?? 'Sequential', config: { name: opts.name ?? 'sequential_1', layers: opts.layers } };
  const topology = opts.converted
    ? { keras_version: '2.15.0', backend: 'tensorflow', model_config: config, training_config: { loss: 'mse' } }
    : { keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js', ...config };
  return {
    format: 'layers-model',
    generatedBy: opts.generatedBy ?? 'keras v2.15.0',
    convertedBy: opts.convertedBy === undefined ? 'TensorFlow.js Converter v4.22.0' : opts.convertedBy,
    modelTopology: topology,
    weightsManifest: opts.manifest ?? [],
  };
}

/** A graph model: GraphDef nodes, library functions, a signature, a manifest. */
export function graphModel(opts: {
  ops: string[];
  functionOps?: string[];
  inputs?: Record<string, { name: string; dtype: string; dims: (number | string)[] }>;
  outputs?: Record<string, { name: string; dtype: string; dims: (number | string)[] }>;
  manifest?: TfjsGroup[];
  userDefinedMetadata?: Record<string, unknown>;
}): Record<string, unknown> {
  const info = (t: { name: string; dtype: string; dims: (number | string)[] }): unknown => ({
    name: t.name,
    dtype: t.dtype,
    tensorShape: { dim: t.dims.map((d) => ({ size: String(d) })) },
  });
  const sig = (m?: Record<string, { name: string; dtype: string; dims: (number | string)[] }>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, info(v)]));
  const out: Record<string, unknown> = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    signature: { inputs: sig(opts.inputs), outputs: sig(opts.outputs) },
    modelTopology: {
      node: opts.ops.map((op, i) => ({ name: `n${i}`, op, attr: {} })),
      library: { function: opts.functionOps ? [{ signature: { name: 'f' }, nodeDef: opts.functionOps.map((op, i) => ({ name: `f${i}`, op })) }] : [] },
      versions: { producer: 1645 },
    },
    weightsManifest: opts.manifest ?? [],
  };
  if (opts.userDefinedMetadata) out.userDefinedMetadata = opts.userDefinedMetadata;
  return out;
}

/** The descriptor as file bytes. */
export function tfjsBytes(model: unknown): Uint8Array {
  return enc(model);
}

/** Zero-filled shard bytes of the size a group's weights take (float32 4 bytes, quantized by storage dtype). */
export function shardBytes(group: TfjsGroup): Uint8Array {
  const size: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };
  let n = 0;
  for (const w of group.weights) n += w.shape.reduce((a, d) => a * d, 1) * (size[w.quantization?.dtype ?? w.dtype] ?? 4);
  return new Uint8Array(n);
}
