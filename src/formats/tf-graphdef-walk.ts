import { z } from 'zod';
import { WIRE_LEN, WIRE_VARINT, scanFields, type FieldNames, type ProtoMessage } from '../decoders/protobuf.js';
import type { CardOperator, TensorSpec } from '../inventory/card.js';
import { cmp } from './card-util.js';
import type { ModelWarning } from './types.js';

/*
 * The TensorFlow `GraphDef` walk shared by frozen graphs (`tf-graphdef`) and SavedModels (`savedmodel`):
 * tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,function,versions}.proto.
 * Only Placeholder and Const nodes have their attributes opened (inputs, constant shapes); every other
 * node costs its name and op. Tensor contents are never read, only skipped by offset.
 */

export const GRAPH_FIELDS: FieldNames = { 1: 'node', 2: 'library', 3: 'version', 4: 'versions', 5: 'debug_info' };
const NODE_FIELDS: FieldNames = { 1: 'name', 2: 'op', 3: 'input', 4: 'device', 5: 'attr', 6: 'experimental_debug_info', 7: 'experimental_type' };
const ENTRY_FIELDS: FieldNames = { 1: 'key', 2: 'value' };
const ATTR_FIELDS: FieldNames = { 1: 'list', 2: 's', 3: 'i', 4: 'f', 5: 'b', 6: 'type', 7: 'shape', 8: 'tensor', 9: 'placeholder', 10: 'func' };
const TENSOR_FIELDS: FieldNames = { 1: 'dtype', 2: 'tensor_shape', 3: 'version_number', 4: 'tensor_content' };
const SHAPE_FIELDS: FieldNames = { 2: 'dim', 3: 'unknown_rank' };
const DIM_FIELDS: FieldNames = { 1: 'size', 2: 'name' };
const VERSION_FIELDS: FieldNames = { 1: 'producer', 2: 'min_consumer', 3: 'bad_consumers' };
const LIBRARY_FIELDS: FieldNames = { 1: 'function', 2: 'gradient', 3: 'registered_gradients' };
const FUNCTION_FIELDS: FieldNames = { 1: 'signature', 3: 'node_def', 4: 'ret', 5: 'attr', 6: 'control_ret', 7: 'arg_attr', 8: 'resource_arg_unique_id' };

/** `tensorflow.DataType` names by value (types.proto); `_ref` types are value + 100. */
const DTYPES = [
  'invalid',
  'float32',
  'float64',
  'int32',
  'uint8',
  'int16',
  'int8',
  'string',
  'complex64',
  'int64',
  'bool',
  'qint8',
  'quint8',
  'qint32',
  'bfloat16',
  'qint16',
  'quint16',
  'uint16',
  'complex128',
  'float16',
  'resource',
  'variant',
  'uint32',
  'uint64',
  'float8_e5m2',
  'float8_e4m3fn',
];

/** DataType name of an enum value; `unknown(<n>)` past the table. */
export function tfDtypeName(v: number): string {
  const base = v >= 100 ? v - 100 : v;
  return DTYPES[base] ?? `unknown(${v})`;
}

/**
 * Ops that read or write files, or run Python code, when the graph runs: a model that holds one can do
 * more than compute. SaveV2/RestoreV2 are left out on purpose: every SavedModel's saver graph has them.
 */
const RISKY_OPS = new Set([
  'ReadFile',
  'WriteFile',
  'MatchingFiles',
  'PyFunc',
  'PyFuncStateless',
  'EagerPyFunc',
  'ImmutableConst',
  'WholeFileReader',
  'WholeFileReaderV2',
  'TextLineReader',
  'TextLineReaderV2',
  'TFRecordReader',
  'TFRecordReaderV2',
  'FixedLengthRecordReader',
  'FixedLengthRecordReaderV2',
  'LMDBReader',
  'TextLineDataset',
  'TFRecordDataset',
  'FixedLengthRecordDataset',
  'DatasetToTFRecord',
  'ExperimentalDatasetToTFRecord',
  'LoadAndRemapMatrix',
]);

const MAX_NODES = 5_000_000;
const MAX_INPUTS = 4096;
const MAX_RANK = 64;
const MAX_TEXT = 1024;

export const countByName = z.record(z.string(), z.number().int().nonnegative());
export const tfTensorSchema = z.strictObject({
  name: z.string().describe('Tensor or node name (a signature key for SavedModel signatures).'),
  dtype: z.string().optional().describe('Element type (`float32`), from the DataType enum.'),
  shape: z.array(z.number().int().nullable()).nullable().optional().describe('Dimensions, null for an unknown one (-1); null for an unknown rank.'),
});
export type TfTensor = z.infer<typeof tfTensorSchema>;

export const tfConstantsSchema = z
  .strictObject({
    count: z.number().int().nonnegative().describe('Const nodes.'),
    elements: z.number().int().nonnegative().describe('Elements of all Const tensors, from their shapes, held at 2^53 - 1.'),
    byType: countByName.describe('Const nodes per element type.'),
  })
  .describe('Constants embedded in the graph (the weights of a frozen graph).');

/** What a walk over one or more GraphDefs gathered. */
export class TfGraphWalk {
  readonly ops = new Map<string, number>();
  nodeCount = 0;
  functionCount = 0;
  readonly inputs: TfTensor[] = [];
  constCount = 0;
  constElements = 0;
  readonly constTypes = new Map<string, number>();
  producer: number | undefined;
  minConsumer: number | undefined;

  /** Ops by name, sorted. */
  opsRecord(): Record<string, number> {
    return Object.fromEntries([...this.ops].sort((a, b) => cmp(a[0], b[0])));
  }
  constants(): z.infer<typeof tfConstantsSchema> {
    return { count: this.constCount, elements: this.constElements, byType: Object.fromEntries([...this.constTypes].sort((a, b) => cmp(a[0], b[0]))) };
  }
  /** Risky ops found, sorted. */
  riskyOps(): string[] {
    return [...this.ops.keys()].filter((o) => RISKY_OPS.has(o)).sort(cmp);
  }
}

/** A security warning naming the risky ops and their counts, or none. */
export function riskyOpsWarning(walk: TfGraphWalk): ModelWarning[] {
  const risky = walk.riskyOps();
  if (risky.length === 0) return [];
  const list = risky.map((o) => `${o} (${walk.ops.get(o)})`).join(', ');
  return [
    { severity: 'warning', code: 'security', message: `The TensorFlow graph holds ops that read or write files or run Python code when it runs: ${list}.` },
  ];
}

/** TensorShapeProto: dims (null for -1 or past 2^53), or null for an unknown rank. */
export function readShape(m: ProtoMessage): (number | null)[] | null {
  const dims: (number | null)[] = [];
  let unknownRank = false;
  while (m.next()) {
    if (m.field === 2 && m.expect(WIRE_LEN)) {
      if (dims.length >= MAX_RANK) throw m.fail(`TensorShapeProto at offset ${m.start} has more than ${MAX_RANK} dims.`);
      const d = m.message('TensorShapeProto.Dim', DIM_FIELDS);
      let size: number | null = null;
      while (d.next()) {
        if (d.field === 1) {
          const v = d.signedNumber();
          size = Number.isSafeInteger(v) && v >= 0 ? v : null;
        }
      }
      dims.push(size);
    } else if (m.field === 3 && m.wire === WIRE_VARINT) unknownRank = m.signedNumber() !== 0;
  }
  return unknownRank ? null : dims;
}

/** TensorProto: dtype and shape only; the contents are skipped. */
function readTensorHeader(m: ProtoMessage): { dtype?: number; shape?: (number | null)[] | null } {
  const out: { dtype?: number; shape?: (number | null)[] | null } = {};
  while (m.next()) {
    if (m.field === 1) out.dtype = m.int(0, 1000);
    else if (m.field === 2 && m.expect(WIRE_LEN)) out.shape = readShape(m.message('TensorShapeProto', SHAPE_FIELDS));
  }
  return out;
}

interface NodeAttrs {
  dtype?: number;
  shape?: (number | null)[] | null;
  value?: { dtype?: number; shape?: (number | null)[] | null };
}

function readAttrs(m: ProtoMessage, into: NodeAttrs): void {
  // map<string, AttrValue> entry: key = 1, value = 2
  let key = '';
  let valueAt: ProtoMessage | undefined;
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) key = m.string(64);
    else if (m.field === 2 && m.expect(WIRE_LEN)) valueAt = m.message('AttrValue', ATTR_FIELDS);
  }
  if (valueAt === undefined) return;
  while (valueAt.next()) {
    if (key === 'dtype' && valueAt.field === 6) into.dtype = valueAt.int(0, 1000);
    else if (key === 'shape' && valueAt.field === 7 && valueAt.expect(WIRE_LEN)) into.shape = readShape(valueAt.message('TensorShapeProto', SHAPE_FIELDS));
    else if (key === 'value' && valueAt.field === 8 && valueAt.expect(WIRE_LEN)) into.value = readTensorHeader(valueAt.message('TensorProto', TENSOR_FIELDS));
  }
}

function walkNode(m: ProtoMessage, w: TfGraphWalk, top: boolean): void {
  if (++w.nodeCount > MAX_NODES) throw m.fail(`the graph holds more than ${MAX_NODES} nodes.`);
  let name = '';
  let op = '';
  const attrs: ProtoMessage[] = [];
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) name = m.string(MAX_TEXT);
    else if (m.field === 2 && m.expect(WIRE_LEN)) op = m.string(MAX_TEXT);
    else if (m.field === 5 && m.expect(WIRE_LEN)) attrs.push(m.message('NodeDef.AttrEntry', ENTRY_FIELDS));
  }
  if (op === '') throw m.fail(`NodeDef '${name}' at offset ${m.start} has no op.`);
  w.ops.set(op, (w.ops.get(op) ?? 0) + 1);
  // Attributes are opened only for the two ops whose attributes the metadata reports.
  const isInput = top && op === 'Placeholder';
  if (!isInput && op !== 'Const') return;
  const a: NodeAttrs = {};
  for (const e of attrs) readAttrs(e, a);
  if (isInput && w.inputs.length < MAX_INPUTS) {
    const t: TfTensor = { name };
    if (a.dtype !== undefined) t.dtype = tfDtypeName(a.dtype);
    if (a.shape !== undefined) t.shape = a.shape;
    w.inputs.push(t);
  } else if (op === 'Const') {
    w.constCount++;
    const type = tfDtypeName(a.value?.dtype ?? a.dtype ?? 0);
    w.constTypes.set(type, (w.constTypes.get(type) ?? 0) + 1);
    const shape = a.value?.shape;
    if (shape) {
      const n = shape.reduce<number>((p, d) => p * (d ?? 0), 1);
      w.constElements = Math.min(w.constElements + (Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
    }
  }
}

/**
 * Walks one GraphDef: its nodes (`top`: Placeholders are the graph's inputs) and the nodes of its
 * function library; records `versions.producer` and `min_consumer`.
 */
export function walkGraphDef(m: ProtoMessage, w: TfGraphWalk, top: boolean): void {
  while (m.next()) {
    switch (m.field) {
      case 1: // node
        m.expect(WIRE_LEN);
        walkNode(m.message('NodeDef', NODE_FIELDS), w, top);
        break;
      case 2: {
        // library: FunctionDefLibrary.function = 1, each FunctionDef.node_def = 3
        m.expect(WIRE_LEN);
        const lib = m.message('FunctionDefLibrary', LIBRARY_FIELDS);
        while (lib.next()) {
          if (lib.field !== 1 || !lib.expect(WIRE_LEN)) continue;
          w.functionCount++;
          const f = lib.message('FunctionDef', FUNCTION_FIELDS);
          while (f.next()) if (f.field === 3 && f.expect(WIRE_LEN)) walkNode(f.message('NodeDef', NODE_FIELDS), w, false);
        }
        break;
      }
      case 4: {
        // versions: VersionDef
        m.expect(WIRE_LEN);
        const v = m.message('VersionDef', VERSION_FIELDS);
        while (v.next()) {
          if (v.field === 1) w.producer = v.int(0, 0x7fffffff);
          else if (v.field === 2) w.minConsumer = v.int(0, 0x7fffffff);
        }
        break;
      }
      default: // 3 version (deprecated), 5 debug_info
        break;
    }
  }
}

/** An op name as TensorFlow registers them (`Conv2D`, `_Arg`, `Tfl>Foo` is not one). */
const OP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Cheap check of a NodeDef in a head: `[from, to)` scans as NodeDef fields (all length-delimited,
 * numbered 1 to 7) with a UTF-8 name and an op that reads like an op name, both within the head.
 */
export function plausibleNodeDef(head: Uint8Array, from: number, to: number): boolean {
  const s = scanFields(head, from, to, 32);
  if (s.status === 'invalid') return false;
  let name = false;
  let op = false;
  for (const f of s.fields) {
    if (f.wire !== WIRE_LEN || f.field > 7) return false;
    if (f.field === 1 || f.field === 2) {
      if (!f.complete || (f.length ?? 0) > MAX_TEXT) return false;
      const bytes = head.subarray(f.offset, f.offset + (f.length ?? 0));
      let text: string;
      try {
        text = strictUtf8.decode(bytes);
      } catch {
        return false;
      }
      if (f.field === 1) name = text.length > 0;
      else op = OP_NAME.test(text);
    }
  }
  return name && op;
}

/** Card operators from an op histogram: TensorFlow records no custom-op marker in a graph. */
export function tfCardOperators(ops: Record<string, number>): CardOperator[] {
  return Object.entries(ops)
    .map(([name, count]) => ({ name, count, custom: false }))
    .sort((a, b) => b.count - a.count || cmp(a.name, b.name));
}

/** A card tensor from a metadata tensor. */
export function tfCardTensor(t: TfTensor): TensorSpec {
  return { name: t.name, ...(t.dtype !== undefined ? { type: t.dtype } : {}), ...(t.shape !== undefined ? { shape: t.shape } : {}) };
}
