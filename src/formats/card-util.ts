import type { CardOperator } from '../inventory/card.js';

/*
 * Small helpers shared by the formats' `card` functions, so that every card orders and filters the
 * same way whatever format filled it.
 */

/** Code-unit order, independent of locale, so that cards are identical on every machine. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Operators as a card lists them: most used first, then by name, then by domain (two domains may
 * define the same name). Sorts a copy.
 */
export function sortCardOperators(ops: readonly CardOperator[]): CardOperator[] {
  return [...ops].sort((a, b) => b.count - a.count || cmp(a.name, b.name) || cmp(a.domain ?? '', b.domain ?? ''));
}

/**
 * The text itself, or undefined when it states nothing (empty or only whitespace): converters write
 * empty strings for fields they do not fill (a TFLite author of ''), and a card never shows those.
 * Text is otherwise kept as written, not trimmed.
 */
export function stated(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text;
}

/**
 * `{ [key]: value }`, or `{}` when value is undefined: spread into a card literal, optional fields stay
 * absent (not present-and-undefined) and every card lists its keys in the schema's order.
 */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
