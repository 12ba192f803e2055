/**
 * Builds GGUF files for tests, written from the published spec (ggml-org/ggml docs/gguf.md): magic
 * 'GGUF', u32 version, tensor count and key-value count (u32 in v1, u64 in v2/v3), the key-value pairs
 * (string key, u32 value type, value), the tensor infos (name, u32 n_dims, dims, u32 ggml type, u64
 * offset relative to the data section), padding to the alignment, then the data. Nothing here is shared
 * with the reader under test; the ggml block sizes are restated from ggml-common.h.
 */

export type GgufScalarType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'bool' | 'string' | 'uint64' | 'int64' | 'float64';
export type GgufScalar = number | bigint | boolean | string;

const TYPE_CODE: Record<GgufScalarType | 'array', number> = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
};

/** ggml types used by the tests: code, elements per block, bytes per block. */
export const GGML = {
  F32: [0, 1, 4],
  F16: [1, 1, 2],
  Q4_0: [2, 32, 18],
  Q8_0: [8, 32, 34],
  Q4_K: [12, 256, 144],
  Q6_K: [14, 256, 210],
  BF16: [30, 1, 2],
} as const;
export type GgmlTypeName = keyof typeof GGML;

interface Kv {
  key: string;
  type: GgufScalarType | 'array';
  value: GgufScalar | { elementType: GgufScalarType; values: GgufScalar[] };
}

interface Tensor {
  name: string;
  dims: number[];
  type: number;
  bytes: number;
  offset?: number;
}

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;
  constructor(private readonly wide: boolean) {}
  raw(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }
  private num(size: number, f: (v: DataView) => void): this {
    const b = new Uint8Array(size);
    f(new DataView(b.buffer));
    return this.raw(b);
  }
  u8(v: number): this {
    return this.num(1, (d) => d.setUint8(0, v));
  }
  u32(v: number): this {
    return this.num(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: number | bigint): this {
    return this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  /** A count or length: u32 in v1, u64 after. */
  len(v: number | bigint): this {
    return this.wide ? this.u64(v) : this.u32(Number(v));
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.len(b.length).raw(b);
  }
  scalar(type: GgufScalarType, v: GgufScalar): this {
    switch (type) {
      case 'uint8':
        return this.u8(Number(v));
      case 'int8':
        return this.num(1, (d) => d.setInt8(0, Number(v)));
      case 'uint16':
        return this.num(2, (d) => d.setUint16(0, Number(v), true));
      case 'int16':
        return this.num(2, (d) => d.setInt16(0, Number(v), true));
      case 'uint32':
        return this.u32(Number(v));
      case 'int32':
        return this.num(4, (d) => d.setInt32(0, Number(v), true));
      case 'float32':
        return this.num(4, (d) => d.setFloat32(0, Number(v), true));
      case 'bool':
        return this.u8(v ? 1 : 0);
      case 'string':
        return this.str(String(v));
      case 'uint64':
        return this.u64(BigInt(v));
      case 'int64':
        return this.num(8, (d) => d.setBigInt64(0, BigInt(v), true));
      case 'float64':
        return this.num(8, (d) => d.setFloat64(0, Number(v), true));
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** A GGUF file under construction: `kv`, `array`, `tensor`, then `build()` (or `header()` for huge files). */
export class GgufBuilder {
  private readonly kvs: Kv[] = [];
  private readonly tensors: Tensor[] = [];
  /** Overrides of the counts written in the header, for hostile files. */
  kvCountOverride?: bigint;
  tensorCountOverride?: bigint;

  constructor(
    readonly version: 1 | 2 | 3 = 3,
    readonly alignment = 32,
  ) {}

  kv(key: string, type: GgufScalarType, value: GgufScalar): this {
    this.kvs.push({ key, type, value });
    return this;
  }
  string(key: string, value: string): this {
    return this.kv(key, 'string', value);
  }
  u32(key: string, value: number): this {
    return this.kv(key, 'uint32', value);
  }
  array(key: string, elementType: GgufScalarType, values: GgufScalar[]): this {
    this.kvs.push({ key, type: 'array', value: { elementType, values } });
    return this;
  }

  /** A tensor of ggml type `type`; its offset follows the previous tensor, aligned, unless given. */
  tensor(name: string, dims: number[], type: GgmlTypeName | number, offset?: number): this {
    const t = typeof type === 'number' ? ([type, 1, 1] as const) : GGML[type];
    const elements = dims.reduce((a, d) => a * d, 1);
    const bytes = (elements / t[1]) * t[2];
    this.tensors.push(offset === undefined ? { name, dims, type: t[0], bytes } : { name, dims, type: t[0], bytes, offset });
    return this;
  }

  /** The tensor data size the tensors declare (from the start of the data section). */
  dataSize(): number {
    let end = 0;
    for (const [t, off] of this.offsets()) end = Math.max(end, off + t.bytes);
    return end;
  }

  private offsets(): [Tensor, number][] {
    let next = 0;
    return this.tensors.map((t) => {
      const off = t.offset ?? Math.ceil(next / this.alignment) * this.alignment;
      next = off + t.bytes;
      return [t, off];
    });
  }

  /** Everything up to the start of the data section, padding included. */
  header(): Uint8Array {
    const w = new Writer(this.version >= 2);
    w.raw(new TextEncoder().encode('GGUF')).u32(this.version);
    w.len(this.tensorCountOverride ?? BigInt(this.tensors.length));
    w.len(this.kvCountOverride ?? BigInt(this.kvs.length));
    for (const kv of this.kvs) {
      w.str(kv.key).u32(TYPE_CODE[kv.type]);
      if (kv.type === 'array') {
        const a = kv.value as { elementType: GgufScalarType; values: GgufScalar[] };
        w.u32(TYPE_CODE[a.elementType]).len(a.values.length);
        for (const v of a.values) w.scalar(a.elementType, v);
      } else {
        w.scalar(kv.type, kv.value as GgufScalar);
      }
    }
    for (const [t, off] of this.offsets()) {
      w.str(t.name).u32(t.dims.length);
      for (const d of t.dims) w.len(d);
      w.u32(t.type).u64(off);
    }
    const pad = (this.alignment - (w.length % this.alignment)) % this.alignment;
    w.raw(new Uint8Array(pad));
    return w.bytes();
  }

  /** The whole file, with zero-filled tensor data (less `cut` bytes at the end). */
  build(cut = 0): Uint8Array {
    const h = this.header();
    const out = new Uint8Array(h.length + this.dataSize() - cut);
    out.set(h.subarray(0, Math.min(h.length, out.length)));
    return out;
  }
}

/** A small but complete llama-like model: the general keys, a tokenizer, three tensors. */
export function tinyGguf(name = 'tiny-llama', version: 1 | 2 | 3 = 3): GgufBuilder {
  return new GgufBuilder(version)
    .string('general.architecture', 'llama')
    .string('general.name', name)
    .string('general.license', 'apache-2.0')
    .u32('general.file_type', 15)
    .u32('general.quantization_version', 2)
    .u32('llama.context_length', 4096)
    .u32('llama.embedding_length', 256)
    .u32('llama.block_count', 2)
    .string('tokenizer.ggml.model', 'llama')
    .array(
      'tokenizer.ggml.tokens',
      'string',
      Array.from({ length: 40 }, (_, i) => `tok${i}`),
    )
    .tensor('token_embd.weight', [256, 40], 'Q4_K')
    .tensor('output_norm.weight', [256], 'F32')
    .tensor('output.weight', [256, 40], 'Q6_K');
}
