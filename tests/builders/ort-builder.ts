import { Builder } from 'flatbuffers';

/**
 * Builds ONNX Runtime `.ort` models for tests with the FlatBuffers builder, from onnxruntime's
 * `ort.fbs`: InferenceSession (0 ort_version, 1 model), Model (0 ir_version, 1 opset_import,
 * 2 producer_name, 3 producer_version, 5 model_version, 6 doc_string, 7 graph, 9 metadata_props),
 * Graph (0 initializers, 1 node_args, 2 nodes, 5 inputs, 6 outputs), Node (2 domain, 5 op_type),
 * Tensor (0 name, 2 dims, 3 data_type, 4 raw_data), ValueInfo/TypeInfo/TensorTypeAndShape/Shape/
 * Dimension/DimensionValue; file identifier 'ORTM'.
 */

export interface OrtSpec {
  ortVersion?: string;
  irVersion?: number;
  producer?: [string, string];
  modelVersion?: number;
  doc?: string;
  opsets?: [string, number][];
  nodes: [string, string][]; // [domain, op_type]
  initializers?: { name: string; dims: number[]; type: number; bytes: number }[];
  inputs?: { name: string; type: number; dims: (number | string | null)[] }[];
  outputs?: { name: string; type: number; dims: (number | string | null)[] }[];
  props?: Record<string, string>;
}

export function ortBytes(spec: OrtSpec): Uint8Array {
  const b = new Builder(1024);
  const str = (s: string): number => b.createString(s);
  const offs = (v: number[]): number => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]!);
    return b.endVector();
  };
  const table = (n: number, fill: () => void): number => {
    b.startObject(n);
    fill();
    return b.endObject();
  };
  const valueInfo = (t: { name: string; type: number; dims: (number | string | null)[] }): number => {
    const dims = t.dims.map((d) => {
      const param = typeof d === 'string' ? str(d) : 0;
      const value = table(3, () => {
        b.addFieldInt8(0, d === null ? 0 : typeof d === 'string' ? 2 : 1, -1); // dim_type
        if (typeof d === 'number') b.addFieldInt64(1, BigInt(d), 0n);
        if (param !== 0) b.addFieldOffset(2, param, 0);
      });
      return table(2, () => b.addFieldOffset(0, value, 0));
    });
    const dimVec = offs(dims);
    const shape = table(1, () => b.addFieldOffset(0, dimVec, 0));
    const tt = table(2, () => {
      b.addFieldInt32(0, t.type, 0);
      b.addFieldOffset(1, shape, 0);
    });
    const ti = table(3, () => {
      b.addFieldInt8(1, 1, 0); // value_type: TensorTypeAndShape
      b.addFieldOffset(2, tt, 0);
    });
    const name = str(t.name);
    return table(3, () => {
      b.addFieldOffset(0, name, 0);
      b.addFieldOffset(2, ti, 0);
    });
  };
  const nodes = spec.nodes.map(([domain, op]) => {
    const d = str(domain);
    const o = str(op);
    return table(13, () => {
      b.addFieldOffset(2, d, 0);
      b.addFieldOffset(5, o, 0);
    });
  });
  const inits = (spec.initializers ?? []).map((t) => {
    const name = str(t.name);
    b.startVector(8, t.dims.length, 8);
    for (let i = t.dims.length - 1; i >= 0; i--) b.addInt64(BigInt(t.dims[i]!));
    const dv = b.endVector();
    const raw = b.createByteVector(new Uint8Array(t.bytes));
    return table(7, () => {
      b.addFieldOffset(0, name, 0);
      b.addFieldOffset(2, dv, 0);
      b.addFieldInt32(3, t.type, 0);
      b.addFieldOffset(4, raw, 0);
    });
  });
  const args = [...(spec.inputs ?? []), ...(spec.outputs ?? [])].map(valueInfo);
  const ins = offs((spec.inputs ?? []).map((t) => str(t.name)));
  const outs = offs((spec.outputs ?? []).map((t) => str(t.name)));
  const nodeVec = offs(nodes);
  const initVec = offs(inits);
  const argVec = offs(args);
  const graph = table(9, () => {
    b.addFieldOffset(0, initVec, 0);
    b.addFieldOffset(1, argVec, 0);
    b.addFieldOffset(2, nodeVec, 0);
    b.addFieldOffset(5, ins, 0);
    b.addFieldOffset(6, outs, 0);
  });
  const opsets = offs(
    (spec.opsets ?? []).map(([d, v]) => {
      const ds = str(d);
      return table(2, () => {
        b.addFieldOffset(0, ds, 0);
        b.addFieldInt64(1, BigInt(v), 0n);
      });
    }),
  );
  const props = offs(
    Object.entries(spec.props ?? {}).map(([k, v]) => {
      const ks = str(k);
      const vs = str(v);
      return table(2, () => {
        b.addFieldOffset(0, ks, 0);
        b.addFieldOffset(1, vs, 0);
      });
    }),
  );
  const pn = spec.producer !== undefined ? str(spec.producer[0]) : 0;
  const pv = spec.producer !== undefined ? str(spec.producer[1]) : 0;
  const doc = spec.doc !== undefined ? str(spec.doc) : 0;
  const model = table(10, () => {
    if (spec.irVersion !== undefined) b.addFieldInt64(0, BigInt(spec.irVersion), -1n);
    b.addFieldOffset(1, opsets, 0);
    if (pn !== 0) b.addFieldOffset(2, pn, 0);
    if (pv !== 0) b.addFieldOffset(3, pv, 0);
    if (spec.modelVersion !== undefined) b.addFieldInt64(5, BigInt(spec.modelVersion), -1n);
    if (doc !== 0) b.addFieldOffset(6, doc, 0);
    b.addFieldOffset(7, graph, 0);
    b.addFieldOffset(9, props, 0);
  });
  const ver = spec.ortVersion !== undefined ? str(spec.ortVersion) : 0;
  const session = table(4, () => {
    if (ver !== 0) b.addFieldOffset(0, ver, 0);
    b.addFieldOffset(1, model, 0);
  });
  b.finish(session, 'ORTM');
  return b.asUint8Array().slice();
}

/** A small quantized classifier converted to ORT. */
export function smallOrt(): OrtSpec {
  return {
    ortVersion: '1.17.1',
    irVersion: 8,
    producer: ['pytorch', '2.1.0'],
    modelVersion: 3,
    doc: 'keyword spotter',
    opsets: [
      ['', 17],
      ['com.microsoft', 1],
    ],
    nodes: [
      ['', 'Conv'],
      ['', 'Relu'],
      ['ai.onnx', 'Conv'],
      ['com.microsoft', 'QLinearConv'],
      ['', 'Softmax'],
    ],
    initializers: [
      { name: 'w', dims: [8, 1, 3, 3], type: 3, bytes: 72 },
      { name: 'b', dims: [8], type: 1, bytes: 32 },
    ],
    inputs: [{ name: 'audio', type: 1, dims: ['batch', 1, 40, null] }],
    outputs: [{ name: 'scores', type: 1, dims: ['batch', 12] }],
    props: { author: 'kiosk team', license: 'MIT' },
  };
}
