import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { BlockCache } from '../../src/io/block-cache.js';
import { ExtentSource, type Extent } from '../../src/io/extent-source.js';
import { ScanResources } from '../../src/io/scan-resources.js';

const parent = new BufferSource(crypto.randomBytes(10_000));

/** The bytes an extent list means, built the obvious way, to compare reads against. */
function expected(size: number, extents: Extent[]): Uint8Array {
  const out = new Uint8Array(size);
  for (const e of extents) {
    if (e.kind === 'source') out.set(e.source.read(e.sourceOffset, e.length), e.offset);
    else if (e.kind === 'fill') for (let k = 0; k < e.length; k++) out[e.offset + k] = e.pattern[k % e.pattern.length]!;
    else out.set(e.decode(), e.offset);
  }
  return out;
}

describe('ExtentSource', () => {
  let decodes = 0;
  const decoded = (offset: number, length: number, seed: number): Extent => ({
    kind: 'decoded',
    offset,
    length,
    decode: () => {
      decodes++;
      return Uint8Array.from({ length }, (_, i) => (i * seed) & 0xff);
    },
  });
  const extents: Extent[] = [
    { kind: 'source', offset: 100, length: 3000, source: parent, sourceOffset: 500 },
    { kind: 'fill', offset: 3100, length: 777, pattern: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) },
    decoded(5000, 2048, 7),
    { kind: 'source', offset: 7048, length: 952, source: parent, sourceOffset: 0 },
  ];

  it('reads any range exactly as the extents describe, gaps as zeros', () => {
    const size = 9000;
    const src = new ExtentSource(size, extents, { what: 'test image', resources: new ScanResources(new BlockCache(1 << 20)) });
    const want = expected(size, extents);
    let seed = 3;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const off = seed % (size + 1);
      const len = (seed >>> 8) % 3000;
      expect(Buffer.from(src.read(off, len)).equals(Buffer.from(want.subarray(off, off + len)))).toBe(true);
    }
    const all = new Uint8Array(size);
    expect(src.readInto(0, all)).toBe(size);
    expect(Buffer.from(all).equals(Buffer.from(want))).toBe(true);
  });

  it('decodes a block once while it stays in the cache, again after eviction', () => {
    decodes = 0;
    const cache = new BlockCache(4096);
    const src = new ExtentSource(8000, [decoded(0, 3000, 3), decoded(4000, 3000, 5)], { what: 'test', resources: new ScanResources(cache) });
    src.read(10, 10);
    src.read(20, 100);
    expect(decodes).toBe(1);
    src.read(4000, 10); // the second block evicts the first (4096-byte cache)
    src.read(10, 10);
    expect(decodes).toBe(3);
    expect(cache.size).toBeLessThanOrEqual(4096);
  });

  it('rejects overlapping, unsorted and out-of-range extents with a FormatError naming the extent', () => {
    const mk = (ex: Extent[]): ExtentSource => new ExtentSource(1000, ex, { what: 'test image' });
    expect(() =>
      mk([
        { kind: 'fill', offset: 0, length: 600, pattern: Uint8Array.of(0) },
        { kind: 'fill', offset: 500, length: 10, pattern: Uint8Array.of(0) },
      ]),
    ).toThrow('Invalid test image: extent 1 at offset 500 overlaps the extent before it, which ends at 600.');
    expect(() => mk([{ kind: 'fill', offset: 900, length: 200, pattern: Uint8Array.of(0) }])).toThrow(FormatError);
    expect(() => mk([{ kind: 'source', offset: 0, length: 100, source: parent, sourceOffset: 9950 }])).toThrow(/reads 100 bytes at 9950/);
    expect(() => mk([{ kind: 'fill', offset: 0, length: 1, pattern: new Uint8Array(5) }])).toThrow(/5-byte fill pattern/);
  });

  it('a decoded block of the wrong length is a FormatError at read time', () => {
    const src = new ExtentSource(100, [{ kind: 'decoded', offset: 0, length: 50, decode: () => new Uint8Array(49) }], {
      what: 't',
      resources: new ScanResources(new BlockCache(1024)),
    });
    expect(() => src.read(0, 10)).toThrow(/49 bytes instead of 50/);
  });
});
