import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventorySchema, scan, type Inventory } from '../src/index.js';
import { modelDetail } from '../src/report/detail.js';
import { json } from '../src/report/json.js';
import { summary } from '../src/report/summary.js';
import { OnnxBuilder } from './builders/onnx-builder.js';
import { buildZip, TfliteBuilder } from './builders/tflite-builder.js';
import { modelsOf } from './helpers/inventory.js';

// Golden files pin every encoder byte for byte. The input is built here from our own builders (no
// clock, no tool whose output varies), scanned under a relative name. To accept an intended change:
// AIBOM_UPDATE_GOLDEN=1 npx vitest run tests/report.test.ts, then review the diff.
const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');
const update = process.env.AIBOM_UPDATE_GOLDEN === '1';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-report-test-'));
const cwd = process.cwd();
let inv: Inventory;

function onnxModel(): Uint8Array {
  return new OnnxBuilder()
    .producer('aibom-test', '1.0')
    .opset('', 17)
    .opset('com.microsoft', 1)
    .metadata('author', 'aibom')
    .input('image', 'float32', [1, 3, 'H', 'W'])
    .initializer('w', 'float32', [8, 3, 3, 3])
    .node('Conv', ['image', 'w'], ['c'])
    .node('FusedGelu', ['c'], ['y'], { domain: 'com.microsoft' })
    .output('y', 'float32', [1, 8, null, null])
    .build();
}

function tfliteModel(): Uint8Array {
  return new TfliteBuilder()
    .description('golden')
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('input', 'uint8', [1, 96, 96, 3], { quant: { scale: [0.5], zeroPoint: [128] } })
        .tensor('w', 'int8', [4, 3, 3, 3], { data: new Uint8Array(108).fill(1), quant: { scale: [0.1], zeroPoint: [0] } })
        .tensor('out', 'uint8', [1, 94, 94, 4])
        .operator('CONV_2D', [0, 1], [2])
        .customOperator('TFLite_Detection_PostProcess', [2], [2])
        .inputs([0])
        .outputs([2]),
    )
    .modelMetadata({
      name: 'Golden detector',
      version: 'v2',
      author: 'aibom',
      license: 'Apache-2.0',
      associatedFiles: [{ name: 'labels.txt', type: 'TENSOR_AXIS_LABELS' }],
    })
    .appendZip({ 'labels.txt': 'cat\ndog\n' })
    .build();
}

beforeAll(async () => {
  const d = path.join(tmp, 'golden-input');
  fs.mkdirSync(path.join(d, 'vendor'), { recursive: true });
  const onnx = onnxModel();
  const tfl = tfliteModel();
  fs.writeFileSync(path.join(d, 'vendor', 'seg.onnx'), onnx);
  fs.writeFileSync(path.join(d, 'vendor', 'fake.tflite'), 'not a model\n');
  // An APK made by our own zip writer (stored members, no timestamps): byte-stable across runs.
  fs.writeFileSync(
    path.join(d, 'Pay.apk'),
    buildZip(
      [
        ['assets/det.tflite', tfl],
        ['assets/seg.onnx', onnx],
        ['classes.dex', new TextEncoder().encode('dex\n035\0')],
      ],
      0,
    ),
  );
  process.chdir(tmp);
  // The tool version is injected so that a version bump does not rewrite the golden files.
  inv = await scan(['golden-input'], { toolVersion: '0.0.0-golden' });
  process.chdir(cwd);
});
afterAll(() => {
  process.chdir(cwd);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function golden(name: string, actual: string): void {
  const file = path.join(goldenDir, name);
  if (update || !fs.existsSync(file)) {
    if (!update) throw new Error(`golden file ${name} is missing: run with AIBOM_UPDATE_GOLDEN=1 and review it`);
    fs.mkdirSync(goldenDir, { recursive: true });
    fs.writeFileSync(file, actual);
  }
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}

describe('report encoders', () => {
  it('the inventory is what the input holds', () => {
    expect(inventorySchema.parse(inv)).toBeTruthy();
    expect(modelsOf(inv).map((m) => m.location)).toEqual([
      'golden-input/Pay.apk!/assets/det.tflite',
      'golden-input/Pay.apk!/assets/seg.onnx',
      'golden-input/vendor/seg.onnx',
    ]);
    expect(inv.stats.duplicates).toBe(1); // the ONNX model inside the APK is the one in vendor/
    expect(inv.problems.map((p) => [p.location, p.code])).toEqual([['golden-input/vendor/fake.tflite', 'claimed-model']]);
  });
  it('json matches its golden file', () => golden('inventory.json', json.encode(inv)));
  it('summary matches its golden file', () => golden('summary.txt', summary.encode(inv)));
  it('inspect detail matches its golden file', () =>
    golden('detail.txt', inv.components.flatMap((c) => (c.kind === 'model' ? [modelDetail(c)] : [])).join('\n')));
});
