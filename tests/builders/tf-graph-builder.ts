import protobuf from 'protobufjs';

/**
 * Builds TensorFlow GraphDef and SavedModel bytes for tests with protobufjs over a subset of
 * tensorflow/core/framework/*.proto and tensorflow/core/protobuf/{meta_graph,saved_model}.proto, written
 * here with the published field numbers (so the encoder is not the code under test).
 */

const TF_SUBSET = `
syntax = "proto3";
package tensorflow;
message Dim { int64 size = 1; string name = 2; }
message TensorShapeProto { repeated Dim dim = 2; bool unknown_rank = 3; }
message TensorProto { int32 dtype = 1; TensorShapeProto tensor_shape = 2; bytes tensor_content = 4; }
message AttrValue { bytes s = 2; int64 i = 3; float f = 4; bool b = 5; int32 type = 6; TensorShapeProto shape = 7; TensorProto tensor = 8; }
message NodeDef { string name = 1; string op = 2; repeated string input = 3; string device = 4; map<string, AttrValue> attr = 5; }
message OpDef { string name = 1; }
message FunctionDef { OpDef signature = 1; repeated NodeDef node_def = 3; map<string, string> ret = 4; }
message FunctionDefLibrary { repeated FunctionDef function = 1; }
message VersionDef { int32 producer = 1; int32 min_consumer = 2; }
message GraphDef { repeated NodeDef node = 1; FunctionDefLibrary library = 2; VersionDef versions = 4; }
message OpList { repeated OpDef op = 1; }
message MetaInfoDef {
  string meta_graph_version = 1; OpList stripped_op_list = 2; repeated string tags = 4;
  string tensorflow_version = 5; string tensorflow_git_version = 6; bool stripped_default_attrs = 7;
}
message TensorInfo { string name = 1; int32 dtype = 2; TensorShapeProto tensor_shape = 3; }
message SignatureDef { map<string, TensorInfo> inputs = 1; map<string, TensorInfo> outputs = 2; string method_name = 3; }
message AssetFileDef { TensorInfo tensor_info = 1; string filename = 2; }
message SavedObjectGraph { bytes nodes = 1; }
message MetaGraphDef {
  MetaInfoDef meta_info_def = 1; GraphDef graph_def = 2; map<string, SignatureDef> signature_def = 5;
  repeated AssetFileDef asset_file_def = 6; SavedObjectGraph object_graph_def = 7;
}
message SavedModel { int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2; }
`;

const root = protobuf.parse(TF_SUBSET, { keepCase: true }).root;
const GraphDef = root.lookupType('tensorflow.GraphDef');
const SavedModel = root.lookupType('tensorflow.SavedModel');

/** DataType values used by the tests (types.proto). */
export const DT = { FLOAT: 1, INT32: 3, UINT8: 4, STRING: 7, INT64: 9, QUINT8: 12, RESOURCE: 20 } as const;

export interface NodeSpec {
  name: string;
  op: string;
  /** Placeholder: dtype and shape attributes. */
  dtype?: number;
  shape?: number[] | 'unknown';
  /** Const: the value tensor's dtype and shape (no contents). */
  value?: { dtype: number; shape: number[] };
  input?: string[];
}

const shapeProto = (s: number[] | 'unknown'): object => (s === 'unknown' ? { unknown_rank: true } : { dim: s.map((size) => ({ size })) });

function nodeProto(n: NodeSpec): object {
  const attr: Record<string, object> = {};
  if (n.dtype !== undefined) attr.dtype = { type: n.dtype };
  if (n.shape !== undefined) attr.shape = { shape: shapeProto(n.shape) };
  if (n.value !== undefined) {
    attr.dtype = { type: n.value.dtype };
    attr.value = { tensor: { dtype: n.value.dtype, tensor_shape: shapeProto(n.value.shape), tensor_content: new Uint8Array(8) } };
  }
  return { name: n.name, op: n.op, input: n.input ?? [], attr };
}

export interface GraphSpec {
  nodes: NodeSpec[];
  functions?: { name: string; nodes: NodeSpec[] }[];
  producer?: number;
  minConsumer?: number;
}

function graphProto(g: GraphSpec): object {
  return {
    node: g.nodes.map(nodeProto),
    ...(g.functions ? { library: { function: g.functions.map((f) => ({ signature: { name: f.name }, node_def: f.nodes.map(nodeProto) })) } } : {}),
    ...(g.producer !== undefined ? { versions: { producer: g.producer, min_consumer: g.minConsumer ?? 12 } } : {}),
  };
}

/** A GraphDef as bytes. */
export function graphDefBytes(g: GraphSpec): Uint8Array {
  return GraphDef.encode(GraphDef.fromObject(graphProto(g))).finish();
}

export interface TensorInfoSpec {
  name: string;
  dtype: number;
  shape?: number[] | 'unknown';
}

export interface MetaGraphSpec {
  tags?: string[];
  tensorflowVersion?: string;
  graph?: GraphSpec;
  strippedOps?: string[];
  signatures?: Record<string, { inputs: Record<string, TensorInfoSpec>; outputs: Record<string, TensorInfoSpec>; method?: string }>;
  assets?: string[];
  objectGraph?: boolean;
}

const tensorInfo = (t: TensorInfoSpec): object => ({ name: t.name, dtype: t.dtype, ...(t.shape !== undefined ? { tensor_shape: shapeProto(t.shape) } : {}) });

/** A `saved_model.pb` as bytes. */
export function savedModelBytes(metaGraphs: MetaGraphSpec[], schemaVersion = 1): Uint8Array {
  const obj = {
    saved_model_schema_version: schemaVersion,
    meta_graphs: metaGraphs.map((m) => ({
      meta_info_def: {
        stripped_op_list: { op: (m.strippedOps ?? ['Const', 'Placeholder']).map((name) => ({ name })) },
        tags: m.tags ?? ['serve'],
        tensorflow_version: m.tensorflowVersion ?? '2.15.0',
        tensorflow_git_version: 'v2.15.0-rc1-8-g6887368d6d4',
        stripped_default_attrs: true,
      },
      graph_def: graphProto(m.graph ?? { nodes: [{ name: 'x', op: 'Placeholder', dtype: DT.FLOAT }], producer: 1645 }),
      signature_def: Object.fromEntries(
        Object.entries(m.signatures ?? {}).map(([k, s]) => [
          k,
          {
            inputs: Object.fromEntries(Object.entries(s.inputs).map(([n, t]) => [n, tensorInfo(t)])),
            outputs: Object.fromEntries(Object.entries(s.outputs).map(([n, t]) => [n, tensorInfo(t)])),
            method_name: s.method ?? 'tensorflow/serving/predict',
          },
        ]),
      ),
      asset_file_def: (m.assets ?? []).map((filename) => ({ tensor_info: { name: 'asset_path:0', dtype: DT.STRING }, filename })),
      ...(m.objectGraph ? { object_graph_def: { nodes: new Uint8Array([1, 2, 3]) } } : {}),
    })),
  };
  return SavedModel.encode(SavedModel.fromObject(obj)).finish();
}
