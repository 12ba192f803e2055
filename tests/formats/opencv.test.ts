import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { opencv, type OpencvMetadata } from '../../src/formats/opencv.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-opencv-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ctx = { limits: DEFAULT_LIMITS };
const matches = (bytes: Uint8Array, name = 'model.xml'): boolean => opencv.match(createProbe(new BufferSource(bytes), name));
async function inspect(bytes: Uint8Array, name = 'model.xml'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await opencv.inspect(src, createProbe(src, name), ctx);
  expectConforms(opencv, info.metadata);
  return info;
}

/** A cascade in the current layout, written as cv::CascadeClassifier's trainer writes it. */
function cascade(o: { feature?: string; stages?: number; declared?: number; weak?: number; w?: number; h?: number } = {}): string {
  const stages = o.stages ?? 2;
  const stage = (i: number): string =>
    `    <!-- stage ${i} -->\n    <_>\n      <maxWeakCount>${o.weak ?? 2}</maxWeakCount>\n      <stageThreshold>-1.5</stageThreshold>\n      <weakClassifiers>\n${Array.from({ length: o.weak ?? 2 }, () => '        <_>\n          <internalNodes>0 -1 0 5.e-03</internalNodes>\n          <leafValues>-0.8 0.7</leafValues></_>\n').join('')}      </weakClassifiers></_>\n`;
  return `<?xml version="1.0"?>\n<!-- a test cascade -->\n<opencv_storage>\n<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>\n  <featureType>${o.feature ?? 'HAAR'}</featureType>\n  <height>${o.h ?? 24}</height>\n  <width>${o.w ?? 24}</width>\n  <stageParams>\n    <maxWeakCount>2</maxWeakCount></stageParams>\n  <featureParams>\n    <maxCatCount>0</maxCatCount></featureParams>\n  <stageNum>${o.declared ?? stages}</stageNum>\n  <stages>\n${Array.from({ length: stages }, (_, i) => stage(i)).join('')}  </stages>\n  <features></features></cascade>\n</opencv_storage>\n`;
}

const svmYaml = `%YAML:1.0
---
opencv_ml_svm:
   format: 3
   svmType: C_SVC
   kernel:
      type: RBF
      gamma: 5.0000000000000003e-02
   C: 1.
   var_count: 4
   class_count: 3
   sv_total: 2
   support_vectors:
      - [ 1., 2., 3., 4. ]
      - [ 5., 6., 7., 8. ]
`;

describe('opencv: cascades', () => {
  it('reads a current-layout cascade', async () => {
    const info = await inspect(enc(cascade({ feature: 'LBP', stages: 3, weak: 4, w: 20, h: 30 })));
    expect(info.metadata).toEqual({
      kind: 'cascade',
      encoding: 'xml',
      cascade: {
        layout: 'current',
        featureType: 'LBP',
        stageType: 'BOOST',
        stages: 3,
        declaredStages: 3,
        weakClassifiers: 12,
        windowWidth: 20,
        windowHeight: 30,
      },
    } satisfies OpencvMetadata);
    expect(opencv.card(info.metadata)).toMatchObject({ architecture: 'LBP cascade', task: 'object-detection', inputs: [{ name: 'window', shape: [30, 20] }] });
  });

  it('refuses a stage count that disagrees, a cut file, an absurd window', async () => {
    await expect(inspect(enc(cascade({ stages: 2, declared: 5 })))).rejects.toThrow(/stageNum is 5 but 2 stages/);
    const text = cascade();
    await expect(inspect(enc(text.slice(0, text.length - 30)))).rejects.toThrow(/does not end with <\/opencv_storage>/);
    await expect(inspect(enc(cascade({ w: 10 ** 9 })))).rejects.toThrow(/field width is "1000000000", not an integer in \[0, 100000\]/);
    await expect(inspect(enc(cascade({ w: 0 })))).rejects.toThrow(FormatError);
  });

  const shipped = '/usr/share/opencv4';
  const have = fs.existsSync(shipped);
  if (!have) console.warn(`SKIP: ${shipped} is absent (Debian package opencv-data); real cascades are not tested.`);
  it.runIf(have)('reads every cascade and ml model that Debian opencv-data ships', async () => {
    const expected: Record<string, Partial<NonNullable<OpencvMetadata['cascade']>>> = {
      'haarcascades/haarcascade_frontalface_default.xml': {
        layout: 'current',
        featureType: 'HAAR',
        stages: 25,
        weakClassifiers: 2913,
        windowWidth: 24,
        windowHeight: 24,
      },
      'lbpcascades/lbpcascade_frontalface.xml': { layout: 'current', featureType: 'LBP', stages: 20, windowWidth: 24, windowHeight: 24 },
      'haarcascades/haarcascade_licence_plate_rus_16stages.xml': { layout: 'legacy', featureType: 'HAAR', stages: 16, windowWidth: 64, windowHeight: 16 },
    };
    const files = ['haarcascades', 'lbpcascades'].flatMap((d) => fs.readdirSync(path.join(shipped, d)).map((f) => `${d}/${f}`));
    expect(files.length).toBeGreaterThan(15);
    for (const f of files) {
      const bytes = new Uint8Array(fs.readFileSync(path.join(shipped, f)));
      expect(matches(bytes), f).toBe(true);
      const md = (await inspect(bytes)).metadata as OpencvMetadata;
      expect(md.kind, f).toBe('cascade');
      expect(md.cascade!.stages, f).toBeGreaterThan(0);
      if (expected[f]) expect(md.cascade, f).toMatchObject(expected[f]);
    }
    const brisque = new Uint8Array(fs.readFileSync(path.join(shipped, 'quality/brisque_model_live.yml')));
    expect(matches(brisque, 'brisque_model_live.yml')).toBe(true);
    expect((await inspect(brisque)).metadata).toEqual({
      kind: 'ml',
      encoding: 'yaml',
      ml: { model: 'svm', svmType: 'EPS_SVR', kernel: 'RBF', varCount: 36, supportVectors: 774 },
    });
    // The range file beside it is plain FileStorage data, not a model.
    expect(matches(new Uint8Array(fs.readFileSync(path.join(shipped, 'quality/brisque_range_live.yml'))))).toBe(false);
  });
});

describe('opencv: ml models', () => {
  it('reads an SVM in YAML and an ANN_MLP in XML', async () => {
    expect((await inspect(enc(svmYaml), 'svm.yml')).metadata).toEqual({
      kind: 'ml',
      encoding: 'yaml',
      ml: { model: 'svm', svmType: 'C_SVC', kernel: 'RBF', varCount: 4, classCount: 3, supportVectors: 2 },
    });
    const mlp = `<?xml version="1.0"?>\n<opencv_storage>\n<opencv_ml_ann_mlp>\n  <format>3</format>\n  <layer_sizes type_id="opencv-matrix">\n    <rows>1</rows><cols>3</cols><dt>i</dt>\n    <data>\n      784 100 10</data></layer_sizes>\n  <activation_function>SIGMOID_SYM</activation_function>\n</opencv_ml_ann_mlp>\n</opencv_storage>\n`;
    const info = await inspect(enc(mlp));
    expect(info.metadata).toEqual({ kind: 'ml', encoding: 'xml', ml: { model: 'ann_mlp', layerSizes: [784, 100, 10] } });
    expect(opencv.card(info.metadata)).toMatchObject({ architecture: 'opencv_ml_ann_mlp', inputs: [] });
  });

  it('does not match other XML and YAML', () => {
    expect(matches(enc('<?xml version="1.0"?>\n<net name="x" version="11"><layers/></net>'))).toBe(false);
    expect(matches(enc('<?xml version="1.0"?>\n<opencv_storage>\n<camera_matrix type_id="opencv-matrix"></camera_matrix></opencv_storage>'))).toBe(false);
    expect(matches(enc('%YAML:1.0\n---\ncamera_matrix: !!opencv-matrix\n   rows: 3\n'))).toBe(false);
    expect(matches(enc('%YAML 1.2\n---\nname: opencv_ml_svm\n'))).toBe(false);
  });

  it('refuses an unknown ml kind', async () => {
    await expect(inspect(enc('%YAML:1.0\n---\nopencv_ml_quantum:\n   format: 3\n'))).rejects.toThrow(/opencv_ml_quantum/);
  });

  it('is found by a scan', async () => {
    const d = path.join(tmp, 'share');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'face.xml'), cascade());
    fs.writeFileSync(path.join(d, 'svm.yml'), svmYaml);
    fs.writeFileSync(path.join(d, 'other.xml'), '<?xml version="1.0"?>\n<config/>');
    const inv = inventorySchema.parse(await scan([d])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model').map((m) => m.kind === 'model' && [path.basename(m.locations[0]!.path), m.model.format]);
    expect(models.sort()).toEqual([
      ['face.xml', 'opencv'],
      ['svm.yml', 'opencv'],
    ]);
    expect(inv.problems.filter((p) => p.code !== 'no-runtime')).toEqual([]);
  });
});
