import { Builder } from 'flatbuffers';

/**
 * Builds MNN models for tests with the FlatBuffers builder, from MNN's schema (schema/default/MNN.fbs,
 * Tensor.fbs, UserDefine.fbs, CaffeOp.fbs): a root `Net` without file identifier, its `oplists` of `Op`
 * tables with their `OpParameter` union, `tensorName`, `extraInfo`. Field ids follow schema order.
 */

export interface MnnOp {
  type: number;
  name?: string;
  inputs?: number[];
  outputs?: number[];
  /** The union: `{ kind: 21 (Input), dims, dtype, dformat }`, `{ kind: 9 (Convolution2D), weights, bias, quantized }`... */
  main?:
    | { kind: 'input'; dims: number[]; dtype?: number; dformat?: number }
    | { kind: 'conv'; weights: number; bias: number; quantized?: boolean }
    | { kind: 'inner'; weights: number; bias: number }
    | { kind: 'blob'; floats: number }
    | { kind: 'extra'; type: string; engine?: string };
}

export interface MnnNet {
  bizCode?: string;
  version?: string;
  tensorNames: string[];
  ops: MnnOp[];
  outputNames?: string[];
  sourceType?: number;
  usage?: number;
  uuid?: string;
  subgraphs?: number;
}

const UNION = { input: 21, conv: 9, inner: 20, blob: 7, extra: 78 } as const;

export function mnnBytes(net: MnnNet): Uint8Array {
  const b = new Builder(1024);
  const intVec = (v: number[]): number => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
    return b.endVector();
  };
  const floatVec = (n: number): number => {
    b.startVector(4, n, 4);
    for (let i = 0; i < n; i++) b.addFloat32(0.5);
    return b.endVector();
  };
  const offVec = (v: number[]): number => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]!);
    return b.endVector();
  };
  const ops = net.ops.map((op) => {
    let main = 0;
    const m = op.main;
    if (m?.kind === 'input') {
      const dims = intVec(m.dims);
      b.startObject(3);
      b.addFieldOffset(0, dims, 0); // Input.dims
      if (m.dtype !== undefined) b.addFieldInt32(1, m.dtype, 1); // Input.dtype
      if (m.dformat !== undefined) b.addFieldInt8(2, m.dformat, 2); // Input.dformat
      main = b.endObject();
    } else if (m?.kind === 'conv') {
      const w = floatVec(m.weights);
      const bias = floatVec(m.bias);
      let quan = 0;
      if (m.quantized) {
        b.startObject(1);
        b.addFieldInt32(0, 1, 0);
        quan = b.endObject();
      }
      b.startObject(7);
      b.addFieldOffset(1, w, 0); // Convolution2D.weight
      b.addFieldOffset(2, bias, 0); // Convolution2D.bias
      if (quan !== 0) b.addFieldOffset(3, quan, 0); // Convolution2D.quanParameter
      main = b.endObject();
    } else if (m?.kind === 'inner') {
      const w = floatVec(m.weights);
      const bias = floatVec(m.bias);
      b.startObject(8);
      b.addFieldOffset(3, w, 0); // InnerProduct.weight
      b.addFieldOffset(4, bias, 0); // InnerProduct.bias
      main = b.endObject();
    } else if (m?.kind === 'blob') {
      const f = floatVec(m.floats);
      b.startObject(11);
      b.addFieldOffset(9, f, 0); // Blob.float32s
      main = b.endObject();
    } else if (m?.kind === 'extra') {
      const type = b.createString(m.type);
      const engine = m.engine !== undefined ? b.createString(m.engine) : 0;
      b.startObject(5);
      b.addFieldOffset(0, type, 0); // Extra.type
      if (engine !== 0) b.addFieldOffset(1, engine, 0); // Extra.engine
      main = b.endObject();
    }
    const name = op.name !== undefined ? b.createString(op.name) : 0;
    const ins = op.inputs !== undefined ? intVec(op.inputs) : 0;
    const outs = op.outputs !== undefined ? intVec(op.outputs) : 0;
    b.startObject(7);
    if (ins !== 0) b.addFieldOffset(0, ins, 0); // Op.inputIndexes
    if (m !== undefined) b.addFieldInt8(1, UNION[m.kind], 0); // Op.main_type
    if (main !== 0) b.addFieldOffset(2, main, 0); // Op.main
    if (name !== 0) b.addFieldOffset(3, name, 0); // Op.name
    if (outs !== 0) b.addFieldOffset(4, outs, 0); // Op.outputIndexes
    b.addFieldInt32(5, op.type, 0); // Op.type
    return b.endObject();
  });
  const oplists = offVec(ops);
  const names = offVec(net.tensorNames.map((n) => b.createString(n)));
  const outputNames = net.outputNames !== undefined ? offVec(net.outputNames.map((n) => b.createString(n))) : 0;
  const biz = net.bizCode !== undefined ? b.createString(net.bizCode) : 0;
  const uuid = net.uuid !== undefined ? b.createString(net.uuid) : 0;
  let extra = 0;
  if (net.version !== undefined) {
    const v = b.createString(net.version);
    b.startObject(3);
    b.addFieldOffset(2, v, 0); // ExtraInfo.version
    extra = b.endObject();
  }
  let subgraphs = 0;
  if (net.subgraphs !== undefined) {
    const gs: number[] = [];
    for (let i = 0; i < net.subgraphs; i++) {
      b.startObject(6);
      gs.push(b.endObject());
    }
    subgraphs = offVec(gs);
  }
  b.startObject(12);
  if (biz !== 0) b.addFieldOffset(0, biz, 0); // Net.bizCode
  if (extra !== 0) b.addFieldOffset(2, extra, 0); // Net.extraInfo
  b.addFieldOffset(3, oplists, 0); // Net.oplists
  if (outputNames !== 0) b.addFieldOffset(4, outputNames, 0); // Net.outputName
  b.addFieldInt8(6, net.sourceType ?? 0, -1); // Net.sourceType (written even at its default, as the converter does)
  b.addFieldOffset(7, names, 0); // Net.tensorName
  b.addFieldInt32(8, net.tensorNames.length, 0); // Net.tensorNumber
  if (net.usage !== undefined) b.addFieldInt8(9, net.usage, 0); // Net.usage
  if (subgraphs !== 0) b.addFieldOffset(10, subgraphs, 0); // Net.subgraphs
  if (uuid !== 0) b.addFieldOffset(11, uuid, 0); // Net.mnn_uuid
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}

/** A small classifier converted from ONNX: Input -> Convolution (int8 weights) -> ReLU -> InnerProduct -> custom post-process. */
export function smallMnn(): MnnNet {
  return {
    bizCode: 'biz',
    version: '2.8.1',
    sourceType: 3,
    uuid: '0b3c5a3e-7a1f-4a49-9d7c-0f9b4b5f2d11',
    tensorNames: ['input', 'conv', 'relu', 'fc', 'scores'],
    ops: [
      { type: 34, name: 'input', outputs: [0], main: { kind: 'input', dims: [1, 3, 224, 224], dtype: 1, dformat: 0 } },
      { type: 12, name: 'conv', inputs: [0], outputs: [1], main: { kind: 'conv', weights: 432, bias: 16, quantized: true } },
      { type: 69, name: 'relu', inputs: [1], outputs: [2] },
      { type: 33, name: 'fc', inputs: [2], outputs: [3], main: { kind: 'inner', weights: 160, bias: 10 } },
      { type: 512, name: 'post', inputs: [3], outputs: [4], main: { kind: 'extra', type: 'TFLite_Detection_PostProcess', engine: 'Tflite' } },
    ],
  };
}
