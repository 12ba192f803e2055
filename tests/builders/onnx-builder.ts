import fs from 'node:fs';
import protobuf from 'protobufjs';
import { MAX_READ, type ByteSource } from '../../src/io/byte-source.js';

/**
 * Builds real ONNX bytes for tests and benchmarks, with protobufjs over a subset of onnx/onnx.proto3
 * written here with the spec's field numbers (so the encoder is not the code under test).
 *
 * Small models: `new OnnxBuilder().producer('aibom-test', '1.0').opset('', 17).input(...).node(...)
 * .build()`. Large models: graph initializers with `{ lazyZeros: true }` data are never allocated;
 * `segments()` gives the model as byte pieces and zero runs, which `writeSegments` streams to a file and
 * `SegmentSource` serves as a ByteSource that synthesises the zeros. Subgraphs are spliced in as bytes, so
 * nesting is not limited by protobufjs.
 */

const ONNX_SUBSET = `
syntax = "proto3";
package onnx;
message AttributeProto {
  string name = 1; float f = 2; int64 i = 3; bytes s = 4; TensorProto t = 5; GraphProto g = 6;
  repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9;
  repeated TensorProto tensors = 10; repeated GraphProto graphs = 11; string doc_string = 13;
  int32 type = 20; SparseTensorProto sparse_tensor = 22;
}
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message NodeProto {
  repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4;
  repeated AttributeProto attribute = 5; string doc_string = 6; string domain = 7;
}
message TrainingInfoProto {
  GraphProto initialization = 1; GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3; repeated StringStringEntryProto update_binding = 4;
}
message ModelProto {
  int64 ir_version = 1; string producer_name = 2; string producer_version = 3; string domain = 4;
  int64 model_version = 5; string doc_string = 6; GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8; repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20; repeated FunctionProto functions = 25;
}
message StringStringEntryProto { string key = 1; string value = 2; }
message GraphProto {
  repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; string doc_string = 10;
  repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; repeated ValueInfoProto value_info = 13;
  repeated SparseTensorProto sparse_initializer = 15;
}
message TensorProto {
  repeated int64 dims = 1; int32 data_type = 2; repeated float float_data = 4; repeated int32 int32_data = 5;
  repeated bytes string_data = 6; repeated int64 int64_data = 7; string name = 8; bytes raw_data = 9;
  repeated double double_data = 10; repeated StringStringEntryProto external_data = 13; int32 data_location = 14;
}
message SparseTensorProto { TensorProto values = 1; TensorProto indices = 2; repeated int64 dims = 3; }
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } string denotation = 3; }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  message Sequence { TypeProto elem_type = 1; }
  message Map { int32 key_type = 1; TypeProto value_type = 2; }
  message Optional { TypeProto elem_type = 1; }
  message SparseTensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value {
    Tensor tensor_type = 1; Sequence sequence_type = 4; Map map_type = 5; SparseTensor sparse_tensor_type = 8;
    Optional optional_type = 9;
  }
  string denotation = 6;
}
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message FunctionProto {
  string name = 1; repeated string input = 4; repeated string output = 5; repeated string attribute = 6;
  repeated NodeProto node = 7; string doc_string = 8; repeated OperatorSetIdProto opset_import = 9; string domain = 10;
}
`;

const root = protobuf.parse(ONNX_SUBSET, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');
const GraphProto = root.lookupType('onnx.GraphProto');
const TensorProto = root.lookupType('onnx.TensorProto');
const NodeProto = root.lookupType('onnx.NodeProto');
const AttributeProto = root.lookupType('onnx.AttributeProto');

/** TensorProto.DataType by name, as aibom reports element types. */
export const ELEM_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
  float4e2m1: 23,
  float8e8m0: 24,
  uint2: 25,
  int2: 26,
} as const;
export type ElemType = keyof typeof ELEM_TYPES;

const ELEM_BITS: Record<ElemType, number> = {
  float32: 32,
  uint8: 8,
  int8: 8,
  uint16: 16,
  int16: 16,
  int32: 32,
  int64: 64,
  string: 0,
  bool: 8,
  float16: 16,
  float64: 64,
  uint32: 32,
  uint64: 64,
  complex64: 64,
  complex128: 128,
  bfloat16: 16,
  float8e4m3fn: 8,
  float8e4m3fnuz: 8,
  float8e5m2: 8,
  float8e5m2fnuz: 8,
  uint4: 4,
  int4: 4,
  float4e2m1: 4,
  float8e8m0: 8,
  uint2: 2,
  int2: 2,
};

/** Byte size of `count` elements of `type` stored densely (raw_data). */
export function denseBytes(type: ElemType, count: number): number {
  return Math.ceil((count * ELEM_BITS[type]) / 8);
}

/** A dim: a number (dim_value), a string (dim_param) or null (neither). */
export type Dim = number | string | null;

/** A value's type: a tensor element type, or a non-tensor type. */
export type TypeSpec = ElemType | { sequence: ElemType } | { map: [ElemType, ElemType] } | { optional: ElemType } | { sparse: ElemType };

/** Where a tensor's data comes from. */
export type TensorData =
  | { raw: Uint8Array }
  | { zeros: true }
  /** raw_data of zeros that is never allocated: only `segments()` can emit it. */
  | { lazyZeros: true }
  | { floats: number[] }
  | { int32s: number[] }
  | { int64s: number[] }
  | { doubles: number[] }
  | { strings: string[] }
  | { external: { location: string; offset?: number; length?: number } }
  | { none: true };

/** A tensor: name, element type, dims, data. */
export interface TensorSpec {
  name: string;
  type: ElemType;
  dims: number[];
  data: TensorData;
}

/** A node attribute; exactly one value field. */
export interface AttributeSpec {
  name: string;
  i?: number;
  f?: number;
  s?: string;
  ints?: number[];
  t?: TensorSpec;
  tensors?: TensorSpec[];
  g?: GraphBuilder;
  graphs?: GraphBuilder[];
}

/** Options of a node. */
export interface NodeOptions {
  domain?: string;
  name?: string;
  attributes?: AttributeSpec[];
}

/** A piece of a model being built: bytes, or a run of zeros (`number`) that is not allocated. */
export type Segment = Uint8Array | number;

type Obj = Record<string, unknown>;

function count(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function typeProto(t: TypeSpec, shape: Dim[] | undefined): Obj {
  const shapeObj = shape === undefined ? undefined : { dim: shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dim_value: d } : { dim_param: d })) };
  if (typeof t === 'string') return { tensor_type: { elem_type: ELEM_TYPES[t], ...(shapeObj ? { shape: shapeObj } : {}) } };
  if ('sequence' in t) return { sequence_type: { elem_type: typeProto(t.sequence, shape) } };
  if ('optional' in t) return { optional_type: { elem_type: typeProto(t.optional, shape) } };
  if ('map' in t) return { map_type: { key_type: ELEM_TYPES[t.map[0]], value_type: typeProto(t.map[1], shape) } };
  return { sparse_tensor_type: { elem_type: ELEM_TYPES[t.sparse], ...(shapeObj ? { shape: shapeObj } : {}) } };
}

function tensorObject(t: TensorSpec): Obj {
  const o: Obj = { name: t.name, data_type: ELEM_TYPES[t.type], dims: t.dims };
  const d = t.data;
  if ('raw' in d) o.raw_data = d.raw;
  else if ('zeros' in d) o.raw_data = new Uint8Array(denseBytes(t.type, count(t.dims)));
  else if ('floats' in d) o.float_data = d.floats;
  else if ('int32s' in d) o.int32_data = d.int32s;
  else if ('int64s' in d) o.int64_data = d.int64s;
  else if ('doubles' in d) o.double_data = d.doubles;
  else if ('strings' in d) o.string_data = d.strings.map((s) => new TextEncoder().encode(s));
  else if ('external' in d) {
    o.data_location = 1; // EXTERNAL
    const e: Obj[] = [{ key: 'location', value: d.external.location }];
    if (d.external.offset !== undefined) e.push({ key: 'offset', value: String(d.external.offset) });
    if (d.external.length !== undefined) e.push({ key: 'length', value: String(d.external.length) });
    o.external_data = e;
  } else if ('lazyZeros' in d) throw new Error(`Tensor '${t.name}': lazy zeros are supported for graph initializers only.`);
  return o;
}

function attributeObject(a: AttributeSpec): Obj {
  const o: Obj = { name: a.name };
  // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, INTS 7, TENSORS 9, GRAPHS 10
  if (a.f !== undefined) Object.assign(o, { f: a.f, type: 1 });
  if (a.i !== undefined) Object.assign(o, { i: a.i, type: 2 });
  if (a.s !== undefined) Object.assign(o, { s: new TextEncoder().encode(a.s), type: 3 });
  if (a.t !== undefined) Object.assign(o, { t: tensorObject(a.t), type: 4 });
  if (a.ints !== undefined) Object.assign(o, { ints: a.ints, type: 7 });
  if (a.tensors !== undefined) Object.assign(o, { tensors: a.tensors.map(tensorObject), type: 9 });
  return o;
}

function encodeTo(type: protobuf.Type, o: Obj): Uint8Array {
  return type.encode(type.fromObject(o)).finish();
}

/**
 * A node's bytes. Graph-valued attributes are encoded apart and spliced in as bytes, because protobufjs
 * bounds the nesting of the objects it converts and hostile tests nest subgraphs deeper than that.
 */
function encodeNode(n: NodeSpec): Segment[] {
  const plain = n.attributes.filter((a) => a.g === undefined && a.graphs === undefined).map(attributeObject);
  const segs: Segment[] = [encodeTo(NodeProto, { ...n.fields, attribute: plain })];
  for (const a of n.attributes) {
    // AttributeProto.type GRAPH 5, GRAPHS 10; fields 6 g, 11 graphs
    if (a.g !== undefined) segs.push(...lengthDelimited(5, [encodeTo(AttributeProto, { name: a.name, type: 5 }), ...lengthDelimited(6, a.g.segments())]));
    else if (a.graphs !== undefined) {
      const graphs = a.graphs.flatMap((g) => lengthDelimited(11, g.segments()));
      segs.push(...lengthDelimited(5, [encodeTo(AttributeProto, { name: a.name, type: 10 }), ...graphs]));
    }
  }
  return segs;
}

interface NodeSpec {
  fields: Obj;
  attributes: AttributeSpec[];
}

/** Builds one GraphProto (the main graph, or a subgraph for If/Loop/Scan attributes). */
export class GraphBuilder {
  protected graphName = 'graph';
  protected readonly inputs: Obj[] = [];
  protected readonly outputs: Obj[] = [];
  protected readonly valueInfos: Obj[] = [];
  protected readonly nodes: NodeSpec[] = [];
  protected readonly initializers: TensorSpec[] = [];
  protected readonly sparse: Obj[] = [];

  constructor(name?: string) {
    if (name !== undefined) this.graphName = name;
  }

  /** GraphProto.name. */
  name(name: string): this {
    this.graphName = name;
    return this;
  }

  /** A graph input; `shape` undefined leaves the rank unknown. */
  input(name: string, type: TypeSpec, shape?: Dim[]): this {
    this.inputs.push({ name, type: typeProto(type, shape) });
    return this;
  }

  /** A graph output; `shape` undefined leaves the rank unknown. */
  output(name: string, type: TypeSpec, shape?: Dim[]): this {
    this.outputs.push({ name, type: typeProto(type, shape) });
    return this;
  }

  /** A GraphProto.value_info entry (an intermediate value's type). */
  valueInfo(name: string, type: TypeSpec, shape?: Dim[]): this {
    this.valueInfos.push({ name, type: typeProto(type, shape) });
    return this;
  }

  /** A node; attributes holding graphs become subgraphs. */
  node(opType: string, inputs: string[], outputs: string[], options: NodeOptions = {}): this {
    const fields: Obj = { op_type: opType, input: inputs, output: outputs };
    if (options.name !== undefined) fields.name = options.name;
    if (options.domain !== undefined) fields.domain = options.domain;
    this.nodes.push({ fields, attributes: options.attributes ?? [] });
    return this;
  }

  /** A GraphProto.initializer; by default raw_data of zeros of the right size. */
  initializer(name: string, type: ElemType, dims: number[], data: TensorData = { zeros: true }): this {
    this.initializers.push({ name, type, dims, data });
    return this;
  }

  /** An initializer whose data lives in `location` beside the model (data_location EXTERNAL). */
  externalInitializer(name: string, type: ElemType, dims: number[], location: string, offset?: number, length?: number): this {
    const external: { location: string; offset?: number; length?: number } = { location };
    if (offset !== undefined) external.offset = offset;
    if (length !== undefined) external.length = length;
    return this.initializer(name, type, dims, { external });
  }

  /** A sparse initializer: float32 `values` at flat `indices` of a tensor of `dims`. */
  sparseInitializer(name: string, dims: number[], values: number[], indices: number[]): this {
    this.sparse.push({
      values: tensorObject({ name, type: 'float32', dims: [values.length], data: { floats: values } }),
      indices: tensorObject({ name: `${name}_indices`, type: 'int64', dims: [indices.length], data: { int64s: indices } }),
      dims,
    });
    return this;
  }

  /** A `Constant` node whose `value` attribute holds the tensor (how exporters often store weights). */
  constantNode(output: string, type: ElemType, dims: number[], data: TensorData = { zeros: true }): this {
    return this.node('Constant', [], [output], { attributes: [{ name: 'value', t: { name: output, type, dims, data } }] });
  }

  /** An `If` node with its two branch subgraphs (attributes `then_branch`, `else_branch`). */
  ifNode(cond: string, outputs: string[], thenBranch: GraphBuilder, elseBranch: GraphBuilder): this {
    return this.node('If', [cond], outputs, {
      attributes: [
        { name: 'then_branch', g: thenBranch },
        { name: 'else_branch', g: elseBranch },
      ],
    });
  }

  /** A `Loop` node with its body subgraph (attribute `body`). */
  loopNode(inputs: string[], outputs: string[], body: GraphBuilder): this {
    return this.node('Loop', inputs, outputs, { attributes: [{ name: 'body', g: body }] });
  }

  /**
   * The GraphProto's bytes as segments: nodes first (each spliced, see `encodeNode`), then the other
   * fields through protobufjs, then initializers with lazy zeros, whose tags and lengths are written
   * here around zero runs (protobuf parsers accept fields in any order).
   */
  segments(): Segment[] {
    const segs: Segment[] = this.nodes.flatMap((n) => lengthDelimited(1, encodeNode(n))); // GraphProto.node
    segs.push(
      encodeTo(GraphProto, {
        name: this.graphName,
        initializer: this.initializers.filter((t) => !('lazyZeros' in t.data)).map(tensorObject),
        input: this.inputs,
        output: this.outputs,
        value_info: this.valueInfos,
        sparse_initializer: this.sparse,
      }),
    );
    for (const t of this.initializers.filter((x) => 'lazyZeros' in x.data)) {
      const head = encodeTo(TensorProto, tensorObject({ ...t, data: { none: true } }));
      const rawLen = denseBytes(t.type, count(t.dims));
      // GraphProto.initializer (5) holding TensorProto.raw_data (9)
      segs.push(...lengthDelimited(5, [head, ...(rawLen > 0 ? lengthDelimited(9, [rawLen]) : [])]));
    }
    return segs;
  }
}

/** Builds a whole ModelProto around a main graph. */
export class OnnxBuilder extends GraphBuilder {
  private model: Obj = { ir_version: 8 };
  private readonly opsets: Obj[] = [];
  private readonly props: Obj[] = [];
  private readonly functions: Obj[] = [];
  private readonly training: GraphBuilder[] = [];

  /** ModelProto.ir_version (8 by default). */
  irVersion(v: number): this {
    this.model.ir_version = v;
    return this;
  }

  /** producer_name and producer_version. */
  producer(name: string, version?: string): this {
    this.model.producer_name = name;
    if (version !== undefined) this.model.producer_version = version;
    return this;
  }

  /** ModelProto.domain. */
  domain(d: string): this {
    this.model.domain = d;
    return this;
  }

  /** ModelProto.model_version. */
  modelVersion(v: number): this {
    this.model.model_version = v;
    return this;
  }

  /** ModelProto.doc_string. */
  docString(s: string): this {
    this.model.doc_string = s;
    return this;
  }

  /** An opset_import entry ('' is the default ONNX domain). */
  opset(domain: string, version: number): this {
    this.opsets.push({ domain, version });
    return this;
  }

  /** A metadata_props entry. */
  metadata(key: string, value: string): this {
    this.props.push({ key, value });
    return this;
  }

  /** A local function (ModelProto.functions) with its nodes and opset imports. */
  function(
    domain: string,
    name: string,
    inputs: string[],
    outputs: string[],
    nodes: Array<[string, string[], string[], NodeOptions?]>,
    opsets: Array<[string, number]> = [['', 17]],
  ): this {
    this.functions.push({
      domain,
      name,
      input: inputs,
      output: outputs,
      node: nodes.map(([op, i, o, opt]) => ({ op_type: op, input: i, output: o, ...(opt?.domain ? { domain: opt.domain } : {}) })),
      opset_import: opsets.map(([d, v]) => ({ domain: d, version: v })),
    });
    return this;
  }

  /** A TrainingInfoProto whose algorithm is `algorithm`. */
  trainingInfo(algorithm: GraphBuilder): this {
    this.training.push(algorithm);
    return this;
  }

  private headObject(): Obj {
    return { ...this.model, opset_import: this.opsets, metadata_props: this.props, functions: this.functions };
  }

  /** The model's bytes, zero runs included: for small models. */
  build(): Uint8Array {
    return concatSegments(this.segments());
  }

  /** The model without its graph and training info, for tests that write those by hand. */
  buildWithoutGraph(): Uint8Array {
    return encodeTo(ModelProto, this.headObject());
  }

  /** The model as segments: `writeSegments` streams them to a file, `SegmentSource` reads them lazily. */
  override segments(): Segment[] {
    const segs: Segment[] = [encodeTo(ModelProto, this.headObject()), ...lengthDelimited(7, super.segments())]; // ModelProto.graph
    // ModelProto.training_info (20) holding TrainingInfoProto.algorithm (2)
    for (const g of this.training) segs.push(...lengthDelimited(20, lengthDelimited(2, g.segments())));
    return segs;
  }
}

/** Encodes an unsigned varint (up to 2^53). */
export function varint(n: number | bigint): Uint8Array {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

/** A protobuf tag: field number and wire type. */
export function tag(field: number, wire: number): Uint8Array {
  return varint(field * 8 + wire);
}

/** Total byte length of segments. */
export function segmentsLength(segs: readonly Segment[]): number {
  let n = 0;
  for (const s of segs) n += typeof s === 'number' ? s : s.length;
  return n;
}

/** Wraps segments as one length-delimited field: tag, length, then the segments. */
export function lengthDelimited(field: number, segs: Segment[]): Segment[] {
  return [tag(field, 2), varint(segmentsLength(segs)), ...segs];
}

/** Materialises segments (zero runs included) into one buffer. */
export function concatSegments(segs: readonly Segment[]): Uint8Array {
  const out = new Uint8Array(segmentsLength(segs));
  let p = 0;
  for (const s of segs) {
    if (typeof s === 'number') p += s;
    else {
      out.set(s, p);
      p += s.length;
    }
  }
  return out;
}

/** Streams segments to a file, zero runs in 1 MiB writes: a multi-gigabyte model never sits in memory. */
export function writeSegments(path: string, segs: readonly Segment[]): number {
  const zeros = new Uint8Array(1024 * 1024);
  const fd = fs.openSync(path, 'w');
  let total = 0;
  try {
    for (const s of segs) {
      if (typeof s === 'number') {
        for (let left = s; left > 0; ) {
          const n = Math.min(left, zeros.length);
          fs.writeSync(fd, zeros, 0, n);
          left -= n;
        }
        total += s;
      } else {
        fs.writeSync(fd, s);
        total += s.length;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/**
 * A ByteSource over segments that synthesises zero runs on read: a model with gigabytes of weights
 * costs only the bytes a reader asks for. Counts what is read, to prove a parser's reads are bounded.
 */
export class SegmentSource implements ByteSource {
  readonly size: number;
  /** Bytes returned by `read` so far. */
  bytesRead = 0;
  /** Calls to `read` so far. */
  reads = 0;
  private readonly starts: number[] = [];
  private readonly segs: Segment[];

  constructor(segs: readonly Segment[]) {
    this.segs = [...segs];
    let p = 0;
    for (const s of this.segs) {
      this.starts.push(p);
      p += typeof s === 'number' ? s : s.length;
    }
    this.size = p;
  }

  read(offset: number, length: number): Uint8Array {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size || length < 0 || length > MAX_READ) {
      throw new RangeError(`SegmentSource: bad read of ${length} bytes at ${offset}`);
    }
    const n = Math.min(length, this.size - offset);
    const out = new Uint8Array(n);
    // Binary search for the segment holding `offset`.
    let lo = 0;
    let hi = this.segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    let done = 0;
    for (let i = lo; i < this.segs.length && done < n; i++) {
      const s = this.segs[i]!;
      const segStart = this.starts[i]!;
      const segLen = typeof s === 'number' ? s : s.length;
      const from = offset + done - segStart;
      const take = Math.min(segLen - from, n - done);
      if (take <= 0) continue;
      if (typeof s !== 'number') out.set(s.subarray(from, from + take), done);
      done += take;
    }
    this.reads++;
    this.bytesRead += n;
    return out;
  }
}

/**
 * A model with `initializers` float32 initializers of lazy zeros totalling at least `initializerBytes`,
 * each feeding an Add, for benchmarks: `writeSegments(path, buildLarge({...}).segments())`.
 */
export function buildLarge(options: { initializerBytes: number; initializers?: number }): OnnxBuilder {
  const n = Math.max(1, options.initializers ?? 4);
  const perTensor = Math.ceil(options.initializerBytes / n / 4);
  const b = new OnnxBuilder().producer('aibom-bench', '1.0').opset('', 17).input('x', 'float32', [perTensor]);
  let prev = 'x';
  for (let i = 0; i < n; i++) {
    b.initializer(`w${i}`, 'float32', [perTensor], { lazyZeros: true });
    b.node('Add', [prev, `w${i}`], [`y${i}`]);
    prev = `y${i}`;
  }
  return b.output(prev, 'float32', [perTensor]);
}

/** A model with `depth` If nodes nested one inside the other's then-branch. */
export function buildNestedIfs(depth: number): OnnxBuilder {
  let inner = new GraphBuilder('leaf').node('Identity', ['x'], ['y']).output('y', 'float32', [1]);
  for (let i = 1; i < depth; i++) {
    const els = new GraphBuilder(`else${i}`).node('Identity', ['x'], ['y']).output('y', 'float32', [1]);
    inner = new GraphBuilder(`then${i}`).ifNode('c', ['y'], inner, els).output('y', 'float32', [1]);
  }
  const b = new OnnxBuilder().producer('aibom-test', '1.0').opset('', 17).input('c', 'bool', []).input('x', 'float32', [1]);
  const els = new GraphBuilder('else0').node('Identity', ['x'], ['y']).output('y', 'float32', [1]);
  return b.ifNode('c', ['y'], inner, els).output('y', 'float32', [1]);
}
