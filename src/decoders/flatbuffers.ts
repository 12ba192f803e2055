import { MAX_READ, SliceSource, type ByteSource } from '../io/byte-source.js';
import { FormatError } from '../errors.js';

/**
 * A bounds-checked FlatBuffers reader over a ByteSource, for formats whose schema we decode by hand
 * (TFLite, its ModelMetadata). It knows nothing of any schema: callers name fields by id.
 *
 * Why not the `flatbuffers` npm runtime: its ByteBuffer needs the whole file in memory and trusts every
 * offset. Here bytes come through a small page cache (`pageSize` pages read with `src.read`), so a
 * 1 GB model whose weights sit at the end is read only where its tables, vectors and strings are.
 *
 * Checks, each failing with a FormatError that names what was read and where:
 * - every read lies inside the source (`truncated` when it runs past the end);
 * - a uoffset is in (0, 2^31): never zero (that would point at itself) and always forward, so a chain
 *   of offsets moves strictly forward and cannot loop (this is the rule of the reference verifier);
 * - a table's vtable (found through the signed soffset) lies inside the source, its byte size is even
 *   and at least 4, and the table's inline size is at least 4 and inside the source;
 * - a field's offset from the vtable plus the field's width stays inside the table's inline size;
 * - a vector's length times its element size fits between the vector and the end of the source, and
 *   is at most the caller's `maxLength`;
 * - a string is read up to a byte bound and decoded as UTF-8 (invalid sequences become U+FFFD), then cut
 *   to a character bound;
 * - every accessor call spends one unit of a work budget shared by the reader and its nested readers, so
 *   hostile structures that share one big vector from many places cannot make the walk quadratic.
 *
 * Not handled: size-prefixed buffers, unions beyond reading their type byte and table, alignment checks
 * (unaligned data is read correctly with DataView, so misalignment is not an error here).
 */

/** Options of a FlatBufferReader. */
export interface FlatBufferReaderOptions {
  /** Bytes per cached page; 64 KiB by default. */
  pageSize?: number;
  /** Pages kept in memory; 64 by default (4 MiB with the default page size). */
  maxPages?: number;
  /** Accessor calls allowed before the reader gives up; 50 million by default. */
  maxWork?: number;
  /** Names the buffer in error messages, e.g. `TFLite` or `TFLite metadata`. */
  label?: string;
}

/** Largest uoffset the format allows: buffers are at most 2 GiB. */
const MAX_UOFFSET = 0x7fffffff;

interface Page {
  bytes: Uint8Array;
  view: DataView;
}

/** The shared work counter of a reader and the nested readers made from it. */
interface Budget {
  left: number;
  readonly max: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Reads one FlatBuffer that occupies a whole ByteSource (use `nested` or a SliceSource for one inside
 * a larger file). Positions are byte offsets in that source.
 */
export class FlatBufferReader {
  readonly source: ByteSource;
  readonly size: number;
  readonly label: string;
  private readonly pageSize: number;
  private readonly maxPages: number;
  private readonly pages = new Map<number, Page>();
  private readonly budget: Budget;
  private readonly options: FlatBufferReaderOptions;
  private highWater = 0;

  constructor(src: ByteSource, options: FlatBufferReaderOptions = {}, budget?: Budget) {
    this.source = src;
    this.size = src.size;
    this.options = options;
    this.label = options.label ?? 'FlatBuffer';
    this.pageSize = options.pageSize ?? 64 * 1024;
    this.maxPages = Math.max(2, options.maxPages ?? 64);
    const maxWork = options.maxWork ?? 50_000_000;
    this.budget = budget ?? { left: maxWork, max: maxWork };
  }

  /** The 4-byte file identifier at offset 4, or undefined when the buffer is shorter than 8 bytes. */
  fileIdentifier(): string | undefined {
    if (this.size < 8) return undefined;
    const b = this.bytes(4, 4);
    return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!);
  }

  /**
   * The root table: the uoffset at position 0. When `fileIdentifier` is given, the 4 bytes at offset 4
   * must equal it (FlatBuffers `file_identifier`).
   */
  root(fileIdentifier?: string): FlatTable {
    if (this.size < 8) {
      throw new FormatError(`Invalid ${this.label}: a ${this.size}-byte buffer is too short to hold a root offset.`, 'truncated');
    }
    if (fileIdentifier !== undefined) {
      const id = this.fileIdentifier();
      if (id !== fileIdentifier) {
        throw new FormatError(`Invalid ${this.label}: file identifier ${JSON.stringify(id)} is not ${JSON.stringify(fileIdentifier)}.`);
      }
    }
    return this.tableAt(this.offsetAt(0, 'root offset'), 'root table');
  }

  /**
   * A reader for a FlatBuffer nested in `range` of this one (e.g. a `[ubyte]` vector holding another
   * buffer); it shares this reader's work budget.
   */
  nested(range: ByteRange, label: string): FlatBufferReader {
    return new FlatBufferReader(new SliceSource(this.source, range.offset, range.length), { ...this.options, label }, this.budget);
  }

  /** Work units spent so far (for tests and benchmarks). */
  get workDone(): number {
    return this.budget.max - this.budget.left;
  }

  /** Spends work units; throws when the budget is exhausted. */
  spend(units = 1): void {
    this.budget.left -= units;
    if (this.budget.left < 0) {
      throw new FormatError(
        `Invalid ${this.label}: walking its structure took more than ${this.budget.max} steps, so it shares or repeats structures no real model does.`,
      );
    }
  }

  // ---- raw bytes through the page cache -------------------------------------------------------

  private page(index: number): Page {
    const hit = this.pages.get(index);
    if (hit) return hit;
    const start = index * this.pageSize;
    const bytes = this.source.read(start, Math.min(this.pageSize, this.size - start));
    // A source may hand out a view of memory it reuses (ByteSource contract): keep a copy.
    const own = bytes.slice();
    const page = { bytes: own, view: new DataView(own.buffer, own.byteOffset, own.byteLength) };
    if (this.pages.size >= this.maxPages) {
      const oldest = this.pages.keys().next().value;
      if (oldest !== undefined) this.pages.delete(oldest);
    }
    this.pages.set(index, page);
    return page;
  }

  private checkRead(pos: number, length: number, what: string): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || length < 0 || pos + length > this.size) {
      throw new FormatError(`Invalid ${this.label}: ${what} at offset ${pos} (${length} bytes) is past the end of the ${this.size}-byte buffer.`, 'truncated');
    }
    if (pos + length > this.highWater) this.highWater = pos + length;
  }

  /**
   * One past the last byte any accessor has read so far: where the structure walked so far ends (the
   * contents of vectors whose bytes were never read do not count).
   */
  get extent(): number {
    return this.highWater;
  }

  /** `length` bytes at `pos`, checked; the result may be a view into the cache: copy to keep it. */
  bytes(pos: number, length: number, what = 'data'): Uint8Array {
    this.checkRead(pos, length, what);
    if (length > MAX_READ) throw new FormatError(`Invalid ${this.label}: ${what} of ${length} bytes exceeds the ${MAX_READ}-byte read limit.`);
    const first = Math.floor(pos / this.pageSize);
    const last = Math.floor((pos + Math.max(length, 1) - 1) / this.pageSize);
    if (first === last) {
      const p = this.page(first);
      const at = pos - first * this.pageSize;
      return p.bytes.subarray(at, at + length);
    }
    if (length > this.pageSize * (this.maxPages - 1)) {
      // Larger than the cache: read straight from the source rather than thrash the cache.
      return this.source.read(pos, length).slice();
    }
    const out = new Uint8Array(length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const p = this.page(i);
      const from = Math.max(pos + done - i * this.pageSize, 0);
      const n = Math.min(p.bytes.length - from, length - done);
      out.set(p.bytes.subarray(from, from + n), done);
      done += n;
    }
    return out;
  }

  private view(pos: number, width: number, what: string): { view: DataView; at: number } {
    this.checkRead(pos, width, what);
    const index = Math.floor(pos / this.pageSize);
    const at = pos - index * this.pageSize;
    if (at + width <= this.pageSize) {
      const p = this.page(index);
      if (at + width <= p.bytes.length) return { view: p.view, at };
    }
    const b = this.bytes(pos, width, what);
    return { view: new DataView(b.buffer, b.byteOffset, width), at: 0 };
  }

  /** Unsigned 8-bit integer at `pos`. */
  u8(pos: number, what = 'ubyte'): number {
    const { view, at } = this.view(pos, 1, what);
    return view.getUint8(at);
  }
  /** Signed 8-bit integer at `pos`. */
  i8(pos: number, what = 'byte'): number {
    const { view, at } = this.view(pos, 1, what);
    return view.getInt8(at);
  }
  /** Unsigned little-endian 16-bit integer at `pos`. */
  u16(pos: number, what = 'ushort'): number {
    const { view, at } = this.view(pos, 2, what);
    return view.getUint16(at, true);
  }
  /** Signed little-endian 16-bit integer at `pos`. */
  i16(pos: number, what = 'short'): number {
    const { view, at } = this.view(pos, 2, what);
    return view.getInt16(at, true);
  }
  /** Unsigned little-endian 32-bit integer at `pos`. */
  u32(pos: number, what = 'uint'): number {
    const { view, at } = this.view(pos, 4, what);
    return view.getUint32(at, true);
  }
  /** Signed little-endian 32-bit integer at `pos`. */
  i32(pos: number, what = 'int'): number {
    const { view, at } = this.view(pos, 4, what);
    return view.getInt32(at, true);
  }
  /** Little-endian 32-bit float at `pos`. */
  f32(pos: number, what = 'float'): number {
    const { view, at } = this.view(pos, 4, what);
    return view.getFloat32(at, true);
  }
  /** Little-endian 64-bit float at `pos`. */
  f64(pos: number, what = 'double'): number {
    const { view, at } = this.view(pos, 8, what);
    return view.getFloat64(at, true);
  }
  /** Signed little-endian 64-bit integer at `pos`, as a bigint. */
  i64(pos: number, what = 'long'): bigint {
    const { view, at } = this.view(pos, 8, what);
    return view.getBigInt64(at, true);
  }
  /** Unsigned little-endian 64-bit integer at `pos`, as a bigint. */
  u64(pos: number, what = 'ulong'): bigint {
    const { view, at } = this.view(pos, 8, what);
    return view.getBigUint64(at, true);
  }

  // ---- structure -------------------------------------------------------------------------------

  /** Follows the uoffset stored at `pos`: checked non-zero, below 2^31 and landing inside the buffer. */
  offsetAt(pos: number, what: string): number {
    const off = this.u32(pos, what);
    if (off === 0 || off > MAX_UOFFSET) {
      throw new FormatError(`Invalid ${this.label}: ${what} at offset ${pos} is ${off}, not a forward offset in (0, 2^31).`);
    }
    const target = pos + off;
    if (target >= this.size) {
      throw new FormatError(`Invalid ${this.label}: ${what} at offset ${pos} points to ${target}, past the end of the ${this.size}-byte buffer.`, 'truncated');
    }
    return target;
  }

  /** The table starting at `pos`, with its vtable checked. */
  tableAt(pos: number, what: string): FlatTable {
    this.spend();
    const soffset = this.i32(pos, `${what} vtable offset`);
    const vtable = pos - soffset;
    if (vtable < 0 || vtable + 4 > this.size) {
      throw new FormatError(`Invalid ${this.label}: ${what} at offset ${pos} has its vtable at ${vtable}, outside the ${this.size}-byte buffer.`);
    }
    const vtableSize = this.u16(vtable, `${what} vtable size`);
    const inlineSize = this.u16(vtable + 2, `${what} inline size`);
    if (vtableSize < 4 || vtableSize % 2 !== 0 || vtable + vtableSize > this.size) {
      throw new FormatError(`Invalid ${this.label}: ${what} at offset ${pos} has a vtable size of ${vtableSize} bytes at offset ${vtable}.`);
    }
    if (inlineSize < 4 || pos + inlineSize > this.size) {
      throw new FormatError(
        `Invalid ${this.label}: ${what} at offset ${pos} has an inline size of ${inlineSize} bytes, past the end of the ${this.size}-byte buffer.`,
      );
    }
    return new FlatTable(this, pos, vtable, vtableSize, inlineSize, what);
  }

  /** The vector whose uoffset is stored at `pos`, checked against `elemSize` and `maxLength`. */
  vectorAt(pos: number, elemSize: number, maxLength: number, what: string): FlatVector {
    this.spend();
    const start = this.offsetAt(pos, what);
    const length = this.u32(start, `${what} length`);
    if (length > maxLength) {
      throw new FormatError(`Invalid ${this.label}: ${what} length ${length} exceeds the limit of ${maxLength}.`);
    }
    const bytes = length * elemSize;
    if (start + 4 + bytes > this.size) {
      throw new FormatError(
        `Invalid ${this.label}: ${what} of ${length} elements at offset ${start} runs past the end of the ${this.size}-byte buffer.`,
        'truncated',
      );
    }
    return new FlatVector(this, start + 4, length, elemSize, what);
  }

  /** The string whose uoffset is stored at `pos`; at most `maxChars` characters are decoded. */
  stringAt(pos: number, maxChars: number, what: string): string {
    this.spend();
    const start = this.offsetAt(pos, what);
    const length = this.u32(start, `${what} length`);
    if (start + 4 + length > this.size) {
      throw new FormatError(
        `Invalid ${this.label}: ${what} of ${length} bytes at offset ${start} runs past the end of the ${this.size}-byte buffer.`,
        'truncated',
      );
    }
    const take = Math.min(length, maxChars * 4);
    const text = utf8.decode(this.bytes(start + 4, take, what));
    return text.length > maxChars ? text.slice(0, maxChars) : text;
  }
}

/** A byte range in a source. */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * One table: scalar fields by id return the schema default when absent; offset fields (tables, strings,
 * vectors) return undefined when absent. Field ids count from 0 in schema order; a union takes two ids
 * (its `_type` byte, then the table).
 */
export class FlatTable {
  constructor(
    readonly reader: FlatBufferReader,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly inlineSize: number,
    readonly what: string,
  ) {}

  /** Position of field `id` in the buffer, or undefined when absent; checks it fits the table. */
  field(id: number, width: number): number | undefined {
    const entry = 4 + 2 * id;
    if (entry + 2 > this.vtableSize) return undefined;
    const rel = this.reader.u16(this.vtable + entry, `${this.what} vtable entry ${id}`);
    if (rel === 0) return undefined;
    if (rel + width > this.inlineSize) {
      throw new FormatError(
        `Invalid ${this.reader.label}: ${this.what} field ${id} at table offset ${rel} (${width} bytes) lies outside the table's ${this.inlineSize}-byte inline size.`,
      );
    }
    return this.pos + rel;
  }

  /** True when field `id` is present. */
  has(id: number): boolean {
    return this.field(id, 1) !== undefined;
  }

  /** ubyte field. */
  u8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p === undefined ? def : this.reader.u8(p);
  }
  /** byte field. */
  i8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p === undefined ? def : this.reader.i8(p);
  }
  /** bool field. */
  bool(id: number, def = false): boolean {
    const p = this.field(id, 1);
    return p === undefined ? def : this.reader.u8(p) !== 0;
  }
  /** ushort field. */
  u16(id: number, def = 0): number {
    const p = this.field(id, 2);
    return p === undefined ? def : this.reader.u16(p);
  }
  /** short field. */
  i16(id: number, def = 0): number {
    const p = this.field(id, 2);
    return p === undefined ? def : this.reader.i16(p);
  }
  /** uint field. */
  u32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p === undefined ? def : this.reader.u32(p);
  }
  /** int field. */
  i32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p === undefined ? def : this.reader.i32(p);
  }
  /** float field. */
  f32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p === undefined ? def : this.reader.f32(p);
  }
  /** long field, as a bigint. */
  i64(id: number, def = 0n): bigint {
    const p = this.field(id, 8);
    return p === undefined ? def : this.reader.i64(p);
  }
  /** ulong field, as a bigint. */
  u64(id: number, def = 0n): bigint {
    const p = this.field(id, 8);
    return p === undefined ? def : this.reader.u64(p);
  }

  /** Sub-table field. */
  table(id: number, what = `${this.what} field ${id}`): FlatTable | undefined {
    const p = this.field(id, 4);
    return p === undefined ? undefined : this.reader.tableAt(this.reader.offsetAt(p, what), what);
  }

  /** String field, decoded as UTF-8 and cut to `maxChars` characters. */
  string(id: number, maxChars = 4096, what = `${this.what} field ${id}`): string | undefined {
    const p = this.field(id, 4);
    return p === undefined ? undefined : this.reader.stringAt(p, maxChars, what);
  }

  /**
   * Vector field of `elemSize`-byte elements (4 for tables and strings, which are stored as offsets);
   * its length must not exceed `maxLength`.
   */
  vector(id: number, elemSize: number, maxLength: number, what = `${this.what} field ${id}`): FlatVector | undefined {
    const p = this.field(id, 4);
    return p === undefined ? undefined : this.reader.vectorAt(p, elemSize, maxLength, what);
  }

  /**
   * The byte range of a `[ubyte]` field, e.g. a nested FlatBuffer or an opaque blob, without reading
   * its contents; pass it to `reader.nested` or a SliceSource.
   */
  bytesRange(id: number, maxLength = Number.MAX_SAFE_INTEGER, what = `${this.what} field ${id}`): ByteRange | undefined {
    const v = this.vector(id, 1, maxLength, what);
    return v === undefined ? undefined : { offset: v.start, length: v.length };
  }
}

/** A vector: `start` is the position of its first element (after the 4-byte length). */
export class FlatVector {
  constructor(
    readonly reader: FlatBufferReader,
    readonly start: number,
    readonly length: number,
    readonly elemSize: number,
    readonly what: string,
  ) {}

  private at(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      // The index comes from the file (an operator's tensor index, a subgraph number): bad input, not a bug.
      throw new FormatError(`Invalid ${this.what}: index ${i} is outside a ${this.length}-element vector.`);
    }
    this.reader.spend();
    return this.start + i * this.elemSize;
  }

  /** Element `i` of a vector of tables. */
  table(i: number, what = `${this.what}[${i}]`): FlatTable {
    const p = this.at(i);
    return this.reader.tableAt(this.reader.offsetAt(p, what), what);
  }
  /** Element `i` of a vector of strings. */
  string(i: number, maxChars = 4096, what = `${this.what}[${i}]`): string {
    return this.reader.stringAt(this.at(i), maxChars, what);
  }
  /** Position of struct element `i` (structs are stored inline, `elemSize` bytes each). */
  struct(i: number): number {
    return this.at(i);
  }
  /** Element `i` as ubyte. */
  u8(i: number): number {
    return this.reader.u8(this.at(i));
  }
  /** Element `i` as byte. */
  i8(i: number): number {
    return this.reader.i8(this.at(i));
  }
  /** Element `i` as ushort. */
  u16(i: number): number {
    return this.reader.u16(this.at(i));
  }
  /** Element `i` as short. */
  i16(i: number): number {
    return this.reader.i16(this.at(i));
  }
  /** Element `i` as uint. */
  u32(i: number): number {
    return this.reader.u32(this.at(i));
  }
  /** Element `i` as int. */
  i32(i: number): number {
    return this.reader.i32(this.at(i));
  }
  /** Element `i` as float. */
  f32(i: number): number {
    return this.reader.f32(this.at(i));
  }
  /** Element `i` as long (bigint). */
  i64(i: number): bigint {
    return this.reader.i64(this.at(i));
  }

  /** The first `max` elements as numbers, read with `get` (e.g. `v => v.i32`). */
  numbers(max: number, get: (i: number) => number): number[] {
    const n = Math.min(this.length, max);
    const out: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = get(i);
    return out;
  }

  /** All int elements (bounded by the vector's checked length). */
  int32s(max = this.length): number[] {
    return this.numbers(max, (i) => this.i32(i));
  }
}
