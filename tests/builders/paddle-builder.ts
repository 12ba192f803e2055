/**
 * Builds PaddlePaddle programs for tests, from paddle/fluid/framework/framework.proto: `ProgramDesc`
 * (1 blocks, 4 version), `BlockDesc` (1 idx, 2 parent_idx, 3 vars, 4 ops), `VarDesc` (1 name, 2 type,
 * 3 persistable), `VarType` (1 type, 3 lod_tensor: 1 tensor: 1 data_type, 2 dims), `OpDesc` (1 inputs,
 * 2 outputs, 3 type; `Var`: 1 parameter, 2 arguments). Fields are written in number order, as protobuf
 * does; int64 negatives as 10-byte varints. Also Paddle Lite `.nb` headers.
 */

const te = new TextEncoder();

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const int = (field: number, v: number | bigint): number[] => [...varint(field * 8), ...varint(v)];
const bytes = (field: number, b: number[] | Uint8Array): number[] => [...varint(field * 8 + 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, te.encode(s));

/** VarType.Type values. */
export const VT = { BOOL: 0, INT32: 2, INT64: 3, FP16: 4, FP32: 5, UINT8: 20, INT8: 21, LOD_TENSOR: 7, FEED_MINIBATCH: 9, FETCH_LIST: 10 } as const;

export interface PaddleVar {
  name: string;
  type?: number;
  dtype?: number;
  dims?: number[];
  persistable?: boolean;
  /** Write dims packed (legal on the wire, not what Paddle writes). */
  packed?: boolean;
}

export interface PaddleOp {
  type: string;
  inputs?: Record<string, string[]>;
  outputs?: Record<string, string[]>;
}

export interface PaddleBlock {
  idx?: number;
  parent?: number;
  vars: PaddleVar[];
  ops: PaddleOp[];
}

function varDesc(v: PaddleVar): number[] {
  const type = v.type ?? VT.LOD_TENSOR;
  let vt = int(1, type);
  if (type === VT.LOD_TENSOR) {
    const dims = v.dims ?? [];
    const dimBytes = v.packed
      ? bytes(
          2,
          dims.flatMap((d) => varint(d)),
        )
      : dims.flatMap((d) => int(2, d));
    const tensor = [...int(1, v.dtype ?? VT.FP32), ...dimBytes];
    vt = [...vt, ...bytes(3, bytes(1, tensor))];
  }
  return [...str(1, v.name), ...bytes(2, vt), ...(v.persistable !== undefined ? int(3, v.persistable ? 1 : 0) : [])];
}

function opVar(parameter: string, args: string[]): number[] {
  return [...str(1, parameter), ...args.flatMap((a) => str(2, a))];
}

function opDesc(op: PaddleOp): number[] {
  const ins = Object.entries(op.inputs ?? {}).flatMap(([k, a]) => bytes(1, opVar(k, a)));
  const outs = Object.entries(op.outputs ?? {}).flatMap(([k, a]) => bytes(2, opVar(k, a)));
  return [...ins, ...outs, ...str(3, op.type)];
}

/** The serialized ProgramDesc. */
export function programBytes(blocks: PaddleBlock[], version?: number): Uint8Array {
  const out: number[] = [];
  blocks.forEach((b, i) => {
    const body = [
      ...int(1, b.idx ?? i),
      ...int(2, b.parent ?? (i === 0 ? -1 : 0)),
      ...b.vars.flatMap((v) => bytes(3, varDesc(v))),
      ...b.ops.flatMap((o) => bytes(4, opDesc(o))),
    ];
    out.push(...bytes(1, body));
  });
  if (version !== undefined) out.push(...bytes(4, int(1, version)));
  return Uint8Array.from(out);
}

/** A small classifier as `paddle.jit.save` writes it: feed -> conv2d -> relu -> fc (matmul + add) -> softmax -> fetch. */
export function smallProgram(): PaddleBlock[] {
  return [
    {
      vars: [
        { name: 'feed', type: VT.FEED_MINIBATCH, persistable: true },
        { name: 'fetch', type: VT.FETCH_LIST, persistable: true },
        { name: 'image', dtype: VT.FP32, dims: [-1, 3, 224, 224], persistable: false },
        { name: 'conv2d_0.w_0', dtype: VT.FP32, dims: [8, 3, 3, 3], persistable: true },
        { name: 'linear_0.w_0', dtype: VT.FP32, dims: [8, 10], persistable: true },
        { name: 'linear_0.b_0', dtype: VT.FP32, dims: [10], persistable: true },
        { name: 'softmax_0.tmp_0', dtype: VT.FP32, dims: [-1, 10], persistable: false },
      ],
      ops: [
        { type: 'feed', inputs: { X: ['feed'] }, outputs: { Out: ['image'] } },
        { type: 'conv2d', inputs: { Input: ['image'], Filter: ['conv2d_0.w_0'] }, outputs: { Output: ['conv'] } },
        { type: 'relu', inputs: { X: ['conv'] }, outputs: { Out: ['relu'] } },
        { type: 'matmul_v2', inputs: { X: ['relu'], Y: ['linear_0.w_0'] }, outputs: { Out: ['mm'] } },
        { type: 'elementwise_add', inputs: { X: ['mm'], Y: ['linear_0.b_0'] }, outputs: { Out: ['fc'] } },
        { type: 'softmax', inputs: { X: ['fc'] }, outputs: { Out: ['softmax_0.tmp_0'] } },
        { type: 'fetch', inputs: { X: ['softmax_0.tmp_0'] }, outputs: { Out: ['fetch'] } },
      ],
    },
  ];
}

/** A Paddle Lite `.nb` header with a topology of `topo` bytes and `params` bytes after it. */
export function nbBytes(metaVersion: number, optVersion: string, topo: number, params: number): Uint8Array {
  const b = new Uint8Array(26 + topo + params);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, metaVersion, true);
  b.set(te.encode(optVersion).subarray(0, 16), 2);
  dv.setUint32(18, topo, true);
  return b;
}
