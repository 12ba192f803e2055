import { describe, expect, it } from 'vitest';
import { readPe } from '../../src/decoders/pe.js';
import { FormatError } from '../../src/errors.js';
import { RuleEngine } from '../../src/runtimes/engine.js';
import { ruleSchema } from '../../src/runtimes/rule-schema.js';
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
      delayImports: [],
      version: { FileDescription: 'ONNX Runtime', ProductVersion: '1.17.3.0' },
    });
  });
  it('reads delay-load imports, in the RVA form and the Visual C++ 6 virtual-address form', () => {
    expect(readPe(new BufferSource(buildPe({ imports: ['KERNEL32.dll'], delayImports: ['onnxruntime.dll', 'DirectML.dll'] }))).delayImports).toEqual([
      'onnxruntime.dll',
      'DirectML.dll',
    ]);
    expect(readPe(new BufferSource(buildPe({ delayImports: ['onnxruntime.dll'], delayVa: true }))).delayImports).toEqual(['onnxruntime.dll']);
    // A descriptor whose name lies outside every section yields nothing, and no error.
    const b = buildPe({ delayImports: ['x.dll'] });
    const dv = new DataView(b.buffer);
    const dirRva = dv.getUint32(88 + 112 + 13 * 8, true);
    dv.setUint32(0x200 + (dirRva - 0x1000) + 4, 0x7ffffff0, true);
    expect(readPe(new BufferSource(b)).delayImports).toEqual([]);
  });
  it('a needed matcher hits a delay-loaded DLL, and says so', () => {
    const rule = ruleSchema.parse({
      id: 'acme-ort-user',
      name: 'ONNX Runtime user',
      kind: 'sdk',
      matchers: [{ type: 'needed', pattern: '^onnxruntime\\.dll$' }],
    });
    const e = new RuleEngine([rule]);
    const hitsOf = (b: Uint8Array) => {
      const src = new BufferSource(b);
      return e.analyze({ name: 'kiosk.exe', size: src.size, source: src, head: src.read(0, 64) }, () => undefined).hits.map((h) => h.text);
    };
    expect(hitsOf(buildPe({ imports: ['KERNEL32.dll'], delayImports: ['onnxruntime.dll'] }))).toEqual(['delay-imports onnxruntime.dll']);
    expect(hitsOf(buildPe({ imports: ['onnxruntime.dll'] }))).toEqual(['imports onnxruntime.dll']);
    expect(hitsOf(buildPe({ imports: ['KERNEL32.dll'], delayImports: ['onnxruntime_providers_shared.dll'] }))).toEqual([]);
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
      // ONNX Runtime's Windows build delay-loads DirectML (objdump -p shows the Delay Import Directory, not its names).
      expect(pe.delayImports).toContain('DirectML.dll');
      expect(pe.imports).not.toContain('DirectML.dll');
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
