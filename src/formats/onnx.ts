import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';
import { onnxMetadataSchema, type OnnxMetadata, type OnnxValueInfo } from './onnx-metadata.js';
import { onnxCard } from './onnx-card.js';
import { FormatError } from '../errors.js';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, probeFields, scanFields, type FieldNames, type ProtoMessage, type ScannedField } from '../decoders/protobuf.js';

/*
 * ONNX: a protobuf `ModelProto` (onnx/onnx.proto3) with no magic bytes. Field numbers below are those of
 * the ONNX IR spec; every message is walked with the bounded protobuf walker, and weight payloads
 * (raw_data and the typed *_data fields) are skipped by offset and only counted.
 */

// Field names by number, from onnx/onnx.proto3; used by the walker's error messages.
const MODEL_FIELDS: FieldNames = {
  1: 'ir_version',
  2: 'producer_name',
  3: 'producer_version',
  4: 'domain',
  5: 'model_version',
  6: 'doc_string',
  7: 'graph',
  8: 'opset_import',
  14: 'metadata_props',
  20: 'training_info',
  25: 'functions',
  26: 'configuration',
};
const GRAPH_FIELDS: FieldNames = {
  1: 'node',
  2: 'name',
  5: 'initializer',
  10: 'doc_string',
  11: 'input',
  12: 'output',
  13: 'value_info',
  14: 'quantization_annotation',
  15: 'sparse_initializer',
  16: 'metadata_props',
};
const NODE_FIELDS: FieldNames = {
  1: 'input',
  2: 'output',
  3: 'name',
  4: 'op_type',
  5: 'attribute',
  6: 'doc_string',
  7: 'domain',
  8: 'overload',
  9: 'metadata_props',
  10: 'device_configurations',
};
const ATTRIBUTE_FIELDS: FieldNames = {
  1: 'name',
  2: 'f',
  3: 'i',
  4: 's',
  5: 't',
  6: 'g',
  7: 'floats',
  8: 'ints',
  9: 'strings',
  10: 'tensors',
  11: 'graphs',
  13: 'doc_string',
  14: 'tp',
  15: 'type_protos',
  20: 'type',
  21: 'ref_attr_name',
  22: 'sparse_tensor',
  23: 'sparse_tensors',
};
const TENSOR_FIELDS: FieldNames = {
  1: 'dims',
  2: 'data_type',
  3: 'segment',
  4: 'float_data',
  5: 'int32_data',
  6: 'string_data',
  7: 'int64_data',
  8: 'name',
  9: 'raw_data',
  10: 'double_data',
  11: 'uint64_data',
  12: 'doc_string',
  13: 'external_data',
  14: 'data_location',
  16: 'metadata_props',
};
const SPARSE_TENSOR_FIELDS: FieldNames = { 1: 'values', 2: 'indices', 3: 'dims' };
const VALUE_INFO_FIELDS: FieldNames = { 1: 'name', 2: 'type', 3: 'doc_string', 4: 'metadata_props' };
const TYPE_FIELDS: FieldNames = {
  1: 'tensor_type',
  4: 'sequence_type',
  5: 'map_type',
  6: 'denotation',
  7: 'opaque_type',
  8: 'sparse_tensor_type',
  9: 'optional_type',
};
const TYPE_TENSOR_FIELDS: FieldNames = { 1: 'elem_type', 2: 'shape' };
const SHAPE_FIELDS: FieldNames = { 1: 'dim' };
const DIMENSION_FIELDS: FieldNames = { 1: 'dim_value', 2: 'dim_param', 3: 'denotation' };
const OPSET_FIELDS: FieldNames = { 1: 'domain', 2: 'version' };
const ENTRY_FIELDS: FieldNames = { 1: 'key', 2: 'value' };
const FUNCTION_FIELDS: FieldNames = {
  1: 'name',
  4: 'input',
  5: 'output',
  6: 'attribute',
  7: 'node',
  8: 'doc_string',
  9: 'opset_import',
  10: 'domain',
  11: 'attribute_proto',
  12: 'value_info',
  13: 'overload',
  14: 'metadata_props',
};
const TRAINING_INFO_FIELDS: FieldNames = { 1: 'initialization', 2: 'algorithm', 3: 'initialization_binding', 4: 'update_binding' };

/** TensorProto.DataType names (index = enum value) and their sizes in bits; strings have no fixed size. */
const DATA_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['undefined', 0], // 0 UNDEFINED
  ['float32', 32], // 1 FLOAT
  ['uint8', 8],
  ['int8', 8],
  ['uint16', 16],
  ['int16', 16],
  ['int32', 32],
  ['int64', 64],
  ['string', 0], // 8 STRING
  ['bool', 8],
  ['float16', 16], // 10
  ['float64', 64], // 11 DOUBLE
  ['uint32', 32],
  ['uint64', 64],
  ['complex64', 64],
  ['complex128', 128],
  ['bfloat16', 16], // 16
  ['float8e4m3fn', 8],
  ['float8e4m3fnuz', 8],
  ['float8e5m2', 8],
  ['float8e5m2fnuz', 8], // 20
  ['uint4', 4],
  ['int4', 4],
  ['float4e2m1', 4],
  ['float8e8m0', 8],
  ['uint2', 2], // 25
  ['int2', 2],
];

function typeName(t: number): string {
  return DATA_TYPES[t]?.[0] ?? `unknown(${t})`;
}

/** Operator domains defined by the ONNX standard itself; any other domain is a custom operator set. */
const STANDARD_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'ai.onnx.training', 'ai.onnx.preview.training']);

/** Longest text kept from any string field; longer values are cut (and flagged where a user reads them). */
const MAX_TEXT = 4096;
/** Most dims one tensor or shape may list: real ranks are below 10, and a bound keeps hostile ones short. */
const MAX_RANK = 1024;
/** Highest ir_version accepted by `inspect` (the spec is at 14): far enough to admit future versions. */
const MAX_IR_VERSION = 1000;
/** Highest ir_version accepted by `match`, which must stay strict to keep random bytes out. */
const MATCH_MAX_IR_VERSION = 32;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

interface TensorFacts {
  name: string;
  dataType: number;
  dims: number[];
  /** raw_data length, or -1 when absent. */
  rawLength: number;
  stringBytes: number;
  external: boolean;
  externalEntries: Array<[string, string]>;
}

interface ExternalRef {
  tensor: string;
  location: string;
  offset?: number;
  length?: number;
}

/** Everything gathered over all graphs of the model. */
class Walk {
  readonly ops = new Map<string, { domain: string; opType: string; count: number }>();
  nodeCount = 0;
  subgraphCount = 0;
  readonly domains = new Set<string>();
  paramCount = 0;
  paramBytes = 0;
  paramTensors = 0;
  approximate = false;
  readonly byType = new Map<string, number>();
  readonly external: ExternalRef[] = [];
  readonly warnings: ModelWarning[] = [];

  addOp(domain: string, opType: string): void {
    const d = domain === '' ? 'ai.onnx' : domain;
    const key = `${d}\u0000${opType}`;
    const e = this.ops.get(key);
    if (e) e.count++;
    else this.ops.set(key, { domain: d, opType, count: 1 });
    this.domains.add(d);
    this.nodeCount++;
  }

  /** Counts one weight tensor without its data: elements from dims, bytes from the payload's length. */
  addTensor(t: TensorFacts): void {
    const size = tensorSize(t);
    this.paramTensors++;
    if (size.count === undefined || size.bytes === undefined) this.approximate = true;
    if (size.count !== undefined) {
      this.paramCount = safeAdd(this.paramCount, size.count, this);
      this.byType.set(size.type, safeAdd(this.byType.get(size.type) ?? 0, size.count, this));
    }
    if (size.bytes !== undefined) this.paramBytes = safeAdd(this.paramBytes, size.bytes, this);
    this.addExternal(t);
  }

  /** Counts only the bytes of a tensor that stores part of another (a sparse tensor's indices). */
  addStorage(t: TensorFacts): void {
    const size = tensorSize(t);
    if (size.bytes === undefined) this.approximate = true;
    else this.paramBytes = safeAdd(this.paramBytes, size.bytes, this);
    this.addExternal(t);
  }

  private addExternal(t: TensorFacts): void {
    if (!t.external) return;
    const entry = (key: string): string | undefined => t.externalEntries.find(([k]) => k === key)?.[1];
    const location = entry('location');
    if (location === undefined || location === '') {
      this.warnings.push({
        severity: 'warning',
        code: 'external-data',
        message: `ONNX tensor '${t.name}' keeps its data outside the model but names no location.`,
      });
      return;
    }
    const ref: ExternalRef = { tensor: t.name, location };
    const offset = decimal(entry('offset'));
    if (offset !== undefined) ref.offset = offset;
    const length = decimal(entry('length'));
    if (length !== undefined) ref.length = length;
    this.external.push(ref);
  }
}

/**
 * Element count and byte size of a tensor, without its data. Elements are the product of dims (a scalar
 * has none), each step checked so that hostile dims (negative, 2^62) cannot overflow a sum: such a
 * tensor has an unknown count. Bytes are the payload's own length where there is one (raw_data, the
 * external `length`, the strings), else elements times the element size.
 */
function tensorSize(t: TensorFacts): { type: string; count: number | undefined; bytes: number | undefined } {
  const bits = DATA_TYPES[t.dataType]?.[1] ?? 0;
  let count: number | undefined = 1;
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      count = undefined;
      break;
    }
    count *= d;
    if (!Number.isSafeInteger(count)) {
      count = undefined;
      break;
    }
  }
  let bytes: number | undefined;
  if (t.external) bytes = decimal(t.externalEntries.find(([k]) => k === 'length')?.[1]);
  else if (t.rawLength >= 0) bytes = t.rawLength;
  else if (t.dataType === 8) bytes = t.stringBytes;
  if (bytes === undefined && count !== undefined && bits > 0) {
    bytes = Math.ceil((count * bits) / 8);
    if (!Number.isSafeInteger(bytes)) bytes = undefined;
  }
  return { type: typeName(t.dataType), count, bytes };
}

/** Adds two counts, capping at MAX_SAFE_INTEGER (and marking the walk approximate) rather than losing precision. */
function safeAdd(a: number, b: number, w: Walk): number {
  const s = a + b;
  if (Number.isSafeInteger(s)) return s;
  w.approximate = true;
  return Number.MAX_SAFE_INTEGER;
}

/** A non-negative decimal integer string as a safe number, else undefined (external_data values are strings). */
function decimal(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function readEntry(m: ProtoMessage): { key: string; value: string; truncated: boolean } {
  let key = '';
  let value = '';
  let truncated = false;
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) key = m.string(MAX_TEXT);
    else if (m.field === 2 && m.expect(WIRE_LEN)) {
      const t = m.text(MAX_TEXT);
      value = t.text;
      truncated = t.truncated;
    }
  }
  return { key, value, truncated };
}

function readOpset(m: ProtoMessage): { domain: string; version: number } {
  let domain = '';
  let version = 0;
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) domain = m.string(MAX_TEXT);
    else if (m.field === 2) version = m.int(0, Number.MAX_SAFE_INTEGER);
  }
  return { domain, version };
}

function readTensor(m: ProtoMessage): TensorFacts {
  const t: TensorFacts = { name: '', dataType: 0, dims: [], rawLength: -1, stringBytes: 0, external: false, externalEntries: [] };
  const pushDim = (d: number): void => {
    if (t.dims.length >= MAX_RANK) throw m.fail(`TensorProto at offset ${m.start} lists more than ${MAX_RANK} dims.`);
    t.dims.push(d);
  };
  while (m.next()) {
    switch (m.field) {
      case 1: // dims: repeated int64, packed or not
        if (m.wire === WIRE_LEN) m.packedVarints(MAX_RANK - t.dims.length, (v) => pushDim(bigToNumber(v)));
        else pushDim(m.signedNumber());
        break;
      case 2: // data_type
        t.dataType = m.int(INT32_MIN, INT32_MAX);
        break;
      case 6: // string_data: one length-delimited field per string; only lengths are summed
        m.expect(WIRE_LEN);
        t.stringBytes += m.length;
        break;
      case 8: // name
        m.expect(WIRE_LEN);
        t.name = m.string(MAX_TEXT);
        break;
      case 9: // raw_data: skipped, only its length is kept
        m.expect(WIRE_LEN);
        t.rawLength = m.length;
        break;
      case 13: // external_data: StringStringEntryProto (location, offset, length, checksum)
        if (m.expect(WIRE_LEN) && t.externalEntries.length < 64) {
          const e = readEntry(m.message('StringStringEntryProto', ENTRY_FIELDS));
          t.externalEntries.push([e.key, e.value]);
        }
        break;
      case 14: // data_location: 1 = EXTERNAL
        t.external = m.int(INT32_MIN, INT32_MAX) === 1;
        break;
      default:
        // 3 segment, 4 float_data, 5 int32_data, 7 int64_data, 10 double_data, 11 uint64_data (the element
        // count comes from dims), 12 doc_string, 16 metadata_props: skipped unread.
        break;
    }
  }
  return t;
}

function bigToNumber(v: bigint): number {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.NaN;
}

/** SparseTensorProto: counted as one tensor whose elements are its stored values, bytes values + indices. */
function walkSparse(m: ProtoMessage, w: Walk): string {
  let values: TensorFacts | undefined;
  let indices: TensorFacts | undefined;
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) values = readTensor(m.message('TensorProto', TENSOR_FIELDS));
    else if (m.field === 2 && m.expect(WIRE_LEN)) indices = readTensor(m.message('TensorProto', TENSOR_FIELDS));
  }
  if (values) w.addTensor(values);
  // Indices are storage of the same weight tensor: their bytes count, their elements do not.
  if (indices) w.addStorage(indices);
  return values?.name ?? '';
}

function walkAttribute(m: ProtoMessage, w: Walk): void {
  while (m.next()) {
    switch (m.field) {
      case 5: // t: a tensor value (Constant's weights)
      case 10: // tensors
        m.expect(WIRE_LEN);
        w.addTensor(readTensor(m.message('TensorProto', TENSOR_FIELDS)));
        break;
      case 6: // g: a subgraph (If branches, Loop and Scan bodies)
      case 11: // graphs
        m.expect(WIRE_LEN);
        w.subgraphCount++;
        walkGraph(m.message('GraphProto', GRAPH_FIELDS), w, false);
        break;
      case 22: // sparse_tensor
      case 23: // sparse_tensors
        m.expect(WIRE_LEN);
        walkSparse(m.message('SparseTensorProto', SPARSE_TENSOR_FIELDS), w);
        break;
      default:
        break;
    }
  }
}

function walkNode(m: ProtoMessage, w: Walk): void {
  let opType: string | undefined;
  let domain = '';
  while (m.next()) {
    switch (m.field) {
      case 4: // op_type
        m.expect(WIRE_LEN);
        opType = m.string(MAX_TEXT);
        break;
      case 7: // domain
        m.expect(WIRE_LEN);
        domain = m.string(MAX_TEXT);
        break;
      case 5: // attribute
        m.expect(WIRE_LEN);
        walkAttribute(m.message('AttributeProto', ATTRIBUTE_FIELDS), w);
        break;
      default: // 1 input, 2 output, 3 name, 6 doc_string, 8 overload, 9 metadata_props: not needed
        break;
    }
  }
  if (opType === undefined || opType === '') throw m.fail(`NodeProto at offset ${m.start} has no field 4 (op_type).`);
  w.addOp(domain, opType);
}

function readShape(m: ProtoMessage): Array<number | string | null> {
  const shape: Array<number | string | null> = [];
  while (m.next()) {
    if (m.field !== 1) continue;
    m.expect(WIRE_LEN);
    if (shape.length >= MAX_RANK) throw m.fail(`TensorShapeProto at offset ${m.start} lists more than ${MAX_RANK} dims.`);
    const d = m.message('TensorShapeProto.Dimension', DIMENSION_FIELDS);
    let dim: number | string | null = null;
    while (d.next()) {
      if (d.field === 1) {
        const v = d.signedNumber();
        // A dim beyond 2^53 is not representable as given; it is reported unknown rather than rounded.
        dim = Number.isSafeInteger(v) ? v : null;
      } else if (d.field === 2 && d.expect(WIRE_LEN)) dim = d.string(MAX_TEXT);
    }
    shape.push(dim);
  }
  return shape;
}

function readType(m: ProtoMessage): { elemType: string; shape: Array<number | string | null> | null } {
  let elemType = 'undefined';
  let shape: Array<number | string | null> | null = null;
  while (m.next()) {
    switch (m.field) {
      case 1: // tensor_type
      case 8: {
        // sparse_tensor_type: same fields (elem_type, shape)
        m.expect(WIRE_LEN);
        const sparse = m.field === 8;
        const t = m.message(sparse ? 'TypeProto.SparseTensor' : 'TypeProto.Tensor', TYPE_TENSOR_FIELDS);
        let elem = 0;
        while (t.next()) {
          if (t.field === 1) elem = t.int(INT32_MIN, INT32_MAX);
          else if (t.field === 2 && t.expect(WIRE_LEN)) shape = readShape(t.message('TensorShapeProto', SHAPE_FIELDS));
        }
        elemType = sparse ? 'sparse_tensor' : typeName(elem);
        break;
      }
      case 4:
        m.expect(WIRE_LEN);
        elemType = 'sequence';
        break;
      case 5:
        m.expect(WIRE_LEN);
        elemType = 'map';
        break;
      case 7:
        m.expect(WIRE_LEN);
        elemType = 'opaque';
        break;
      case 9:
        m.expect(WIRE_LEN);
        elemType = 'optional';
        break;
      default: // 6 denotation
        break;
    }
  }
  return { elemType, shape };
}

function readValueInfo(m: ProtoMessage): OnnxValueInfo {
  let name = '';
  let type: { elemType: string; shape: Array<number | string | null> | null } = { elemType: 'undefined', shape: null };
  while (m.next()) {
    if (m.field === 1 && m.expect(WIRE_LEN)) name = m.string(MAX_TEXT);
    else if (m.field === 2 && m.expect(WIRE_LEN)) type = readType(m.message('TypeProto', TYPE_FIELDS));
  }
  return { name, elemType: type.elemType, shape: type.shape };
}

interface GraphSummary {
  name?: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodeCount: number;
  initializerCount: number;
  valueInfoCount: number;
}

/**
 * Walks one GraphProto: counts its nodes, operators and weights (recursing into subgraphs). Only for
 * the main graph (`top`) are inputs, outputs and names kept.
 */
function walkGraph(m: ProtoMessage, w: Walk, top: true): GraphSummary;
function walkGraph(m: ProtoMessage, w: Walk, top: false): undefined;
function walkGraph(m: ProtoMessage, w: Walk, top: boolean): GraphSummary | undefined {
  let name: string | undefined;
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializerNames = new Set<string>();
  let nodeCount = 0;
  let initializerCount = 0;
  let valueInfoCount = 0;
  while (m.next()) {
    switch (m.field) {
      case 1: // node
        m.expect(WIRE_LEN);
        walkNode(m.message('NodeProto', NODE_FIELDS), w);
        nodeCount++;
        break;
      case 2: // name
        m.expect(WIRE_LEN);
        if (top) name = m.string(MAX_TEXT);
        break;
      case 5: {
        // initializer
        m.expect(WIRE_LEN);
        const t = readTensor(m.message('TensorProto', TENSOR_FIELDS));
        w.addTensor(t);
        initializerCount++;
        if (top) initializerNames.add(t.name);
        break;
      }
      case 15: {
        // sparse_initializer
        m.expect(WIRE_LEN);
        const n = walkSparse(m.message('SparseTensorProto', SPARSE_TENSOR_FIELDS), w);
        initializerCount++;
        if (top) initializerNames.add(n);
        break;
      }
      case 11: // input
        m.expect(WIRE_LEN);
        if (top) inputs.push(readValueInfo(m.message('ValueInfoProto', VALUE_INFO_FIELDS)));
        break;
      case 12: // output
        m.expect(WIRE_LEN);
        if (top) outputs.push(readValueInfo(m.message('ValueInfoProto', VALUE_INFO_FIELDS)));
        break;
      case 13: // value_info
        m.expect(WIRE_LEN);
        valueInfoCount++;
        break;
      default: // 10 doc_string, 14 quantization_annotation, 16 metadata_props
        break;
    }
  }
  if (!top) return undefined;
  const g: GraphSummary = {
    // Older IR versions (< 4) list every initializer as a graph input too; those are weights, not inputs.
    inputs: inputs.filter((i) => !initializerNames.has(i.name)),
    outputs,
    nodeCount,
    initializerCount,
    valueInfoCount,
  };
  if (name !== undefined && name !== '') g.name = name;
  return g;
}

function walkFunction(m: ProtoMessage, w: Walk): { domain: string; name: string; nodeCount: number; opsets: string[] } {
  let domain = '';
  let name = '';
  let nodeCount = 0;
  const opsets: string[] = [];
  while (m.next()) {
    switch (m.field) {
      case 1: // name
        m.expect(WIRE_LEN);
        name = m.string(MAX_TEXT);
        break;
      case 10: // domain
        m.expect(WIRE_LEN);
        domain = m.string(MAX_TEXT);
        break;
      case 7: // node
        m.expect(WIRE_LEN);
        walkNode(m.message('NodeProto', NODE_FIELDS), w);
        nodeCount++;
        break;
      case 9: // opset_import
        m.expect(WIRE_LEN);
        opsets.push(readOpset(m.message('OperatorSetIdProto', OPSET_FIELDS)).domain);
        break;
      case 11: // attribute_proto: default attribute values, which may hold tensors or graphs
        m.expect(WIRE_LEN);
        walkAttribute(m.message('AttributeProto', ATTRIBUTE_FIELDS), w);
        break;
      default: // 4 input, 5 output, 6 attribute, 8 doc_string, 12 value_info, 13 overload, 14 metadata_props
        break;
    }
  }
  return { domain, name, nodeCount, opsets };
}

function walkTrainingInfo(m: ProtoMessage, w: Walk): void {
  while (m.next()) {
    // 1 initialization, 2 algorithm: graphs whose nodes and weights belong to the model too.
    if ((m.field === 1 || m.field === 2) && m.expect(WIRE_LEN)) walkGraph(m.message('GraphProto', GRAPH_FIELDS), w, false);
  }
}

/** Walks a whole ModelProto; `head`, when given, holds the source's first bytes (read already). */
function inspectOnnx(src: ByteSource, head?: Uint8Array): ModelInfo {
  const reader = new ProtoReader(src, { format: 'ONNX', ...(head ? { head } : {}) });
  const m = reader.root('ModelProto', MODEL_FIELDS);
  const w = new Walk();
  let irVersion: number | undefined;
  let producerName: string | undefined;
  let producerVersion: string | undefined;
  let domain: string | undefined;
  let modelVersion: number | string | undefined;
  let docString: { text: string; truncated: boolean } | undefined;
  let graph: GraphSummary | undefined;
  let trainingInfo = 0;
  const opsetImports: Array<{ domain: string; version: number }> = [];
  const metadataProps: Array<{ key: string; value: string; truncated?: true }> = [];
  const functions: Array<{ domain: string; name: string; nodeCount: number }> = [];
  while (m.next()) {
    switch (m.field) {
      case 1: // ir_version
        irVersion = m.int(1, MAX_IR_VERSION);
        break;
      case 2: // producer_name
        m.expect(WIRE_LEN);
        producerName = m.string(MAX_TEXT);
        break;
      case 3: // producer_version
        m.expect(WIRE_LEN);
        producerVersion = m.string(MAX_TEXT);
        break;
      case 4: // domain
        m.expect(WIRE_LEN);
        domain = m.string(MAX_TEXT);
        break;
      case 5: {
        // model_version: any int64; reported as a number when safe, else as its decimal string
        const v = m.signedNumber();
        modelVersion = Number.isSafeInteger(v) ? v : String(m.int64());
        break;
      }
      case 6: // doc_string
        m.expect(WIRE_LEN);
        docString = m.text(MAX_TEXT);
        break;
      case 7: // graph
        m.expect(WIRE_LEN);
        if (graph !== undefined) throw m.fail(`ModelProto field 7 (graph) appears twice, the second time at offset ${m.tagOffset}.`);
        graph = walkGraph(m.message('GraphProto', GRAPH_FIELDS), w, true);
        break;
      case 8: {
        // opset_import
        m.expect(WIRE_LEN);
        const o = readOpset(m.message('OperatorSetIdProto', OPSET_FIELDS));
        opsetImports.push({ domain: o.domain === '' ? 'ai.onnx' : o.domain, version: o.version });
        break;
      }
      case 14: {
        // metadata_props
        m.expect(WIRE_LEN);
        const e = readEntry(m.message('StringStringEntryProto', ENTRY_FIELDS));
        metadataProps.push(e.truncated ? { key: e.key, value: e.value, truncated: true } : { key: e.key, value: e.value });
        break;
      }
      case 20: // training_info
        m.expect(WIRE_LEN);
        trainingInfo++;
        walkTrainingInfo(m.message('TrainingInfoProto', TRAINING_INFO_FIELDS), w);
        break;
      case 25: {
        // functions
        m.expect(WIRE_LEN);
        const f = walkFunction(m.message('FunctionProto', FUNCTION_FIELDS), w);
        for (const d of f.opsets) w.domains.add(d === '' ? 'ai.onnx' : d);
        functions.push({ domain: f.domain, name: f.name, nodeCount: f.nodeCount });
        break;
      }
      default: // 26 configuration and fields newer than this reader
        break;
    }
  }
  if (irVersion === undefined) throw new FormatError('Invalid ONNX: ModelProto has no field 1 (ir_version).');
  for (const o of opsetImports) w.domains.add(o.domain);

  const byType: Record<string, number> = {};
  for (const k of [...w.byType.keys()].sort(cmp)) byType[k] = w.byType.get(k)!;
  // One literal typed by the schema (onnx-metadata.ts), keys in the order the JSON has always had: the
  // compiler checks every field's presence and type; a key spread in conditionally escapes its excess-
  // property check, which the strict schema catches in the tests.
  const metadata: OnnxMetadata = {
    irVersion,
    ...(producerName ? { producerName } : {}),
    ...(producerVersion ? { producerVersion } : {}),
    ...(domain ? { domain } : {}),
    // proto3 has no presence: 0 is what a model that never set a version carries.
    ...(modelVersion !== undefined && modelVersion !== 0 ? { modelVersion } : {}),
    ...(docString && docString.text !== '' ? { docString: docString.text, ...(docString.truncated ? { docStringTruncated: true as const } : {}) } : {}),
    opsetImports,
    metadataProps,
    graph: graph
      ? {
          ...(graph.name !== undefined ? { name: graph.name } : {}),
          inputs: graph.inputs,
          outputs: graph.outputs,
          nodeCount: graph.nodeCount,
          initializerCount: graph.initializerCount,
          valueInfoCount: graph.valueInfoCount,
        }
      : null,
    operators: [...w.ops.values()].sort((a, b) => cmp(a.domain, b.domain) || cmp(a.opType, b.opType)),
    nodeCount: w.nodeCount,
    subgraphCount: w.subgraphCount,
    customDomains: [...w.domains].filter((d) => !STANDARD_DOMAINS.has(d)).sort(cmp),
    parameters: {
      count: w.paramCount,
      bytes: w.paramBytes,
      byType,
      tensors: w.paramTensors,
      ...(w.approximate ? { approximate: true as const } : {}),
    },
    externalData: w.external,
    functions,
    ...(trainingInfo > 0 ? { trainingInfo } : {}),
  };

  const info: ModelInfo = {
    confidence: graph !== undefined && graph.nodeCount > 0 && opsetImports.length > 0 ? 'high' : 'medium',
    metadata,
  };
  const locations = [...new Set(w.external.map((e) => e.location))].sort(cmp);
  if (locations.length > 0) info.externalData = locations;
  if (w.warnings.length > 0) info.warnings = w.warnings;
  return info;
}

/** Code-unit order, independent of locale, so output is the same on every machine. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Wire type expected for each ModelProto field, for `match`. */
const MODEL_WIRE: Readonly<Record<number, number>> = {
  1: WIRE_VARINT,
  2: WIRE_LEN,
  3: WIRE_LEN,
  4: WIRE_LEN,
  5: WIRE_VARINT,
  6: WIRE_LEN,
  7: WIRE_LEN,
  8: WIRE_LEN,
  14: WIRE_LEN,
  20: WIRE_LEN,
  25: WIRE_LEN,
  26: WIRE_LEN,
};
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function validUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** True when bytes [from, to) hold a C0 control character other than tab, line feed and carriage return. */
function hasControl(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return true;
  }
  return false;
}

/** Checks one top-level field seen in the head; false when it cannot belong to a ModelProto. */
function plausibleModelField(f: ScannedField, head: Uint8Array): boolean {
  if (MODEL_WIRE[f.field] !== f.wire) return false;
  const end = f.offset + (f.length ?? 0);
  switch (f.field) {
    case 1: // ir_version: 1 (2017) .. 14 today
      return f.value !== undefined && f.value >= 1 && f.value <= MATCH_MAX_IR_VERSION;
    case 2: // producer_name, producer_version, domain: short UTF-8 text without control characters.
    case 3: // Requiring them whole in the head keeps out other protobufs whose field 2 is a large
    case 4: // message (TensorFlow's SavedModel: 08 01 12 <meta graph>; Core ML: 08 04 12 <description>).
      return f.complete && (f.length ?? 0) <= 1024 && validUtf8(head.subarray(f.offset, end)) && !hasControl(head, f.offset, end);
    case 6: // doc_string: UTF-8 text of any length
      return !f.complete || validUtf8(head.subarray(f.offset, end));
    case 7: {
      // graph: every GraphProto field is length-delimited, numbered below 32
      const s = scanFields(head, f.offset, end, 64);
      return s.status !== 'invalid' && s.fields.every((g) => g.wire === WIRE_LEN && g.field < 32);
    }
    case 8: {
      // opset_import: domain (string) and version (varint)
      if (!f.complete) return true;
      const s = scanFields(head, f.offset, end, 8);
      return s.status === 'end' && s.fields.every((o) => (o.field === 1 && o.wire === WIRE_LEN) || (o.field === 2 && o.wire === WIRE_VARINT));
    }
    case 14: {
      // metadata_props: key and value strings
      if (!f.complete) return true;
      const s = scanFields(head, f.offset, end, 8);
      return s.status === 'end' && s.fields.every((o) => (o.field === 1 || o.field === 2) && o.wire === WIRE_LEN);
    }
    default:
      return true;
  }
}

/**
 * ONNX models (`ModelProto`). `match` accepts a head whose top-level fields all parse as ModelProto
 * fields with their proper wire types, with an ir_version between 1 and 32, and either starting with
 * ir_version (as every serializer writes it) or holding a graph; text, archives, executables and
 * FlatBuffers fail on their first bytes. `inspect` walks the model, its graph, subgraphs and local
 * functions without reading weight payloads. Not handled: the ONNX text format, ORT's `.ort`
 * FlatBuffers format, and bare TensorProto/GraphProto files.
 */
export const onnx: ModelFormat = {
  id: 'onnx',
  description: 'ONNX model (protobuf ModelProto): producer, opsets, graph inputs and outputs, operators, parameters',
  extensions: ['.onnx'],
  // No magic: a ModelProto is recognised by its first protobuf fields (ir_version, then producer or graph).
  signatures: [],
  metadataSchema: onnxMetadataSchema,
  card: (metadata) => onnxCard(onnxMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const scan = probeFields(probe);
    if (scan.status === 'invalid' || scan.fields.length < 2) return false;
    let sawIr = false;
    let sawGraph = false;
    for (const f of scan.fields) {
      if (!plausibleModelField(f, probe.head)) return false;
      if (f.field === 1) sawIr = true;
      else if (f.field === 7) sawGraph = true;
    }
    return sawIr && (scan.fields[0]!.field === 1 || sawGraph);
  },
  // The walk is synchronous (ByteSource reads are); async only to fit the interface.
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    // The probe's head is reused only when it is the head of this very source.
    return inspectOnnx(src, probe.source === src ? probe.head : undefined);
  },
};

// The metadata's types live beside its schema; re-exported here for code that imports the format.
export type { OnnxMetadata, OnnxValueInfo } from './onnx-metadata.js';
