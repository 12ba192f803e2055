import { describe, expect, it } from 'vitest';
import { LimitError } from '../../src/errors.js';
import { BlockCache } from '../../src/io/block-cache.js';
import { DecodeBudget } from '../../src/io/decode-budget.js';
import { ExtentSource, type Extent } from '../../src/io/extent-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { MIN_BLOCK_CACHE, ScanResources } from '../../src/io/scan-resources.js';
import { TempArea } from '../../src/io/temp-area.js';

const block = (offset: number, length: number, onDecode: () => void): Extent => ({
  kind: 'decoded',
  offset,
  length,
  decode: () => {
    onDecode();
    return new Uint8Array(length).fill(7);
  },
});

describe('ScanResources', () => {
  it('sizes the block cache at half the memory budget, never below the floor', () => {
    expect(ScanResources.forLimits({ memoryBudget: 128 * 1024 * 1024 }).blockCache.maxBytes).toBe(64 * 1024 * 1024);
    expect(ScanResources.forLimits({ memoryBudget: 1024 }).blockCache.maxBytes).toBe(MIN_BLOCK_CACHE);
  });

  it('hands out distinct keyspaces, numbered per cache (no module-level counter)', () => {
    const a = new BlockCache(1024);
    const b = new BlockCache(1024);
    expect([a.newKeyspace(), a.newKeyspace()]).toEqual(['k0', 'k1']);
    expect(b.newKeyspace()).toBe('k0');
  });

  it('charges decoded blocks to its budget, once per cached block, and keeps scans apart', () => {
    const limits = { ...DEFAULT_LIMITS, maxDecompressedBytes: 10_000 };
    const temp = new TempArea();
    const budget = new DecodeBudget(limits, temp);
    const mine = ScanResources.forLimits(limits, budget);
    const other = ScanResources.forLimits(limits);
    let decodes = 0;
    const src = new ExtentSource(8000, [block(0, 4000, () => decodes++), block(4000, 4000, () => decodes++)], { what: 'image', resources: mine });
    src.read(0, 10);
    src.read(5, 10);
    expect(decodes).toBe(1);
    expect(budget.decompressedBytes).toBe(4000);
    // Another scan's source over the same extents neither hits this cache nor charges this budget.
    new ExtentSource(8000, [block(0, 4000, () => decodes++)], { what: 'image', resources: other }).read(0, 10);
    expect(decodes).toBe(2);
    expect(budget.decompressedBytes).toBe(4000);
    expect(other.blockCache.size).toBe(4000);
    src.read(4000, 10);
    expect(budget.decompressedBytes).toBe(8000);
    src.read(0, 8000); // cached: not charged again
    expect(budget.decompressedBytes).toBe(8000);
    mine.dispose();
    expect(mine.blockCache.size).toBe(0);
    // After dispose blocks decode again (and are charged), past the 10,000-byte limit here.
    expect(() => src.read(0, 10)).toThrow(LimitError);
    temp.cleanup();
  });

  it('refuses decoded extents without resources: a reader bug, not bad input', () => {
    expect(() => new ExtentSource(10, [block(0, 10, () => undefined)], { what: 'image' })).toThrow(/need the scan's resources/);
  });
});
