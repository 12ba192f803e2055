import { buildZip } from './tflite-builder.js';

/**
 * Writes pickle opcodes by hand, from the opcode table of CPython's `Lib/pickletools.py`: nothing is
 * pickled from a live object, so a "malicious" fixture is only bytes naming `os.system`, never a call.
 */
export class PickleBuilder {
  private readonly out: number[] = [];

  /** Raw bytes (an opcode with its argument written by the caller). */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.out.push(b & 0xff);
    return this;
  }
  private u32(n: number): this {
    return this.raw(n, n >>> 8, n >>> 16, n >>> 24);
  }
  private text(s: string): number[] {
    return [...Buffer.from(s, 'utf8')];
  }
  proto(n: number): this {
    return this.raw(0x80, n);
  }
  /** FRAME with an 8-byte length (a hint; the reader ignores it). */
  frame(n: number): this {
    this.raw(0x95);
    for (let i = 0; i < 8; i++) this.raw(i < 4 ? n >>> (8 * i) : 0);
    return this;
  }
  stop(): this {
    return this.raw(0x2e);
  }
  mark(): this {
    return this.raw(0x28);
  }
  none(): this {
    return this.raw(0x4e);
  }
  bool(v: boolean): this {
    return this.raw(v ? 0x88 : 0x89);
  }
  /** The shortest integer opcode, as CPython's pickler chooses. */
  int(v: number | bigint): this {
    const n = BigInt(v);
    if (n >= 0n && n < 256n) return this.raw(0x4b, Number(n));
    if (n >= 0n && n < 65536n) return this.raw(0x4d, Number(n) & 0xff, Number(n) >> 8);
    if (n >= -(2n ** 31n) && n < 2n ** 31n) return this.raw(0x4a).u32(Number(BigInt.asUintN(32, n)));
    // LONG1: little-endian two's complement, as short as it can be
    const bytes: number[] = [];
    let x = n;
    for (;;) {
      bytes.push(Number(BigInt.asUintN(8, x)));
      x >>= 8n;
      const last = bytes[bytes.length - 1]!;
      if ((x === 0n && (last & 0x80) === 0) || (x === -1n && (last & 0x80) !== 0)) break;
    }
    return this.raw(0x8a, bytes.length, ...bytes);
  }
  /** SHORT_BINUNICODE or BINUNICODE. */
  str(s: string): this {
    const b = this.text(s);
    return b.length < 256
      ? this.raw(0x8c, b.length, ...b)
      : this.raw(0x58)
          .u32(b.length)
          .raw(...b);
  }
  /** BINUNICODE (protocol 1-3 writers use it for every string). */
  binunicode(s: string): this {
    const b = this.text(s);
    return this.raw(0x58)
      .u32(b.length)
      .raw(...b);
  }
  bytes(n: number): this {
    return (n < 256 ? this.raw(0x43, n) : this.raw(0x42).u32(n)).raw(...new Array<number>(n).fill(0xab));
  }
  /** GLOBAL 'c' with its two text lines. */
  global(module: string, name: string): this {
    return this.raw(0x63, ...this.text(`${module}\n${name}\n`));
  }
  /** STACK_GLOBAL over two strings. */
  stackGlobal(module: string, name: string): this {
    return this.str(module).str(name).raw(0x93);
  }
  emptyTuple(): this {
    return this.raw(0x29);
  }
  tuple(): this {
    return this.raw(0x74);
  }
  tupleN(n: 1 | 2 | 3): this {
    return this.raw(0x84 + n);
  }
  emptyList(): this {
    return this.raw(0x5d);
  }
  emptyDict(): this {
    return this.raw(0x7d);
  }
  appends(): this {
    return this.raw(0x65);
  }
  setitem(): this {
    return this.raw(0x73);
  }
  setitems(): this {
    return this.raw(0x75);
  }
  reduce(): this {
    return this.raw(0x52);
  }
  build(): this {
    return this.raw(0x62);
  }
  newobj(): this {
    return this.raw(0x81);
  }
  binpersid(): this {
    return this.raw(0x51);
  }
  binput(i: number): this {
    return i < 256 ? this.raw(0x71, i) : this.raw(0x72).u32(i);
  }
  binget(i: number): this {
    return i < 256 ? this.raw(0x68, i) : this.raw(0x6a).u32(i);
  }
  memoize(): this {
    return this.raw(0x94);
  }
  pop(): this {
    return this.raw(0x30);
  }
  get length(): number {
    return this.out.length;
  }
  bytesOut(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** One tensor of a state_dict for `stateDictPickle`. */
export interface TensorSpec {
  key: string;
  storage: string;
  shape: number[];
  /** Storage key (`data/<key>`); the index by default. */
  storageKey?: string;
}

/**
 * The data.pkl `torch.save(model.state_dict())` writes (protocol 2): an OrderedDict built by REDUCE,
 * SETITEMS of key -> `_rebuild_tensor_v2(('storage', torch.<Storage>, key, 'cpu', numel), 0, size,
 * stride, False, OrderedDict())`, then BUILD of the `_metadata` attribute.
 */
export function stateDictPickle(tensors: readonly TensorSpec[], opts: { parameter?: boolean; protocol?: number } = {}): PickleBuilder {
  const p = new PickleBuilder().proto(opts.protocol ?? 2);
  p.global('collections', 'OrderedDict').binput(0).emptyTuple().reduce().binput(1).mark();
  tensors.forEach((t, i) => {
    p.str(t.key);
    if (opts.parameter) p.global('torch._utils', '_rebuild_parameter');
    p.global('torch._utils', '_rebuild_tensor_v2').mark();
    const numel = t.shape.reduce((a, d) => a * d, 1);
    p.mark()
      .str('storage')
      .global('torch', t.storage)
      .str(t.storageKey ?? String(i))
      .str('cpu')
      .int(numel)
      .tuple()
      .binpersid();
    p.int(0);
    p.mark();
    for (const d of t.shape) p.int(d);
    p.tuple();
    p.mark();
    let stride = 1;
    const strides: number[] = [];
    for (let k = t.shape.length - 1; k >= 0; k--) {
      strides.unshift(stride);
      stride *= t.shape[k]!;
    }
    for (const s of strides) p.int(s);
    p.tuple();
    p.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    // _rebuild_parameter(tensor, requires_grad, backward_hooks): TUPLE3 then REDUCE
    if (opts.parameter) p.bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().tupleN(3).reduce();
  });
  p.setitems();
  // state_dict()._metadata, applied with BUILD as OrderedDict's __reduce__ state
  p.emptyDict().str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce();
  p.str('').emptyDict().str('version').int(1).setitem().setitem().setitem().build();
  return p.stop();
}

/**
 * Inserts a zip64 End Of Central Directory record and its locator before the End Of Central Directory
 * record of a zip written by `buildZip`, as miniz does with MZ_ZIP_FLAG_WRITE_ZIP64 (PyTorch's writer
 * always sets it): the plain EOCD keeps its real values, the zip64 record repeats them.
 */
export function withZip64EndRecords(zip: Uint8Array): Uint8Array {
  const eocd = zip.length - 22;
  const e = new DataView(zip.buffer, zip.byteOffset + eocd, 22);
  const entries = e.getUint16(10, true);
  const cdSize = e.getUint32(12, true);
  const cdOffset = e.getUint32(16, true);
  const rec = new DataView(new ArrayBuffer(56 + 20));
  rec.setUint32(0, 0x06064b50, true); // 'PK\x06\x06'
  rec.setBigUint64(4, 44n, true); // size of the rest of the record
  rec.setUint16(12, 45, true);
  rec.setUint16(14, 45, true);
  rec.setBigUint64(24, BigInt(entries), true);
  rec.setBigUint64(32, BigInt(entries), true);
  rec.setBigUint64(40, BigInt(cdSize), true);
  rec.setBigUint64(48, BigInt(cdOffset), true);
  rec.setUint32(56, 0x07064b50, true); // 'PK\x06\x07'
  rec.setBigUint64(64, BigInt(eocd), true); // where the zip64 record starts
  rec.setUint32(72, 1, true);
  const out = new Uint8Array(zip.length + 76);
  out.set(zip.subarray(0, eocd), 0);
  out.set(new Uint8Array(rec.buffer), eocd);
  out.set(zip.subarray(eocd), eocd + 76);
  return out;
}

/** Members of a `torch.save` zip around `dataPkl`: stored, with zip64 end records, as PyTorch writes them. */
export function torchZip(
  dataPkl: Uint8Array,
  opts: { prefix?: string; storages?: number; dotDataVersion?: boolean; extra?: [string, Uint8Array][]; plainEnd?: boolean } = {},
): Uint8Array {
  const p = opts.prefix ?? 'archive';
  const enc = new TextEncoder();
  const files: [string, Uint8Array][] = [
    [`${p}/data.pkl`, dataPkl],
    [`${p}/.format_version`, enc.encode('1')],
    [`${p}/.storage_alignment`, enc.encode('64')],
    [`${p}/byteorder`, enc.encode('little')],
  ];
  for (let i = 0; i < (opts.storages ?? 1); i++) files.push([`${p}/data/${i}`, new Uint8Array(64)]);
  files.push(...(opts.extra ?? []));
  files.push([opts.dotDataVersion ? `${p}/.data/version` : `${p}/version`, enc.encode('3\n')]);
  const zip = buildZip(files, 0);
  return opts.plainEnd ? zip : withZip64EndRecords(zip);
}

/** A legacy `torch.save` file: magic, protocol version 1001, sys_info, the object, the storage keys, storages. */
export function legacyTorch(object: PickleBuilder, storageKeys: string[]): Uint8Array {
  const magic = new PickleBuilder().proto(2).int(0x1950a86a20f9469cfc6cn).stop();
  const version = new PickleBuilder().proto(2).int(1001).stop();
  const sysInfo = new PickleBuilder()
    .proto(2)
    .emptyDict()
    .mark()
    .str('protocol_version')
    .int(1001)
    .str('little_endian')
    .bool(true)
    .str('type_sizes')
    .emptyDict()
    .mark()
    .str('short')
    .int(2)
    .str('int')
    .int(4)
    .str('long')
    .int(4)
    .setitems()
    .setitems()
    .stop();
  const keys = new PickleBuilder().proto(2).emptyList().mark();
  for (const k of storageKeys) keys.str(k);
  keys.appends().stop();
  const parts = [magic, version, sysInfo, object, keys].map((b) => b.bytesOut());
  return Uint8Array.from([...parts.flatMap((b) => [...b]), ...new Array<number>(64 * storageKeys.length).fill(0)]);
}

/** `os.system('echo pwned')` as a pickle: GLOBAL os system, a string, TUPLE1, REDUCE. Bytes only. */
export function maliciousPickle(module = 'os', name = 'system', protocol = 2): PickleBuilder {
  return new PickleBuilder().proto(protocol).global(module, name).str('echo pwned').tupleN(1).reduce().stop();
}
