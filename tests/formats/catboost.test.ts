import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { catboost, type CatboostMetadata } from '../../src/formats/catboost.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { catboostBytes } from '../builders/catboost-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-catboost-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const matches = (bytes: Uint8Array): boolean => catboost.match(createProbe(new BufferSource(bytes), 'model.cbm'));
async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await catboost.inspect(src, createProbe(src, 'model.cbm'), ctx);
  expectConforms(catboost, info.metadata);
  return info;
}

describe('catboost', () => {
  it('reads the model core: trees, features, InfoMap, loss, parts', async () => {
    const bytes = catboostBytes();
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.metadata).toEqual({
      formatVersion: 'FlabuffersModel_v1',
      trees: 3,
      approxDimension: 1,
      floatFeatures: 4,
      catFeatures: 1,
      textFeatures: 0,
      leafValues: 12,
      info: { catboost_version_info: 'Git info:\n    Commit: 1.2.5', model_guid: 'abc-123' },
      lossFunction: 'Logloss',
      modelParts: ['static_provider_v1'],
    } satisfies CatboostMetadata);
    expect(catboost.card(info.metadata)).toMatchObject({ task: 'classification', inputs: [{ shape: [null, 5] }], parameters: 12, parameterBytes: 96 });
  });

  it('keeps a params value that is not JSON out, and drops a __proto__ key', async () => {
    const info = await inspect(catboostBytes({ info: JSON.parse('{"params": "not json", "__proto__": "x"}') as Record<string, string> }));
    expect(info.metadata).not.toHaveProperty('lossFunction');
    const md = info.metadata as CatboostMetadata;
    expect(md.info).toEqual({});
    expect(Object.getPrototypeOf(md.info)).toBe(Object.prototype);
  });

  it('refuses a core size past the end, a broken FlatBuffer, a missing ModelTrees, an absurd vector', async () => {
    const bytes = catboostBytes();
    await expect(inspect(bytes.subarray(0, 40))).rejects.toThrow(/the core size \d+ at offset 4 does not fit in the 40-byte file/);
    const broken = bytes.slice();
    new DataView(broken.buffer).setUint32(8, 0x7fff0000, true); // root offset
    await expect(inspect(broken)).rejects.toThrow(FormatError);
    await expect(inspect(catboostBytes({ noTrees: true }))).rejects.toThrow(/has no ModelTrees/);
    expect(matches(new TextEncoder().encode('CBM1'))).toBe(false);
    expect(matches(new TextEncoder().encode('CBM2xxxxxxxxxxxxxxx'))).toBe(false);
  });

  it('is found by a scan', async () => {
    fs.writeFileSync(path.join(tmp, 'churn.cbm'), catboostBytes());
    const inv = inventorySchema.parse(await scan([tmp])) as Inventory;
    expect(inv.components.filter((c) => c.kind === 'model').map((c) => c.kind === 'model' && c.model.format)).toEqual(['catboost']);
  });
});
