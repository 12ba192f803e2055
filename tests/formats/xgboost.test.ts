import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { xgboost, type XgboostMetadata } from '../../src/formats/xgboost.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { xgbDocument, xgbJson, xgbUbjson } from '../builders/xgboost-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-xgboost-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const matches = (bytes: Uint8Array, name = 'model.json'): boolean => xgboost.match(createProbe(new BufferSource(bytes), name));
async function inspect(bytes: Uint8Array, name = 'model.json'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await xgboost.inspect(src, createProbe(src, name), ctx);
  expectConforms(xgboost, info.metadata);
  return info;
}

/** The binary layout: 'binf', LearnerModelParamLegacy (136 bytes), objective and booster names. */
function binf(objective = 'binary:logistic', booster = 'gbtree', numClass = 0): Uint8Array {
  const head = Buffer.alloc(140);
  head.write('binf', 0, 'latin1');
  head.writeFloatLE(0.5, 4);
  head.writeUInt32LE(3, 8);
  head.writeInt32LE(numClass, 12);
  head.writeUInt32LE(1, 24);
  head.writeUInt32LE(7, 28);
  const s = (t: string): Buffer => {
    const b = Buffer.alloc(8 + t.length);
    b.writeUInt32LE(t.length, 0);
    b.write(t, 8, 'latin1');
    return b;
  };
  return new Uint8Array(Buffer.concat([head, s(objective), s(booster), Buffer.alloc(64)]));
}

const expected: XgboostMetadata = {
  encoding: 'json',
  version: '2.1.0',
  objective: 'binary:logistic',
  booster: 'gbtree',
  numFeature: 3,
  numClass: 0,
  numTarget: 1,
  baseScore: 0.5,
  trees: 2,
  nodes: 6,
  featureNames: ['a', 'b', 'c'],
  attributeKeys: ['best_iteration'],
};

describe('xgboost', () => {
  it('reads JSON and UBJSON models alike', async () => {
    const doc = xgbDocument();
    const json = xgbJson(doc);
    expect(matches(json)).toBe(true);
    expect((await inspect(json)).metadata).toEqual(expected);
    const ubj = xgbUbjson(doc);
    expect(matches(ubj, 'model.ubj')).toBe(true);
    const info = await inspect(ubj, 'model.ubj');
    expect(info.metadata).toEqual({ ...expected, encoding: 'ubjson' });
    expect(xgboost.card(info.metadata)).toMatchObject({
      architecture: 'gbtree',
      task: 'classification',
      producer: 'xgboost',
      producerVersion: '2.1.0',
      inputs: [{ shape: [null, 3] }],
    });
  });

  it('reads dart and gblinear boosters, and the legacy binary format', async () => {
    expect((await inspect(xgbJson(xgbDocument({ booster: 'dart', trees: 4 })))).metadata).toMatchObject({ booster: 'dart', trees: 4 });
    const lin = await inspect(xgbJson(xgbDocument({ booster: 'gblinear', objective: 'multi:softprob', numClass: 3 })));
    expect(lin.metadata).toMatchObject({ booster: 'gblinear', numClass: 3 });
    expect(lin.metadata).not.toHaveProperty('trees');
    const b = binf();
    expect(matches(b, 'model.bin')).toBe(true);
    expect((await inspect(b, 'model.bin')).metadata).toEqual({
      encoding: 'binary',
      version: '1.7',
      objective: 'binary:logistic',
      booster: 'gbtree',
      numFeature: 3,
      numClass: 0,
      baseScore: 0.5,
      featureNames: [],
      attributeKeys: [],
    });
  });

  it('refuses inconsistent, cut and hostile models', async () => {
    await expect(inspect(xgbJson(xgbDocument({ declaredTrees: 5 })))).rejects.toThrow(/num_trees is 5 but 2 trees are listed/);
    await expect(inspect(binf('not an objective'))).rejects.toThrow(/objective name "not an objective" at offset 148/);
    await expect(inspect(binf('reg:squarederror', 'forest'))).rejects.toThrow(/booster name "forest"/);
    await expect(inspect(binf(undefined, undefined, -4))).rejects.toThrow(/num_class at offset 12 is -4/);
    const ubj = xgbUbjson(xgbDocument());
    await expect(inspect(ubj.subarray(0, ubj.length - 20), 'm.ubj')).rejects.toThrow(FormatError);
    // A typed array claiming 2^40 floats: refused by its count before anything is allocated.
    const hostile = new Uint8Array([0x7b, 0x69, 7, ...enc('learner'), 0x5b, 0x24, 0x64, 0x23, 0x4c, 0, 0, 1, 0, 0, 0, 0, 0, 0x7d]);
    await expect(inspect(hostile, 'm.ubj')).rejects.toThrow(/a container count at offset \d+ is 1099511627776/);
    const doc = xgbDocument();
    (doc.learner as Record<string, unknown>).learner_model_param = { num_feature: '-3' };
    await expect(inspect(xgbJson(doc))).rejects.toThrow(/field num_feature is "-3"/);
  });

  it('does not match other JSON or binaries', () => {
    expect(matches(enc('{"learner": "Ada", "course": "ML"}'))).toBe(false);
    expect(matches(enc('{"modelTopology": {"learner": 1}}'))).toBe(false);
    expect(matches(enc('binf'))).toBe(false);
    expect(matches(new Uint8Array([0x7b, 0x69, 7, ...enc('teacher')]))).toBe(false);
  });

  const py = '/usr/bin/python3';
  const haveXgb = spawnSync(py, ['-c', 'import xgboost'], { stdio: 'ignore' }).status === 0;
  if (!haveXgb) console.warn('SKIP: python3-xgboost is not installed; models written by XGBoost itself are not tested.');
  it.runIf(haveXgb)('reads models written by XGBoost itself (Debian python3-xgboost) in all three encodings, and finds them in a scan', async () => {
    const script = `
import numpy as np, xgboost as xgb, sys
X = np.random.RandomState(0).rand(60, 4); y = (X[:, 0] > 0.5).astype(int)
b = xgb.train({'objective': 'binary:logistic', 'max_depth': 2}, xgb.DMatrix(X, label=y, feature_names=['f0','f1','f2','f3']), 3)
for ext in ('json', 'ubj', 'model'): b.save_model(sys.argv[1] + '/m.' + ext)
`;
    const r = spawnSync(py, ['-c', script, tmp], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const json = await inspect(new Uint8Array(fs.readFileSync(path.join(tmp, 'm.json'))));
    expect(json.metadata).toMatchObject({
      encoding: 'json',
      objective: 'binary:logistic',
      booster: 'gbtree',
      numFeature: 4,
      trees: 3,
      featureNames: ['f0', 'f1', 'f2', 'f3'],
    });
    const ubj = await inspect(new Uint8Array(fs.readFileSync(path.join(tmp, 'm.ubj'))), 'm.ubj');
    expect({ ...ubj.metadata, encoding: 'json' }).toEqual(json.metadata);
    const bin = await inspect(new Uint8Array(fs.readFileSync(path.join(tmp, 'm.model'))), 'm.model');
    expect(bin.metadata).toMatchObject({ encoding: 'binary', objective: 'binary:logistic', booster: 'gbtree', numFeature: 4 });
    const inv = inventorySchema.parse(await scan([tmp])) as Inventory;
    const formats = inv.components.filter((c) => c.kind === 'model').map((c) => c.kind === 'model' && c.model.format);
    expect(formats).toEqual(['xgboost', 'xgboost', 'xgboost']);
  });
});
