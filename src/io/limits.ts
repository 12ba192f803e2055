/**
 * Central scan limits. Each one has a CLI flag, a default that real firmware fits in, and a hostile
 * fixture proving the guard holds. Reaching a limit records a Problem (code `limit`) and skips the
 * item; the scan goes on.
 */
export interface Limits {
  /** Container nesting depth below an input (an input is depth 0). */
  maxDepth: number;
  /** Entries read from all containers of one scan together. */
  maxEntries: number;
  /** Entries read from a single container. */
  maxEntriesPerContainer: number;
  /** Bytes produced by all decompression of one scan together. */
  maxDecompressedBytes: number;
  /** Largest output/input ratio of one decompressed entry, checked once its output passes 1 MiB. */
  maxRatio: number;
  /** Decoded bytes kept in memory across the scan; above it, decoded entries spill to a private temp file. */
  memoryBudget: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDepth: 16,
  maxEntries: 2_000_000,
  maxEntriesPerContainer: 500_000,
  maxDecompressedBytes: 64 * 1024 ** 3,
  maxRatio: 1000,
  memoryBudget: 128 * 1024 * 1024,
});

/** Output size below which the ratio limit is not applied: tiny highly compressible files are normal. */
export const RATIO_FLOOR = 1024 * 1024;
