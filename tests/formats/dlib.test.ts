import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dlib, type DlibMetadata } from '../../src/formats/dlib.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { dnnBytes, packInt, shapePredictorBytes } from '../builders/dlib-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-dlib-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const matches = (bytes: Uint8Array): boolean => dlib.match(createProbe(new BufferSource(bytes), 'model.dat'));
async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await dlib.inspect(src, createProbe(src, 'model.dat'), ctx);
  expectConforms(dlib, info.metadata);
  return info;
}

describe('dlib', () => {
  it('packs integers as dlib does', () => {
    expect(packInt(1)).toEqual([0x01, 0x01]);
    expect(packInt(0)).toEqual([0x01, 0x00]);
    expect(packInt(-136)).toEqual([0x81, 0x88]);
    expect(packInt(300)).toEqual([0x02, 0x2c, 0x01]);
  });

  it('reads 68- and 5-landmark shape predictors', async () => {
    const b68 = shapePredictorBytes(68, 15, 500);
    expect(matches(b68)).toBe(true);
    const info = await inspect(b68);
    expect(info.metadata).toEqual({
      kind: 'shape-predictor',
      shapePredictor: { version: 1, landmarks: 68, cascadeDepth: 15, treesPerLevel: 500 },
    } satisfies DlibMetadata);
    expect(dlib.card(info.metadata)).toMatchObject({
      architecture: 'shape_predictor',
      task: 'face-landmarks',
      outputs: [{ name: 'landmarks', shape: [68, 2] }],
    });
    // 194 landmarks: rows 388 need two bytes (82 84 01).
    expect((await inspect(shapePredictorBytes(194, 10, 500))).metadata).toMatchObject({ shapePredictor: { landmarks: 194 } });
    expect((await inspect(shapePredictorBytes(5, 10, 500))).metadata).toMatchObject({ shapePredictor: { landmarks: 5, cascadeDepth: 10 } });
  });

  it('reads DNN networks: input, loss and layer histogram', async () => {
    const resnet = dnnBytes('input_rgb_image_sized', ['con_', 'bn_con', 'relu_', 'con_', 'affine_con', 'add_prev', 'avg_pool', 'fc_no_bias'], 'loss_metric_');
    expect(matches(resnet)).toBe(true);
    const info = await inspect(resnet);
    expect(info.metadata).toEqual({
      kind: 'dnn',
      dnn: {
        input: 'input_rgb_image_sized',
        loss: 'loss_metric_',
        layers: { add_prev: 1, affine_con: 1, avg_pool: 1, bn_con: 1, con_: 2, fc_no_bias: 1, relu_: 1 },
      },
    } satisfies DlibMetadata);
    const card = dlib.card(info.metadata);
    expect(card).toMatchObject({ task: 'embedding', inputs: [{ name: 'input_rgb_image_sized' }] });
    expect(card.operators[0]).toEqual({ name: 'con_', count: 2, custom: false });
    const mmod = await inspect(dnnBytes('input_rgb_image_pyramid', ['con_', 'relu_'], 'loss_mmod_'));
    expect(dlib.card(mmod.metadata)).toMatchObject({ task: 'object-detection' });
  });

  it('refuses broken shape predictors and does not match other bytes', async () => {
    await expect(inspect(shapePredictorBytes(68, 20_000))).rejects.toThrow(/forests count at offset \d+ is 20000/);
    await expect(inspect(shapePredictorBytes(68).subarray(0, 100))).rejects.toThrow(/initial_shape value \d+ .* (is past|needs)/);
    const twoVersion = shapePredictorBytes(68);
    twoVersion[1] = 2;
    expect(matches(twoVersion)).toBe(false);
    expect(matches(Uint8Array.from([1, 1, 0x81, 0x87, 0x81, 0x01]))).toBe(false); // odd rows
    expect(matches(Uint8Array.from([1, 1, 2, 3, 4, 5, 6, 7]))).toBe(false);
    expect(matches(Uint8Array.from([1, 1, 1, 2, 1, 5, ...Buffer.from('image')]))).toBe(false);
  });

  // Debian libdlib-data (63 MB) is not installed by .ci/run for its size; the test runs where it is present.
  const real = '/usr/share/dlib/shape_predictor_68_face_landmarks.dat';
  const have = fs.existsSync(real);
  if (!have) console.warn(`SKIP: ${real} is absent (Debian package libdlib-data); the real shape predictor is not tested.`);
  it.runIf(have)("reads dlib's own 68-landmark shape predictor (Debian libdlib-data)", async () => {
    const src = FileSource.open(real);
    try {
      const probe = createProbe(src, path.basename(real));
      expect(dlib.match(probe)).toBe(true);
      const info = await dlib.inspect(src, probe, ctx);
      expectConforms(dlib, info.metadata);
      expect(info.metadata).toEqual({ kind: 'shape-predictor', shapePredictor: { version: 1, landmarks: 68, cascadeDepth: 15, treesPerLevel: 500 } });
    } finally {
      src.close();
    }
  });

  it('is found by a scan', async () => {
    fs.writeFileSync(path.join(tmp, 'shape_predictor_5_face_landmarks.dat'), shapePredictorBytes(5, 10, 500));
    fs.writeFileSync(path.join(tmp, 'other.dat'), Uint8Array.from([1, 1, 9, 9, 9, 9, 9, 9]));
    const inv = inventorySchema.parse(await scan([tmp])) as Inventory;
    expect(inv.components.filter((c) => c.kind === 'model').map((c) => c.kind === 'model' && c.model.format)).toEqual(['dlib']);
    expect(inv.problems.filter((p) => p.code !== 'no-runtime')).toEqual([]);
  });
});
