/**
 * Builds RKNN files for tests, from the layout Netron's reader and the RKNN toolkits' outputs show:
 * 'RKNN' + 4 zero bytes, u64 file version, u64 data size, 40 header bytes for versions 2-6, the compiled
 * data, u64 JSON size, the JSON description. Also bare OpenVX NBG headers ('VPMN').
 */

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An OpenVX NBG header (80 bytes) followed by `extra` zero bytes. */
export function nbgBytes(name: string, nodes: number, major = 1, minor = 3, extra = 64): Uint8Array {
  const b = new Uint8Array(80 + extra);
  b.set(new TextEncoder().encode('VPMN'), 0);
  const dv = new DataView(b.buffer);
  dv.setUint16(4, major, true);
  dv.setUint16(6, minor, true);
  b.set(new TextEncoder().encode(name).subarray(0, 63), 12);
  dv.setUint32(76, nodes, true);
  return b;
}

/** An RKNN container with `data` and `json` (an object, or raw text for broken descriptions). */
export function rknnBytes(opts: { version?: number; data?: Uint8Array; json?: Record<string, unknown> | string }): Uint8Array {
  const version = opts.version ?? 6;
  const data = opts.data ?? new Uint8Array(0);
  const json = opts.json === undefined ? new Uint8Array(0) : new TextEncoder().encode(typeof opts.json === 'string' ? opts.json : JSON.stringify(opts.json));
  const long = version !== 1 && version !== 0x1001 && data.length > 0;
  return concat([
    new TextEncoder().encode('RKNN'),
    new Uint8Array(4),
    u64(version),
    u64(data.length),
    long ? new Uint8Array(40) : new Uint8Array(0),
    data,
    u64(json.length),
    json,
  ]);
}

/** The JSON description of a small RKNN-Toolkit2 model: one input, two outputs, a few nodes. */
export function toolkit2Json(): Record<string, unknown> {
  return {
    version: '1.6.0+81f21f4d',
    name: 'rknn model',
    target_platform: ['rk3588'],
    network_platform: 'onnx',
    ori_network_platform: 'onnx',
    nodes: [{ op: 'VSI_NN_OP_CONV2D' }, { op: 'VSI_NN_OP_CONV2D' }, { op: 'RKNN_OP_NNBG' }, { op: 'VSI_NN_OP_SIGMOID' }],
    norm_tensor: [
      { tensor_id: 0, size: [640, 640, 3, 1], dtype: { vx_type: 'VSI_NN_TYPE_UINT8' } },
      { tensor_id: 1, size: [80, 80, 255, 1], dtype: { vx_type: 'VSI_NN_TYPE_INT8' } },
      { tensor_id: 2, size: [40, 40, 255, 1], dtype: { vx_type: 'int8' } },
    ],
    const_tensor: [
      { tensor_id: 0, size: [3, 3, 3, 16], dtype: { vx_type: 'VSI_NN_TYPE_INT8' } },
      { tensor_id: 1, size: [16], dtype: { vx_type: 'VSI_NN_TYPE_INT32' } },
    ],
    graph: [
      { left: 'input', left_tensor_id: 0, right: 'norm_tensor', right_tensor_id: 0 },
      { left: 'output', left_tensor_id: 0, right: 'norm_tensor', right_tensor_id: 1 },
      { left: 'output', left_tensor_id: 1, right: 'norm_tensor', right_tensor_id: 2 },
    ],
  };
}
