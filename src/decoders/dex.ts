import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked, checkedRange } from '../io/checked.js';

/**
 * A bounded reader of the class names of an Android `classes*.dex` file: the header, the `type_ids`
 * table and the strings they name (type descriptors such as `Lorg/tensorflow/lite/Interpreter;`),
 * returned as dotted names (`org.tensorflow.lite.Interpreter`). Enough to tell which SDKs an app
 * bundles. Not handled: code, methods, annotations, and the MUTF-8 subtleties of non-ASCII names
 * (bytes are decoded as UTF-8, which agrees for every ASCII class name).
 */

/**
 * 'dex\n' then a three-digit version and NUL (`dex\n035\0` .. `dex\n041\0`), in a file at least as long
 * as the 0x70-byte header: a shorter file with the magic (a stub) is quietly not a dex.
 */
export function isDex(head: Uint8Array): boolean {
  return head.length >= HEADER_SIZE && head[0] === 0x64 && head[1] === 0x65 && head[2] === 0x78 && head[3] === 0x0a && head[7] === 0;
}

export interface DexLimits {
  /** Largest dex file read (the whole file is read once, then strings are sliced from it). */
  maxBytes: number;
  /** type_ids entries accepted; the format's own maximum is 65,535. */
  maxTypes: number;
}

export const DEX_LIMITS: Readonly<DexLimits> = { maxBytes: 64 * 1024 * 1024, maxTypes: 65_535 };

const HEADER_SIZE = 0x70;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The dotted names of every class type the dex file declares or references, in table order. */
export function readDexClassNames(src: ByteSource, limits: Readonly<DexLimits> = DEX_LIMITS): string[] {
  if (src.size > limits.maxBytes)
    throw new LimitError(`A dex file of ${src.size} bytes is larger than the ${limits.maxBytes} bytes read for class names.`, 'maxDexBytes');
  const bytes = src.read(0, src.size);
  if (!isDex(bytes)) throw new FormatError("Invalid dex: no 'dex\\n' magic at offset 0.");
  if (bytes.length < HEADER_SIZE)
    throw new FormatError(`Invalid dex: the file is ${bytes.length} bytes, shorter than the ${HEADER_SIZE}-byte header.`, 'truncated');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const endian = dv.getUint32(40, true); // endian_tag
  if (endian !== 0x12345678) throw new FormatError(`Invalid dex: endian_tag 0x${endian.toString(16)} is not 0x12345678 (big-endian dex files are not read).`);
  const stringCount = dv.getUint32(56, true);
  const stringOff = dv.getUint32(60, true);
  const typeCount = checked(dv.getUint32(64, true), 0, limits.maxTypes, 'Invalid dex: type_ids_size');
  const typeOff = dv.getUint32(68, true);
  const strings = checkedRange(
    stringOff,
    checked(stringCount, 0, Math.floor(bytes.length / 4), 'Invalid dex: string_ids_size') * 4,
    bytes.length,
    'Invalid dex: string_ids',
  );
  const types = checkedRange(typeOff, typeCount * 4, bytes.length, 'Invalid dex: type_ids');
  const out: string[] = [];
  for (let i = 0; i < typeCount; i++) {
    const idx = dv.getUint32(types.offset + i * 4, true); // descriptor_idx
    if (idx >= stringCount) throw new FormatError(`Invalid dex: type ${i} names string ${idx}, past the ${stringCount} strings.`);
    const dataOff = dv.getUint32(strings.offset + idx * 4, true);
    if (dataOff >= bytes.length)
      throw new FormatError(`Invalid dex: string ${idx} data at offset ${dataOff} is past the end of a ${bytes.length}-byte file.`, 'truncated');
    // string_data_item: uleb128 utf16_size, then MUTF-8 bytes ending in NUL.
    let p = dataOff;
    for (let k = 0; k < 5 && p < bytes.length && (bytes[p]! & 0x80) !== 0; k++) p++;
    p++;
    if (bytes[p] !== 0x4c) continue; // only 'L...;' class descriptors, not primitives or arrays
    let end = p;
    const limit = Math.min(bytes.length, p + 1024);
    while (end < limit && bytes[end] !== 0) end++;
    const desc = utf8.decode(bytes.subarray(p + 1, end));
    if (!desc.endsWith(';')) continue;
    out.push(desc.slice(0, -1).replace(/\//g, '.'));
  }
  return out;
}
