import type { ModelFormat } from './types.js';

/** Model formats in priority order: the first whose `match` accepts an item inspects it. */
export const formats: readonly ModelFormat[] = [];
