import path from 'node:path';
import type { ModelCard } from './card.js';
import { componentId } from './ids.js';
import type { Component, Hop, Inventory, Location } from './schema.js';
import { INVENTORY_SCHEMA } from './schema.js';
import { compareLocations } from './location.js';
import type { Inventory as InventoryV1 } from './v1.js';

/** Rebuilds a model's card from its format's metadata (the formats' own `card`); undefined when it cannot. */
export type CardOf = (format: string, metadata: Record<string, unknown>) => ModelCard | undefined;

/**
 * Reads an `aibom/inventory@1` as inventory@2, so saved v1 inventories still convert to every report.
 * What v1 recorded carries over exactly: each distinct (format, sha256) becomes one model component with
 * every location, with the same id a fresh v2 scan gives; subjects, problems and stats are unchanged.
 * What v1 never recorded stays absent rather than invented: hops after the first name their reader
 * `unknown`, evidence is empty, and no relationship is derived (v1 kept no containers). The card is
 * rebuilt from the metadata by the format's own `card` when it can be.
 */
export function upgradeV1(v1: InventoryV1, cardOf: CardOf): Inventory {
  const byId = new Map<string, Component>();
  const dirs = new Set(v1.subjects.filter((s) => s.kind === 'directory').map((s) => s.location));
  for (const m of v1.models) {
    const id = componentId('model', m.format, m.sha256);
    const parts = m.location.split('!/');
    const first = parts[0] ?? m.location;
    const underDir = [...dirs].some((d) => first.startsWith(`${d.replace(/\/+$/, '')}/`));
    const hops: Hop[] = [{ path: first, reader: underDir ? 'directory' : 'file' }, ...parts.slice(1).map((p) => ({ path: p, reader: 'unknown' }))];
    const loc: Location = { path: m.location, hops };
    if (m.offset !== undefined) {
      loc.offset = m.offset;
      loc.length = m.size;
    }
    const prev = byId.get(id);
    if (prev !== undefined) {
      prev.locations.push(loc);
      continue;
    }
    let card: ModelCard | undefined;
    try {
      card = cardOf(m.format, m.metadata);
    } catch {
      card = undefined;
    }
    card ??= { format: m.format, inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false };
    const c: Component = {
      id,
      kind: 'model',
      name: card.name ?? path.posix.basename(parts[parts.length - 1] ?? m.location),
      ...(card.version !== undefined ? { version: card.version } : {}),
      locations: [loc],
      sha256: m.sha256,
      size: m.size,
      confidence: m.confidence,
      evidence: [],
      model: { format: m.format, card, metadata: m.metadata, ...(m.associatedFiles !== undefined ? { associatedFiles: m.associatedFiles } : {}) },
    };
    byId.set(id, c);
  }
  const components = [...byId.values()];
  for (const c of components) c.locations.sort(compareLocations);
  components.sort((a, b) => (a.locations[0]!.path < b.locations[0]!.path ? -1 : a.locations[0]!.path > b.locations[0]!.path ? 1 : a.id < b.id ? -1 : 1));
  const inv: Inventory = {
    schema: INVENTORY_SCHEMA,
    tool: v1.tool,
    subjects: v1.subjects,
    components,
    relationships: [],
    problems: v1.problems,
    stats: v1.stats,
  };
  if (v1.timestamp !== undefined) inv.timestamp = v1.timestamp;
  return inv;
}
