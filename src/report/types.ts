import type { Inventory } from '../inventory/schema.js';

/**
 * A report encoder: a pure, deterministic function of the inventory. Encoders never import detection
 * code; anything they need to know about a model is in its inventory record.
 */
export interface ReportEncoder {
  readonly id: string;
  readonly description: string;
  encode(inv: Inventory): string;
}
