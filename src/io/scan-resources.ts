import { BlockCache } from './block-cache.js';
import type { Limits } from './limits.js';

/** What decoded blocks are charged to: the scan's DecodeBudget (see `DecodeBudget.charge`). */
export interface DecodeCharge {
  /** Counts `n` decoded bytes of `what`; throws LimitError once the scan's total is passed. */
  charge(n: number, what: string): void;
}

/** Smallest block cache, whatever the memory budget: a few squashfs blocks and payload operations. */
export const MIN_BLOCK_CACHE = 8 * 1024 * 1024;

/** Share of `limits.memoryBudget` given to the block cache (the rest holds decoded entries). */
const CACHE_SHARE = 0.5;

/**
 * The resources one scan owns and its readers share, handed to them explicitly (through
 * `ContainerContext.resources`, then `ExtentSource` options) instead of through module globals or an
 * AsyncLocalStorage: the block cache of decoded blocks and the charge of the decode budget. Two scans
 * running at once thus neither share a cache nor charge each other's budget.
 *
 * It does not own the DecodeBudget or its temp area (the orchestrator does); `dispose()` only drops
 * the cached blocks.
 */
export class ScanResources {
  /**
   * `blockCache` keeps decoded blocks of virtual images (squashfs and EROFS blocks, payload
   * operations); `budget` is charged for every decoded block (nothing is counted when omitted).
   * Scans and readers' tests use `forLimits`; a cache of another size is for tests of the cache.
   */
  constructor(
    readonly blockCache: BlockCache,
    private readonly budget?: DecodeCharge,
  ) {}

  /** Resources for one scan: a cache of half `limits.memoryBudget` (at least MIN_BLOCK_CACHE). */
  static forLimits(limits: Pick<Readonly<Limits>, 'memoryBudget'>, budget?: DecodeCharge): ScanResources {
    return new ScanResources(new BlockCache(Math.max(MIN_BLOCK_CACHE, Math.floor(limits.memoryBudget * CACHE_SHARE))), budget);
  }

  /** Counts a block decoded outside `ContainerContext.decode` against the scan's decode budget. */
  charge(n: number, what: string): void {
    this.budget?.charge(n, what);
  }

  /** Drops the cached blocks at the end of the scan. Safe to call twice. */
  dispose(): void {
    this.blockCache.clear();
  }
}
