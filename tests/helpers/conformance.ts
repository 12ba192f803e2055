import { expect } from 'vitest';
import { z } from 'zod';
import type { ModelFormat } from '../../src/formats/types.js';
import { modelCardSchema, type ModelCard } from '../../src/inventory/card.js';

/**
 * Checks what a format reported against its own contract: the metadata against the format's strict
 * `metadataSchema` (an undocumented key, a missing field or a wrong type fails), then the card made
 * from it against `modelCardSchema`. Returns the card. The format tests route every model they inspect
 * through this, builder-made, real and fuzzed alike, so the schemas are held to everything the readers
 * can produce.
 */
export function expectConforms(format: ModelFormat, metadata: Record<string, unknown>, what = format.id): ModelCard {
  const md = format.metadataSchema.safeParse(metadata);
  if (!md.success) expect.fail(`${what}: metadata does not match the ${format.id} schema:\n${z.prettifyError(md.error)}`);
  // A schema that transformed or dropped anything would describe something else than the output.
  expect(md.data, what).toEqual(metadata);
  const card = format.card(metadata);
  const parsed = modelCardSchema.safeParse(card);
  if (!parsed.success) expect.fail(`${what}: card does not match modelCardSchema:\n${z.prettifyError(parsed.error)}`);
  expect(card.format, what).toBe(format.id);
  return card;
}
