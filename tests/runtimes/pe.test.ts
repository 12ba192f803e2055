import { describe, expect, it } from 'vitest';
import { readPe } from '../../src/decoders/pe.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { ortLibrary } from './real-binaries.js';
import { buildPe } from './pe-builder.js';
import path from 'node:path';
import fs from 'node:fs';

// The PE reader (src/decoders/pe.ts) lives with the engine's tests: Windows terminals' runtimes.
describe('PE reader', () => {
  it('reads machine, imports and version strings of a built file', () => {
    const pe = readPe(
      new BufferSource(
        buildPe({ machine: 0xaa64, imports: ['onnxruntime.dll', 'KERNEL32.dll'], strings: { FileDescription: 'ONNX Runtime', ProductVersion: '1.17.3.0' } }),
      ),
    );
    expect(pe).toEqual({
      machine: 0xaa64,
      arch: 'arm64',
      imports: ['onnxruntime.dll', 'KERNEL32.dll'],
      version: { FileDescription: 'ONNX Runtime', ProductVersion: '1.17.3.0' },
    });
  });
  it('reads the real onnxruntime.dll of onnxruntime-node (win32/x64)', (ctx) => {
    const lib = ortLibrary();
    const dll = lib && path.resolve(path.dirname(lib.path), '../../win32/x64/onnxruntime.dll');
    if (lib === undefined || dll === undefined || !fs.existsSync(dll)) return ctx.skip();
    const src = FileSource.open(dll);
    try {
      const pe = readPe(src);
      expect(pe.arch).toBe('x86_64');
      expect(pe.version.FileDescription).toBe('ONNX Runtime');
      expect(pe.version.ProductVersion?.startsWith(`${lib.version}.`)).toBe(true);
      expect(pe.imports).toContain('KERNEL32.dll');
    } finally {
      src.close();
    }
  });
  const base = buildPe({ imports: ['a.dll'], strings: { FileDescription: 'x' } });
  const patch = (at: number, v: number, w: 2 | 4): Uint8Array => {
    const b = base.slice();
    const dv = new DataView(b.buffer);
    if (w === 2) dv.setUint16(at, v, true);
    else dv.setUint32(at, v, true);
    return b;
  };
  it.each([
    ['e_lfanew past the end', patch(0x3c, 0x7fffffff, 4), /e_lfanew/],
    ['no PE signature', patch(64, 0x1234, 4), /PE\\0\\0/],
    ['absurd section count', patch(70, 60000, 2), /NumberOfSections 60000/],
    ['bad optional magic', patch(88, 0x999, 2), /optional header magic/],
  ] as const)('%s is a FormatError', (_, bytes, msg) => {
    expect(() => readPe(new BufferSource(bytes))).toThrow(FormatError);
    expect(() => readPe(new BufferSource(bytes))).toThrow(msg);
  });
  it('an absurd version resource size is refused before it is read', () => {
    const b = base.slice();
    // The data entry sits at offset 72 of the section (raw 0x200): its size field is at +4.
    new DataView(b.buffer).setUint32(0x200 + 72 + 4, 0x7fffffff, true);
    expect(() => readPe(new BufferSource(b))).toThrow(/version resource size/);
  });
});
