/**
 * Builds safetensors files for tests, from the format's README (huggingface/safetensors, "Format"):
 * u64 little-endian N, N bytes of JSON padded with spaces, then the tensors' bytes packed in order.
 * Offsets are computed here unless a tensor gives its own (for hostile files); data is zeros.
 */

export interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Explicit [begin, end] within the data buffer; otherwise packed after the previous tensor. */
  offsets?: [number, number];
}

/** Bytes per element of the dtypes the tests use. */
export const ST_BYTES: Record<string, number> = { BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, I16: 2, F16: 2, BF16: 2, I32: 4, F32: 4, I64: 8, F64: 8 };

export interface StOptions {
  metadata?: Record<string, unknown>;
  /** Spaces appended to the JSON so that the data starts aligned (the library pads to 8). */
  pad?: number;
  /** Bytes cut from the end of the file. */
  cut?: number;
  /** Raw JSON text instead of the one built from the tensors. */
  json?: string;
}

/** The header JSON and the data size of a set of tensors. */
export function stHeader(tensors: StTensor[], metadata?: Record<string, unknown>): { json: string; dataSize: number } {
  const obj: Record<string, unknown> = {};
  if (metadata !== undefined) obj.__metadata__ = metadata;
  let next = 0;
  let dataSize = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, d) => a * d, 1) * (ST_BYTES[t.dtype] ?? 1);
    const offsets = t.offsets ?? [next, next + bytes];
    next = offsets[1];
    dataSize = Math.max(dataSize, offsets[1]);
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: offsets };
  }
  return { json: JSON.stringify(obj), dataSize };
}

/** A whole safetensors file. */
export function buildSafetensors(tensors: StTensor[], opts: StOptions = {}): Uint8Array {
  const h = stHeader(tensors, opts.metadata);
  let json = opts.json ?? h.json;
  const pad = opts.pad ?? (8 - ((json.length + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + h.dataSize - (opts.cut ?? 0));
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text.subarray(0, Math.max(0, Math.min(text.length, out.length - 8))), 8);
  return out;
}

/** A `model.safetensors.index.json` as transformers and huggingface_hub write it. */
export function buildIndex(weightMap: Record<string, string>, metadata: Record<string, unknown> = {}): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ metadata, weight_map: weightMap }, null, 2));
}
