import type { CardOperator, ModelCard, TensorSpec } from '../inventory/card.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { TfliteMetadata, TfliteTensor } from './tflite-metadata.js';

/*
 * The normalized model card of a TFLite model, filled only from what its metadata states. The choices:
 *
 * - name, version, author, license: the TFLite Metadata (ModelMetadata, M001) fields; absent without
 *   that metadata, and absent when empty (converters leave `author: ""`).
 * - description: ModelMetadata.description, else Model.description. The latter is usually the
 *   converter's stamp (`TOCO Converted.`, `MLIR Converted.`): it is shown as the description it is,
 *   and not turned into a `producer`, which stays absent because no TFLite field names the tool.
 * - formatVersion: `schema <n>` (Model.version, 3 for every TFL3 file) and, when the model records
 *   it, `; min runtime <v>` from the min_runtime_version buffer: what a runtime needs to load it.
 * - inputs, outputs: those of subgraph 0, the one the interpreter runs by default. Signature defs are
 *   not used: their names map to tensor indices, which the metadata does not keep for subgraph inputs.
 *   `shape` is the shape_signature when recorded, its -1 (a dynamic dimension) written null as the
 *   card does for unknown dimensions; else the static shape.
 * - parameters, parameterBytes: the constant tensors' elements and bytes; weightTypes: the types with
 *   at least one element.
 * - quantized: true when an input or output of any subgraph carries quantization, when weights are int8,
 *   uint8 or int4, or when QUANTIZE, DEQUANTIZE (float16 weights) or FAKE_QUANT operators run; false
 *   otherwise. TFLite names no quantization scheme, so `quantization` stays absent.
 * - operators: versions of one operator summed (the metadata lists them apart), codes no operator uses
 *   left out; `domain` is the kind (`builtin`, `custom`, `flex`, `edgetpu`) and anything but builtin is
 *   custom.
 * - task, architecture: TFLite records neither; absent.
 */

/** Weight types that only quantized models store weights in. */
const QUANTIZED_WEIGHT_TYPES = new Set(['int8', 'uint8', 'int4']);
/** Builtins that exist to move between quantized and float values. */
const QUANTIZATION_OPERATORS = new Set(['QUANTIZE', 'DEQUANTIZE', 'FAKE_QUANT']);

function tensorSpec(t: TfliteTensor): TensorSpec {
  return { name: t.name, type: t.type, shape: t.shapeSignature ? t.shapeSignature.map((d) => (d === -1 ? null : d)) : t.shape };
}

/**
 * The card of a TFLite model from its `metadata` (already validated against `tfliteMetadataSchema`).
 * Reads nothing else and never guesses: a field the metadata does not state is absent.
 */
export function tfliteCard(md: TfliteMetadata): ModelCard {
  const merged = new Map<string, CardOperator>();
  for (const o of md.operators) {
    if (o.count === 0) continue;
    const key = `${o.kind}\u0000${o.name}`;
    const prev = merged.get(key);
    if (prev) prev.count += o.count;
    else merged.set(key, { name: o.name, domain: o.kind, count: o.count, custom: o.kind !== 'builtin' });
  }
  const operators = sortCardOperators([...merged.values()]);
  const weightTypes = Object.entries(md.parameters.byType)
    .filter(([, n]) => n > 0)
    .map(([t]) => t)
    .sort(cmp);
  const quantized =
    md.subgraphs.some((sg) => sg.inputs.some((t) => t.quantized) || sg.outputs.some((t) => t.quantized)) ||
    weightTypes.some((t) => QUANTIZED_WEIGHT_TYPES.has(t)) ||
    operators.some((o) => o.domain === 'builtin' && QUANTIZATION_OPERATORS.has(o.name));
  const mm = md.modelMetadata;
  const main = md.subgraphs[0];
  // Keys in the order of modelCardSchema, so that every card reads the same way.
  return {
    ...opt('name', stated(mm?.name)),
    ...opt('version', stated(mm?.version)),
    ...opt('description', stated(mm?.description) ?? stated(md.description)),
    ...opt('author', stated(mm?.author)),
    ...opt('license', stated(mm?.license)),
    format: 'tflite',
    formatVersion: `schema ${md.schemaVersion}${md.minRuntimeVersion !== undefined ? `; min runtime ${md.minRuntimeVersion}` : ''}`,
    inputs: (main?.inputs ?? []).map(tensorSpec),
    outputs: (main?.outputs ?? []).map(tensorSpec),
    parameters: md.parameters.count,
    parameterBytes: md.parameters.bytes,
    weightTypes,
    quantized,
    operators,
    customOperators: operators.some((o) => o.custom),
  };
}
