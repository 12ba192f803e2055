import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isElf, readElf } from '../../src/decoders/elf.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { buildElf, sectionTable } from '../builders/elf-builder.js';
import { ortLibrary } from '../runtimes/real-binaries.js';

const spec = {
  soname: 'libonnxruntime.so.1',
  needed: ['libc.so.6', 'libm.so.6'],
  symbols: [
    { name: 'OrtGetApiBase', version: 'VERS_1.30.0' },
    { name: 'malloc', defined: false, version: 'GLIBC_2.17' },
  ],
  versionDefs: ['VERS_1.30.0'],
  versionNeeds: [{ file: 'libc.so.6', versions: ['GLIBC_2.17'] }],
  rodata: 'hello\0world',
};

describe('elf reader', () => {
  it.each([
    [64, true, 183, 'arm64-v8a'],
    [32, true, 40, 'armeabi-v7a'],
    [64, false, 62, 'x86_64'],
    [32, false, 3, 'x86'],
    [64, true, 243, 'riscv64'],
    [64, true, 4242, 'elf-machine-4242'],
  ] as const)('reads a %d-bit, little-endian %s, machine %d ELF as %s', (bits, littleEndian, machine, abi) => {
    const elf = readElf(new BufferSource(buildElf({ ...spec, bits, littleEndian, machine })));
    expect(elf.bits).toBe(bits);
    expect(elf.littleEndian).toBe(littleEndian);
    expect(elf.abi).toBe(abi);
    expect(elf.soname).toBe('libonnxruntime.so.1');
    expect(elf.needed).toEqual(['libc.so.6', 'libm.so.6']);
    expect(elf.symbols).toEqual([
      { name: 'OrtGetApiBase', defined: true, version: 'VERS_1.30.0' },
      { name: 'malloc', defined: false, version: 'GLIBC_2.17' },
    ]);
    expect(elf.versionDefs).toEqual(['VERS_1.30.0']);
    expect(elf.versionNeeds).toEqual([{ file: 'libc.so.6', versions: ['GLIBC_2.17'] }]);
    const ro = elf.sections.get('.rodata')!;
    expect(ro.size).toBe(11);
  });

  it('agrees with readelf on the built file (oracle)', async () => {
    const { execFileSync } = await import('node:child_process');
    let out: string;
    const file = path.join(fs.mkdtempSync('/tmp/aibom-elf-'), 'lib.so');
    fs.writeFileSync(file, buildElf(spec));
    try {
      out = execFileSync('readelf', ['-d', '--dyn-syms', '-V', '-W', file], { encoding: 'utf8' });
    } catch {
      return; // readelf (binutils) not installed: the reader's own tests above still hold
    }
    expect(out).toContain('Library soname: [libonnxruntime.so.1]');
    expect(out).toContain('Shared library: [libm.so.6]');
    expect(out).toMatch(/OrtGetApiBase@@VERS_1\.30\.0/);
    expect(out).toMatch(/UND malloc@GLIBC_2\.17/);
  });

  it('reads SONAME and NEEDED from PT_DYNAMIC when section headers are stripped', () => {
    const elf = readElf(new BufferSource(buildElf({ ...spec, stripSections: true })));
    expect(elf.soname).toBe('libonnxruntime.so.1');
    expect(elf.needed).toEqual(['libc.so.6', 'libm.so.6']);
    expect(elf.symbols).toEqual([]);
  });

  it('reads the real ONNX Runtime library: SONAME, VERS_1.30.0, OrtGetApiBase, .rodata range', (ctx) => {
    const lib = ortLibrary();
    if (lib === undefined) return ctx.skip();
    const src = FileSource.open(lib.path);
    try {
      const elf = readElf(src);
      expect(elf.soname).toBe('libonnxruntime.so.1');
      expect(elf.abi).toBe('x86_64');
      expect(elf.versionDefs).toContain(`VERS_${lib.version}`);
      expect(elf.symbols).toContainEqual({ name: 'OrtGetApiBase', defined: true, version: `VERS_${lib.version}` });
      expect(elf.sections.get('.rodata')!.size).toBeGreaterThan(1000);
    } finally {
      src.close();
    }
  });

  describe('hostile headers become FormatErrors naming the field', () => {
    const base = buildElf(spec);
    const t = sectionTable(base);
    const patch = (f: (dv: DataView) => void): Uint8Array => {
      const b = base.slice();
      f(new DataView(b.buffer));
      return b;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated header', base.slice(0, 30), /shorter than an ELF header/],
      ['bad class', patch((d) => d.setUint8(4, 9)), /EI_CLASS 9/],
      ['bad data', patch((d) => d.setUint8(5, 0)), /EI_DATA 0/],
      ['section header table past the end', patch((d) => d.setBigUint64(40, 1n << 40n, true)), /e_shoff/],
      ['absurd section count', patch((d) => d.setUint16(t.shnumAt, 60000, true)), /e_shnum 60000/],
      ['section table cut short', base.slice(0, t.shoff + 100), /section header table/],
      ['section offset past the end', patch((d) => d.setBigUint64(t.shoff + 7 * 64 + 24, 1n << 33n, true)), /section 7 \(\.rodata\) offset/],
      ['absurd symbol version count', patch((d) => d.setUint32(t.shoff + 5 * 64 + 44, 0xffffffff, true)), /\.gnu\.version_r entry count/],
      ['dynamic links past the table', patch((d) => d.setUint32(t.shoff + 6 * 64 + 40, 999, true)), /links to section 999/],
    ];
    it.each(cases)('%s', (_, bytes, msg) => {
      expect(() => readElf(new BufferSource(bytes))).toThrow(FormatError);
      expect(() => readElf(new BufferSource(bytes))).toThrow(msg);
    });
    it('a version chain whose offsets run off the table is a truncation, not a crash', () => {
      const b = patch((d) => d.setUint32(t.shoff + 4 * 64 + 44, 50, true)); // vd count 50, chain ends after 2
      expect(() => readElf(new BufferSource(b))).not.toThrow();
      const c = patch((d) => {
        const off = Number(d.getBigUint64(t.shoff + 4 * 64 + 24, true));
        d.setUint32(off + 16, 0x7fffff00, true); // vd_next far away
      });
      expect(() => readElf(new BufferSource(c))).toThrow(/truncated|ends at/);
    });
    it('isElf is a quiet check', () => {
      expect(isElf(new Uint8Array([0x7f, 0x45, 0x4c]))).toBe(false);
      expect(isElf(base)).toBe(true);
    });
  });
});
