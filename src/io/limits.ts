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

/** One row of the limits table: the CLI flag, how its value is written, its default and its help. */
export interface LimitSpec {
  readonly key: keyof Limits;
  /** The long option without dashes: `max-depth`. */
  readonly flag: string;
  /** `count`: a whole number; `size`: a byte size with binary units (`512M`, `64G`). */
  readonly unit: 'count' | 'size';
  readonly default: number;
  readonly help: string;
}

/**
 * The one table the defaults, the CLI flags, their help text and the README's options table come
 * from. Order is the order `--help` shows.
 */
export const LIMIT_SPECS: readonly LimitSpec[] = [
  { key: 'maxDepth', flag: 'max-depth', unit: 'count', default: 16, help: 'container nesting depth below an input' },
  { key: 'maxEntries', flag: 'max-entries', unit: 'count', default: 2_000_000, help: 'entries read in the whole scan' },
  { key: 'maxEntriesPerContainer', flag: 'max-entries-per-container', unit: 'count', default: 500_000, help: 'entries read from one container' },
  {
    key: 'maxDecompressedBytes',
    flag: 'max-decompressed',
    unit: 'size',
    default: 64 * 1024 ** 3,
    help: 'bytes produced by decompression in the whole scan, blocks decoded inside images included',
  },
  { key: 'maxRatio', flag: 'max-ratio', unit: 'count', default: 1000, help: 'output/input ratio of one decompressed entry (checked past 1 MiB of output)' },
  {
    key: 'memoryBudget',
    flag: 'memory-budget',
    unit: 'size',
    default: 128 * 1024 * 1024,
    help: 'decoded bytes kept in memory; above it they spill to a private temp file',
  },
];

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze(Object.fromEntries(LIMIT_SPECS.map((s) => [s.key, s.default])) as unknown as Limits);

/** Output size below which the ratio limit is not applied: tiny highly compressible files are normal. */
export const RATIO_FLOOR = 1024 * 1024;
