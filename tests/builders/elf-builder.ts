/**
 * A tiny ELF shared-object builder for tests: just the tables a library identification reads
 * (`.dynstr`, `.dynsym`, `.gnu.version`, `.gnu.version_d`, `.gnu.version_r`, `.dynamic`, `.rodata`,
 * `.comment`, `.shstrtab`), in 32 or 64 bits and either byte order. The result is not loadable; it is
 * what `readelf -d --dyn-syms -V` would describe. Raw section headers can be overridden to build
 * hostile files.
 */

export interface ElfSpec {
  bits?: 32 | 64;
  littleEndian?: boolean;
  /** e_machine: 183 AArch64 (default), 40 ARM, 62 x86-64, 3 i386, 243 RISC-V. */
  machine?: number;
  soname?: string;
  needed?: string[];
  symbols?: { name: string; defined?: boolean; version?: string }[];
  /** Versions this library defines (besides the base one naming the file). */
  versionDefs?: string[];
  /** Versions needed from other libraries. */
  versionNeeds?: { file: string; versions: string[] }[];
  rodata?: string | Uint8Array;
  comment?: string;
  /** Leave the section header table out (e_shoff 0), keeping PT_DYNAMIC. */
  stripSections?: boolean;
}

const enc = new TextEncoder();

class Strtab {
  bytes: number[] = [0];
  private at = new Map<string, number>();
  add(s: string): number {
    if (s === '') return 0;
    const known = this.at.get(s);
    if (known !== undefined) return known;
    const off = this.bytes.length;
    this.bytes.push(...enc.encode(s), 0);
    this.at.set(s, off);
    return off;
  }
}

class Out {
  private buf: number[] = [];
  constructor(
    private readonly le: boolean,
    private readonly bits: 32 | 64,
  ) {}
  get length(): number {
    return this.buf.length;
  }
  u8(v: number): void {
    this.buf.push(v & 0xff);
  }
  u16(v: number): void {
    const b = [v & 0xff, (v >> 8) & 0xff];
    this.buf.push(...(this.le ? b : b.reverse()));
  }
  u32(v: number): void {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.buf.push(...(this.le ? b : b.reverse()));
  }
  u64(v: number): void {
    const lo = v % 2 ** 32;
    const hi = Math.floor(v / 2 ** 32);
    if (this.le) {
      this.u32(lo);
      this.u32(hi);
    } else {
      this.u32(hi);
      this.u32(lo);
    }
  }
  addr(v: number): void {
    if (this.bits === 64) this.u64(v);
    else this.u32(v);
  }
  bytes_(b: Uint8Array | number[]): void {
    for (const x of b) this.buf.push(x);
  }
  align(n: number): void {
    while (this.buf.length % n !== 0) this.buf.push(0);
  }
  result(): Uint8Array {
    return Uint8Array.from(this.buf);
  }
}

interface Sec {
  name: string;
  type: number;
  data: Uint8Array;
  link?: number;
  info?: number;
  entsize?: number;
  offset?: number;
}

function sub(le: boolean, bits: 32 | 64, fill: (o: Out) => void): Uint8Array {
  const o = new Out(le, bits);
  fill(o);
  return o.result();
}

/** Builds the ELF described by `spec`. */
export function buildElf(spec: ElfSpec = {}): Uint8Array {
  const bits = spec.bits ?? 64;
  const le = spec.littleEndian ?? true;
  const dynstr = new Strtab();
  const symbols = spec.symbols ?? [];
  // Version indexes: 1 global, 2 the base definition, 3.. defined versions, then needed ones.
  const defs = spec.versionDefs ?? [];
  const needs = spec.versionNeeds ?? [];
  const index = new Map<string, number>();
  let next = 2;
  const baseName = spec.soname ?? 'lib.so';
  const defEntries: { name: string; ndx: number; base: boolean }[] = [];
  if (defs.length > 0) {
    defEntries.push({ name: baseName, ndx: next++, base: true });
    for (const d of defs) {
      index.set(d, next);
      defEntries.push({ name: d, ndx: next++, base: false });
    }
  }
  for (const n of needs) for (const v of n.versions) if (!index.has(v)) index.set(v, next++);

  const dynsym = sub(le, bits, (o) => {
    const sym = (name: number, info: number, shndx: number): void => {
      if (bits === 64) {
        o.u32(name);
        o.u8(info);
        o.u8(0);
        o.u16(shndx);
        o.u64(0);
        o.u64(0);
      } else {
        o.u32(name);
        o.u32(0);
        o.u32(0);
        o.u8(info);
        o.u8(0);
        o.u16(shndx);
      }
    };
    sym(0, 0, 0);
    for (const s of symbols) sym(dynstr.add(s.name), (1 << 4) | 2, s.defined === false ? 0 : 7); // STB_GLOBAL, STT_FUNC; section 7 (.rodata) stands in for .text
  });
  const versym = sub(le, bits, (o) => {
    o.u16(0);
    for (const s of symbols) o.u16(s.version !== undefined ? (index.get(s.version) ?? 1) : 1);
  });
  const verdef = sub(le, bits, (o) => {
    defEntries.forEach((d, i) => {
      o.u16(1); // vd_version
      o.u16(d.base ? 1 : 0); // vd_flags: VER_FLG_BASE
      o.u16(d.ndx);
      o.u16(1); // vd_cnt
      o.u32(0); // vd_hash (not checked by readers of names)
      o.u32(20); // vd_aux
      o.u32(i === defEntries.length - 1 ? 0 : 28); // vd_next
      o.u32(dynstr.add(d.name)); // vda_name
      o.u32(0); // vda_next
    });
  });
  const verneed = sub(le, bits, (o) => {
    needs.forEach((n, i) => {
      o.u16(1);
      o.u16(n.versions.length);
      o.u32(dynstr.add(n.file));
      o.u32(16);
      o.u32(i === needs.length - 1 ? 0 : 16 + 16 * n.versions.length);
      n.versions.forEach((v, j) => {
        o.u32(0);
        o.u16(0);
        o.u16(index.get(v)!);
        o.u32(dynstr.add(v));
        o.u32(j === n.versions.length - 1 ? 0 : 16);
      });
    });
  });
  const dynEntries: [number, number][] = [];
  for (const n of spec.needed ?? []) dynEntries.push([1, dynstr.add(n)]);
  if (spec.soname !== undefined) dynEntries.push([14, dynstr.add(spec.soname)]);
  const dynstrBytes = Uint8Array.from(dynstr.bytes);
  const rodata = typeof spec.rodata === 'string' ? enc.encode(spec.rodata) : (spec.rodata ?? new Uint8Array(16));
  const comment = enc.encode(`${spec.comment ?? 'GCC: (GNU) 12.2.0'}\0`);

  // Section indexes (fixed so that sh_link values are known): 0 null, 1 .dynstr, 2 .dynsym, 3 .gnu.version,
  // 4 .gnu.version_d, 5 .gnu.version_r, 6 .dynamic, 7 .rodata, 8 .comment, 9 .shstrtab.
  const secs: Sec[] = [
    { name: '', type: 0, data: new Uint8Array(0) },
    { name: '.dynstr', type: 3, data: dynstrBytes },
    { name: '.dynsym', type: 11, data: dynsym, link: 1, info: 1, entsize: bits === 64 ? 24 : 16 },
    { name: '.gnu.version', type: 0x6fffffff, data: versym, link: 2, entsize: 2 },
    { name: '.gnu.version_d', type: 0x6ffffffd, data: verdef, link: 1, info: defEntries.length },
    { name: '.gnu.version_r', type: 0x6ffffffe, data: verneed, link: 1, info: needs.length },
    { name: '.dynamic', type: 6, data: new Uint8Array(0), link: 1, entsize: bits === 64 ? 16 : 8 },
    { name: '.rodata', type: 1, data: rodata },
    { name: '.comment', type: 1, data: comment, entsize: 1 },
  ];
  const shstr = new Strtab();
  const nameOffsets = secs.map((s) => shstr.add(s.name));
  const shstrName = shstr.add('.shstrtab');
  secs.push({ name: '.shstrtab', type: 3, data: Uint8Array.from(shstr.bytes) });
  nameOffsets.push(shstrName);

  const ehsize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const out = new Out(le, bits);
  // Layout: header, 2 program headers (PT_LOAD over the whole file, PT_DYNAMIC), then section data.
  let at = ehsize + 2 * phentsize;
  const offsets: number[] = [];
  const pad = (n: number): number => (n + 7) & ~7;
  // .dynamic holds DT_STRTAB as an address equal to its file offset (one PT_LOAD at vaddr 0).
  const dynBytes = (): Uint8Array =>
    sub(le, bits, (o) => {
      for (const [t, v] of dynEntries) {
        o.addr(t);
        o.addr(v);
      }
      // readelf finds the version tables through these tags, as the dynamic linker does.
      for (const [tag, sec] of [
        [6, 2],
        [0x6ffffff0, 3],
        [0x6ffffffc, 4],
        [0x6ffffffe, 5],
      ] as const) {
        o.addr(tag); // DT_SYMTAB, DT_VERSYM, DT_VERDEF, DT_VERNEED
        o.addr(offsets[sec]!);
      }
      o.addr(0x6ffffffd);
      o.addr(defEntries.length); // DT_VERDEFNUM
      o.addr(0x6fffffff);
      o.addr(needs.length); // DT_VERNEEDNUM
      o.addr(5);
      o.addr(offsets[1]!); // DT_STRTAB
      o.addr(10);
      o.addr(dynstrBytes.length); // DT_STRSZ
      o.addr(0);
      o.addr(0); // DT_NULL
    });
  secs[6]!.data = sub(le, bits, (o) => {
    for (let i = 0; i < dynEntries.length + 9; i++) {
      o.addr(0);
      o.addr(0);
    }
  });
  for (const s of secs) {
    offsets.push(at);
    at = pad(at + s.data.length);
  }
  secs[6]!.data = dynBytes();
  const shoff = at;
  const total = shoff + (spec.stripSections ? 0 : secs.length * (bits === 64 ? 64 : 40));

  // ELF header
  out.bytes_([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, le ? 1 : 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  out.u16(3); // ET_DYN
  out.u16(spec.machine ?? 183);
  out.u32(1);
  out.addr(0); // e_entry
  out.addr(ehsize); // e_phoff
  out.addr(spec.stripSections ? 0 : shoff); // e_shoff
  out.u32(0); // e_flags
  out.u16(ehsize);
  out.u16(phentsize);
  out.u16(2);
  out.u16(bits === 64 ? 64 : 40);
  out.u16(spec.stripSections ? 0 : secs.length);
  out.u16(spec.stripSections ? 0 : secs.length - 1);
  const phdr = (type: number, offset: number, size: number): void => {
    if (bits === 64) {
      out.u32(type);
      out.u32(4);
      out.u64(offset);
      out.u64(offset);
      out.u64(offset);
      out.u64(size);
      out.u64(size);
      out.u64(8);
    } else {
      out.u32(type);
      out.u32(offset);
      out.u32(offset);
      out.u32(offset);
      out.u32(size);
      out.u32(size);
      out.u32(4);
      out.u32(8);
    }
  };
  phdr(1, 0, total);
  phdr(2, offsets[6]!, secs[6]!.data.length);
  for (const [i, s] of secs.entries()) {
    while (out.length < offsets[i]!) out.u8(0);
    out.bytes_(s.data);
  }
  while (out.length < shoff) out.u8(0);
  if (!spec.stripSections) {
    for (const [i, s] of secs.entries()) {
      out.u32(nameOffsets[i]!);
      out.u32(s.type);
      out.addr(0); // sh_flags
      out.addr(i === 0 ? 0 : offsets[i]!); // sh_addr
      out.addr(i === 0 ? 0 : offsets[i]!);
      out.addr(s.data.length);
      out.u32(s.link ?? 0);
      out.u32(s.info ?? 0);
      out.addr(1);
      out.addr(s.entsize ?? 0);
    }
  }
  return out.result();
}

/** Offset of the section header table and its entry size in a built ELF, to corrupt it in tests. */
export function sectionTable(elf: Uint8Array): { shoff: number; shentsize: number; shnumAt: number; bits: 32 | 64; le: boolean } {
  const bits = elf[4] === 2 ? 64 : 32;
  const le = elf[5] === 1;
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = bits === 64 ? Number(dv.getBigUint64(40, le)) : dv.getUint32(32, le);
  return { shoff, shentsize: bits === 64 ? 64 : 40, shnumAt: bits === 64 ? 60 : 48, bits, le };
}
