import { FormatError } from '../errors.js';
import { BinaryReader } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';

/*
 * A bounded reader of the little of HDF5 (the HDF Group's "HDF5 File Format Specification Version 3.0")
 * that says what an HDF5 file is about: the superblock (versions 0 to 3, after an optional user block
 * of 512, 1024, 2048... bytes) and the root group's object header (versions 1 and 2, with continuation
 * blocks), of which only attribute messages are decoded. Datasets, B-trees, local heaps and chunked data
 * are never read: a Keras model's attributes cost a few small reads whatever the size of its weights.
 *
 * Attribute values are decoded for strings (fixed-length, and variable-length through the global heap),
 * integers and floats (scalars and short arrays); other types are listed by name with their class.
 * Attributes in dense storage (a fractal heap, when a group has many) are read from the heap's direct
 * blocks. Not handled, reported instead: dense storage the reader cannot walk (filtered blocks, huge
 * objects, nested indirect blocks: `denseAttributes`), shared (committed) datatypes in attributes;
 * checksums are not verified.
 */

/** '\x89HDF\r\n\x1a\n' */
export const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** Where a superblock may sit: 0, then 512 and every power of two after it. */
export const SUPERBLOCK_OFFSETS: readonly number[] = [0, 512, 1024, 2048, 4096, 8192, 16384, 32768];

/** One attribute of the root group. */
export interface Hdf5Attribute {
  name: string;
  /** HDF5 datatype class: `string`, `integer`, `float`, or `class <n>` for the others. */
  type: string;
  /** Decoded value (strings, numbers, or arrays of them); absent for other types or when `note` says why. */
  value?: string | number | string[] | number[];
  /** Why the value was not decoded. */
  note?: string;
}

export interface Hdf5Root {
  superblockOffset: number;
  superblockVersion: number;
  offsetSize: number;
  lengthSize: number;
  objectHeaderVersion: number;
  attributes: Hdf5Attribute[];
  /** The root group keeps (some of) its attributes in dense storage that this reader could not walk whole. */
  denseAttributes: boolean;
}

const MAX = {
  messages: 10_000,
  continuations: 64,
  /** Bytes of one object header block (chunk or continuation); Keras's largest message is under 64 KiB. */
  block: 1024 * 1024,
  /** Bytes read in all for one root group. */
  total: 64 * 1024 * 1024,
  /** Bytes of one attribute value read (model_config JSON can be large). */
  value: 16 * 1024 * 1024,
  elements: 100_000,
  numbers: 64,
  name: 1024,
} as const;

const MSG_ATTRIBUTE = 0x0c;
const MSG_CONTINUATION = 0x10;
const MSG_ATTRIBUTE_INFO = 0x15;

function fail(message: string, code: 'format' | 'truncated' = 'format'): never {
  throw new FormatError(`Invalid HDF5: ${message}`, code);
}

/** Offset of the first superblock signature in `head`, or undefined. */
export function findSuperblock(head: Uint8Array): number | undefined {
  for (const off of SUPERBLOCK_OFFSETS) {
    if (off + 8 > head.length) return undefined;
    if (HDF5_SIGNATURE.every((b, i) => head[off + i] === b)) return off;
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Reads a little-endian unsigned value of 2, 4 or 8 bytes; all ones is "undefined address" (-1). */
function addr(r: BinaryReader, at: number, size: number, field: string): number {
  let allOnes = true;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) {
    const b = r.u8(at + i, field);
    if (b !== 0xff) allOnes = false;
    v = v * 256 + b;
  }
  if (allOnes) return -1;
  if (!Number.isSafeInteger(v)) fail(`${field} at offset ${r.base + at} is ${v}, past any file.`);
  return v;
}

class Reader {
  /** Bytes all blocks may still take: a hostile header cannot make the reader read the whole file. */
  private budget = MAX.total;
  /** Global heap collections already read, by address (many strings share one). */
  readonly collections = new Map<number, BinaryReader>();

  constructor(
    readonly src: ByteSource,
    readonly base: number,
    readonly offsetSize: number,
    readonly lengthSize: number,
  ) {}

  /** `length` bytes at file address `address` (relative to the base), checked against the file. */
  block(address: number, length: number, what: string, max: number = MAX.value): BinaryReader {
    const at = this.base + address;
    if (address < 0 || length < 0 || at + length > this.src.size) {
      fail(`${what} at address ${address} with ${length} bytes runs past the end of the ${this.src.size}-byte file.`, 'truncated');
    }
    if (length > max) fail(`${what} of ${length} bytes is over the ${max}-byte limit.`);
    this.budget -= length;
    if (this.budget < 0) fail(`reading the root group's attributes takes more than ${MAX.total} bytes.`);
    return new BinaryReader(this.src.read(at, length), `HDF5 ${what}`, at);
  }
}

/** Reads the superblock at `offset` and the root group's attributes. */
export function readHdf5Root(src: ByteSource, offset: number): Hdf5Root {
  const sbBytes = src.read(offset, Math.min(256, src.size - offset));
  const sb = new BinaryReader(sbBytes, 'HDF5 superblock', offset);
  if (!HDF5_SIGNATURE.every((b, i) => sbBytes[i] === b)) fail(`no superblock signature at offset ${offset}.`);
  const version = sb.u8(8, 'superblock version');
  let offsetSize: number;
  let lengthSize: number;
  let base: number;
  let rootHeader: number;
  if (version === 0 || version === 1) {
    offsetSize = sb.u8(13, 'size of offsets');
    lengthSize = sb.u8(14, 'size of lengths');
    checkSizes(offsetSize, lengthSize, offset);
    let p = version === 0 ? 24 : 28;
    base = addr(sb, p, offsetSize, 'base address');
    p += 4 * offsetSize; // base, free-space info, end of file, driver info addresses
    // Root group symbol table entry: link name offset, then the object header address.
    rootHeader = addr(sb, p + offsetSize, offsetSize, 'root group object header address');
  } else if (version === 2 || version === 3) {
    offsetSize = sb.u8(9, 'size of offsets');
    lengthSize = sb.u8(10, 'size of lengths');
    checkSizes(offsetSize, lengthSize, offset);
    base = addr(sb, 12, offsetSize, 'base address');
    rootHeader = addr(sb, 12 + 3 * offsetSize, offsetSize, 'root group object header address');
  } else {
    fail(`superblock version ${version} at offset ${offset + 8} is not 0, 1, 2 or 3.`);
  }
  // Files with a user block record the superblock's own position as the base; 0 otherwise.
  if (base < 0 || base > src.size) fail(`base address ${base} is outside the ${src.size}-byte file.`);
  if (rootHeader < 0) fail('the root group has no object header address.');
  const r = new Reader(src, base, offsetSize, lengthSize);
  const root = readObjectHeader(r, rootHeader);
  return { superblockOffset: offset, superblockVersion: version, offsetSize, lengthSize, ...root };
}

function checkSizes(o: number, l: number, offset: number): void {
  if (![2, 4, 8].includes(o)) fail(`size of offsets ${o} in the superblock at offset ${offset} is not 2, 4 or 8.`);
  if (![2, 4, 8].includes(l)) fail(`size of lengths ${l} in the superblock at offset ${offset} is not 2, 4 or 8.`);
}

interface RawMessage {
  type: number;
  data: BinaryReader;
  /** Offset of the data inside `data.bytes`. */
  at: number;
  size: number;
}

/** Walks an object header (v1 or v2) and its continuation blocks; decodes the attribute messages. */
function readObjectHeader(r: Reader, address: number): { objectHeaderVersion: number; attributes: Hdf5Attribute[]; denseAttributes: boolean } {
  const messages: RawMessage[] = [];
  const first = r.block(address, Math.min(16, r.src.size - r.base - address), 'object header prefix');
  let version: number;
  const pending: { address: number; length: number }[] = [];
  if (first.length >= 4 && first.u8(0) === 0x4f && first.u8(1) === 0x48 && first.u8(2) === 0x44 && first.u8(3) === 0x52) {
    // 'OHDR': version 2
    version = first.u8(4, 'object header version');
    if (version !== 2) fail(`object header at address ${address} has version ${version}, expected 2 after 'OHDR'.`);
    const flags = first.u8(5, 'object header flags');
    let p = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
    const sizeBytes = 1 << (flags & 3);
    const head = r.block(address, p + sizeBytes, 'object header prefix');
    let chunk = 0;
    for (let i = sizeBytes - 1; i >= 0; i--) chunk = chunk * 256 + head.u8(p + i, 'size of chunk 0');
    p += sizeBytes;
    walkV2(r.block(address, p + chunk, 'object header chunk 0', MAX.block), p, p + chunk, (flags & 0x04) !== 0, messages, pending, r);
    let n = 0;
    while (pending.length > 0) {
      if (++n > MAX.continuations) fail(`object header at address ${address} has more than ${MAX.continuations} continuation blocks.`);
      const c = pending.shift()!;
      const blk = r.block(c.address, c.length, 'object header continuation block', MAX.block);
      if (!(blk.u8(0) === 0x4f && blk.u8(1) === 0x43 && blk.u8(2) === 0x48 && blk.u8(3) === 0x4b)) {
        fail(`continuation block at address ${c.address} lacks its 'OCHK' signature.`);
      }
      walkV2(blk, 4, c.length - 4, (flags & 0x04) !== 0, messages, pending, r);
    }
  } else {
    version = first.u8(0, 'object header version');
    if (version !== 1) fail(`object header at address ${address} has version ${version}, expected 1 (or 'OHDR').`);
    const count = first.u16le(2, 'number of header messages');
    if (count > MAX.messages) fail(`object header at address ${address} declares ${count} messages, more than ${MAX.messages}.`);
    const size = first.u32le(8, 'object header size');
    // The messages start after the 12-byte prefix padded to 16 (v1 messages are 8-byte aligned).
    pending.push({ address: address + 16, length: size });
    let n = 0;
    while (pending.length > 0 && messages.length < count) {
      if (n++ > MAX.continuations) fail(`object header at address ${address} has more than ${MAX.continuations} continuation blocks.`);
      const c = pending.shift()!;
      walkV1(r.block(c.address, c.length, 'object header messages', MAX.block), messages, pending, r, count);
    }
  }
  const attributes: Hdf5Attribute[] = [];
  let dense = false;
  for (const m of messages) {
    if (m.type === MSG_ATTRIBUTE) attributes.push(readAttribute(r, m));
    else if (m.type === MSG_ATTRIBUTE_INFO) {
      // version 0, flags, [max creation index], fractal heap address: defined when attributes are dense
      const flags = m.data.u8(m.at + 1, 'attribute info flags');
      const heap = addr(m.data, m.at + 2 + (flags & 1 ? 2 : 0), r.offsetSize, 'fractal heap address');
      if (heap >= 0) {
        const found = readDenseAttributes(r, heap);
        attributes.push(...found.attributes);
        // Dense attributes the walk could not reach stay a note for the caller.
        if (!found.complete) dense = true;
      }
    }
  }
  return { objectHeaderVersion: version, attributes, denseAttributes: dense };
}

function continuation(m: RawMessage, r: Reader, pending: { address: number; length: number }[]): void {
  const a = addr(m.data, m.at, r.offsetSize, 'continuation offset');
  const len = addr(m.data, m.at + r.offsetSize, r.lengthSize, 'continuation length');
  if (a < 0 || len <= 0) fail(`continuation message at offset ${m.data.base + m.at} points to address ${a} with length ${len}.`);
  pending.push({ address: a, length: len });
}

function walkV1(blk: BinaryReader, messages: RawMessage[], pending: { address: number; length: number }[], r: Reader, count: number): void {
  let p = 0;
  while (p + 8 <= blk.length && messages.length < count) {
    const type = blk.u16le(p, 'message type');
    const size = blk.u16le(p + 2, 'message size');
    if (p + 8 + size > blk.length) fail(`message of type ${type} at offset ${blk.base + p} with ${size} bytes runs past its header block.`, 'truncated');
    const m = { type, data: blk, at: p + 8, size };
    messages.push(m);
    if (type === MSG_CONTINUATION) continuation(m, r, pending);
    p += 8 + size;
  }
}

function walkV2(
  blk: BinaryReader,
  start: number,
  end: number,
  creationOrder: boolean,
  messages: RawMessage[],
  pending: { address: number; length: number }[],
  r: Reader,
): void {
  const hdr = creationOrder ? 6 : 4;
  let p = start;
  // `end` is where the messages end (the checksum follows); fewer bytes than a message header left
  // before it are a gap.
  const stop = end;
  while (p + hdr <= stop) {
    if (messages.length >= MAX.messages) fail(`object header has more than ${MAX.messages} messages.`);
    const type = blk.u8(p, 'message type');
    const size = blk.u16le(p + 1, 'message size');
    if (p + hdr + size > stop) fail(`message of type ${type} at offset ${blk.base + p} with ${size} bytes runs past its chunk.`, 'truncated');
    const m = { type, data: blk, at: p + hdr, size };
    messages.push(m);
    if (type === MSG_CONTINUATION) continuation(m, r, pending);
    p += hdr + size;
  }
}

interface Datatype {
  cls: number;
  size: number;
  /** Variable-length string (class 9, type 1). */
  vlenString: boolean;
  bigEndian: boolean;
  signed: boolean;
}

function readDatatype(d: BinaryReader, at: number): Datatype {
  const cv = d.u8(at, 'datatype class and version');
  const cls = cv & 0x0f;
  const bits0 = d.u8(at + 1, 'datatype bit field');
  const size = d.u32le(at + 4, 'datatype size');
  return {
    cls,
    size,
    vlenString: cls === 9 && (bits0 & 0x0f) === 1,
    bigEndian: (cls === 0 || cls === 1) && (bits0 & 1) === 1,
    signed: cls === 0 && (bits0 & 0x08) !== 0,
  };
}

/** Elements in a dataspace message (1 for a scalar, 0 for a null dataspace). */
function readDataspace(d: BinaryReader, at: number, r: Reader): number {
  const version = d.u8(at, 'dataspace version');
  const rank = d.u8(at + 1, 'dataspace dimensionality');
  if (rank > 32) fail(`dataspace at offset ${d.base + at} has ${rank} dimensions, more than HDF5's 32.`);
  let p: number;
  if (version === 1) p = at + 8;
  else if (version === 2) {
    if (d.u8(at + 3, 'dataspace type') === 2) return 0; // null dataspace
    p = at + 4;
  } else fail(`dataspace version ${version} at offset ${d.base + at} is not 1 or 2.`);
  let n = 1;
  for (let i = 0; i < rank; i++) {
    const dim = addr(d, p + i * r.lengthSize, r.lengthSize, 'dataspace dimension');
    n = Math.min(n * Math.max(dim, 0), Number.MAX_SAFE_INTEGER);
  }
  return n;
}

const pad8 = (n: number): number => (n + 7) & ~7;

function readAttribute(r: Reader, m: RawMessage): Hdf5Attribute {
  const d = m.data;
  const at = m.at;
  const version = d.u8(at, 'attribute version');
  const flags = version === 1 ? 0 : d.u8(at + 1, 'attribute flags');
  const nameSize = d.u16le(at + 2, 'attribute name size');
  const typeSize = d.u16le(at + 4, 'attribute datatype size');
  const spaceSize = d.u16le(at + 6, 'attribute dataspace size');
  let p: number;
  let padded: (n: number) => number;
  if (version === 1) {
    p = at + 8;
    padded = pad8;
  } else if (version === 2 || version === 3) {
    p = at + 8 + (version === 3 ? 1 : 0);
    padded = (n) => n;
  } else fail(`attribute message at offset ${d.base + at} has version ${version}, not 1, 2 or 3.`);
  if (nameSize > MAX.name) fail(`attribute name at offset ${d.base + p} is ${nameSize} bytes, more than ${MAX.name}.`);
  const nameBytes = d.bytesAt(p, nameSize, 'attribute name');
  const nul = nameBytes.indexOf(0);
  const name = utf8.decode(nul >= 0 ? nameBytes.subarray(0, nul) : nameBytes);
  p += padded(nameSize);
  if ((flags & 3) !== 0) {
    return { name, type: 'shared', note: 'shared datatype or dataspace, not read' };
  }
  const type = readDatatype(d, p);
  p += padded(typeSize);
  const count = readDataspace(d, p, r);
  p += padded(spaceSize);
  const dataEnd = m.at + m.size;
  const typeName = type.cls === 3 || type.vlenString ? 'string' : type.cls === 0 ? 'integer' : type.cls === 1 ? 'float' : `class ${type.cls}`;
  const out: Hdf5Attribute = { name, type: typeName };
  if (count > MAX.elements) return { ...out, note: `${count} elements, more than ${MAX.elements}` };
  const need = count * (type.vlenString ? 4 + r.offsetSize + 4 : type.size);
  if (p + need > dataEnd)
    fail(`attribute '${name}' at offset ${d.base + at} needs ${need} bytes of data, its message holds ${Math.max(0, dataEnd - p)}.`, 'truncated');
  if (type.cls === 3) {
    const values: string[] = [];
    for (let i = 0; i < count; i++) values.push(cString(d.bytesAt(p + i * type.size, type.size, 'attribute value')));
    out.value = count === 1 ? values[0]! : values;
  } else if (type.vlenString) {
    const values: string[] = [];
    const stride = 4 + r.offsetSize + 4;
    for (let i = 0; i < count; i++) {
      const q = p + i * stride;
      const length = d.u32le(q, 'variable-length string length');
      const collection = addr(d, q + 4, r.offsetSize, 'global heap collection address');
      const index = d.u32le(q + 4 + r.offsetSize, 'global heap object index');
      values.push(length === 0 || collection < 0 ? '' : globalHeapString(r, collection, index, length));
    }
    out.value = count === 1 ? values[0]! : values;
  } else if ((type.cls === 0 && [1, 2, 4, 8].includes(type.size)) || (type.cls === 1 && (type.size === 4 || type.size === 8))) {
    const nums: number[] = [];
    for (let i = 0; i < Math.min(count, MAX.numbers); i++) nums.push(number(d.bytesAt(p + i * type.size, type.size, 'attribute value'), type));
    out.value = count === 1 ? nums[0]! : nums;
  }
  return out;
}

/**
 * Bytes of the attribute message at `at` (its encoding gives no total length): header, name, datatype,
 * dataspace, then elements x datatype size. Undefined for a shared datatype or dataspace, whose sizes
 * are elsewhere.
 */
function attributeLength(d: BinaryReader, at: number, r: Reader): number | undefined {
  const version = d.u8(at, 'attribute version');
  if (version < 1 || version > 3) return undefined;
  const flags = version === 1 ? 0 : d.u8(at + 1, 'attribute flags');
  if ((flags & 3) !== 0) return undefined;
  const nameSize = d.u16le(at + 2, 'attribute name size');
  const typeSize = d.u16le(at + 4, 'attribute datatype size');
  const spaceSize = d.u16le(at + 6, 'attribute dataspace size');
  const padded = version === 1 ? pad8 : (n: number): number => n;
  let p = at + 8 + (version === 3 ? 1 : 0) + padded(nameSize);
  const type = readDatatype(d, p);
  p += padded(typeSize);
  const count = readDataspace(d, p, r);
  p += padded(spaceSize);
  const data = count * type.size;
  return Number.isSafeInteger(data) ? p + data - at : undefined;
}

/**
 * Attributes in dense storage: attribute messages as the managed objects of a fractal heap ('FRHP'),
 * read from its direct blocks (the root one, or those an indirect root block lists) in allocation
 * order, as HDF5 packs them when a file is written once. The v2 B-tree name index is not walked, so a
 * heap with filters, huge objects, nested indirect blocks or holes left by deleted attributes is read
 * in part and reported incomplete.
 */
function readDenseAttributes(r: Reader, heapAddress: number): { attributes: Hdf5Attribute[]; complete: boolean } {
  const O = r.offsetSize;
  const L = r.lengthSize;
  const size = 14 + 10 * L + 2 * O + 2 + 2 * L + 2 + 2 + O + 2;
  const h = r.block(heapAddress, size, 'fractal heap header');
  if (!(h.u8(0) === 0x46 && h.u8(1) === 0x52 && h.u8(2) === 0x48 && h.u8(3) === 0x50))
    fail(`fractal heap at address ${heapAddress} lacks its 'FRHP' signature.`);
  const filters = h.u16le(7, 'I/O filters encoded length');
  const flags = h.u8(9, 'fractal heap flags');
  let p = 14 + L; // next huge object id
  p += O; // v2 B-tree of huge objects
  p += L + O + L + L + L; // free space, its manager, managed space, allocated space, iterator offset
  p += L; // managed objects
  const hugeSize = addr(h, p, L, 'size of huge objects');
  p += 4 * L; // huge size and count, tiny size and count
  const width = h.u16le(p, 'table width');
  const startBlock = addr(h, p + 2, L, 'starting block size');
  const maxDirect = addr(h, p + 2 + L, L, 'maximum direct block size');
  const maxHeapBits = h.u16le(p + 2 + 2 * L, 'maximum heap size');
  const root = addr(h, p + 2 + 2 * L + 4, O, 'root block address');
  const rows = h.u16le(p + 2 + 2 * L + 4 + O, 'current rows in root indirect block');
  const out: Hdf5Attribute[] = [];
  if (root < 0) return { attributes: out, complete: true };
  // Filtered (compressed) blocks are not decoded; huge objects live outside the blocks.
  let complete = filters === 0 && hugeSize <= 0;
  if (filters !== 0) return { attributes: out, complete: false };
  const pow2 = (n: number): boolean => n > 0 && Number.isSafeInteger(n) && (n & (n - 1)) === 0;
  if (!pow2(startBlock) || !pow2(maxDirect) || startBlock > maxDirect || maxDirect > MAX.block || width === 0 || width > 4096 || maxHeapBits > 64) {
    fail(`fractal heap at address ${heapAddress} has table width ${width}, block sizes ${startBlock} to ${maxDirect}: not a heap this reader walks.`);
  }
  const offsetBytes = Math.ceil(maxHeapBits / 8);
  const direct = (address: number, blockSize: number): void => {
    const blk = r.block(address, blockSize, 'fractal heap direct block', MAX.block);
    if (!(blk.u8(0) === 0x46 && blk.u8(1) === 0x48 && blk.u8(2) === 0x44 && blk.u8(3) === 0x42))
      fail(`direct block at address ${address} lacks its 'FHDB' signature.`);
    let q = 5 + O + offsetBytes + (flags & 2 ? 4 : 0);
    while (q < blockSize && out.length < MAX.messages) {
      if (blk.u8(q) === 0) return; // free space: the objects end here
      const len = attributeLength(blk, q, r);
      if (len === undefined || q + len > blockSize) {
        complete = false;
        return;
      }
      out.push(readAttribute(r, { type: MSG_ATTRIBUTE, data: blk, at: q, size: len }));
      q += len;
    }
  };
  if (rows === 0) {
    direct(root, startBlock);
    return { attributes: out, complete };
  }
  // Root indirect block ('FHIB'): version, heap address, block offset, then rows x width child addresses;
  // rows below maxDirectRows point to direct blocks of startBlock, startBlock, 2 startBlock, 4 startBlock...
  const maxDirectRows = Math.log2(maxDirect) - Math.log2(startBlock) + 2;
  if (rows > 64) fail(`fractal heap at address ${heapAddress} has ${rows} rows in its root indirect block, more than 64.`);
  const ib = r.block(root, 5 + O + offsetBytes + rows * width * O, 'fractal heap indirect block', MAX.block);
  if (!(ib.u8(0) === 0x46 && ib.u8(1) === 0x48 && ib.u8(2) === 0x49 && ib.u8(3) === 0x42))
    fail(`indirect block at address ${root} lacks its 'FHIB' signature.`);
  let e = 5 + O + offsetBytes;
  for (let row = 0; row < rows; row++) {
    const blockSize = startBlock * 2 ** Math.max(0, row - 1);
    for (let col = 0; col < width; col++, e += O) {
      const child = addr(ib, e, O, 'child block address');
      if (child < 0) continue;
      if (row >= maxDirectRows)
        complete = false; // a nested indirect block: not walked
      else direct(child, blockSize);
    }
  }
  return { attributes: out, complete };
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return utf8.decode(nul >= 0 ? b.subarray(0, nul) : b);
}

function number(b: Uint8Array, t: Datatype): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = !t.bigEndian;
  if (t.cls === 1) return t.size === 4 ? v.getFloat32(0, le) : v.getFloat64(0, le);
  switch (t.size) {
    case 1:
      return t.signed ? v.getInt8(0) : v.getUint8(0);
    case 2:
      return t.signed ? v.getInt16(0, le) : v.getUint16(0, le);
    case 4:
      return t.signed ? v.getInt32(0, le) : v.getUint32(0, le);
    default: {
      const x = t.signed ? v.getBigInt64(0, le) : v.getBigUint64(0, le);
      return Number(x);
    }
  }
}

/** One object of a global heap collection ('GCOL'), as text: variable-length string values live there. */
function globalHeapString(r: Reader, collection: number, index: number, length: number): string {
  const head = r.block(collection, 8 + r.lengthSize, 'global heap collection');
  if (!(head.u8(0) === 0x47 && head.u8(1) === 0x43 && head.u8(2) === 0x4f && head.u8(3) === 0x4c))
    fail(`global heap collection at address ${collection} lacks its 'GCOL' signature.`);
  const size = addr(head, 8, r.lengthSize, 'global heap collection size');
  if (size < 8 + r.lengthSize || size > MAX.value)
    fail(`global heap collection at address ${collection} has size ${size}, outside [${8 + r.lengthSize}, ${MAX.value}].`);
  const c = r.collections.get(collection) ?? r.block(collection, size, 'global heap collection');
  r.collections.set(collection, c);
  let p = 8 + r.lengthSize;
  const objHeader = 8 + r.lengthSize;
  while (p + objHeader <= size) {
    const idx = c.u16le(p, 'global heap object index');
    if (idx === 0) break; // free space: the rest of the collection
    const objSize = addr(c, p + 8, r.lengthSize, 'global heap object size');
    if (objSize < 0 || p + objHeader + objSize > size)
      fail(`global heap object ${idx} at offset ${c.base + p} with ${objSize} bytes runs past its collection.`, 'truncated');
    if (idx === index) return utf8.decode(c.bytesAt(p + objHeader, Math.min(length, objSize), 'global heap object'));
    p += objHeader + pad8(objSize);
  }
  fail(`global heap collection at address ${collection} has no object ${index}.`);
}
