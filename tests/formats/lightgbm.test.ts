import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../src/formats/types.js';
import { lightgbm, type LightgbmMetadata } from '../../src/formats/lightgbm.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-lightgbm-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const matches = (bytes: Uint8Array): boolean => lightgbm.match(createProbe(new BufferSource(bytes), 'model.txt'));
async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await lightgbm.inspect(src, createProbe(src, 'model.txt'), ctx);
  expectConforms(lightgbm, info.metadata);
  return info;
}

/** A LightGBM text model in the layout of GBDT::SaveModelToString (gbdt_model_text.cpp). */
function model(o: { trees?: number; sizesOverride?: string; cut?: boolean; header?: string } = {}): string {
  const tree = (i: number): string =>
    `Tree=${i}\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=-0.1 0.1\nleaf_weight=1 1\nleaf_count=5 5\ninternal_value=0\ninternal_weight=0\ninternal_count=10\nis_linear=0\nshrinkage=1\n\n\n`;
  const trees = Array.from({ length: o.trees ?? 2 }, (_, i) => tree(i));
  const sizes = o.sizesOverride ?? trees.map((t) => t.length).join(' ');
  const header =
    o.header ??
    `tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=2\nobjective=binary sigmoid:1\nfeature_names=age income score\nfeature_infos=[18:90] [0:1e6] [0:1]\ntree_sizes=${sizes}\n\n`;
  const end = `end of trees\n\nfeature_importances:\nage=2\n\nparameters:\n[boosting: gbdt]\n[objective: binary]\n[num_iterations: 2]\n[learning_rate: 0.1]\n\nend of parameters\n\npandas_categorical:null\n`;
  return header + trees.join('') + (o.cut ? '' : end);
}

describe('lightgbm', () => {
  it('reads the header, the tree count and the parameters', async () => {
    const bytes = enc(model());
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.metadata).toEqual({
      version: 'v4',
      numClass: 1,
      numTreePerIteration: 1,
      features: 3,
      objective: 'binary sigmoid:1',
      averageOutput: false,
      featureNames: ['age', 'income', 'score'],
      trees: 2,
      parameters: { boosting: 'gbdt', objective: 'binary', num_iterations: '2', learning_rate: '0.1' },
    } satisfies LightgbmMetadata);
    expect(lightgbm.card(info.metadata)).toMatchObject({ architecture: 'gbdt', task: 'classification', formatVersion: 'v4', inputs: [{ shape: [null, 3] }] });
  });

  it('refuses a cut file, tree sizes past the end, a bad version or count', async () => {
    await expect(inspect(enc(model({ cut: true })))).rejects.toThrow(/no `end of trees` line/);
    await expect(inspect(enc(model({ sizesOverride: '999999 1' })))).rejects.toThrow(/tree_sizes add up to 1000000 bytes, past the end/);
    await expect(inspect(enc(model({ sizesOverride: '12 x' })))).rejects.toThrow(/field tree_sizes is "x"/);
    await expect(inspect(enc(model({ header: 'tree\nversion=vX\nnum_class=1\n\n' })))).rejects.toThrow(/version "vX" is not v<n>/);
    await expect(inspect(enc(model({ header: 'tree\nversion=v3\nnum_class=-1\nmax_feature_idx=1\ntree_sizes=\n\n' })))).rejects.toThrow(
      /field num_class is "-1"/,
    );
  });

  it('does not match other text', () => {
    expect(matches(enc('tree\nbranch\nleaf\n'))).toBe(false);
    expect(matches(enc('tree\nversion=v4\n'))).toBe(false);
    expect(matches(enc('Tree=0\nnum_leaves=2\n'))).toBe(false);
  });

  it('is found by a scan', async () => {
    fs.writeFileSync(path.join(tmp, 'ranker.txt'), model());
    fs.writeFileSync(path.join(tmp, 'notes.txt'), 'tree\nversion=v2 of the notes\n');
    const inv = inventorySchema.parse(await scan([tmp])) as Inventory;
    expect(inv.components.filter((c) => c.kind === 'model').map((c) => c.kind === 'model' && c.model.format)).toEqual(['lightgbm']);
  });
});
