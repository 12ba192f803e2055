import type { ContainerReader } from './types.js';

/**
 * Container readers in priority order: the first whose `match` accepts an item opens it. Formats with
 * a fixed magic at offset 0 come before those found by structure or trailer.
 */
export const containers: readonly ContainerReader[] = [];
