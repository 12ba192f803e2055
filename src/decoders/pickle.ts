import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';

/*
 * A bounded reader of Python pickle streams (protocols 0 to 5, CPython `Lib/pickletools.py` is the
 * reference for every opcode) that NEVER executes anything: it walks the opcodes and keeps a small
 * symbolic stack and memo, enough to say which globals the stream imports (GLOBAL, INST, STACK_GLOBAL),
 * which of them it calls (REDUCE, NEWOBJ, OBJ, BUILD), and a few constants: dictionary keys of tensors,
 * PyTorch `_rebuild_tensor_v2` storage types and sizes, the first value of a stream (the legacy
 * `torch.save` magic number). Values are symbols (a call is "call of torch._utils._rebuild_tensor_v2 with
 * these argument symbols"), never Python objects.
 *
 * Bounded: opcodes walked, memo entries, stack depth and marks are limits; strings are kept up to a
 * length and skipped past it, and byte strings are never kept. A limit reached stops the walk and is
 * reported in the summary (`stopped`), with everything seen so far; a malformed stream (an unknown
 * opcode, a pop from an empty stack, a GET of an absent memo entry, a stream cut short) is a FormatError
 * naming the opcode and its offset.
 *
 * joblib writes numpy array data raw into the stream right after a `NumpyArrayWrapper` BUILD; the walk
 * skips it when the wrapper states shape and dtype, and stops (noted) when it cannot size it.
 */

/** A symbolic Python value: what the stream builds, without building it. */
export type Sym =
  | { k: 'str'; v: string; truncated: boolean }
  | { k: 'bytes'; length: number }
  | { k: 'int'; v: bigint }
  | { k: 'float'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'none' }
  | { k: 'tuple'; items: Sym[] }
  | { k: 'list'; items: Sym[] }
  | { k: 'dict'; entries: [Sym, Sym][] }
  | { k: 'set'; items: Sym[] }
  | { k: 'global'; module: string; name: string }
  /** The result of calling `fn` (REDUCE, NEWOBJ, OBJ, INST): mutable like the object it stands for. */
  | { k: 'call'; fn: Sym; args: Sym; entries: [Sym, Sym][]; items: Sym[]; state?: Sym }
  | { k: 'pid'; id: Sym }
  | { k: 'buffer' }
  | { k: 'ext'; code: number };

/** One tensor a PyTorch pickle rebuilds (`torch._utils._rebuild_tensor_v2` and kin). */
export interface PickleTensor {
  /** The dictionary key the tensor is stored under, when it is stored directly in a dict with a string key. */
  key?: string;
  /** Storage class from the persistent id (`FloatStorage`), or the dtype name of newer storages. */
  storage?: string;
  /** Element type derived from the storage class (`float32`). */
  dtype?: string;
  shape: number[];
  /** Product of the shape, held at 2^53 - 1. */
  elements: number;
}

/** What a walk found. */
export interface PickleSummary {
  /** Highest PROTO opcode seen (0 when none: protocol 0 or 1). */
  protocol: number;
  opcodes: number;
  /** Offset just after STOP (where a following pickle or raw data begins). */
  end: number;
  /** Every imported global as `module.name`, sorted, unique. */
  globals: string[];
  /** Globals that are called (REDUCE, NEWOBJ, OBJ, INST) or receive BUILD state, sorted, unique. */
  calls: string[];
  /** How many times each global is called (REDUCE, NEWOBJ, OBJ, INST; BUILD not counted), by name. */
  callCounts: [string, number][];
  /** STACK_GLOBAL whose module or name was not a string constant: the target is computed, hence unknown. */
  dynamicGlobals: number;
  /** Tensors rebuilt by `torch._utils._rebuild_*` calls, up to `maxTensors` listed. */
  tensors: PickleTensor[];
  tensorCount: number;
  /** Persistent ids loaded (BINPERSID, PERSID): torch storages. */
  persistentIds: number;
  /** The value at STOP. */
  result?: Sym;
  /** Why the walk stopped before STOP (a limit, or raw data it could not size); absent when it reached STOP. */
  stopped?: string;
}

/** Bounds of one walk. */
export interface PickleLimits {
  maxOpcodes: number;
  maxMemo: number;
  maxStack: number;
  maxMarks: number;
  /** Characters kept of a string; the rest is skipped. */
  maxString: number;
  /** Longest text line of protocol 0 opcodes (GLOBAL, INT, PUT...). */
  maxLine: number;
  /** Tensors listed (counted past it). */
  maxTensors: number;
}

export const PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxOpcodes: 10_000_000,
  maxMemo: 1_000_000,
  maxStack: 100_000,
  maxMarks: 10_000,
  maxString: 4096,
  maxLine: 65_536,
  maxTensors: 100_000,
});

/** Storage classes of `torch.save` persistent ids -> element type names. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
  Float8_e4m3fnStorage: 'float8_e4m3fn',
  Float8_e5m2Storage: 'float8_e5m2',
};

/** Element type of a storage class name (`FloatStorage` -> `float32`); undefined when unknown. */
export function storageDtype(storage: string): string | undefined {
  return STORAGE_DTYPES[storage];
}

/** Sequential reads over a source through a sliding window, every read checked against the end. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private base = 0;
  constructor(
    readonly src: ByteSource,
    public pos: number,
    readonly end: number,
  ) {}
  private fail(what: string, n: number): never {
    throw new FormatError(`Invalid pickle: ${what} at offset ${this.pos} needs ${n} bytes, but the stream ends at ${this.end}.`, 'truncated');
  }
  /** `n` bytes at the cursor (n at most 1 MiB: callers bound it), advancing. */
  take(n: number, what: string): Uint8Array {
    if (n > this.end - this.pos) this.fail(what, n);
    if (this.pos < this.base || this.pos + n > this.base + this.buf.length) {
      this.buf = this.src.read(this.pos, Math.min(Math.max(n, 256 * 1024), this.end - this.pos));
      this.base = this.pos;
    }
    const i = this.pos - this.base;
    this.pos += n;
    return this.buf.subarray(i, i + n);
  }
  u8(what: string): number {
    return this.take(1, what)[0]!;
  }
  skip(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.end - this.pos) this.fail(what, n);
    this.pos += n;
  }
  /** A text line up to '\n' (excluded), at most `max` bytes. */
  line(max: number, what: string): string {
    const start = this.pos;
    let out = '';
    for (;;) {
      const avail = Math.min(4096, this.end - this.pos);
      if (avail <= 0) this.fail(`${what} line`, 1);
      const chunk = this.take(avail, what);
      const nl = chunk.indexOf(0x0a);
      const part = nl < 0 ? chunk : chunk.subarray(0, nl);
      out += latin1.decode(part);
      if (nl >= 0) {
        this.pos -= chunk.length - nl - 1;
        return out;
      }
      if (this.pos - start > max) throw new FormatError(`Invalid pickle: ${what} line at offset ${start} is longer than ${max} bytes.`);
    }
  }
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The text of a symbol when it is a string constant. */
export function symString(s: Sym | undefined): string | undefined {
  return s?.k === 'str' ? s.v : undefined;
}

/** The value of a symbol when it is an int constant in the safe range. */
export function symInt(s: Sym | undefined): number | undefined {
  if (s?.k === 'bool') return s.v ? 1 : 0;
  if (s?.k !== 'int' || s.v > BigInt(Number.MAX_SAFE_INTEGER) || s.v < -BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(s.v);
}

/** `module.name` of a global symbol, or of the function a call symbol calls. */
export function symTarget(s: Sym | undefined): string | undefined {
  if (s?.k === 'global') return `${s.module}.${s.name}`;
  if (s?.k === 'call') return symTarget(s.fn);
  return undefined;
}

const MARK = Symbol('mark');

/** `torch._utils` rebuilders whose first arguments are (storage, storage_offset, size, stride, ...). */
const TENSOR_REBUILDERS = new Set([
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_qtensor',
]);

/** Decodes a protocol 0 `'...'` repr (STRING opcode): quotes removed, common escapes resolved. */
function unrepr(text: string): string {
  const q = text[0];
  const body = (q === "'" || q === '"') && text.endsWith(q) && text.length >= 2 ? text.slice(1, -1) : text;
  return body.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
    if (e.length === 3) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

/** Decodes raw-unicode-escape text (UNICODE opcode): `\uXXXX` and `\UXXXXXXXX`, latin1 otherwise. */
function rawUnicode(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (m, a: string | undefined, b: string | undefined) => {
    const cp = Number.parseInt(a ?? b ?? '', 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

function leSigned(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes.length > 0 && (bytes[bytes.length - 1]! & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

function capMul(a: number, b: number): number {
  const p = a * b;
  return Number.isSafeInteger(p) ? p : Number.MAX_SAFE_INTEGER;
}

/** Bytes per element of a numpy dtype descriptor string (`f8`, `<i4`, `b1`); undefined for object or unknown. */
function numpyItemSize(descr: string): number | undefined {
  const m = /^[<>|=]?([biufcmMSUV])(\d+)$/.exec(descr);
  if (!m) return undefined;
  const n = Number(m[2]);
  return m[1] === 'U' ? n * 4 : n;
}

/** Names of opcodes for messages, by byte. */
function opName(op: number): string {
  return op >= 0x20 && op < 0x7f ? `'${String.fromCharCode(op)}'` : `0x${op.toString(16).padStart(2, '0')}`;
}

/**
 * Walks one pickle starting at `start` (up to `end`, the end of the source by default) and summarises
 * it. Never executes: globals are recorded as names, calls as symbols.
 */
export function readPickle(
  src: ByteSource,
  start = 0,
  limits: Readonly<PickleLimits> = PICKLE_LIMITS,
  end = src.size,
  /** Treat the end of `src` as a cut (a probe's head): stop there with what was seen instead of failing. */
  partial = false,
  /** Nesting of joblib object arrays (a pickle inside the stream); bounded by MAX_NESTING. */
  depth = 0,
): PickleSummary {
  const cur = new Cursor(src, start, end);
  const stack: (Sym | typeof MARK)[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Sym>();
  const globals = new Set<string>();
  const calls = new Set<string>();
  const callCounts = new Map<string, number>();
  const tensors: PickleTensor[] = [];
  /** Tensor symbols -> their entry, so a later SETITEM can name them. */
  const tensorOf = new Map<Sym, PickleTensor>();
  let protocol = 0;
  let opcodes = 0;
  let dynamicGlobals = 0;
  let persistentIds = 0;
  let tensorCount = 0;
  let at = start;
  let op = 0;

  const bad = (why: string): never => {
    throw new FormatError(`Invalid pickle: opcode ${opName(op)} at offset ${at} ${why}.`);
  };
  const push = (s: Sym): void => {
    stack.push(s);
  };
  const pop = (): Sym => {
    const s = stack.pop();
    if (s === undefined) return bad('pops an empty stack');
    if (s === MARK) return bad('pops a mark');
    return s;
  };
  const top = (): Sym => {
    const s = stack[stack.length - 1];
    if (s === undefined || s === MARK) return bad('needs a value on the stack');
    return s;
  };
  /** Items pushed since the last MARK, which is removed. */
  const popMark = (): Sym[] => {
    const m = marks.pop();
    if (m === undefined) return bad('has no mark to pop to');
    const items = stack.splice(m) as (Sym | typeof MARK)[];
    items.shift(); // the MARK itself
    return items as Sym[];
  };
  const str = (bytes: Uint8Array, total: number): Sym => ({ k: 'str', v: utf8.decode(bytes), truncated: bytes.length < total });
  /** A length-prefixed string: keeps `maxString` bytes, skips the rest. */
  const lenStr = (len: number, what: string): Sym => {
    if (len < 0) bad(`has a negative length ${len}`);
    const keep = Math.min(len, limits.maxString);
    const b = cur.take(keep, what);
    cur.skip(len - keep, what);
    return str(b, len);
  };
  const lenBytes = (len: number, what: string): Sym => {
    if (len < 0) bad(`has a negative length ${len}`);
    cur.skip(len, what);
    return { k: 'bytes', length: len };
  };
  const u32 = (what: string): number => {
    const b = cur.take(4, what);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  };
  const i32 = (what: string): number => u32(what) | 0;
  const u64 = (what: string): number => {
    const b = cur.take(8, what);
    const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    const hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
    const v = hi * 2 ** 32 + lo;
    // Past 2^53 no stream can hold it: the check of the cursor refuses it as truncated.
    return Number.isSafeInteger(v) ? v : Number.MAX_SAFE_INTEGER;
  };
  const global = (module: string, name: string): Sym => {
    globals.add(`${module}.${name}`);
    return { k: 'global', module, name };
  };
  const setMemo = (i: number, s: Sym): void => {
    if (!memo.has(i) && memo.size >= limits.maxMemo) throw new StopWalk(`memo limit of ${limits.maxMemo} entries reached at offset ${at}`);
    memo.set(i, s);
  };
  const getMemo = (i: number): Sym => {
    const s = memo.get(i);
    if (s === undefined) return bad(`reads memo entry ${i}, which was never stored`);
    return s;
  };
  const noteCall = (fn: Sym): void => {
    const t = symTarget(fn);
    if (t !== undefined) calls.add(t);
  };
  const count = (fn: Sym): void => {
    noteCall(fn);
    const called = symTarget(fn);
    if (called !== undefined) callCounts.set(called, (callCounts.get(called) ?? 0) + 1);
  };
  const call = (callee: Sym, args: Sym): Sym => {
    count(callee);
    // copy_reg._reconstructor(cls, base, state) is how protocols 0 and 1 build an instance of cls: the
    // result stands for a cls object, and cls counts as called.
    const reconstructs = args.k === 'tuple' && args.items[0]?.k === 'global' && /^copy_?reg\._reconstructor$/.test(symTarget(callee) ?? '');
    const fn = reconstructs ? args.items[0]! : callee;
    if (reconstructs) count(fn);
    const out: Sym = { k: 'call', fn, args, entries: [], items: [] };
    const target = symTarget(fn);
    if (target !== undefined && TENSOR_REBUILDERS.has(target) && args.k === 'tuple') {
      tensorCount++;
      const t = describeTensor(args.items);
      if (tensors.length < limits.maxTensors) tensors.push(t);
      tensorOf.set(out, t);
    } else if (target === 'collections.OrderedDict' && args.k === 'tuple' && args.items[0]?.k === 'list') {
      // Old pickles build an OrderedDict from a list of [key, value] pairs: name the tensors among them.
      for (const pair of args.items[0].items) {
        if ((pair.k === 'list' || pair.k === 'tuple') && pair.items.length === 2) {
          const t = tensorOf.get(pair.items[1]!);
          const key = pair.items[0]!;
          if (t !== undefined && t.key === undefined && key.k === 'str') t.key = key.v;
        }
      }
    } else if (target === 'torch._utils._rebuild_parameter' && args.k === 'tuple') {
      // A Parameter wraps a tensor: the same entry, so that the key lands on it.
      const inner = args.items[0];
      const t = inner === undefined ? undefined : tensorOf.get(inner);
      if (t !== undefined) tensorOf.set(out, t);
    }
    return out;
  };
  const setItem = (obj: Sym, key: Sym, value: Sym): void => {
    if (obj.k === 'dict' || obj.k === 'call') obj.entries.push([key, value]);
    else bad(`sets an item on a ${obj.k}`);
    const t = tensorOf.get(value);
    if (t !== undefined && t.key === undefined && key.k === 'str') t.key = key.v;
  };

  let stopped: string | undefined;
  let result: Sym | undefined;
  try {
    for (;;) {
      if (opcodes >= limits.maxOpcodes) throw new StopWalk(`opcode limit of ${limits.maxOpcodes} reached at offset ${cur.pos}`);
      if (stack.length > limits.maxStack) throw new StopWalk(`stack limit of ${limits.maxStack} values reached at offset ${cur.pos}`);
      at = cur.pos;
      op = cur.u8('opcode');
      opcodes++;
      switch (op) {
        case 0x80: {
          // PROTO
          protocol = Math.max(protocol, cur.u8('PROTO version'));
          if (protocol > 5) bad(`names protocol ${protocol}, above 5`);
          break;
        }
        case 0x95: // FRAME: an 8-byte length, a hint for buffering only
          u64('FRAME length');
          break;
        case 0x2e: // '.' STOP
          result = pop();
          return finish();
        // ---- constants
        case 0x4e: // 'N' NONE
          push({ k: 'none' });
          break;
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
          push({ k: 'bool', v: op === 0x88 });
          break;
        case 0x49: {
          // 'I' INT: decimal line; '00' and '01' are False and True
          const l = cur.line(limits.maxLine, 'INT').trim();
          if (l === '00' || l === '01') push({ k: 'bool', v: l === '01' });
          else push({ k: 'int', v: parseDecimal(l, bad) });
          break;
        }
        case 0x4c: // 'L' LONG: decimal line with an optional trailing 'L'
          push({ k: 'int', v: parseDecimal(cur.line(limits.maxLine, 'LONG').trim().replace(/L$/, ''), bad) });
          break;
        case 0x4a: // 'J' BININT
          push({ k: 'int', v: BigInt(i32('BININT')) });
          break;
        case 0x4b: // 'K' BININT1
          push({ k: 'int', v: BigInt(cur.u8('BININT1')) });
          break;
        case 0x4d: {
          // 'M' BININT2
          const b = cur.take(2, 'BININT2');
          push({ k: 'int', v: BigInt(b[0]! | (b[1]! << 8)) });
          break;
        }
        case 0x8a: // LONG1
          push({ k: 'int', v: leSigned(cur.take(cur.u8('LONG1 length'), 'LONG1')) });
          break;
        case 0x8b: {
          // LONG4: a 4-byte length; longs past 4096 bytes are kept as their length only
          const n = i32('LONG4 length');
          if (n < 0) bad(`has a negative length ${n}`);
          if (n > 4096) {
            cur.skip(n, 'LONG4');
            push({ k: 'float', v: Number.NaN });
          } else push({ k: 'int', v: leSigned(cur.take(n, 'LONG4')) });
          break;
        }
        case 0x46: // 'F' FLOAT
          push({ k: 'float', v: Number(cur.line(limits.maxLine, 'FLOAT')) });
          break;
        case 0x47: {
          // 'G' BINFLOAT: 8-byte big-endian double
          const b = cur.take(8, 'BINFLOAT');
          push({ k: 'float', v: new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false) });
          break;
        }
        // ---- strings and bytes
        case 0x53: {
          // 'S' STRING: a quoted repr line
          const v = unrepr(cur.line(limits.maxLine, 'STRING'));
          push({ k: 'str', v: v.slice(0, limits.maxString), truncated: v.length > limits.maxString });
          break;
        }
        case 0x56: {
          // 'V' UNICODE: raw-unicode-escape line
          const v = rawUnicode(cur.line(limits.maxLine, 'UNICODE'));
          push({ k: 'str', v: v.slice(0, limits.maxString), truncated: v.length > limits.maxString });
          break;
        }
        case 0x54: // 'T' BINSTRING
          push(lenStr(i32('BINSTRING length'), 'BINSTRING'));
          break;
        case 0x55: // 'U' SHORT_BINSTRING
          push(lenStr(cur.u8('SHORT_BINSTRING length'), 'SHORT_BINSTRING'));
          break;
        case 0x58: // 'X' BINUNICODE
          push(lenStr(u32('BINUNICODE length'), 'BINUNICODE'));
          break;
        case 0x8c: // SHORT_BINUNICODE
          push(lenStr(cur.u8('SHORT_BINUNICODE length'), 'SHORT_BINUNICODE'));
          break;
        case 0x8d: // BINUNICODE8
          push(lenStr(u64('BINUNICODE8 length'), 'BINUNICODE8'));
          break;
        case 0x42: // 'B' BINBYTES
          push(lenBytes(u32('BINBYTES length'), 'BINBYTES'));
          break;
        case 0x43: // 'C' SHORT_BINBYTES
          push(lenBytes(cur.u8('SHORT_BINBYTES length'), 'SHORT_BINBYTES'));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          push(lenBytes(u64('BINBYTES8 length'), 'BINBYTES8'));
          break;
        case 0x97: // NEXT_BUFFER: an out-of-band buffer, not in the stream
          push({ k: 'buffer' });
          break;
        case 0x98: // READONLY_BUFFER
          top();
          break;
        // ---- containers
        case 0x28: // '(' MARK
          if (marks.length >= limits.maxMarks) throw new StopWalk(`mark limit of ${limits.maxMarks} reached at offset ${at}`);
          marks.push(stack.length);
          stack.push(MARK);
          break;
        case 0x29: // ')' EMPTY_TUPLE
          push({ k: 'tuple', items: [] });
          break;
        case 0x85: // TUPLE1
        case 0x86: // TUPLE2
        case 0x87: {
          // TUPLE3
          const n = op - 0x84;
          const items: Sym[] = [];
          for (let i = 0; i < n; i++) items.unshift(pop());
          push({ k: 'tuple', items });
          break;
        }
        case 0x74: // 't' TUPLE
          push({ k: 'tuple', items: popMark() });
          break;
        case 0x5d: // ']' EMPTY_LIST
          push({ k: 'list', items: [] });
          break;
        case 0x6c: // 'l' LIST
          push({ k: 'list', items: popMark() });
          break;
        case 0x7d: // '}' EMPTY_DICT
          push({ k: 'dict', entries: [] });
          break;
        case 0x64: {
          // 'd' DICT
          const items = popMark();
          if (items.length % 2 !== 0) bad(`has an odd number (${items.length}) of keys and values`);
          const d: Sym = { k: 'dict', entries: [] };
          for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
          push(d);
          break;
        }
        case 0x8f: // EMPTY_SET
          push({ k: 'set', items: [] });
          break;
        case 0x91: // FROZENSET
          push({ k: 'set', items: popMark() });
          break;
        case 0x61: {
          // 'a' APPEND
          const v = pop();
          appendTo(top(), [v], bad);
          break;
        }
        case 0x65: {
          // 'e' APPENDS
          const items = popMark();
          appendTo(top(), items, bad);
          break;
        }
        case 0x90: {
          // ADDITEMS
          const items = popMark();
          appendTo(top(), items, bad);
          break;
        }
        case 0x73: {
          // 's' SETITEM
          const v = pop();
          const key = pop();
          setItem(top(), key, v);
          break;
        }
        case 0x75: {
          // 'u' SETITEMS
          const items = popMark();
          if (items.length % 2 !== 0) bad(`has an odd number (${items.length}) of keys and values`);
          const d = top();
          for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
          break;
        }
        // ---- stack and memo
        case 0x30: // '0' POP
          if (stack[stack.length - 1] === MARK) popMark();
          else pop();
          break;
        case 0x31: // '1' POP_MARK
          popMark();
          break;
        case 0x32: // '2' DUP
          push(top());
          break;
        case 0x70: // 'p' PUT
          setMemo(Number(parseDecimal(cur.line(limits.maxLine, 'PUT').trim(), bad)), top());
          break;
        case 0x71: // 'q' BINPUT
          setMemo(cur.u8('BINPUT index'), top());
          break;
        case 0x72: // 'r' LONG_BINPUT
          setMemo(u32('LONG_BINPUT index'), top());
          break;
        case 0x94: // MEMOIZE
          setMemo(memo.size, top());
          break;
        case 0x67: // 'g' GET
          push(getMemo(Number(parseDecimal(cur.line(limits.maxLine, 'GET').trim(), bad))));
          break;
        case 0x68: // 'h' BINGET
          push(getMemo(cur.u8('BINGET index')));
          break;
        case 0x6a: // 'j' LONG_BINGET
          push(getMemo(u32('LONG_BINGET index')));
          break;
        // ---- globals and calls
        case 0x63: {
          // 'c' GLOBAL: module and name lines
          const module = cur.line(limits.maxLine, 'GLOBAL module');
          const name = cur.line(limits.maxLine, 'GLOBAL name');
          push(global(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL: module and name strings from the stack
          const name = pop();
          const module = pop();
          if (module.k === 'str' && name.k === 'str') push(global(module.v, name.v));
          else {
            dynamicGlobals++;
            push(global(symString(module) ?? '<computed>', symString(name) ?? '<computed>'));
          }
          break;
        }
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: {
          // EXT4: a global from the copyreg extension registry, named by code only
          const b = cur.take(op === 0x82 ? 1 : op === 0x83 ? 2 : 4, 'EXT code');
          let code = 0;
          for (let i = b.length - 1; i >= 0; i--) code = code * 256 + b[i]!;
          globals.add(`copyreg.extension_${code}`);
          push({ k: 'ext', code });
          break;
        }
        case 0x69: {
          // 'i' INST: module and name lines, arguments since the mark
          const module = cur.line(limits.maxLine, 'INST module');
          const name = cur.line(limits.maxLine, 'INST name');
          const args = popMark();
          push(call(global(module, name), { k: 'tuple', items: args }));
          break;
        }
        case 0x6f: {
          // 'o' OBJ: class and arguments since the mark
          const items = popMark();
          const cls = items.shift();
          if (cls === undefined) bad('has no class');
          push(call(cls!, { k: 'tuple', items }));
          break;
        }
        case 0x52: {
          // 'R' REDUCE
          const args = pop();
          const fn = pop();
          push(call(fn, args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = pop();
          const cls = pop();
          push(call(cls, args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          pop(); // kwargs
          const args = pop();
          const cls = pop();
          push(call(cls, args));
          break;
        }
        case 0x62: {
          // 'b' BUILD: state applied to the object below it
          const state = pop();
          const obj = top();
          noteCall(obj);
          if (obj.k === 'call') obj.state = state;
          const target = symTarget(obj);
          if (target !== undefined && /^(sklearn\.externals\.)?joblib\.numpy_pickle\.NumpyArrayWrapper$/.test(target)) {
            const skipped = skipJoblibArray(state, cur, limits, globals, calls, depth);
            if (skipped !== undefined) throw new StopWalk(skipped);
          }
          break;
        }
        case 0x50: // 'P' PERSID: a persistent id line
          persistentIds++;
          push({ k: 'pid', id: { k: 'str', v: cur.line(limits.maxLine, 'PERSID').slice(0, limits.maxString), truncated: false } });
          break;
        case 0x51: // 'Q' BINPERSID
          persistentIds++;
          push({ k: 'pid', id: pop() });
          break;
        default:
          bad('is not a pickle opcode');
      }
    }
  } catch (err) {
    if (partial && err instanceof FormatError && err.code === 'truncated') stopped = `the bytes end at offset ${end} before STOP`;
    else if (err instanceof StopWalk) stopped = err.message;
    else throw err;
  }
  return finish();

  function finish(): PickleSummary {
    const out: PickleSummary = {
      protocol,
      opcodes,
      end: cur.pos,
      globals: [...globals].sort(),
      calls: [...calls].sort(),
      callCounts: [...callCounts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      dynamicGlobals,
      tensors,
      tensorCount,
      persistentIds,
    };
    if (result !== undefined) out.result = result;
    if (stopped !== undefined) out.stopped = stopped;
    return out;
  }
}

/** Deepest nesting of joblib object arrays (pickles inside the stream) walked. */
const MAX_NESTING = 16;

/** A limit reached or data that cannot be walked: the walk ends with what it has. */
class StopWalk extends Error {}

function parseDecimal(text: string, bad: (why: string) => never): bigint {
  if (!/^[+-]?\d{1,4300}$/.test(text)) bad(`has ${JSON.stringify(text.slice(0, 40))} where a decimal integer belongs`);
  return BigInt(text);
}

function appendTo(target: Sym, items: Sym[], bad: (why: string) => never): void {
  if (target.k === 'list' || target.k === 'set' || target.k === 'call') {
    for (const i of items) target.items.push(i);
  } else bad(`appends to a ${target.k}`);
}

/** The tensor a `_rebuild_tensor_v2(storage, offset, size, stride, ...)` call describes. */
function describeTensor(args: Sym[]): PickleTensor {
  const storage = args[0];
  const size = args[2];
  const shape: number[] = [];
  if (size?.k === 'tuple') for (const d of size.items) shape.push(symInt(d) ?? 0);
  const t: PickleTensor = { shape, elements: shape.reduce(capMul, 1) };
  // The storage is a persistent id ('storage', <storage class>, key, location, numel).
  if (storage?.k === 'pid' && storage.id.k === 'tuple') {
    const cls = storage.id.items[1];
    const name = cls?.k === 'global' ? cls.name : undefined;
    if (name !== undefined) {
      t.storage = name;
      const dtype = storageDtype(name);
      if (dtype !== undefined) t.dtype = dtype;
    }
  }
  return t;
}

/**
 * Skips the raw array data joblib writes after a NumpyArrayWrapper BUILD: an optional alignment byte and
 * padding (when the state has `numpy_array_alignment_bytes`), then shape x itemsize bytes. Object arrays
 * are a nested pickle, walked for its globals. Returns why it could not skip, or undefined.
 */
function skipJoblibArray(state: Sym, cur: Cursor, limits: Readonly<PickleLimits>, globals: Set<string>, calls: Set<string>, depth: number): string | undefined {
  if (state.k !== 'dict') return `joblib array data at offset ${cur.pos} has no state to size it`;
  const get = (key: string): Sym | undefined => state.entries.find(([k]) => k.k === 'str' && k.v === key)?.[1];
  const shape = get('shape');
  const dtype = get('dtype');
  let descr: string | undefined;
  let elsize: number | undefined;
  if (dtype?.k === 'call' && dtype.args.k === 'tuple') {
    descr = symString(dtype.args.items[0]);
    // numpy.dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (dtype.state?.k === 'tuple') {
      const e = symInt(dtype.state.items[5]);
      if (e !== undefined && e > 0) elsize = e;
    }
  }
  if (descr !== undefined && /^[|]?O\d*$/.test(descr)) {
    // Object arrays are pickled as a nested stream right here.
    // Each nesting level is a pickle inside the stream: bounded, so that a crafted file cannot recurse
    // until the JavaScript stack overflows.
    if (depth >= MAX_NESTING) return `joblib object arrays nested deeper than ${MAX_NESTING} levels at offset ${cur.pos}`;
    const nested = readPickle(cur.src, cur.pos, limits, cur.end, false, depth + 1);
    for (const g of nested.globals) globals.add(g);
    for (const c of nested.calls) calls.add(c);
    cur.pos = nested.end;
    return nested.stopped;
  }
  const itemsize = elsize ?? (descr === undefined ? undefined : numpyItemSize(descr));
  if (shape?.k !== 'tuple' || itemsize === undefined) return `joblib array data at offset ${cur.pos} has a shape or dtype this reader cannot size`;
  let n = itemsize;
  for (const d of shape.items) {
    const v = symInt(d);
    if (v === undefined || v < 0) return `joblib array data at offset ${cur.pos} has a shape this reader cannot size`;
    n = capMul(n, v);
  }
  if (get('numpy_array_alignment_bytes') !== undefined && symInt(get('numpy_array_alignment_bytes')) !== undefined) {
    const pad = cur.u8('joblib padding length');
    cur.skip(pad, 'joblib padding');
  }
  cur.skip(n, 'joblib array data');
  return undefined;
}

// ---- security: which globals a loader would import and call ----------------------------------------

/**
 * Globals known to rebuild data only (tensors, containers, numpy arrays and dtypes): the set PyTorch's
 * `weights_only` loader and ModelScan accept. Exact names, or prefixes ending in '*'.
 */
const SAFE_GLOBALS: readonly string[] = [
  'torch._utils._rebuild_*', //: _rebuild_tensor_v2, _rebuild_parameter, _rebuild_qtensor...
  'torch._tensor._rebuild_from_type_v2',
  'torch.Size',
  'torch.device',
  'torch.serialization._get_layout',
  'torch.nn.parameter.Parameter',
  'collections.OrderedDict',
  'collections.defaultdict',
  'collections.Counter',
  'collections.deque',
  'builtins.set',
  'builtins.frozenset',
  'builtins.slice',
  'builtins.range',
  'builtins.complex',
  'builtins.bytearray',
  'builtins.bytes',
  'builtins.list',
  'builtins.dict',
  'builtins.tuple',
  'builtins.int',
  'builtins.float',
  'builtins.bool',
  'builtins.str',
  'builtins.object',
  '__builtin__.set',
  '__builtin__.frozenset',
  '__builtin__.slice',
  '__builtin__.object',
  '_codecs.encode',
  'copy_reg._reconstructor',
  'copyreg._reconstructor',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.dtype',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  'numpy.ndarray',
  'numpy.dtypes.*', // numpy.dtypes.Float64DType...
  'numpy.random._pickle.*',
  'joblib.numpy_pickle.NumpyArrayWrapper',
  'sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper',
  'scipy.sparse.*',
];

/** `torch.float32`, `torch.bfloat16`, `torch.FloatStorage`... (dtype objects and storage classes pickle by name). */
const SAFE_TORCH =
  /^torch\.([A-Za-z0-9_]*Storage|UntypedStorage|(float|double|half|bfloat|int|uint|long|short|bool|complex|cfloat|cdouble|chalf|qint|quint)[0-9a-z_]*|strided|sparse_coo|sparse_csr|preserve_format|contiguous_format|channels_last)$/;

/**
 * Modules and names that run code, touch the system or load more code when a loader calls them
 * (ModelScan's and fickling's unsafe lists): `module` or `module.*`, and a few builtins by name.
 */
const DANGEROUS_MODULES: readonly string[] = [
  'os',
  'posix',
  'nt',
  'subprocess',
  'sys',
  'runpy',
  'webbrowser',
  'socket',
  'shutil',
  'pty',
  'commands',
  'importlib',
  'pickle',
  '_pickle',
  'cPickle',
  'dill',
  'marshal',
  'types',
  'ctypes',
  'code',
  'codeop',
  'timeit',
  'pdb',
  'bdb',
  'requests',
  'urllib',
  'urllib2',
  'urllib3',
  'http',
  'httplib',
  'ftplib',
  'telnetlib',
  'smtplib',
  'asyncio',
  'multiprocessing',
  'signal',
  'operator',
  'pydoc',
  'zipimport',
  'pkgutil',
  'site',
  'distutils',
  'setuptools',
  'torch.hub',
  'numpy.testing',
  'numpy.f2py',
  'numpy.distutils',
];
const DANGEROUS_NAMES = new Set([
  'builtins.eval',
  'builtins.exec',
  'builtins.execfile',
  'builtins.compile',
  'builtins.open',
  'builtins.__import__',
  'builtins.getattr',
  'builtins.setattr',
  'builtins.delattr',
  'builtins.input',
  'builtins.breakpoint',
  'builtins.globals',
  'builtins.locals',
  'builtins.vars',
  'builtins.apply',
  'builtins.help',
  'builtins.memoryview',
  'torch.load',
  'torch.save',
  'torch.serialization.load',
  'numpy.load',
  'numpy.fromfile',
  'numpy.save',
  'joblib.load',
  'torch.storage._load_from_file',
  'torch.jit.load',
  'torch.jit._load_for_lite_interpreter',
]);

/** How a loader's import of one global is judged. */
export type GlobalRisk = 'safe' | 'dangerous' | 'unknown';

/**
 * Judges one `module.name`: `dangerous` when it runs code or touches the system (os.system,
 * subprocess.*, builtins.eval...), `safe` when it only rebuilds data (tensors, containers, dtypes),
 * `unknown` for anything else (a model's own classes, library estimators): importing and calling them is
 * what `weights_only` loading refuses. `extraSafe` adds exact names or prefixes ending in '*' (a
 * format's own library: `sklearn.*`).
 */
export function globalRisk(global: string, extraSafe: readonly string[] = []): GlobalRisk {
  const normal = global.replace(/^__builtin__\./, 'builtins.');
  if (DANGEROUS_NAMES.has(normal)) return 'dangerous';
  if (DANGEROUS_MODULES.some((m) => normal.startsWith(`${m}.`))) return 'dangerous';
  if (normal.startsWith('<computed>') || normal.includes('.<computed>') || normal.startsWith('copyreg.extension_')) return 'dangerous';
  const listed = (s: string): boolean => (s.endsWith('*') ? normal.startsWith(s.slice(0, -1)) : normal === s);
  if (SAFE_GLOBALS.some(listed) || extraSafe.some(listed) || SAFE_TORCH.test(normal)) return 'safe';
  return 'unknown';
}

/** A security finding on a pickle, as a format reports it in `ModelInfo.warnings`. */
export interface PickleSecurityWarning {
  severity: 'error' | 'warning';
  code: 'security';
  message: string;
}

/**
 * The security warnings of a set of globals: one `unsafe-deserialization` error naming every dangerous
 * global, one warning naming those outside the allowlist, nothing for a clean pickle. `where` names the
 * pickle (`data.pkl`) in the message.
 */
export function pickleSecurity(globals: readonly string[], where: string, extraSafe: readonly string[] = []): PickleSecurityWarning[] {
  const dangerous = globals.filter((g) => globalRisk(g, extraSafe) === 'dangerous');
  const unknown = globals.filter((g) => globalRisk(g, extraSafe) === 'unknown');
  const out: PickleSecurityWarning[] = [];
  const list = (gs: string[]): string => (gs.length > 20 ? `${gs.slice(0, 20).join(', ')} and ${gs.length - 20} more` : gs.join(', '));
  if (dangerous.length > 0) {
    out.push({
      severity: 'error',
      code: 'security',
      message: `unsafe-deserialization: ${where} imports ${list(dangerous)}, which can run code or touch the system when the pickle is loaded.`,
    });
  }
  if (unknown.length > 0) {
    out.push({
      severity: 'warning',
      code: 'security',
      message: `unsafe-deserialization: ${where} imports ${list(unknown)}, outside the allowlist of known-safe constructors; loading it imports and calls them.`,
    });
  }
  return out;
}
