import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';

/**
 * A bounded reader of what identifies a Windows PE library (kiosks, POS terminals on Windows): the
 * machine, the imported DLL names (the import directory and the delay-load import directory, where
 * apps put an optional inference runtime such as `onnxruntime.dll` or `DirectML.dll`), and the strings
 * of the version resource (`FileDescription`, `ProductName`, `FileVersion`, `ProductVersion`,
 * `CompanyName`...). It reads the headers, the section table, the import descriptors and the one
 * RT_VERSION resource, nothing else.
 * Not handled: imported function names, exported names, resources other than RT_VERSION, Authenticode.
 */

export interface PeInfo {
  /** IMAGE_FILE_MACHINE_*: 0x14c i386, 0x8664 AMD64, 0xaa64 ARM64, 0x1c4 ARMNT. */
  machine: number;
  arch: string;
  /** DLL names of the import directory, in order. */
  imports: string[];
  /** DLL names of the delay-load import directory (loaded on first call), in order. */
  delayImports: string[];
  /** StringFileInfo strings of the version resource. */
  version: Record<string, string>;
}

export const PE_LIMITS = { maxSections: 96, maxImports: 4096, maxVersionBytes: 64 * 1024 } as const;

const ARCH: Record<number, string> = { 332: 'x86', 34404: 'x86_64', 43620: 'arm64', 452: 'arm' };
const RT_VERSION = 16;
const utf16 = new TextDecoder('utf-16le');
const latin1 = new TextDecoder('latin1');

/** 'MZ' at offset 0. */
export function isPe(head: Uint8Array): boolean {
  return head.length >= 64 && head[0] === 0x4d && head[1] === 0x5a;
}

interface Section {
  va: number;
  vsize: number;
  raw: number;
  rawSize: number;
}

/** Reads a PE file's machine, imports and version strings; FormatError naming the field when broken. */
export function readPe(src: ByteSource): PeInfo {
  const dos = src.read(0, 64);
  if (!isPe(dos)) throw new FormatError("Invalid PE: no 'MZ' at offset 0.");
  const dd = new DataView(dos.buffer, dos.byteOffset, dos.byteLength);
  const lfanew = checked(dd.getUint32(0x3c, true), 64, Math.max(64, src.size - 24), 'Invalid PE: e_lfanew');
  const hdr = src.read(lfanew, 24 + 240);
  const h = new DataView(hdr.buffer, hdr.byteOffset, hdr.byteLength);
  if (hdr.length < 24 || h.getUint32(0, true) !== 0x00004550) throw new FormatError(`Invalid PE: no 'PE\\0\\0' signature at e_lfanew ${lfanew}.`);
  const machine = h.getUint16(4, true);
  const nsec = checked(h.getUint16(6, true), 0, PE_LIMITS.maxSections, 'Invalid PE: NumberOfSections');
  const optSize = h.getUint16(20, true);
  const opt = 24;
  if (hdr.length < opt + 2) throw new FormatError('Invalid PE: the optional header is cut short.', 'truncated');
  const magic = h.getUint16(opt, true);
  if (magic !== 0x10b && magic !== 0x20b) throw new FormatError(`Invalid PE: optional header magic 0x${magic.toString(16)} is neither PE32 nor PE32+.`);
  const dirs = opt + (magic === 0x20b ? 112 : 96);
  const ndirs = hdr.length >= dirs ? h.getUint32(dirs - 4, true) : 0;
  const dir = (i: number): { rva: number; size: number } =>
    i < Math.min(ndirs, 16) && dirs + i * 8 + 8 <= Math.min(hdr.length, opt + optSize)
      ? { rva: h.getUint32(dirs + i * 8, true), size: h.getUint32(dirs + i * 8 + 4, true) }
      : { rva: 0, size: 0 };
  const secAt = checked(lfanew + opt + optSize, 0, src.size, 'Invalid PE: section table offset');
  const st = src.read(secAt, nsec * 40);
  if (st.length < nsec * 40) throw new FormatError(`Invalid PE: the table of ${nsec} sections runs past the end of the file.`, 'truncated');
  const sv = new DataView(st.buffer, st.byteOffset, st.byteLength);
  const sections: Section[] = [];
  for (let i = 0; i < nsec; i++) {
    sections.push({
      vsize: sv.getUint32(i * 40 + 8, true),
      va: sv.getUint32(i * 40 + 12, true),
      rawSize: sv.getUint32(i * 40 + 16, true),
      raw: sv.getUint32(i * 40 + 20, true),
    });
  }
  /** File offset of an RVA and the bytes available there within its section. */
  const at = (rva: number): { offset: number; avail: number } | undefined => {
    for (const s of sections) {
      const span = Math.max(s.vsize, s.rawSize);
      if (rva >= s.va && rva < s.va + span) {
        const off = s.raw + (rva - s.va);
        const end = Math.min(s.raw + s.rawSize, src.size);
        return off < end ? { offset: off, avail: end - off } : undefined;
      }
    }
    return undefined;
  };
  const cstr = (rva: number): string => {
    const p = at(rva);
    if (p === undefined) return '';
    const b = src.read(p.offset, Math.min(p.avail, 256));
    const z = b.indexOf(0);
    return latin1.decode(b.subarray(0, z < 0 ? b.length : z));
  };

  const info: PeInfo = { machine, arch: ARCH[machine] ?? `pe-machine-0x${machine.toString(16)}`, imports: [], delayImports: [], version: {} };
  const imp = dir(1);
  if (imp.rva !== 0) {
    const p = at(imp.rva);
    if (p !== undefined) {
      const n = Math.min(Math.floor(p.avail / 20), PE_LIMITS.maxImports);
      const table = src.read(p.offset, n * 20);
      const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
      for (let i = 0; i + 20 <= table.length; i += 20) {
        const nameRva = tv.getUint32(i + 12, true);
        if (nameRva === 0) break; // the all-zero descriptor ends the table
        const name = cstr(nameRva);
        if (name !== '') info.imports.push(name);
      }
    }
  }
  // IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT (13): 32-byte ImgDelayDescr {grAttrs, rvaDLLName, rvaHmod,
  // rvaIAT, rvaINT, rvaBoundIAT, rvaUnloadIAT, dwTimeStamp}, ended by an all-zero one. grAttrs bit 0
  // (dlattrRva) clear is the Visual C++ 6 form, whose fields are virtual addresses: less ImageBase.
  const delay = dir(13);
  if (delay.rva !== 0) {
    const p = at(delay.rva);
    if (p !== undefined) {
      // ImageBase: u64 at optional header +24 in PE32+, u32 at +28 in PE32.
      const imageBase = magic === 0x20b ? Number(h.getBigUint64(opt + 24, true)) : h.getUint32(opt + 28, true);
      const n = Math.min(Math.floor(p.avail / 32), PE_LIMITS.maxImports);
      const table = src.read(p.offset, n * 32);
      const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
      for (let i = 0; i + 32 <= table.length; i += 32) {
        const attrs = tv.getUint32(i, true);
        const nameField = tv.getUint32(i + 4, true);
        if (nameField === 0) break;
        const rva = (attrs & 1) === 1 ? nameField : nameField - imageBase;
        const name = Number.isSafeInteger(rva) && rva > 0 ? cstr(rva) : '';
        if (name !== '') info.delayImports.push(name);
      }
    }
  }
  const res = dir(2);
  if (res.rva !== 0) {
    const base = at(res.rva);
    if (base !== undefined) readVersion(src, base, at, info);
  }
  return info;
}

function readVersion(
  src: ByteSource,
  base: { offset: number; avail: number },
  at: (rva: number) => { offset: number; avail: number } | undefined,
  info: PeInfo,
): void {
  const span = Math.min(base.avail, 16 * 1024 * 1024);
  const u16 = (o: number): number => {
    if (o + 2 > span) throw new FormatError(`Invalid PE: resource directory field at ${o} is past the ${span}-byte resource section.`, 'truncated');
    const b = src.read(base.offset + o, 2);
    return b[0]! | (b[1]! << 8);
  };
  const u32 = (o: number): number => {
    if (o + 4 > span) throw new FormatError(`Invalid PE: resource directory field at ${o} is past the ${span}-byte resource section.`, 'truncated');
    const b = src.read(base.offset + o, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  };
  /** The entry of a resource directory with `id`, or its first entry; its target offset and whether it is a directory. */
  const entry = (dirOff: number, id: number | undefined): { off: number; isDir: boolean } | undefined => {
    const n = Math.min(u16(dirOff + 12) + u16(dirOff + 14), 4096);
    for (let i = 0; i < n; i++) {
      const e = dirOff + 16 + i * 8;
      const name = u32(e);
      const target = u32(e + 4);
      if (id === undefined || ((name & 0x80000000) === 0 && name === id)) return { off: target & 0x7fffffff, isDir: (target & 0x80000000) !== 0 };
    }
    return undefined;
  };
  const type = entry(0, RT_VERSION);
  if (type === undefined || !type.isDir) return;
  const name = entry(type.off, undefined);
  if (name === undefined || !name.isDir) return;
  const lang = entry(name.off, undefined);
  if (lang === undefined || lang.isDir) return;
  const dataRva = u32(lang.off);
  const size = checked(u32(lang.off + 4), 0, PE_LIMITS.maxVersionBytes, 'Invalid PE: version resource size');
  const p = at(dataRva);
  if (p === undefined) return;
  const b = src.read(p.offset, Math.min(size, p.avail));
  versionBlocks(b, 0, b.length, 0, info.version, { n: 0 });
}

const align4 = (n: number): number => (n + 3) & ~3;

/** VS_VERSIONINFO blocks: wLength, wValueLength, wType, a UTF-16 key, a value, children; text values kept. */
function versionBlocks(b: Uint8Array, off: number, end: number, depth: number, out: Record<string, string>, count: { n: number }): number {
  if (off + 6 > end || depth > 4 || ++count.n > 2000) return 0;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = dv.getUint16(off, true);
  if (len < 6 || off + len > end) return 0;
  const valueLen = dv.getUint16(off + 2, true);
  const type = dv.getUint16(off + 4, true);
  let p = off + 6;
  let k = p;
  while (k + 1 < off + len && (b[k] !== 0 || b[k + 1] !== 0)) k += 2;
  const key = utf16.decode(b.subarray(p, k));
  p = align4(k + 2);
  if (type === 1 && valueLen > 0 && depth >= 3) {
    const vEnd = Math.min(p + valueLen * 2, off + len);
    const value = utf16.decode(b.subarray(p, vEnd)).replace(/\0+$/, '');
    if (key !== '' && Object.keys(out).length < 64) out[key] = value.slice(0, 200);
  }
  p = align4(p + (type === 1 ? valueLen * 2 : valueLen));
  while (p < off + len) {
    const n = versionBlocks(b, p, off + len, depth + 1, out, count);
    if (n === 0) break;
    p = align4(p + n);
  }
  return len;
}
