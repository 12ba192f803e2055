import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked, checkedRange } from '../io/checked.js';

/**
 * A bounded reader of the parts of an ELF file that identify a library: class, byte order, machine
 * (as an Android ABI name where there is one), SONAME and NEEDED entries, dynamic symbols with their
 * defined/undefined state and version names (`.gnu.version`, `.gnu.version_d`, `.gnu.version_r`), and
 * the file ranges of the sections whose strings carry versions (`.rodata`, `.comment`).
 *
 * It reads the ELF header, the section header table, the section name table and the dynamic tables,
 * nothing else: `.rodata` is returned as a range for the caller to read within its own bounds. Every
 * offset, size and count is checked against the file and against the limits below before it is used.
 * Not handled: relocations, program-header-only files beyond SONAME/NEEDED (files with their section
 * headers stripped still give those through PT_DYNAMIC), symbol hash tables, DWARF.
 */

export interface ElfSection {
  name: string;
  type: number;
  offset: number;
  size: number;
}

export interface ElfSymbol {
  name: string;
  /** False for an import (st_shndx SHN_UNDEF). */
  defined: boolean;
  /** The symbol version (`VERS_1.30.0`, `GLIBC_2.17`), when `.gnu.version` names one. */
  version?: string;
}

export interface ElfInfo {
  bits: 32 | 64;
  littleEndian: boolean;
  /** e_type: 2 executable, 3 shared object (or PIE). */
  type: number;
  machine: number;
  /** Android ABI name of the machine (`arm64-v8a`), or `elf-machine-<n>` when there is none. */
  abi: string;
  soname?: string;
  needed: string[];
  /** Global and weak dynamic symbols, in table order. */
  symbols: ElfSymbol[];
  /** Versions this file defines (`.gnu.version_d`, without the base entry naming the file). */
  versionDefs: string[];
  /** Versions this file needs, per library (`.gnu.version_r`). */
  versionNeeds: { file: string; versions: string[] }[];
  /** Sections by name (the first of a name wins). */
  sections: Map<string, ElfSection>;
}

/** Bounds of the reader; the defaults fit every real library seen (a 45 MB ONNX Runtime has 30 sections, 548 dynamic symbols). */
export interface ElfLimits {
  maxSections: number;
  maxSymbols: number;
  /** Largest string table or version table read, in bytes. */
  maxTableBytes: number;
  maxVersionEntries: number;
}

export const ELF_LIMITS: Readonly<ElfLimits> = { maxSections: 4096, maxSymbols: 500_000, maxTableBytes: 32 * 1024 * 1024, maxVersionEntries: 10_000 };

const SHT_DYNSYM = 11;
const SHT_DYNAMIC = 6;
const SHT_GNU_VERSYM = 0x6fffffff;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const VER_FLG_BASE = 1;

/** e_machine -> Android ABI name (the names of `lib/<abi>/` in an APK). */
const ABI: Record<number, { 32?: string; 64?: string }> = {
  3: { 32: 'x86' }, // EM_386
  8: { 32: 'mips', 64: 'mips64' }, // EM_MIPS
  40: { 32: 'armeabi-v7a' }, // EM_ARM
  62: { 64: 'x86_64' }, // EM_X86_64
  183: { 64: 'arm64-v8a' }, // EM_AARCH64
  243: { 32: 'riscv32', 64: 'riscv64' }, // EM_RISCV
};

/** True when the head starts with the ELF magic `\x7fELF`. */
export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean,
    readonly what: string,
  ) {}
  private dv = (): DataView => new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  private need(at: number, n: number): void {
    if (at < 0 || at + n > this.bytes.length)
      throw new FormatError(`Invalid ELF: ${this.what} ends at ${this.bytes.length} bytes, before a field at ${at}.`, 'truncated');
  }
  u8(at: number): number {
    this.need(at, 1);
    return this.bytes[at]!;
  }
  u16(at: number): number {
    this.need(at, 2);
    return this.dv().getUint16(at, this.le);
  }
  u32(at: number): number {
    this.need(at, 4);
    return this.dv().getUint32(at, this.le);
  }
  u64(at: number): bigint {
    this.need(at, 8);
    return this.dv().getBigUint64(at, this.le);
  }
  /** An address-sized field as a number; values past 2^53 stay bigint for `checked` to refuse. */
  addr(at: number, bits: 32 | 64): number | bigint {
    if (bits === 32) return this.u32(at);
    const v = this.u64(at);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

const latin1 = new TextDecoder('latin1');

/** A NUL-terminated string at `at` in a string table; bounded to 4096 bytes; '' when out of range. */
function strAt(table: Uint8Array, at: number): string {
  if (at < 0 || at >= table.length) return '';
  let end = at;
  const limit = Math.min(table.length, at + 4096);
  while (end < limit && table[end] !== 0) end++;
  return latin1.decode(table.subarray(at, end));
}

/**
 * Reads the identifying tables of an ELF file. Throws FormatError (naming the field) when the header
 * or a table it needs is broken or absurd; a file without the ELF magic is a FormatError too, so call
 * `isElf` first for a quiet no-match.
 */
export function readElf(src: ByteSource, limits: Readonly<ElfLimits> = ELF_LIMITS): ElfInfo {
  const ident = src.read(0, 64);
  if (!isElf(ident)) throw new FormatError('Invalid ELF: no \\x7fELF magic at offset 0.');
  if (ident.length < 52) throw new FormatError(`Invalid ELF: the file is ${ident.length} bytes, shorter than an ELF header.`, 'truncated');
  const cls = ident[4]; // EI_CLASS: 1 ELFCLASS32, 2 ELFCLASS64
  const data = ident[5]; // EI_DATA: 1 little-endian, 2 big-endian
  if (cls !== 1 && cls !== 2) throw new FormatError(`Invalid ELF: EI_CLASS ${cls} is neither 1 (32-bit) nor 2 (64-bit).`);
  if (data !== 1 && data !== 2) throw new FormatError(`Invalid ELF: EI_DATA ${data} is neither 1 (little-endian) nor 2 (big-endian).`);
  const bits = cls === 1 ? 32 : 64;
  const le = data === 1;
  if (bits === 64 && ident.length < 64) throw new FormatError(`Invalid ELF: the file is ${ident.length} bytes, shorter than a 64-bit ELF header.`, 'truncated');
  const h = new Reader(ident, le, 'the ELF header');
  const type = h.u16(16);
  const machine = h.u16(18);
  const phoff = h.addr(bits === 64 ? 32 : 28, bits);
  const shoff = h.addr(bits === 64 ? 40 : 32, bits);
  const phentsize = h.u16(bits === 64 ? 54 : 42);
  const phnum = h.u16(bits === 64 ? 56 : 44);
  const shentsize = h.u16(bits === 64 ? 58 : 46);
  let shnum = h.u16(bits === 64 ? 60 : 48);
  let shstrndx = h.u16(bits === 64 ? 62 : 50);
  const size = src.size;
  const abiName = ABI[machine]?.[bits] ?? `elf-machine-${machine}`;
  const info: ElfInfo = {
    bits,
    littleEndian: le,
    type,
    machine,
    abi: abiName,
    needed: [],
    symbols: [],
    versionDefs: [],
    versionNeeds: [],
    sections: new Map(),
  };

  const shdrSize = bits === 64 ? 64 : 40;
  const sections: (ElfSection & { link: number; info: number; entsize: number })[] = [];
  const shoffN = checked(shoff, 0, size, 'Invalid ELF: e_shoff');
  if (shoffN !== 0) {
    if (shentsize < shdrSize) throw new FormatError(`Invalid ELF: e_shentsize ${shentsize} is smaller than a ${bits}-bit section header (${shdrSize}).`);
    if (shnum === 0 || shstrndx === 0xffff) {
      // Extended numbering: the real count and name-table index live in section header 0.
      const s0 = new Reader(src.read(shoffN, shdrSize), le, 'section header 0');
      if (shnum === 0) shnum = checked(s0.addr(bits === 64 ? 32 : 20, bits), 0, limits.maxSections, 'Invalid ELF: section count (section 0 sh_size)');
      if (shstrndx === 0xffff) shstrndx = s0.u32(bits === 64 ? 44 : 28);
    }
    checked(shnum, 0, limits.maxSections, 'Invalid ELF: e_shnum');
    const table = checkedRange(shoffN, shnum * shentsize, size, 'Invalid ELF: section header table');
    const t = new Reader(src.read(table.offset, table.length), le, 'the section header table');
    const raw: { name: number; type: number; offset: number | bigint; size: number | bigint; link: number; info: number; entsize: number | bigint }[] = [];
    for (let i = 0; i < shnum; i++) {
      const b = i * shentsize;
      raw.push(
        bits === 64
          ? {
              name: t.u32(b),
              type: t.u32(b + 4),
              offset: t.addr(b + 24, 64),
              size: t.addr(b + 32, 64),
              link: t.u32(b + 40),
              info: t.u32(b + 44),
              entsize: t.addr(b + 56, 64),
            }
          : {
              name: t.u32(b),
              type: t.u32(b + 4),
              offset: t.u32(b + 16),
              size: t.u32(b + 20),
              link: t.u32(b + 24),
              info: t.u32(b + 28),
              entsize: t.u32(b + 36),
            },
      );
    }
    let names: Uint8Array = new Uint8Array(0);
    const strSec = raw[shstrndx];
    if (shstrndx !== 0 && strSec !== undefined) {
      const r = checkedRange(strSec.offset, strSec.size, size, 'Invalid ELF: section name table (e_shstrndx)');
      checked(r.length, 0, limits.maxTableBytes, 'Invalid ELF: section name table size');
      names = src.read(r.offset, r.length);
    }
    for (const [i, s] of raw.entries()) {
      const name = strAt(names, s.name);
      // SHT_NOBITS (.bss) occupies no file bytes: its size says nothing about the file.
      const nobits = s.type === 8;
      const r = nobits ? { offset: 0, length: 0 } : checkedRange(s.offset, s.size, size, `Invalid ELF: section ${i} (${name || 'unnamed'})`);
      const entsize = checked(s.entsize, 0, 1 << 16, `Invalid ELF: section ${i} sh_entsize`);
      sections.push({ name, type: s.type, offset: r.offset, size: r.length, link: s.link, info: s.info, entsize });
      if (name !== '' && !info.sections.has(name)) info.sections.set(name, { name, type: s.type, offset: r.offset, size: r.length });
    }
  }

  const table = (s: { offset: number; size: number }, what: string): Uint8Array => {
    checked(s.size, 0, limits.maxTableBytes, `Invalid ELF: ${what} size`);
    return src.read(s.offset, s.size);
  };

  // Dynamic section: SONAME and NEEDED, with the string table its sh_link names.
  const dyn = sections.find((s) => s.type === SHT_DYNAMIC);
  if (dyn !== undefined) {
    const strs = sections[dyn.link];
    if (strs === undefined) throw new FormatError(`Invalid ELF: the dynamic section links to section ${dyn.link}, past the ${sections.length} sections.`);
    readDynamic(new Reader(table(dyn, '.dynamic'), le, '.dynamic'), bits, table(strs, '.dynstr'), info);
  } else if (sections.length === 0) {
    readDynamicFromSegments(src, bits, le, checked(phoff, 0, size, 'Invalid ELF: e_phoff'), phentsize, phnum, limits, info);
  }

  // Versions first, so that symbols can name theirs.
  const versionNames = new Map<number, string>();
  for (const s of sections) {
    if (s.type !== SHT_GNU_VERDEF && s.type !== SHT_GNU_VERNEED) continue;
    const strs = sections[s.link];
    if (strs === undefined) throw new FormatError(`Invalid ELF: version section ${s.name} links to section ${s.link}, past the ${sections.length} sections.`);
    const r = new Reader(table(s, s.name), le, s.name);
    const st = table(strs, 'version string table');
    const count = checked(s.info, 0, limits.maxVersionEntries, `Invalid ELF: ${s.name} entry count (sh_info)`);
    if (s.type === SHT_GNU_VERDEF) readVerdef(r, st, count, limits, versionNames, info);
    else readVerneed(r, st, count, limits, versionNames, info);
  }

  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (dynsym !== undefined) {
    const entsize = bits === 64 ? 24 : 16;
    if (dynsym.entsize !== 0 && dynsym.entsize < entsize)
      throw new FormatError(`Invalid ELF: .dynsym sh_entsize ${dynsym.entsize} is smaller than a ${bits}-bit symbol (${entsize}).`);
    const step = dynsym.entsize === 0 ? entsize : dynsym.entsize;
    const count = checked(Math.floor(dynsym.size / step), 0, limits.maxSymbols, 'Invalid ELF: dynamic symbol count');
    const strs = sections[dynsym.link];
    if (strs === undefined) throw new FormatError(`Invalid ELF: .dynsym links to section ${dynsym.link}, past the ${sections.length} sections.`);
    const symtab = new Reader(table(dynsym, '.dynsym'), le, '.dynsym');
    const strtab = table(strs, '.dynsym string table');
    const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
    const vs = versym !== undefined ? new Reader(table(versym, '.gnu.version'), le, '.gnu.version') : undefined;
    for (let i = 1; i < count; i++) {
      const b = i * step;
      const nameOff = symtab.u32(b);
      const stInfo = symtab.u8(bits === 64 ? b + 4 : b + 12);
      const shndx = symtab.u16(bits === 64 ? b + 6 : b + 14);
      if (stInfo >> 4 === 0) continue; // STB_LOCAL: not part of the interface
      const name = strAt(strtab, nameOff);
      if (name === '') continue;
      const sym: ElfSymbol = { name, defined: shndx !== 0 };
      if (vs !== undefined && (i + 1) * 2 <= vs.bytes.length) {
        const v = versionNames.get(vs.u16(i * 2) & 0x7fff); // bit 15: hidden
        if (v !== undefined) sym.version = v;
      }
      info.symbols.push(sym);
    }
  }
  return info;
}

function readDynamic(d: Reader, bits: 32 | 64, strtab: Uint8Array, info: ElfInfo): void {
  const ent = bits === 64 ? 16 : 8;
  for (let b = 0; b + ent <= d.bytes.length; b += ent) {
    const tag = bits === 64 ? Number(d.u64(b) & 0xffffffffn) : d.u32(b);
    const val = bits === 64 ? d.u64(b + 8) : BigInt(d.u32(b + 4));
    if (tag === 0) break; // DT_NULL
    if (tag !== DT_NEEDED && tag !== DT_SONAME) continue;
    const s = val < BigInt(strtab.length) ? strAt(strtab, Number(val)) : '';
    if (s === '') continue;
    if (tag === DT_SONAME) info.soname ??= s;
    else if (info.needed.length < 1000) info.needed.push(s);
  }
}

/**
 * Files whose section headers were stripped still carry PT_DYNAMIC; its DT_STRTAB is an address, turned
 * into a file offset through the PT_LOAD segment that holds it.
 */
function readDynamicFromSegments(
  src: ByteSource,
  bits: 32 | 64,
  le: boolean,
  phoff: number,
  phentsize: number,
  phnum: number,
  limits: Readonly<ElfLimits>,
  info: ElfInfo,
): void {
  if (phoff === 0 || phnum === 0) return;
  const phdrSize = bits === 64 ? 56 : 32;
  if (phentsize < phdrSize) throw new FormatError(`Invalid ELF: e_phentsize ${phentsize} is smaller than a ${bits}-bit program header (${phdrSize}).`);
  checked(phnum, 0, limits.maxSections, 'Invalid ELF: e_phnum');
  const r = checkedRange(phoff, phnum * phentsize, src.size, 'Invalid ELF: program header table');
  const p = new Reader(src.read(r.offset, r.length), le, 'the program header table');
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    const type = p.u32(b);
    const offset = bits === 64 ? p.addr(b + 8, 64) : p.u32(b + 4);
    const vaddr = bits === 64 ? p.addr(b + 16, 64) : p.u32(b + 8);
    const filesz = bits === 64 ? p.addr(b + 32, 64) : p.u32(b + 16);
    if (type === PT_LOAD && typeof offset === 'number' && typeof vaddr === 'number' && typeof filesz === 'number') loads.push({ vaddr, offset, filesz });
    if (type === PT_DYNAMIC) {
      const range = checkedRange(offset, filesz, src.size, `Invalid ELF: PT_DYNAMIC segment ${i}`);
      dynamic = { offset: range.offset, size: range.length };
    }
  }
  if (dynamic === undefined) return;
  checked(dynamic.size, 0, limits.maxTableBytes, 'Invalid ELF: PT_DYNAMIC size');
  const d = new Reader(src.read(dynamic.offset, dynamic.size), le, 'PT_DYNAMIC');
  const ent = bits === 64 ? 16 : 8;
  let strAddr: number | undefined;
  let strSize = 0;
  for (let b = 0; b + ent <= d.bytes.length; b += ent) {
    const tag = bits === 64 ? Number(d.u64(b) & 0xffffffffn) : d.u32(b);
    const v = bits === 64 ? d.u64(b + 8) : BigInt(d.u32(b + 4));
    if (tag === 0) break;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    if (tag === DT_STRTAB) strAddr = Number(v);
    if (tag === DT_STRSZ) strSize = Number(v);
  }
  if (strAddr === undefined) return;
  const seg = loads.find((l) => strAddr! >= l.vaddr && strAddr! < l.vaddr + l.filesz);
  if (seg === undefined) return;
  const str = checkedRange(seg.offset + (strAddr - seg.vaddr), strSize, src.size, 'Invalid ELF: DT_STRTAB');
  checked(str.length, 0, limits.maxTableBytes, 'Invalid ELF: DT_STRSZ');
  readDynamic(d, bits, src.read(str.offset, str.length), info);
}

function readVerdef(r: Reader, strtab: Uint8Array, count: number, limits: Readonly<ElfLimits>, names: Map<number, string>, info: ElfInfo): void {
  let at = 0;
  for (let i = 0; i < count; i++) {
    const flags = r.u16(at + 2);
    const ndx = r.u16(at + 4);
    const aux = r.u32(at + 12);
    const next = r.u32(at + 16);
    const name = strAt(strtab, r.u32(at + aux)); // Verdaux.vda_name: the first aux names the version
    if (name !== '') {
      names.set(ndx & 0x7fff, name);
      if ((flags & VER_FLG_BASE) === 0 && info.versionDefs.length < limits.maxVersionEntries) info.versionDefs.push(name);
    }
    if (next === 0) break;
    at += next; // forward only: vd_next is unsigned, so a loop is impossible
  }
}

function readVerneed(r: Reader, strtab: Uint8Array, count: number, limits: Readonly<ElfLimits>, names: Map<number, string>, info: ElfInfo): void {
  let at = 0;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const cnt = r.u16(at + 2);
    const file = strAt(strtab, r.u32(at + 4));
    const aux = r.u32(at + 8);
    const next = r.u32(at + 12);
    const versions: string[] = [];
    let a = at + aux;
    for (let j = 0; j < cnt; j++) {
      if (++total > limits.maxVersionEntries) throw new FormatError(`Invalid ELF: .gnu.version_r holds more than ${limits.maxVersionEntries} needed versions.`);
      const other = r.u16(a + 6);
      const name = strAt(strtab, r.u32(a + 8));
      const anext = r.u32(a + 12);
      if (name !== '') {
        names.set(other & 0x7fff, name);
        versions.push(name);
      }
      if (anext === 0) break;
      a += anext;
    }
    info.versionNeeds.push({ file, versions });
    if (next === 0) break;
    at += next;
  }
}
