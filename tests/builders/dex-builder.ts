/**
 * A minimal dex file for tests: the 0x70-byte header, `string_ids`, `type_ids` and the string data
 * they point to, so that class names can be read. No code, no checksums that a reader of names uses.
 * `override` patches header fields (by byte offset) to build hostile files.
 */
export function buildDex(classNames: string[], extraStrings: string[] = [], override: Record<number, number> = {}): Uint8Array {
  const enc = new TextEncoder();
  const descriptors = classNames.map((c) => `L${c.replace(/\./g, '/')};`);
  // Dex sorts its string table; a reader must not depend on it, but real files are sorted.
  const strings = [...new Set([...descriptors, ...extraStrings])].sort();
  const HEADER = 0x70;
  const stringIdsOff = HEADER;
  const typeIdsOff = stringIdsOff + strings.length * 4;
  const dataOff = typeIdsOff + descriptors.length * 4;
  const data: number[] = [];
  const offsets: number[] = [];
  for (const s of strings) {
    offsets.push(dataOff + data.length);
    const b = enc.encode(s);
    let n = s.length; // uleb128 utf16_size
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n !== 0) byte |= 0x80;
      data.push(byte);
    } while (n !== 0);
    data.push(...b, 0);
  }
  const total = dataOff + data.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(enc.encode('dex\n035\0'), 0);
  dv.setUint32(32, total, true); // file_size
  dv.setUint32(36, HEADER, true); // header_size
  dv.setUint32(40, 0x12345678, true); // endian_tag
  dv.setUint32(56, strings.length, true);
  dv.setUint32(60, stringIdsOff, true);
  dv.setUint32(64, descriptors.length, true);
  dv.setUint32(68, typeIdsOff, true);
  for (const [i, off] of offsets.entries()) dv.setUint32(stringIdsOff + i * 4, off, true);
  for (const [i, d] of descriptors.entries()) dv.setUint32(typeIdsOff + i * 4, strings.indexOf(d), true);
  out.set(data, dataOff);
  for (const [at, v] of Object.entries(override)) dv.setUint32(Number(at), v, true);
  return out;
}
