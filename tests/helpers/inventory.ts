import type { Inventory, ModelComponent } from '../../src/inventory/schema.js';

/** One model at one location, flattened from an inventory@2 component (what most tests compare). */
export interface LocatedModel {
  location: string;
  offset?: number;
  id: string;
  format: string;
  size: number;
  sha256: string;
  confidence: string;
  card: ModelComponent['model']['card'];
  metadata: Record<string, unknown>;
  associatedFiles?: NonNullable<ModelComponent['model']['associatedFiles']>;
}

/** Every model of an inventory at every location where it was found, sorted by location. */
export function modelsOf(inv: Inventory): LocatedModel[] {
  const out: LocatedModel[] = [];
  for (const c of inv.components) {
    if (c.kind !== 'model') continue;
    for (const l of c.locations) {
      const m: LocatedModel = {
        location: l.path,
        id: c.id,
        format: c.model.format,
        size: c.size ?? 0,
        sha256: c.sha256 ?? '',
        confidence: c.confidence,
        card: c.model.card,
        metadata: c.model.metadata,
      };
      if (l.offset !== undefined) m.offset = l.offset;
      if (c.model.associatedFiles !== undefined) m.associatedFiles = c.model.associatedFiles;
      out.push(m);
    }
  }
  return out.sort((a, b) => (a.location < b.location ? -1 : a.location > b.location ? 1 : (a.offset ?? 0) - (b.offset ?? 0)));
}
