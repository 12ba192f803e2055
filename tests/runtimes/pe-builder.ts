/**
 * A minimal PE32+ file for tests: DOS header, COFF and optional headers, one section holding an import
 * table and a delay-load import table (DLL names only; `delayVa` writes the Visual C++ 6 form, whose
 * name is a virtual address) and an RT_VERSION resource whose StringFileInfo carries `strings`. Not
 * loadable; it is what a version-resource and import reader needs.
 */
export function buildPe(
  o: { machine?: number; imports?: string[]; delayImports?: string[]; delayVa?: boolean; strings?: Record<string, string> } = {},
): Uint8Array {
  const IMAGE_BASE = 0x180000000;
  const SECTION_VA = 0x1000;
  const RAW = 0x200;
  const body: number[] = [];
  const u16 = (v: number): void => void body.push(v & 0xff, (v >> 8) & 0xff);
  const u32 = (v: number): void => void body.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const pad4 = (): void => {
    while (body.length % 4) body.push(0);
  };
  const set32 = (at: number, v: number): void => {
    body[at] = v & 0xff;
    body[at + 1] = (v >>> 8) & 0xff;
    body[at + 2] = (v >>> 16) & 0xff;
    body[at + 3] = (v >>> 24) & 0xff;
  };
  const wstr = (s: string): void => {
    for (const ch of s) u16(ch.charCodeAt(0));
    u16(0);
  };
  // Resource directory: type 16 -> id 1 -> lang 0x409 -> data entry.
  const dir = (entries: [number, number][]): void => {
    u32(0);
    u32(0);
    u16(0);
    u16(0);
    u16(0);
    u16(entries.length);
    for (const [id, off] of entries) {
      u32(id);
      u32(off);
    }
  };
  dir([[16, 0x80000000 | 24]]); // 0..24
  dir([[1, 0x80000000 | 48]]); // 24..48
  dir([[0x409, 72]]); // 48..72
  const dataEntry = body.length; // 72
  u32(0);
  u32(0);
  u32(0);
  u32(0);
  // VS_VERSIONINFO with a StringFileInfo / StringTable / String children.
  const block = (key: string, text: string | undefined, children: () => void): void => {
    pad4();
    const start = body.length;
    u16(0);
    u16(text === undefined ? 0 : text.length + 1);
    u16(text === undefined ? 0 : 1);
    wstr(key);
    pad4();
    if (text !== undefined) wstr(text);
    children();
    pad4();
    const len = body.length - start;
    body[start] = len & 0xff;
    body[start + 1] = (len >> 8) & 0xff;
  };
  const verStart = body.length;
  block('VS_VERSION_INFO', undefined, () =>
    block('StringFileInfo', undefined, () =>
      block('040904B0', undefined, () => {
        for (const [k, v] of Object.entries(o.strings ?? {})) block(k, v, () => undefined);
      }),
    ),
  );
  set32(dataEntry, SECTION_VA + verStart);
  set32(dataEntry + 4, body.length - verStart);
  const resSize = body.length;
  // Import descriptors, then the names they point to.
  pad4();
  const impStart = body.length;
  const imports = o.imports ?? [];
  for (let i = 0; i <= imports.length; i++) for (let k = 0; k < 5; k++) u32(0);
  imports.forEach((name, i) => {
    set32(impStart + i * 20 + 12, SECTION_VA + body.length);
    for (const ch of name) body.push(ch.charCodeAt(0));
    body.push(0);
  });
  pad4();
  // Delay-load descriptors (32 bytes: grAttrs, rvaDLLName, ...), then the names.
  const delayStart = body.length;
  const delayed = o.delayImports ?? [];
  for (let i = 0; i <= delayed.length; i++) for (let k = 0; k < 8; k++) u32(0);
  delayed.forEach((name, i) => {
    const rva = SECTION_VA + body.length;
    set32(delayStart + i * 32, o.delayVa ? 0 : 1); // dlattrRva
    // A VA past 2^32 does not fit the 32-bit field; the VC6 form is a PE32 thing: keep it low.
    set32(delayStart + i * 32 + 4, o.delayVa ? rva + 0x10000 : rva);
    for (const ch of name) body.push(ch.charCodeAt(0));
    body.push(0);
  });
  pad4();

  const out = new Uint8Array(RAW + body.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x4d; // 'MZ'
  out[1] = 0x5a;
  dv.setUint32(0x3c, 64, true);
  dv.setUint32(64, 0x00004550, true); // 'PE\0\0'
  dv.setUint16(68, o.machine ?? 0x8664, true);
  dv.setUint16(70, 1, true);
  dv.setUint16(84, 240, true);
  const opt = 88;
  dv.setUint16(opt, 0x20b, true); // PE32+
  dv.setBigUint64(opt + 24, BigInt(o.delayVa ? 0x10000 : IMAGE_BASE), true);
  dv.setUint32(opt + 108, 16, true);
  dv.setUint32(opt + 112 + 8, SECTION_VA + impStart, true); // import directory
  dv.setUint32(opt + 112 + 12, (imports.length + 1) * 20, true);
  dv.setUint32(opt + 112 + 16, SECTION_VA, true); // resource directory
  dv.setUint32(opt + 112 + 20, resSize, true);
  if (delayed.length > 0) {
    dv.setUint32(opt + 112 + 13 * 8, SECTION_VA + delayStart, true); // delay-load import directory
    dv.setUint32(opt + 112 + 13 * 8 + 4, (delayed.length + 1) * 32, true);
  }
  const sec = opt + 240;
  out.set([0x2e, 0x72, 0x64, 0x61, 0x74, 0x61], sec); // '.rdata'
  dv.setUint32(sec + 8, body.length, true);
  dv.setUint32(sec + 12, SECTION_VA, true);
  dv.setUint32(sec + 16, body.length, true);
  dv.setUint32(sec + 20, RAW, true);
  out.set(body, RAW);
  return out;
}
