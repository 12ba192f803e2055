import type { CardOperator, ModelCard, TensorSpec } from '../inventory/card.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { OnnxMetadata, OnnxValueInfo } from './onnx-metadata.js';

/*
 * The normalized model card of an ONNX model, filled only from what its metadata states. The choices:
 *
 * - name: a metadata_props entry `model_name` or `name` (the author wrote it down as the name), else
 *   GraphProto.name (which the ONNX IR spec first defined as "a name for the model", and which
 *   converters such as onnx-caffe2 and keras2onnx fill with the network's name), except the fixed
 *   placeholders exporters write whatever the model (PyTorch's `torch-jit-export`, `torch_jit`,
 *   `main_graph`; tf2onnx's `tf2onnx`) and the random 32-hex-digit ids of skl2onnx and onnxmltools.
 * - version: ModelProto.model_version as a decimal string. ModelProto.domain (the model's namespace)
 *   has no place on the card and stays in the metadata.
 * - author, license: the metadata_props keys the ONNX IR spec defines (`model_author`,
 *   `model_license`), else the plain `author`, `license` or `licence`; keys compared case-insensitively,
 *   the first entry that states something wins.
 * - description: ModelProto.doc_string as kept (cut at 4096 characters).
 * - producer, producerVersion: producer_name and producer_version.
 * - formatVersion: `ir <n>` and, when the model imports operator sets, `; opset <domain> <version>, ...`
 *   in file order (`ir 3; opset ai.onnx 6`): the IR version alone says little about which runtime
 *   can load a model, its opsets do.
 * - inputs, outputs: the main graph's, initializers excluded; `type` is the element type (absent when
 *   the value has none), `shape` as the metadata gives it (dim_param as a string, unknown as null, null
 *   for an unknown rank).
 * - parameters, parameterBytes: omitted when the metadata marks them approximate (a lower bound is not
 *   the count); weightTypes: the element types with at least one weight element.
 * - quantized: true when a quantization operator runs (QuantizeLinear, DequantizeLinear, QLinear*,
 *   *Integer, MatMulNBits, ...; in any domain) or weights are stored in 8 bits or fewer (int8, uint8,
 *   int4, uint4, int2, uint2, float8*, float4*); false otherwise, since the walk saw every operator and
 *   every weight type. ONNX names no quantization scheme, so `quantization` stays absent.
 * - operators: every operator of every graph and function; custom when its domain is among the
 *   metadata's `customDomains` (outside ai.onnx, ai.onnx.ml and the ONNX training domains).
 * - task, architecture: ONNX records neither; absent.
 */

/** Graph names exporters write whatever the model: not names of the model. */
const PLACEHOLDER_GRAPH_NAMES = new Set(['torch-jit-export', 'torch_jit', 'main_graph', 'tf2onnx']);
/** skl2onnx and onnxmltools name graphs with a random uuid4 hex. */
const RANDOM_ID = /^[0-9a-f]{32}$/;

/** Operators that quantize, dequantize or compute on quantized data (ai.onnx and com.microsoft). */
const QUANTIZATION_OPERATORS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'MatMulInteger',
  'ConvInteger',
  'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul',
  'DynamicQuantizeLSTM',
  'QGemm',
  'QAttention',
  'MatMulNBits',
  'MatMulBnb4',
  'GatherBlockQuantized',
]);

/** Weight element types of 8 bits or fewer: stored that small, weights are quantized. */
const LOW_BIT_TYPE = /^(u?int[248]|float8.*|float4.*)$/;

/** The first metadata_props value under one of `keys` (case-insensitive) that states something. */
function prop(md: OnnxMetadata, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    for (const p of md.metadataProps) {
      if (p.key.toLowerCase() !== key) continue;
      const v = stated(p.value);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

function graphName(md: OnnxMetadata): string | undefined {
  const name = stated(md.graph?.name);
  if (name === undefined || PLACEHOLDER_GRAPH_NAMES.has(name) || RANDOM_ID.test(name)) return undefined;
  return name;
}

function tensorSpec(v: OnnxValueInfo): TensorSpec {
  return { name: v.name, ...(v.elemType !== 'undefined' ? { type: v.elemType } : {}), shape: v.shape };
}

/**
 * The card of an ONNX model from its `metadata` (already validated against `onnxMetadataSchema`).
 * Reads nothing else and never guesses: a field the metadata does not state is absent.
 */
export function onnxCard(md: OnnxMetadata): ModelCard {
  const custom = new Set(md.customDomains);
  const operators: CardOperator[] = sortCardOperators(
    md.operators.map((o) => ({ name: o.opType, domain: o.domain, count: o.count, custom: custom.has(o.domain) })),
  );
  const weightTypes = Object.entries(md.parameters.byType)
    .filter(([, n]) => n > 0)
    .map(([t]) => t)
    .sort(cmp);
  const quantized =
    md.operators.some((o) => QUANTIZATION_OPERATORS.has(o.opType) || o.opType.startsWith('QLinear')) || weightTypes.some((t) => LOW_BIT_TYPE.test(t));
  const opsets = md.opsetImports.map((o) => `${o.domain} ${o.version}`).join(', ');

  const complete = md.parameters.approximate !== true;
  // Keys in the order of modelCardSchema, so that every card reads the same way.
  const card: ModelCard = {
    ...opt('name', prop(md, ['model_name', 'name']) ?? graphName(md)),
    ...opt('version', md.modelVersion === undefined ? undefined : String(md.modelVersion)),
    ...opt('description', stated(md.docString)),
    ...opt('author', prop(md, ['model_author', 'author'])),
    ...opt('license', prop(md, ['model_license', 'license', 'licence'])),
    ...opt('producer', stated(md.producerName)),
    ...opt('producerVersion', stated(md.producerVersion)),
    format: 'onnx',
    formatVersion: `ir ${md.irVersion}${opsets !== '' ? `; opset ${opsets}` : ''}`,
    inputs: (md.graph?.inputs ?? []).map(tensorSpec),
    outputs: (md.graph?.outputs ?? []).map(tensorSpec),
    ...opt('parameters', complete ? md.parameters.count : undefined),
    ...opt('parameterBytes', complete ? md.parameters.bytes : undefined),
    weightTypes,
    quantized,
    operators,
    customOperators: operators.some((o) => o.custom),
  };
  return card;
}
