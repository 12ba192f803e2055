import type { Inventory } from '../inventory/schema.js';

/** Languages of the human-readable encoders (summary, markdown, html); machine formats ignore it. */
export type ReportLang = 'en' | 'zh';

/** Options an encoder may read; each ignores what does not concern it. */
export interface ReportOptions {
  /** CycloneDX spec version (`1.6` default, `1.7`). */
  specVersion?: string;
  /** Language of human-readable text (default `en`). */
  lang?: ReportLang;
}

/**
 * A report encoder: a pure, deterministic function of the inventory. Encoders never import detection
 * code; anything they need to know about a model is in its inventory record.
 */
export interface ReportEncoder {
  readonly id: string;
  readonly description: string;
  /** File name extension of the report when written into an output directory (`cdx.json`, `md`). */
  readonly extension?: string;
  encode(inv: Inventory, options?: ReportOptions): string;
  /**
   * Formats that are several files (CSV: one per list): file name suffix -> content. When present,
   * an output directory or `-o FORMAT=PATH` gets every file; `encode` alone gives the main one.
   */
  encodeFiles?(inv: Inventory, options?: ReportOptions): ReadonlyMap<string, string>;
}
