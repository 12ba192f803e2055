import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formats } from '../../src/formats/index.js';
import { inventorySchema, inventoryV1Schema, upgradeV1, type CardOf, type Inventory } from '../../src/inventory/index.js';

// tests/golden/inventory-v1.json is the last inventory@1 golden file, frozen as aibom 0.1.0 wrote it for
// the same input that tests/golden/inventory.json (inventory@2) pins today: the upgrade must give the
// same components, ids and cards a fresh v2 scan gives, and nothing v1 did not record.
const golden = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden');
const v1 = inventoryV1Schema.parse(JSON.parse(fs.readFileSync(path.join(golden, 'inventory-v1.json'), 'utf8')));
const v2 = inventorySchema.parse(JSON.parse(fs.readFileSync(path.join(golden, 'inventory.json'), 'utf8'))) as Inventory;
const cardOf: CardOf = (format, metadata) => formats.find((f) => f.id === format)?.card(metadata);

describe('upgradeV1', () => {
  const up = upgradeV1(v1, cardOf);
  const models = (inv: Inventory) => inv.components.filter((c) => c.kind === 'model');

  it('gives the ids, locations, hashes, cards and metadata of a fresh v2 scan of the same input', () => {
    expect(inventorySchema.parse(up)).toBeTruthy();
    expect(models(up).map((c) => c.id)).toEqual(models(v2).map((c) => c.id));
    for (const [a, b] of models(up).map((c, i) => [c, models(v2)[i]!] as const)) {
      expect(a.locations.map((l) => l.path)).toEqual(b.locations.map((l) => l.path));
      expect([a.name, a.sha256, a.size]).toEqual([b.name, b.sha256, b.size]);
      expect(a.kind === 'model' && b.kind === 'model' ? [a.model.card, a.model.metadata] : []).toEqual(
        b.kind === 'model' ? [b.model.card, b.model.metadata] : [0],
      );
    }
    expect(up.problems).toEqual(v2.problems);
    expect(up.subjects).toEqual(v2.subjects);
  });

  it('invents nothing v1 did not record: readers after the first hop unknown, no evidence, no relationships', () => {
    const m = models(up)[0]!;
    expect(m.locations[0]!.hops).toEqual([
      { path: 'golden-input/Pay.apk', reader: 'directory' },
      { path: 'assets/det.tflite', reader: 'unknown' },
    ]);
    expect(m.evidence).toEqual([]);
    expect(up.relationships).toEqual([]);
  });

  it('keeps a bare card when the format cannot rebuild one', () => {
    const bad = upgradeV1(v1, () => {
      throw new Error('metadata from another version');
    });
    expect(models(bad).map((c) => (c.kind === 'model' ? c.model.card : undefined))).toEqual([
      { format: 'tflite', inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false },
      { format: 'onnx', inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false },
    ]);
  });
});
