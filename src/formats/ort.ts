import { z } from 'zod';
import { FlatBufferReader, type FlatTable } from '../decoders/flatbuffers.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * ONNX Runtime's own format (`.ort`, from `convert_onnx_models_to_ort`): a FlatBuffer with file
 * identifier 'ORTM' (onnxruntime/core/flatbuffers/schema/ort.fbs). Field ids, in schema order:
 *
 *   InferenceSession: 0 ort_version, 1 model, 2 session_state, 3 kernel_type_str_resolver
 *   Model:     0 ir_version:long, 1 opset_import:[OperatorSetId], 2 producer_name, 3 producer_version,
 *              4 domain, 5 model_version:long, 6 doc_string, 7 graph, 8 graph_doc_string, 9 metadata_props
 *   OperatorSetId: 0 domain, 1 version:long           StringStringEntry: 0 key, 1 value
 *   Graph:     0 initializers:[Tensor], 1 node_args:[ValueInfo], 2 nodes:[Node], 3 max_node_index,
 *              4 node_edges, 5 inputs:[string], 6 outputs:[string], 7 sparse_initializers
 *   Node:      0 name, 1 doc_string, 2 domain, 3 since_version, 4 index, 5 op_type, 6 type, 7 ep, ...
 *   Tensor:    0 name, 1 doc_string, 2 dims:[long], 3 data_type:int, 4 raw_data:[ubyte], 5 string_data
 *   ValueInfo: 0 name, 1 doc_string, 2 type:TypeInfo  TypeInfo: 0 denotation, 1 value_type, 2 value
 *   TensorTypeAndShape: 0 elem_type, 1 shape          Shape: 0 dim:[Dimension]
 *   Dimension: 0 value:DimensionValue, 1 denotation   DimensionValue: 0 dim_type, 1 dim_value, 2 dim_param
 *
 * Initializer data is counted by the length of its vector, never read.
 */

/** TensorDataType (= ONNX TensorProto.DataType) names by value, and bits per element. */
const DATA_TYPES: readonly (readonly [string, number])[] = [
  ['undefined', 0],
  ['float32', 32],
  ['uint8', 8],
  ['int8', 8],
  ['uint16', 16],
  ['int16', 16],
  ['int32', 32],
  ['int64', 64],
  ['string', 0],
  ['bool', 8],
  ['float16', 16],
  ['float64', 64],
  ['uint32', 32],
  ['uint64', 64],
  ['complex64', 64],
  ['complex128', 128],
  ['bfloat16', 16],
  ['float8e4m3fn', 8],
  ['float8e4m3fnuz', 8],
  ['float8e5m2', 8],
  ['float8e5m2fnuz', 8],
  ['uint4', 4],
  ['int4', 4],
];
/** Operator domains of ONNX itself (the default domain is written as '' or `ai.onnx`). */
const STANDARD_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'ai.onnx.training', 'ai.onnx.preview.training']);
const MAX = { nodes: 4_000_000, tensors: 4_000_000, io: 4096, dims: 64, opsets: 1024, props: 256, text: 1024, raw: Number.MAX_SAFE_INTEGER } as const;

// ---- metadata schema -------------------------------------------------------------------------------------

const tensorSchema = z.strictObject({
  name: z.string().describe('Graph input or output name.'),
  type: z.string().optional().describe('Element type from its `node_args` entry (`float32`).'),
  shape: z
    .array(z.union([z.number().int(), z.string(), z.null()]))
    .optional()
    .describe('Dimensions: a value, a symbolic name, or null when unknown.'),
});

export const ortMetadataSchema = z
  .strictObject({
    ortVersion: z.string().optional().describe('`ort_version`: the ONNX Runtime that wrote the file.'),
    irVersion: z.number().int().optional().describe('`model.ir_version`: the ONNX IR version.'),
    producerName: z.string().optional().describe('`model.producer_name` of the ONNX model converted.'),
    producerVersion: z.string().optional().describe('`model.producer_version`.'),
    domain: z.string().optional().describe('`model.domain`.'),
    modelVersion: z.number().int().optional().describe('`model.model_version`.'),
    docString: z.string().optional().describe('`model.doc_string` (at most 1024 characters).'),
    opsets: z
      .array(z.strictObject({ domain: z.string().describe('Operator set domain (`` for ai.onnx).'), version: z.number().int().describe('Its version.') }))
      .describe('`model.opset_import`.'),
    nodeCount: z.number().int().nonnegative().describe('Nodes of the main graph.'),
    operators: z
      .array(
        z.strictObject({
          opType: z.string().describe('`op_type`.'),
          domain: z.string().describe('`domain` (`` for ai.onnx).'),
          count: z.number().int().nonnegative().describe('Nodes.'),
        }),
      )
      .describe('Nodes of the main graph per domain and op type, sorted.'),
    customDomains: z.array(z.string()).describe("Node domains outside ONNX's own (`com.microsoft`, vendor domains)."),
    inputs: z.array(tensorSchema).describe('`graph.inputs` (initializers excluded).'),
    outputs: z.array(tensorSchema).describe('`graph.outputs`.'),
    initializers: z.number().int().nonnegative().describe('`graph.initializers`.'),
    parameters: z.number().int().nonnegative().describe('Elements of the initializers, from their dims.'),
    parameterBytes: z.number().int().nonnegative().describe('Bytes of their `raw_data`.'),
    weightTypes: z.record(z.string(), z.number().int().nonnegative()).describe('Initializers per data type.'),
    metadataProps: z.record(z.string(), z.string()).describe('`model.metadata_props`, at most 256.'),
  })
  .meta({
    title: 'ONNX Runtime (.ort) metadata',
    description:
      'ONNX Runtime format models: a FlatBuffer with identifier `ORTM` holding the ORT version and the converted ONNX model (producer, opsets, graph).',
  });
export type OrtMetadata = z.infer<typeof ortMetadataSchema>;
type Tensor = z.infer<typeof tensorSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid ORT model: ${message}`);
}

function long(v: bigint, what: string): number {
  if (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is not a safe integer.`);
  return Number(v);
}

function typeName(code: number): string {
  return DATA_TYPES[code]?.[0] ?? `unknown(${code})`;
}

/** A ValueInfo's tensor type and shape (other types: the union's kind only). */
function valueType(vi: FlatTable): Omit<Tensor, 'name'> {
  const ti = vi.table(2, 'ValueInfo.type');
  if (ti === undefined) return {};
  const kind = ti.u8(1);
  if (kind !== 1) return { type: kind === 2 ? 'sequence' : kind === 3 ? 'map' : `unknown(${kind})` };
  const tt = ti.table(2, 'TensorTypeAndShape');
  if (tt === undefined) return {};
  const out: Omit<Tensor, 'name'> = { type: typeName(tt.i32(0)) };
  const shape = tt.table(1, 'Shape');
  const dims = shape?.vector(0, 4, MAX.dims, 'Shape.dim');
  if (dims !== undefined) {
    out.shape = [];
    for (let i = 0; i < dims.length; i++) {
      const v = dims.table(i, 'Dimension').table(0, 'DimensionValue');
      const t = v?.i8(0) ?? 0;
      out.shape.push(t === 1 ? long(v!.i64(1), 'dim_value') : t === 2 ? (stated(v!.string(2, MAX.text)) ?? null) : null);
    }
  }
  return out;
}

export function readOrt(src: ByteSource): OrtMetadata {
  const r = new FlatBufferReader(src, { label: 'ORT model' });
  const session = r.root('ORTM');
  const model = session.table(1, 'InferenceSession.model');
  if (model === undefined) fail('InferenceSession.model (field 1) is absent.');
  const opsets: OrtMetadata['opsets'] = [];
  const ov = model.vector(1, 4, MAX.opsets, 'Model.opset_import');
  for (let i = 0; i < (ov?.length ?? 0); i++) {
    const o = ov!.table(i, `OperatorSetId ${i}`);
    opsets.push({ domain: o.string(0, MAX.text) ?? '', version: long(o.i64(1), 'opset version') });
  }
  const props: Record<string, string> = {};
  const pv = model.vector(9, 4, MAX.props, 'Model.metadata_props');
  for (let i = 0; i < (pv?.length ?? 0); i++) {
    const e = pv!.table(i, `StringStringEntry ${i}`);
    props[(e.string(0, MAX.text) ?? '').slice(0, 256)] = e.string(1, MAX.text) ?? '';
  }
  const graph = model.table(7, 'Model.graph');
  const ops = new Map<string, { opType: string; domain: string; count: number }>();
  const custom = new Set<string>();
  const types = new Map<string, Omit<Tensor, 'name'>>();
  const weightTypes = new Map<string, number>();
  let nodeCount = 0;
  let initializers = 0;
  let parameters = 0;
  let parameterBytes = 0;
  const inputs: Tensor[] = [];
  const outputs: Tensor[] = [];
  if (graph !== undefined) {
    const nodes = graph.vector(2, 4, MAX.nodes, 'Graph.nodes');
    nodeCount = nodes?.length ?? 0;
    for (let i = 0; i < nodeCount; i++) {
      const n = nodes!.table(i, `Node ${i}`);
      const domain = (n.string(2, MAX.text) ?? '').replace(/^ai\.onnx$/, '');
      const opType = stated(n.string(5, MAX.text)) ?? 'unknown';
      const key = `${domain}\u0000${opType}`;
      const e = ops.get(key) ?? { opType, domain, count: 0 };
      e.count++;
      ops.set(key, e);
      if (!STANDARD_DOMAINS.has(domain)) custom.add(domain);
    }
    const inits = graph.vector(0, 4, MAX.tensors, 'Graph.initializers');
    initializers = inits?.length ?? 0;
    const initNames = new Set<string>();
    for (let i = 0; i < initializers; i++) {
      const t = inits!.table(i, `Tensor ${i}`);
      initNames.add(t.string(0, MAX.text) ?? '');
      const dims = t.vector(2, 8, MAX.dims, `Tensor ${i} dims`);
      let n = 1;
      for (let k = 0; k < (dims?.length ?? 0); k++) n *= long(dims!.i64(k), `Tensor ${i} dim`);
      parameters += Math.max(n, 0);
      parameterBytes += t.vector(4, 1, MAX.raw, `Tensor ${i} raw_data`)?.length ?? 0;
      const dt = typeName(t.i32(3));
      weightTypes.set(dt, (weightTypes.get(dt) ?? 0) + 1);
    }
    const args = graph.vector(1, 4, MAX.tensors, 'Graph.node_args');
    const wanted = new Set<string>();
    const names = (id: number, what: string, into: Tensor[], skip?: Set<string>): void => {
      const v = graph.vector(id, 4, MAX.tensors, what);
      for (let i = 0; i < (v?.length ?? 0) && into.length < MAX.io; i++) {
        const name = v!.string(i, MAX.text);
        if (skip?.has(name)) continue;
        into.push({ name });
        wanted.add(name);
      }
    };
    names(5, 'Graph.inputs', inputs, initNames);
    names(6, 'Graph.outputs', outputs);
    for (let i = 0; i < (args?.length ?? 0) && types.size < wanted.size; i++) {
      const vi = args!.table(i, `ValueInfo ${i}`);
      const name = vi.string(0, MAX.text) ?? '';
      if (wanted.has(name)) types.set(name, valueType(vi));
    }
  }
  if (!Number.isSafeInteger(parameters) || !Number.isSafeInteger(parameterBytes)) fail('the initializers add up to more than 2^53 elements.');
  const withType = (t: Tensor): Tensor => ({ ...t, ...(types.get(t.name) ?? {}) });
  const ir = model.has(0) ? long(model.i64(0), 'ir_version') : undefined;
  const mv = model.has(5) ? long(model.i64(5), 'model_version') : undefined;
  return {
    ...opt('ortVersion', stated(session.string(0, MAX.text, 'InferenceSession.ort_version'))),
    ...opt('irVersion', ir),
    ...opt('producerName', stated(model.string(2, MAX.text))),
    ...opt('producerVersion', stated(model.string(3, MAX.text))),
    ...opt('domain', stated(model.string(4, MAX.text))),
    ...opt('modelVersion', mv),
    ...opt('docString', stated(model.string(6, MAX.text))),
    opsets,
    nodeCount,
    operators: [...ops.values()].sort((a, b) => cmp(a.domain, b.domain) || cmp(a.opType, b.opType)),
    customDomains: [...custom].sort(cmp),
    inputs: inputs.map(withType),
    outputs: outputs.map(withType),
    initializers,
    parameters,
    parameterBytes,
    weightTypes: Object.fromEntries([...weightTypes].sort((a, b) => cmp(a[0], b[0]))),
    metadataProps: Object.fromEntries(Object.entries(props).sort((a, b) => cmp(a[0], b[0]))),
  };
}

export function ortCard(metadata: Record<string, unknown>): ModelCard {
  const m = ortMetadataSchema.parse(metadata);
  const custom = new Set(m.customDomains);
  const types = Object.keys(m.weightTypes).sort(cmp);
  const low = types.filter((t) => /^u?int[248]$|^float8/.test(t));
  const quantOps = m.operators.filter((o) => /QuantizeLinear|Integer|MatMulNBits|QLinear/.test(o.opType)).map((o) => o.opType);
  const spec = (t: Tensor): ModelCard['inputs'][number] => ({ name: t.name, ...opt('type', t.type), ...opt('shape', t.shape) });
  return {
    ...opt('description', m.docString),
    ...opt('version', m.modelVersion !== undefined ? String(m.modelVersion) : undefined),
    // The converter was ONNX Runtime; the ONNX model's own producer is kept in the metadata.
    ...opt('producer', m.ortVersion !== undefined ? 'onnxruntime' : m.producerName),
    ...opt('producerVersion', m.ortVersion ?? m.producerVersion),
    format: 'ort',
    ...opt('formatVersion', m.irVersion !== undefined ? `ir ${m.irVersion}` : undefined),
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    parameters: m.parameters,
    parameterBytes: m.parameterBytes,
    weightTypes: types,
    quantized: low.length > 0 || quantOps.length > 0,
    ...opt('quantization', low.length > 0 ? low.join(', ') : quantOps.length > 0 ? [...new Set(quantOps)].sort(cmp).join(', ') : undefined),
    operators: sortCardOperators(
      m.operators.map((o) => ({ name: o.opType, ...(o.domain !== '' ? { domain: o.domain } : {}), count: o.count, custom: custom.has(o.domain) })),
    ),
    customOperators: custom.size > 0,
  };
}

/**
 * ONNX Runtime `.ort` models: ORT version, the ONNX model's IR version, producer, opsets, operators of
 * the main graph (custom domains flagged), inputs/outputs with types, initializer counts and bytes,
 * metadata properties. Does not walk subgraphs of control-flow nodes nor runtime optimization records.
 */
export const ort: ModelFormat = {
  id: 'ort',
  description: 'ONNX Runtime format model (.ort, FlatBuffers ORTM): ORT version, opsets, operators, inputs/outputs, initializers',
  extensions: ['.ort'],
  signatures: [{ offset: 4, magic: 'ORTM', note: 'FlatBuffers file identifier' }],
  metadataSchema: ortMetadataSchema,
  card: ortCard,
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length < 16 || h[4] !== 0x4f || h[5] !== 0x52 || h[6] !== 0x54 || h[7] !== 0x4d) return false;
    const root = new DataView(h.buffer, h.byteOffset, 4).getUint32(0, true);
    return root >= 8 && root < probe.size;
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return { confidence: 'high', metadata: readOrt(src) as unknown as Record<string, unknown> };
  },
};
