import { describe, expect, it } from 'vitest';
import { isDex, readDexClassNames } from '../../src/decoders/dex.js';
import { FormatError, LimitError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { buildDex } from '../builders/dex-builder.js';

describe('dex class names', () => {
  it('reads the class types of the type_ids table as dotted names', () => {
    const dex = buildDex(['org.tensorflow.lite.Interpreter', 'ai.onnxruntime.OrtSession', 'Main'], ['https://example.test', 'I']);
    expect(readDexClassNames(new BufferSource(dex)).sort()).toEqual(['Main', 'ai.onnxruntime.OrtSession', 'org.tensorflow.lite.Interpreter']);
  });
  it('a stub shorter than the header is quietly not a dex', () => {
    expect(isDex(new TextEncoder().encode('dex\n035\0'))).toBe(false);
  });
  const cases: [string, Uint8Array, RegExp][] = [
    ['absurd type count', buildDex(['a.B'], [], { 64: 0x7fffffff }), /type_ids_size 2147483647/],
    ['type table past the end', buildDex(['a.B'], [], { 68: 0x7ffffff0 }), /type_ids offset/],
    ['absurd string count', buildDex(['a.B'], [], { 56: 0x7fffffff }), /string_ids_size/],
    ['big-endian tag', buildDex(['a.B'], [], { 40: 0x78563412 }), /endian_tag/],
  ];
  it.each(cases)('%s is a FormatError naming the field', (_, bytes, msg) => {
    expect(() => readDexClassNames(new BufferSource(bytes))).toThrow(FormatError);
    expect(() => readDexClassNames(new BufferSource(bytes))).toThrow(msg);
  });
  it('a type naming a string past the table, or string data past the end, is refused', () => {
    const dex = buildDex(['a.B']);
    const dv = new DataView(dex.buffer);
    const typeOff = dv.getUint32(68, true);
    const b1 = dex.slice();
    new DataView(b1.buffer).setUint32(typeOff, 99, true);
    expect(() => readDexClassNames(new BufferSource(b1))).toThrow(/names string 99/);
    const b2 = dex.slice();
    new DataView(b2.buffer).setUint32(dv.getUint32(60, true), 0x7fffffff, true);
    expect(() => readDexClassNames(new BufferSource(b2))).toThrow(/past the end/);
  });
  it('a dex over the read bound is a LimitError, not a large allocation', () => {
    const dex = buildDex(['a.B']);
    expect(() => readDexClassNames(new BufferSource(dex), { maxBytes: 100, maxTypes: 10 })).toThrow(LimitError);
  });
});
