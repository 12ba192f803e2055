import { describe, expect, it } from 'vitest';
import { isAxml, readAxml, readManifest } from '../../src/decoders/axml.js';
import { FormatError } from '../../src/errors.js';
import { buildAxml, manifest } from '../builders/axml-builder.js';

const m = manifest({
  package: 'com.acme.kiosk',
  versionCode: 7,
  versionName: '2.0.1',
  minSdk: 26,
  targetSdk: 33,
  permissions: ['android.permission.CAMERA', 'android.permission.RECORD_AUDIO', 'android.permission.INTERNET'],
  metaData: { 'com.google.mlkit.vision.DEPENDENCIES': 'ocr', other: 'x' },
});
const want = {
  package: 'com.acme.kiosk',
  versionCode: '7',
  versionName: '2.0.1',
  minSdk: '26',
  targetSdk: '33',
  permissions: ['android.permission.CAMERA', 'android.permission.RECORD_AUDIO', 'android.permission.INTERNET'],
  metaData: [
    { name: 'com.google.mlkit.vision.DEPENDENCIES', value: 'ocr' },
    { name: 'other', value: 'x' },
  ],
};

describe('binary AndroidManifest.xml', () => {
  it.each([
    ['UTF-16 strings', {}],
    ['UTF-8 strings', { utf8: true }],
    ['attribute names stripped (resource ids only)', { obfuscateNames: true }],
  ])('reads package, versions, SDKs, permissions and meta-data (%s)', (_, opts) => {
    expect(readManifest(buildAxml(m, opts))).toEqual(want);
  });

  it('keeps the element tree depth', () => {
    const els = readAxml(buildAxml(m));
    expect(els.map((e) => [e.name, e.depth]).slice(0, 3)).toEqual([
      ['manifest', 0],
      ['uses-sdk', 1],
      ['uses-permission', 1],
    ]);
    expect(els.find((e) => e.name === 'meta-data')!.depth).toBe(2);
  });

  describe('hostile manifests are FormatErrors naming the field', () => {
    const base = buildAxml(m);
    const patch = (at: number, v: number, width: 2 | 4 = 4): Uint8Array => {
      const b = base.slice();
      const dv = new DataView(b.buffer);
      if (width === 4) dv.setUint32(at, v, true);
      else dv.setUint16(at, v, true);
      return b;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ['not AXML', new TextEncoder().encode('<manifest/>'), /RES_XML_TYPE/],
      ['document size past the end', patch(4, 0x7fffffff), /document size/],
      ['chunk past the document', patch(12, 0x7ffffff0), /chunk 0x1 at offset 8 declares/],
      ['absurd string count', patch(16, 0x10000000), /string count/],
      ['string offset outside the pool', patch(8 + 28, 0x7fffff), /string 0 at offset/],
      ['truncated document', base.slice(0, 60), /document size/],
    ];
    it.each(cases)('%s', (_, bytes, msg) => {
      expect(() => readManifest(bytes)).toThrow(FormatError);
      expect(() => readManifest(bytes)).toThrow(msg);
    });
    it('an absurd attribute count is refused before anything is sized from it', () => {
      // The first start element follows the pool and the resource map.
      const dv = new DataView(base.buffer, base.byteOffset);
      let at = 8;
      while (dv.getUint16(at, true) !== 0x0102) at += dv.getUint32(at + 4, true);
      const b = patch(at + 16 + 12, 0xffff, 2);
      expect(() => readManifest(b)).toThrow(/attribute count 65535/);
    });
    it('isAxml is a quiet check', () => {
      expect(isAxml(base)).toBe(true);
      expect(isAxml(new Uint8Array([3, 0, 8]))).toBe(false);
    });
  });
});
