/**
 * aibom as a library: `scan()` returns the inventory; encoders turn it into reports.
 *
 *   import { scan, encoders } from 'aibom';
 *   const inv = await scan(['firmware/']);
 */
export { scan, type ScanOptions, type ScanProgress } from './scan.js';
export { encoders, encoderById } from './report/index.js';
export type { ReportEncoder } from './report/types.js';
export { DEFAULT_LIMITS, type Limits } from './io/limits.js';
export {
  INVENTORY_SCHEMA,
  inventorySchema,
  type Inventory,
  type Model,
  type Problem,
  type Runtime,
  type Stats,
  type Subject,
} from './inventory.js';
