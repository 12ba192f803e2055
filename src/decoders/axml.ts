import { FormatError } from '../errors.js';
import { checked } from '../io/checked.js';

/**
 * A bounded reader of Android's binary XML (AXML), enough for `AndroidManifest.xml`: the string pool
 * (UTF-8 and UTF-16), the resource map (attribute names stripped by obfuscators are found by resource
 * id), and start elements with their attributes. `readManifest` turns that into what an inventory
 * needs: package, versionCode, versionName, min and target SDK, permissions, `meta-data` name/value
 * pairs. Not handled: resource references are returned as `@0x7f...`, not resolved through
 * `resources.arsc`; namespaces other than android's are not distinguished.
 */

export interface AxmlAttribute {
  name: string;
  /** A string value, or the decimal/hex/boolean rendering of a typed value, or `@0x...` for a reference. */
  value: string;
}

export interface AxmlElement {
  name: string;
  attributes: AxmlAttribute[];
  depth: number;
}

export interface AndroidManifest {
  package?: string;
  versionCode?: string;
  versionName?: string;
  minSdk?: string;
  targetSdk?: string;
  permissions: string[];
  metaData: { name: string; value: string }[];
}

/** Bounds: a manifest is small; these stop hostile counts before they size anything. */
export const AXML_LIMITS = { maxBytes: 8 * 1024 * 1024, maxStrings: 200_000, maxElements: 100_000, maxAttributes: 1000 } as const;

const RES_STRING_POOL_TYPE = 0x0001;
const RES_XML_RESOURCE_MAP_TYPE = 0x0180;
const RES_XML_START_ELEMENT_TYPE = 0x0102;
const RES_XML_END_ELEMENT_TYPE = 0x0103;
const UTF8_FLAG = 0x100;

/** Framework attribute ids, for manifests whose attribute names were emptied. */
const ATTR_BY_ID: Record<number, string> = {
  16842755: 'name',
  16842788: 'value',
  16843291: 'versionCode',
  16843292: 'versionName',
  16843276: 'minSdkVersion',
  16843376: 'targetSdkVersion',
};

/** True when the bytes start like binary XML: RES_XML_TYPE (0x0003) with an 8-byte header. */
export function isAxml(head: Uint8Array): boolean {
  return head.length >= 8 && head[0] === 0x03 && head[1] === 0x00 && head[2] === 0x08 && head[3] === 0x00;
}

const utf16 = new TextDecoder('utf-16le');
const utf8 = new TextDecoder('utf-8');

function readPool(b: Uint8Array, dv: DataView, at: number, size: number): string[] {
  if (size < 28) throw new FormatError(`Invalid AXML: string pool chunk of ${size} bytes is shorter than its 28-byte header.`);
  const count = checked(dv.getUint32(at + 8, true), 0, Math.min(AXML_LIMITS.maxStrings, Math.floor(size / 4)), 'Invalid AXML: string count');
  const flags = dv.getUint32(at + 16, true);
  const stringsStart = checked(dv.getUint32(at + 20, true), 0, size, 'Invalid AXML: stringsStart');
  const headerSize = dv.getUint16(at + 2, true);
  if (headerSize + count * 4 > size) throw new FormatError(`Invalid AXML: ${count} string offsets do not fit in a ${size}-byte string pool.`);
  const isUtf8 = (flags & UTF8_FLAG) !== 0;
  const base = at + stringsStart;
  const end = at + size;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const off = dv.getUint32(at + headerSize + i * 4, true);
    let p = base + off;
    if (off >= size || p >= end) throw new FormatError(`Invalid AXML: string ${i} at offset ${off} is outside the ${size}-byte string pool.`);
    if (isUtf8) {
      // utf16 length then utf8 length, each one byte, or two with the high bit of the first set.
      p += (b[p]! & 0x80) !== 0 ? 2 : 1;
      if (p + 1 >= end) throw new FormatError(`Invalid AXML: string ${i} runs past its string pool.`, 'truncated');
      let n = b[p]!;
      if ((n & 0x80) !== 0) {
        n = ((n & 0x7f) << 8) | b[p + 1]!;
        p += 2;
      } else p += 1;
      if (p + n > end) throw new FormatError(`Invalid AXML: string ${i} of ${n} bytes runs past its string pool.`, 'truncated');
      out.push(utf8.decode(b.subarray(p, p + n)));
    } else {
      if (p + 2 > end) throw new FormatError(`Invalid AXML: string ${i} runs past its string pool.`, 'truncated');
      let n = dv.getUint16(p, true);
      p += 2;
      if ((n & 0x8000) !== 0) {
        if (p + 2 > end) throw new FormatError(`Invalid AXML: string ${i} runs past its string pool.`, 'truncated');
        n = ((n & 0x7fff) << 16) | dv.getUint16(p, true);
        p += 2;
      }
      if (p + n * 2 > end) throw new FormatError(`Invalid AXML: string ${i} of ${n} UTF-16 units runs past its string pool.`, 'truncated');
      out.push(utf16.decode(b.subarray(p, p + n * 2)));
    }
  }
  return out;
}

function typedValue(type: number, data: number, strings: readonly string[]): string {
  switch (type) {
    case 0x03: // TYPE_STRING
      return strings[data] ?? '';
    case 0x01: // TYPE_REFERENCE
      return `@0x${data.toString(16).padStart(8, '0')}`;
    case 0x10: // TYPE_INT_DEC
      return String(data | 0);
    case 0x11: // TYPE_INT_HEX
      return `0x${data.toString(16)}`;
    case 0x12: // TYPE_INT_BOOLEAN
      return data !== 0 ? 'true' : 'false';
    default:
      return String(data);
  }
}

/** Every start element of a binary XML document, in order, with its depth. */
export function readAxml(b: Uint8Array): AxmlElement[] {
  if (b.length > AXML_LIMITS.maxBytes) throw new FormatError(`Invalid AXML: ${b.length} bytes, over the ${AXML_LIMITS.maxBytes}-byte limit for a manifest.`);
  if (!isAxml(b)) throw new FormatError('Invalid AXML: no RES_XML_TYPE header (03 00 08 00) at offset 0.');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const total = checked(dv.getUint32(4, true), 8, b.length, 'Invalid AXML: document size');
  let strings: string[] = [];
  let resIds: number[] = [];
  const elements: AxmlElement[] = [];
  let depth = 0;
  let at = 8;
  while (at + 8 <= total) {
    const type = dv.getUint16(at, true);
    const headerSize = dv.getUint16(at + 2, true);
    const size = dv.getUint32(at + 4, true);
    if (size < 8 || headerSize < 8 || headerSize > size || at + size > total) {
      throw new FormatError(
        `Invalid AXML: chunk 0x${type.toString(16)} at offset ${at} declares ${size} bytes (header ${headerSize}), outside the ${total}-byte document.`,
      );
    }
    if (type === RES_STRING_POOL_TYPE) strings = readPool(b, dv, at, size);
    else if (type === RES_XML_RESOURCE_MAP_TYPE) {
      const n = Math.floor((size - headerSize) / 4);
      resIds = Array.from({ length: n }, (_, i) => dv.getUint32(at + headerSize + i * 4, true));
    } else if (type === RES_XML_START_ELEMENT_TYPE) {
      if (elements.length >= AXML_LIMITS.maxElements) throw new FormatError(`Invalid AXML: more than ${AXML_LIMITS.maxElements} elements.`);
      const ext = at + headerSize;
      if (ext + 20 > at + size)
        throw new FormatError(`Invalid AXML: start element at offset ${at} is ${size} bytes, too short for its attributes header.`, 'truncated');
      const name = strings[dv.getUint32(ext + 4, true)] ?? '';
      const attrStart = dv.getUint16(ext + 8, true);
      const attrSize = dv.getUint16(ext + 10, true);
      const count = checked(dv.getUint16(ext + 12, true), 0, AXML_LIMITS.maxAttributes, 'Invalid AXML: attribute count');
      if (attrSize < 20) throw new FormatError(`Invalid AXML: attribute size ${attrSize} is smaller than 20.`);
      if (ext + attrStart + count * attrSize > at + size)
        throw new FormatError(`Invalid AXML: ${count} attributes of element '${name}' run past its ${size}-byte chunk.`, 'truncated');
      const attributes: AxmlAttribute[] = [];
      for (let i = 0; i < count; i++) {
        const a = ext + attrStart + i * attrSize;
        const nameIdx = dv.getUint32(a + 4, true);
        let attrName = strings[nameIdx] ?? '';
        if (attrName === '' && resIds[nameIdx] !== undefined) attrName = ATTR_BY_ID[resIds[nameIdx]!] ?? '';
        const raw = dv.getUint32(a + 8, true);
        const dataType = b[a + 15]!;
        const data = dv.getUint32(a + 16, true);
        const value = raw !== 0xffffffff && strings[raw] !== undefined ? strings[raw]! : typedValue(dataType, data, strings);
        attributes.push({ name: attrName, value });
      }
      elements.push({ name, attributes, depth });
      depth++;
    } else if (type === RES_XML_END_ELEMENT_TYPE) depth = Math.max(0, depth - 1);
    at += size;
  }
  return elements;
}

/** The inventory-relevant fields of a binary `AndroidManifest.xml`. */
export function readManifest(b: Uint8Array): AndroidManifest {
  const m: AndroidManifest = { permissions: [], metaData: [] };
  const attr = (e: AxmlElement, n: string): string | undefined => e.attributes.find((a) => a.name === n)?.value;
  for (const e of readAxml(b)) {
    switch (e.name) {
      case 'manifest': {
        const set = (k: 'package' | 'versionCode' | 'versionName', v: string | undefined): void => {
          if (v !== undefined && v !== '') m[k] = v.slice(0, 200);
        };
        set('package', attr(e, 'package'));
        set('versionCode', attr(e, 'versionCode'));
        set('versionName', attr(e, 'versionName'));
        break;
      }
      case 'uses-sdk': {
        const min = attr(e, 'minSdkVersion');
        const target = attr(e, 'targetSdkVersion');
        if (min !== undefined) m.minSdk = min;
        if (target !== undefined) m.targetSdk = target;
        break;
      }
      case 'uses-permission':
      case 'uses-permission-sdk-23': {
        const n = attr(e, 'name');
        if (n !== undefined && n !== '' && !m.permissions.includes(n)) m.permissions.push(n.slice(0, 200));
        break;
      }
      case 'meta-data': {
        const n = attr(e, 'name');
        if (n !== undefined && n !== '') m.metaData.push({ name: n.slice(0, 200), value: (attr(e, 'value') ?? attr(e, 'resource') ?? '').slice(0, 500) });
        break;
      }
      default:
        break;
    }
  }
  return m;
}
