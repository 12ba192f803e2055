import { describe, expect, it } from 'vitest';
import { readWasm } from '../../src/decoders/wasm.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { RuleEngine, reportsOf } from '../../src/runtimes/engine.js';
import { ruleSchema } from '../../src/runtimes/rule-schema.js';
import { buildWasm } from './wasm-builder.js';

// The wasm reader (src/decoders/wasm.ts) is tested beside the engine that uses it.
describe('wasm reader', () => {
  it('reads imports, exports, custom sections and data segment ranges', () => {
    const bytes = buildWasm({
      custom: [['producers', 'clang 17']],
      imports: [['env', 'emscripten_memcpy_js']],
      exports: ['_OrtCreateSession', 'memory'],
      data: ['hello', 'ort 1.19.2'],
    });
    const w = readWasm(new BufferSource(bytes));
    expect(w.imports).toEqual([{ module: 'env', name: 'emscripten_memcpy_js' }]);
    expect(w.exports).toEqual(['_OrtCreateSession', 'memory']);
    expect(w.customSections.map((c) => c.name)).toEqual(['producers']);
    expect(w.data.map((d) => new TextDecoder().decode(bytes.subarray(d.offset, d.offset + d.size)))).toEqual(['hello', 'ort 1.19.2']);
  });
  const base = buildWasm({ exports: ['a'], data: ['x'] });
  it.each([
    [
      'bad version',
      (() => {
        const b = base.slice();
        b[4] = 2;
        return b;
      })(),
      /version 2/,
    ],
    ['section size past the end', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x7f]), /section 7 at offset 8 size/],
    ['absurd export count', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]), /export count/],
    ['export names past the section', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 3, 1, 100, 0x61]), /ends at 3 bytes/],
    ['overlong LEB128', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /longer than 5 bytes/],
  ] as const)('%s is a FormatError', (_, bytes, msg) => {
    expect(() => readWasm(new BufferSource(bytes))).toThrow(FormatError);
    expect(() => readWasm(new BufferSource(bytes))).toThrow(msg);
  });

  it('the engine searches data segments for version strings and matches exports as symbols', () => {
    const rule = ruleSchema.parse({
      id: 'acme-wasm',
      name: 'Acme wasm runtime',
      kind: 'runtime',
      matchers: [
        { type: 'content', literal: 'acme-rt v', pattern: 'acme-rt v(?<version>\\d+\\.\\d+\\.\\d+)', fileType: 'wasm', confidence: 'high' },
        { type: 'symbol', pattern: '^acme_run$' },
      ],
    });
    const e = new RuleEngine([rule]);
    const bytes = buildWasm({ exports: ['_acme_run'], data: ['\0\0acme-rt v2.4.1\0'] });
    const src = new BufferSource(bytes);
    const { hits } = e.analyze({ name: 'x.wasm', size: src.size, source: src, head: src.read(0, 64) }, () => undefined);
    const [r] = reportsOf(hits, undefined);
    expect(r).toMatchObject({ name: 'Acme wasm runtime', version: '2.4.1' });
    expect(r!.evidence.detail).toBe('content: wasm data: acme-rt v2.4.1; symbol: wasm exports _acme_run');
  });
});
