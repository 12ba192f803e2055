/**
 * aibom as a library: `scan()` returns the inventory (`aibom/inventory@2`); encoders turn it into
 * reports; the zod schemas let users validate saved inventories.
 *
 *   import { scan, encoders } from 'aibom';
 *   const inv = await scan(['firmware/']);
 */
export { scan, type ScanOptions, type ScanProgress, type Analyzer, type AnalyzedItem, type AnalyzerOutput, type Listing } from './scan/index.js';
export { encoders, encoderById } from './report/index.js';
export type { ReportEncoder } from './report/types.js';
export { DEFAULT_LIMITS, LIMIT_SPECS, type Limits, type LimitSpec } from './io/limits.js';
export * from './inventory/index.js';
export { formats } from './formats/index.js';
export { containers } from './containers/index.js';
export type { ModelFormat, ModelInfo, InspectContext } from './formats/types.js';
export type { ContainerReader, ContainerEntry, ContainerContext, ContainerKind } from './containers/types.js';
export type { Signature } from './detect/signature.js';
