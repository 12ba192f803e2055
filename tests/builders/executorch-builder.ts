import { Builder } from 'flatbuffers';

/**
 * Writes ExecuTorch `.pte` programs with the `flatbuffers` runtime, field ids from pytorch/executorch
 * `schema/program.fbs` (Program: version 0, execution_plan 1, segments 4; ExecutionPlan: name 0, values
 * 2, inputs 3, outputs 4, operators 6, delegates 7; Operator: name 0, overload 1; BackendDelegate: id 0;
 * EValue: val union type 0, value 1; Tensor: scalar_type 0, sizes 2, data_buffer_idx 5, allocation_info
 * 6) and the extended header of `docs/source/pte-file-format.md`.
 */
export interface PteTensor {
  /** c10 ScalarType value (6 float32, 5 float16, 1 int8...). */
  scalarType: number;
  sizes: number[];
  /** A constant (weight): data_buffer_idx > 0 and no allocation_info. */
  constant: boolean;
}

export interface PteMethod {
  name: string;
  operators: [string, string][];
  delegates?: string[];
  tensors?: PteTensor[];
  inputs?: number;
  outputs?: number;
}

export function buildPte(methods: PteMethod[], opts: { version?: number; identifier?: string; extendedHeader?: boolean; segments?: number } = {}): Uint8Array {
  const b = new Builder(1024);
  const plans = methods.map((m) => {
    const name = b.createString(m.name);
    const ops = m.operators.map(([n, o]) => {
      const ns = b.createString(n);
      const os = b.createString(o);
      b.startObject(2);
      b.addFieldOffset(0, ns, 0);
      b.addFieldOffset(1, os, 0);
      return b.endObject();
    });
    const dels = (m.delegates ?? []).map((d) => {
      const id = b.createString(d);
      b.startObject(3);
      b.addFieldOffset(0, id, 0);
      return b.endObject();
    });
    const values = (m.tensors ?? []).map((t, i) => {
      const sizes = vectorI32(b, t.sizes);
      let alloc = 0;
      if (!t.constant) {
        b.startObject(3);
        b.addFieldInt32(0, 0, 0);
        alloc = b.endObject();
      }
      b.startObject(10);
      b.addFieldInt8(0, t.scalarType, 0);
      b.addFieldOffset(2, sizes, 0);
      b.addFieldInt32(5, t.constant ? i + 1 : 0, 0);
      if (alloc !== 0) b.addFieldOffset(6, alloc, 0);
      const tensor = b.endObject();
      b.startObject(2);
      b.addFieldInt8(0, 5, 0); // KernelTypes.Tensor
      b.addFieldOffset(1, tensor, 0);
      return b.endObject();
    });
    const opVec = vectorOffsets(b, ops);
    const delVec = vectorOffsets(b, dels);
    const valVec = vectorOffsets(b, values);
    const inputs = vectorI32(
      b,
      Array.from({ length: m.inputs ?? 1 }, (_, i) => i),
    );
    const outputs = vectorI32(
      b,
      Array.from({ length: m.outputs ?? 1 }, (_, i) => i),
    );
    b.startObject(9);
    b.addFieldOffset(0, name, 0);
    b.addFieldOffset(2, valVec, 0);
    b.addFieldOffset(3, inputs, 0);
    b.addFieldOffset(4, outputs, 0);
    b.addFieldOffset(6, opVec, 0);
    b.addFieldOffset(7, delVec, 0);
    return b.endObject();
  });
  const segs = Array.from({ length: opts.segments ?? 0 }, (_, i) => {
    b.startObject(2);
    b.addFieldInt64(0, BigInt(i * 4096), 0n);
    b.addFieldInt64(1, 4096n, 0n);
    return b.endObject();
  });
  const planVec = vectorOffsets(b, plans);
  const segVec = vectorOffsets(b, segs);
  b.startObject(7);
  b.addFieldInt32(0, opts.version ?? 0, 0);
  b.addFieldOffset(1, planVec, 0);
  b.addFieldOffset(4, segVec, 0);
  b.finish(b.endObject(), opts.identifier ?? 'ET12');
  const fb = b.asUint8Array().slice();
  if (!opts.extendedHeader) return fb;
  // Insert 'eh00' + size 24 + program size + segment base at offset 8, padded to 32 bytes: every offset
  // inside the buffer is relative, so only the root offset at 0 moves.
  const out = new Uint8Array(fb.length + 32);
  out.set(fb.subarray(0, 8), 0);
  out.set(fb.subarray(8), 40);
  const v = new DataView(out.buffer);
  v.setUint32(0, v.getUint32(0, true) + 32, true);
  out.set([0x65, 0x68, 0x30, 0x30], 8); // 'eh00'
  v.setUint32(12, 24, true);
  v.setBigUint64(16, BigInt(out.length), true);
  v.setBigUint64(24, 0n, true);
  return out;
}

function vectorOffsets(b: Builder, items: number[]): number {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]!);
  return b.endVector();
}

function vectorI32(b: Builder, items: number[]): number {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addInt32(items[i]!);
  return b.endVector();
}
