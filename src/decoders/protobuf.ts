import { MAX_READ, type ByteSource } from '../io/byte-source.js';
import { FormatError } from '../errors.js';
import type { Probe } from '../probe.js';

/**
 * A bounded protobuf wire-format walker over a ByteSource, for formats whose schema we walk by hand
 * (ONNX, TensorFlow graphs). It knows nothing of any schema: callers name messages and fields for the
 * error messages and decide which fields to descend into.
 *
 * Why not protobufjs's Reader: it needs the whole message in memory, and model files keep gigabytes of
 * weights in length-delimited fields. Here a length-delimited field is only a range, `{offset, length}`:
 * a caller descends into it, reads a bounded string from it, or leaves it alone, and then the cursor
 * jumps over it without reading a byte of it. Bytes come through one read-ahead window that starts small
 * after every jump and doubles while reading goes on sequentially, so the bytes around a skipped
 * gigabyte cost a few KiB, and a dense graph is read in large pieces.
 *
 * Checks, each failing with a FormatError that names the message, the field and the value:
 * - wire types 0 (varint), 1 (64-bit), 2 (length-delimited) and 5 (32-bit) only; groups (3, 4), 6, 7
 *   and field number 0 are errors;
 * - a varint is at most 10 bytes and a tag at most 5 bytes;
 * - every field ends inside its enclosing message (`truncated` when that message ends where the
 *   source does, as a cut file does);
 * - message nesting is at most `maxDepth` deep;
 * - packed repeated varints are decoded up to a caller's count bound;
 * - strings are read up to a byte bound and decoded as UTF-8 (invalid sequences become U+FFFD).
 *
 * Not handled: groups (deprecated, never used by the formats we read), zigzag (sint32/sint64) helpers,
 * and semantic checks of any schema.
 */

/** Wire type of a varint field (int32, int64, uint64, bool, enum). */
export const WIRE_VARINT = 0;
/** Wire type of a fixed 8-byte field (fixed64, sfixed64, double). */
export const WIRE_I64 = 1;
/** Wire type of a length-delimited field (string, bytes, message, packed repeated). */
export const WIRE_LEN = 2;
/** Wire type of a fixed 4-byte field (fixed32, sfixed32, float). */
export const WIRE_I32 = 5;

/** The wire types this walker accepts. */
export type WireType = 0 | 1 | 2 | 5;

const WIRE_NAMES: Readonly<Record<number, string>> = {
  0: 'varint',
  1: '64-bit',
  2: 'length-delimited',
  3: 'start-group',
  4: 'end-group',
  5: '32-bit',
};

/** Default nesting bound: protobuf C++'s own default recursion limit, so what it parses we parse. */
export const DEFAULT_MAX_DEPTH = 100;
/** Largest protobuf field number (2^29 - 1). */
const MAX_FIELD = 0x1fffffff;
const TWO_32 = 0x1_0000_0000;

/** Field names of one message, by number, used only in error messages. */
export type FieldNames = Readonly<Record<number, string>>;

/** Options of a ProtoReader. */
export interface ProtoReaderOptions {
  /** Names the format in error messages: `Invalid ${format}: ...`. */
  format: string;
  /** Deepest message nesting allowed; the root message is depth 1. Default DEFAULT_MAX_DEPTH. */
  maxDepth?: number;
  /** Read-ahead after a jump; doubles on sequential reads up to `maxWindow`. Default 64 KiB. */
  minWindow?: number;
  /** Largest read-ahead. Default 1 MiB. */
  maxWindow?: number;
  /**
   * Bytes of the source from offset 0 that were already read (a probe's head); they are used instead
   * of reading them again and must stay unchanged while the reader is in use.
   */
  head?: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const EMPTY = new Uint8Array(0);

/** A decoded string and whether it was cut at the caller's bound. */
export interface BoundedText {
  text: string;
  truncated: boolean;
}

/**
 * Holds the source and the read-ahead window shared by every message cursor of one walk. Create one per
 * source; open the outermost message with `root`.
 */
export class ProtoReader {
  readonly src: ByteSource;
  readonly format: string;
  readonly maxDepth: number;
  /** Bytes asked of the source so far (the head given in the options is not counted). */
  bytesRead = 0;
  /** Calls made to `src.read` so far. */
  reads = 0;

  /** Window bytes; `buf[0]` is the byte at source offset `bufStart`. */
  buf: Uint8Array = EMPTY;
  bufStart = 0;
  bufEnd = 0;
  private window: number;
  private readonly minWindow: number;
  private readonly maxWindow: number;

  constructor(src: ByteSource, options: ProtoReaderOptions) {
    this.src = src;
    this.format = options.format;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.minWindow = Math.max(16, options.minWindow ?? 64 * 1024);
    this.maxWindow = Math.min(MAX_READ, Math.max(this.minWindow, options.maxWindow ?? 1024 * 1024));
    this.window = this.minWindow;
    const head = options.head;
    if (head !== undefined && head.length > 0 && head.length <= src.size) {
      this.buf = head;
      this.bufEnd = head.length;
    }
  }

  /** Opens the outermost message: `length` bytes at `offset` (the whole source by default). */
  root(name: string, names: FieldNames = {}, offset = 0, length = this.src.size - offset): ProtoMessage {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.src.size) {
      throw new FormatError(
        `Invalid ${this.format}: a ${name} of ${length} bytes at offset ${offset} does not fit in a ${this.src.size}-byte source.`,
        'truncated',
      );
    }
    return new ProtoMessage(this, name, names, offset, offset + length, 1);
  }

  /**
   * Makes source bytes [pos, pos + n) available in `buf` and returns the index of `pos` in it. The caller
   * has checked that the range lies inside the source and that `n` is at most MAX_READ.
   */
  view(pos: number, n: number): number {
    if (pos >= this.bufStart && pos + n <= this.bufEnd) return pos - this.bufStart;
    // Sequential reading (the new position inside or right after the window) grows the read-ahead;
    // a jump (over a skipped field) starts small again, so skipped data is never pulled in.
    if (pos >= this.bufStart && pos <= this.bufEnd) this.window = Math.min(this.window * 2, this.maxWindow);
    else this.window = this.minWindow;
    const want = Math.min(Math.max(n, this.window), this.src.size - pos);
    const got = this.src.read(pos, want);
    this.reads++;
    this.bytesRead += got.length;
    if (got.length < n) {
      throw new FormatError(`Invalid ${this.format}: the source ended at ${pos + got.length} while reading ${n} bytes at offset ${pos}.`, 'truncated');
    }
    this.buf = got;
    this.bufStart = pos;
    this.bufEnd = pos + got.length;
    return 0;
  }
}

/**
 * A cursor over the fields of one message. `next()` moves to the following field and exposes its
 * number, wire type and position; a length-delimited field's payload is skipped by the next `next()`
 * unless the caller reads it first (`message`, `string`, `bytes`, `packedVarints`).
 *
 * Typical use:
 * ```ts
 * const m = reader.root('ModelProto', MODEL_FIELDS);
 * while (m.next()) {
 *   if (m.field === 7 && m.expect(WIRE_LEN)) walkGraph(m.message('GraphProto', GRAPH_FIELDS));
 * }
 * ```
 */
export class ProtoMessage {
  /** Number of the current field (0 before the first `next()`). */
  field = 0;
  /** Wire type of the current field. */
  wire: WireType = 0;
  /** Offset of the current field's tag. */
  tagOffset = 0;
  /** Offset of the current field's value: the payload of a length-delimited field, else the value itself. */
  offset = 0;
  /** Byte length of the current field's value (the payload length for a length-delimited field). */
  length = 0;
  private pos: number;
  private lo = 0;
  private hi = 0;

  constructor(
    readonly reader: ProtoReader,
    /** Message name used in errors, e.g. `GraphProto`. */
    readonly name: string,
    private readonly names: FieldNames,
    /** Offset of the first byte of the message. */
    readonly start: number,
    /** Offset just past the message. */
    readonly end: number,
    /** Nesting depth; the root is 1. */
    readonly depth: number,
  ) {
    this.pos = start;
  }

  /** Advances to the next field; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    this.tagOffset = this.pos;
    let p = this.varint(this.pos, 5, 'tag');
    if (this.hi !== 0) throw this.error(`Invalid ${this.reader.format}: ${this.name} has an invalid tag at offset ${this.tagOffset}.`);
    const tag = this.lo;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0 || field > MAX_FIELD) {
      throw this.error(`Invalid ${this.reader.format}: ${this.name} has field number ${field} at offset ${this.tagOffset}.`);
    }
    this.field = field;
    switch (wire) {
      case WIRE_VARINT:
        this.offset = p;
        p = this.varint(p, 10, 'varint');
        this.length = p - this.offset;
        break;
      case WIRE_I64:
        this.fixed(p, 8);
        this.offset = p;
        this.length = 8;
        p += 8;
        break;
      case WIRE_I32:
        this.fixed(p, 4);
        this.offset = p;
        this.length = 4;
        p += 4;
        break;
      case WIRE_LEN: {
        const q = this.varint(p, 10, 'length');
        const len = this.hi === 0 ? this.lo : this.hi * TWO_32 + this.lo;
        if (!Number.isSafeInteger(len) || len > this.end - q) {
          const cut = this.end === this.reader.src.size;
          throw this.error(
            `Invalid ${this.reader.format}: ${this.fieldLabel()} length ${len} runs past the end of the ${this.end - this.start}-byte message at offset ${this.start}.`,
            cut,
          );
        }
        this.offset = q;
        this.length = len;
        p = q + len;
        break;
      }
      default:
        throw this.error(
          `Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} has wire type ${wire} (${WIRE_NAMES[wire] ?? 'invalid'}), which is not supported.`,
        );
    }
    this.wire = wire;
    this.pos = p;
    return true;
  }

  /** `ModelProto field 7 (graph)`: how errors name the current field. */
  fieldLabel(field = this.field): string {
    const n = this.names[field];
    return n === undefined ? `${this.name} field ${field}` : `${this.name} field ${field} (${n})`;
  }

  /** Returns true when the current field has wire type `wire`, else throws a FormatError naming both. */
  expect(wire: WireType): true {
    if (this.wire !== wire) {
      throw this.error(
        `Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} has wire type ${this.wire} (${WIRE_NAMES[this.wire]}), expected ${wire} (${WIRE_NAMES[wire]}).`,
      );
    }
    return true;
  }

  /** Throws when the current field is not a varint, else returns its 64 bits as an unsigned bigint. */
  uint64(): bigint {
    this.expect(WIRE_VARINT);
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** The current varint as a two's-complement int64 (protobuf `int64`, `int32`, `enum`). */
  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  /**
   * The current varint as a signed int64 number within [min, max]; anything outside (including values
   * beyond 2^53) is a FormatError naming the field.
   */
  int(min: number, max: number): number {
    this.expect(WIRE_VARINT);
    const v = this.signedNumber();
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw this.error(
        `Invalid ${this.reader.format}: ${this.fieldLabel()} value ${String(this.int64())} at offset ${this.offset} is outside [${min}, ${max}].`,
      );
    }
    return v;
  }

  /** The current varint as a signed int64 number, or NaN when it is not a safe integer. */
  signedNumber(): number {
    this.expect(WIRE_VARINT);
    if ((this.hi & 0x80000000) !== 0) {
      // Negative: two's complement of a 64-bit value.
      const lo = ~this.lo >>> 0;
      const hi = ~this.hi >>> 0;
      const mag = hi * TWO_32 + lo + 1;
      return hi < 0x200000 ? -mag : Number.NaN;
    }
    return this.hi < 0x200000 ? this.hi * TWO_32 + this.lo : Number.NaN;
  }

  /** The current 32-bit field as an unsigned integer. */
  fixed32(): number {
    this.expect(WIRE_I32);
    const r = this.reader;
    const i = r.view(this.offset, 4);
    const b = r.buf;
    return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  }

  /** The current 64-bit field as an unsigned bigint. */
  fixed64(): bigint {
    this.expect(WIRE_I64);
    const r = this.reader;
    const i = r.view(this.offset, 8);
    const b = r.buf;
    const lo = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
    const hi = (b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24)) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Opens the current length-delimited field as a nested message (depth bounded by the reader). */
  message(name: string, names: FieldNames = {}): ProtoMessage {
    this.expect(WIRE_LEN);
    if (this.depth >= this.reader.maxDepth) {
      throw this.error(
        `Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} nests messages deeper than ${this.reader.maxDepth} levels.`,
      );
    }
    return new ProtoMessage(this.reader, name, names, this.offset, this.offset + this.length, this.depth + 1);
  }

  /**
   * The current length-delimited field decoded as UTF-8, cut to `maxChars` characters (at most
   * 4 * maxChars bytes are read); `truncated` tells whether anything was cut.
   */
  text(maxChars = 4096): BoundedText {
    this.expect(WIRE_LEN);
    const len = this.length;
    if (len === 0) return { text: '', truncated: false };
    const take = Math.min(len, maxChars * 4);
    const r = this.reader;
    const i = r.view(this.offset, take);
    const b = r.buf;
    let text: string | undefined;
    if (take <= 64) {
      // Short ASCII names (op types, tensor names) are most of what is read: skip the decoder for them.
      let ascii = true;
      for (let k = 0; k < take; k++) {
        if (b[i + k]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) text = String.fromCharCode.apply(null, Array.from(b.subarray(i, i + take)));
    }
    text ??= utf8.decode(b.subarray(i, i + take));
    let truncated = take < len;
    if (text.length > maxChars) {
      let cut = maxChars;
      // Do not leave half of a surrogate pair at the end.
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--;
      text = text.slice(0, cut);
      truncated = true;
    }
    return { text, truncated };
  }

  /** The current length-delimited field as a string, silently cut to `maxChars` characters. */
  string(maxChars = 4096): string {
    return this.text(maxChars).text;
  }

  /**
   * A copy of the current length-delimited field's bytes; throws a FormatError when it is longer than
   * `maxBytes`, so a caller never loads a payload it did not expect to be small.
   */
  bytes(maxBytes: number): Uint8Array {
    this.expect(WIRE_LEN);
    if (this.length > maxBytes) {
      throw this.error(`Invalid ${this.reader.format}: ${this.fieldLabel()} holds ${this.length} bytes, more than the ${maxBytes} expected.`);
    }
    const r = this.reader;
    const i = r.view(this.offset, this.length);
    return r.buf.slice(i, i + this.length);
  }

  /**
   * Decodes the current field as packed repeated varints (int64 two's complement), calling `each` for
   * every value; throws a FormatError naming the field when there are more than `maxCount` values, so a
   * hostile length never makes the walk long. Returns the number of values.
   */
  packedVarints(maxCount: number, each: (value: bigint) => void): number {
    this.expect(WIRE_LEN);
    const end = this.offset + this.length;
    let p = this.offset;
    let count = 0;
    while (p < end) {
      if (count >= maxCount) {
        throw this.error(`Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} packs more than ${maxCount} values.`);
      }
      p = this.varintIn(p, end);
      each(BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)));
      count++;
    }
    return count;
  }

  /** Bytes of the message after the current field (0 once every field has been visited). */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** A FormatError with this message's format prefix, for callers' own semantic checks. */
  fail(detail: string, truncated = false): FormatError {
    return this.error(`Invalid ${this.reader.format}: ${detail}`, truncated);
  }

  private error(message: string, truncated = false): FormatError {
    return new FormatError(message, truncated ? 'truncated' : 'format');
  }

  private fixed(p: number, n: number): void {
    if (n > this.end - p) {
      throw this.error(
        `Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} needs ${n} bytes but the ${this.end - this.start}-byte message at offset ${this.start} ends at ${this.end}.`,
        this.end === this.reader.src.size,
      );
    }
  }

  /**
   * Decodes the varint at `p` from at most `avail` bytes into lo/hi: the offset after it, or -1 when
   * no terminating byte came within `avail` bytes (the callers word the error).
   */
  private decodeVarint(p: number, avail: number): number {
    const r = this.reader;
    const i = r.view(p, avail);
    const b = r.buf;
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < avail; k++) {
      const byte = b[i + k]!;
      const bits = byte & 0x7f;
      if (k < 4) lo |= bits << (7 * k);
      else if (k === 4) {
        lo |= bits << 28;
        hi = bits >>> 4;
      } else hi |= bits << (7 * k - 32);
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return p + k + 1;
      }
    }
    return -1;
  }

  /** Decodes a varint of at most `maxBytes` bytes at `p` inside this message into lo/hi; returns the offset after it. */
  private varint(p: number, maxBytes: number, what: string): number {
    const avail = Math.min(maxBytes, this.end - p);
    const next = this.decodeVarint(p, avail);
    if (next >= 0) return next;
    if (avail < maxBytes) {
      throw this.error(
        `Invalid ${this.reader.format}: a ${what} at offset ${p} in ${this.name} runs past the end of the ${this.end - this.start}-byte message at offset ${this.start}.`,
        this.end === this.reader.src.size,
      );
    }
    throw this.error(`Invalid ${this.reader.format}: a ${what} at offset ${p} in ${this.name} is longer than ${maxBytes} bytes.`);
  }

  /** A varint bounded by `end` (inside a packed field) rather than by the message end. */
  private varintIn(p: number, end: number): number {
    const next = this.decodeVarint(p, Math.min(10, end - p));
    if (next >= 0) return next;
    throw this.error(`Invalid ${this.reader.format}: ${this.fieldLabel()} at offset ${this.tagOffset} ends inside a packed varint at offset ${p}.`);
  }
}

/** One top-level field seen by `scanFields`. */
export interface ScannedField {
  field: number;
  wire: WireType;
  /** Offset of the value (the payload of a length-delimited field). */
  offset: number;
  /** Varint value when it is a safe integer (signed int64 interpretation), else undefined. */
  value?: number;
  /** Payload length of a length-delimited field. */
  length?: number;
  /** Whether the whole value lies inside the scanned bytes. */
  complete: boolean;
}

/** The result of `scanFields`. */
export interface FieldScan {
  fields: ScannedField[];
  /**
   * `end`: the fields fill the message exactly; `open`: the bytes given end before the message does (the
   * last field may run on past them); `invalid`: not a protobuf message.
   */
  status: 'end' | 'open' | 'invalid';
}

/**
 * A cheap look at the fields of a message whose first bytes are in memory (a probe's head): scans
 * `bytes[start, min(end, bytes.length))` where the message really ends at `end`, without reading
 * anything else. For `match` functions; stops after `maxFields` fields (status `open`).
 */
export function scanFields(bytes: Uint8Array, start: number, end: number, maxFields = 256): FieldScan {
  const fields: ScannedField[] = [];
  const have = Math.min(end, bytes.length);
  let p = start;
  // A varint's value and the offset after it; 'cut' when the scanned bytes end inside it (more may
  // follow), 'bad' when the message itself ends inside it or it is longer than 10 bytes.
  const varint = (q: number): { v: number; next: number } | 'cut' | 'bad' => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (q + k >= have) return q + k >= end ? 'bad' : 'cut';
      const byte = bytes[q + k]!;
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return { v, next: q + k + 1 };
    }
    return 'bad';
  };
  while (p < have) {
    if (fields.length >= maxFields) return { fields, status: 'open' };
    const t = varint(p);
    if (t === 'bad') return { fields, status: 'invalid' };
    if (t === 'cut') return { fields, status: 'open' };
    const field = Math.floor(t.v / 8);
    const wire = t.v % 8;
    if (field === 0 || field > MAX_FIELD) return { fields, status: 'invalid' };
    p = t.next;
    switch (wire) {
      case WIRE_VARINT: {
        const v = varint(p);
        if (v === 'bad') return { fields, status: 'invalid' };
        if (v === 'cut') return { fields, status: 'open' };
        // Values of 2^63 and above are negative int64s; they are reported as undefined (not safe).
        fields.push({ field, wire, offset: p, ...(Number.isSafeInteger(v.v) ? { value: v.v } : {}), complete: true });
        p = v.next;
        break;
      }
      case WIRE_I64:
      case WIRE_I32: {
        const n = wire === WIRE_I64 ? 8 : 4;
        if (p + n > end) return { fields, status: 'invalid' };
        fields.push({ field, wire, offset: p, complete: p + n <= have });
        p += n;
        break;
      }
      case WIRE_LEN: {
        const v = varint(p);
        if (v === 'bad') return { fields, status: 'invalid' };
        if (v === 'cut') return { fields, status: 'open' };
        if (v.v > end - v.next) return { fields, status: 'invalid' };
        fields.push({ field, wire, offset: v.next, length: v.v, complete: v.next + v.v <= have });
        p = v.next + v.v;
        break;
      }
      default:
        return { fields, status: 'invalid' };
    }
  }
  if (p > end) return { fields, status: 'invalid' };
  return { fields, status: p === end ? 'end' : 'open' };
}

/**
 * The top-level fields of a probe's head, scanned once (memo key `protobuf.fields`) and shared by every
 * detector of a protobuf-based format.
 */
export function probeFields(probe: Probe): FieldScan {
  return probe.memo('protobuf.fields', () => scanFields(probe.head, 0, probe.size));
}
