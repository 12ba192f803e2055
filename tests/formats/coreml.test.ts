import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type CoremlMetadata, coreml } from '../../src/formats/coreml.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { imageClassifier, mlmodelBytes } from '../builders/coreml-builder.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { pBytes } from '../builders/proto-writer.js';
import { buildZip } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-coreml-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array, name = 'Model.mlmodel'): boolean {
  return coreml.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, 'MobileNet.mlmodel');
  expect(coreml.match(probe)).toBe(true);
  const info = await coreml.inspect(src, probe, ctx);
  expectConforms(coreml, info.metadata);
  return info;
}

describe('coreml', () => {
  it('reads spec version, model type, metadata, inputs, outputs and layer kinds', async () => {
    const info = await inspect(mlmodelBytes(imageClassifier()));
    expect(info.metadata).toEqual({
      specificationVersion: 4,
      modelType: 'neuralNetworkClassifier',
      typeField: 403,
      shortDescription: 'Detects the dominant objects in an image',
      version: '1.0',
      author: 'Original paper: Howard et al.',
      license: 'Apache 2.0',
      userDefined: { 'com.github.apple.coremltools.source': 'torch==2.1.0', 'com.github.apple.coremltools.version': '7.1' },
      inputs: [{ name: 'image', kind: 'image', shape: [224, 224], shortDescription: 'Input image' }],
      outputs: [
        { name: 'classLabelProbs', kind: 'dictionary' },
        { name: 'classLabel', kind: 'string' },
      ],
      predictedFeatureName: 'classLabel',
      layerCount: 9,
      layers: { activation: 2, batchnorm: 1, convolution: 2, custom: 1, innerProduct: 1, pooling: 1, softmax: 1 },
      pipelineModels: [],
    } satisfies CoremlMetadata);
    expect(coreml.card(info.metadata)).toMatchObject({
      version: '1.0',
      description: 'Detects the dominant objects in an image',
      author: 'Original paper: Howard et al.',
      license: 'Apache 2.0',
      architecture: 'neuralNetworkClassifier',
      producer: 'coremltools',
      producerVersion: '7.1',
      format: 'coreml',
      formatVersion: '4',
      inputs: [{ name: 'image', type: 'image', shape: [224, 224] }],
      customOperators: true,
    });
  });

  it('reads an ML Program with multiArray features and a pipeline of models', async () => {
    const prog = await inspect(
      mlmodelBytes({ version: 7, inputs: [{ name: 'x', array: { shape: [1, 3, 256, 256], dataType: 65552 } }], updatable: false, type: [502, [0x0a, 0x00]] }),
    );
    expect(prog.metadata).toMatchObject({
      specificationVersion: 7,
      modelType: 'mlProgram',
      inputs: [{ name: 'x', kind: 'multiArray', dataType: 'float16', shape: [1, 3, 256, 256] }],
      isUpdatable: false,
    });
    expect(coreml.card(prog.metadata).inputs).toEqual([{ name: 'x', type: 'float16', shape: [1, 3, 256, 256] }]);
    const member = (field: number): number[] => pBytes(1, [0x08, 0x04, ...pBytes(field, [])]);
    const pipe = await inspect(mlmodelBytes({ type: [200, pBytes(1, [...member(2002), ...member(403)])] }));
    expect(pipe.metadata).toMatchObject({ modelType: 'pipelineClassifier', pipelineModels: ['visionFeaturePrint', 'neuralNetworkClassifier'] });
  });

  it('does not match ONNX named .mlmodel or an mlmodel named otherwise, and fails a claimed non-model', async () => {
    expect(matches(new OnnxBuilder().build())).toBe(false);
    expect(matches(mlmodelBytes(imageClassifier()), 'model.onnx')).toBe(false);
    const src = new BufferSource(Uint8Array.from([0x12, 0x00]));
    const err = await coreml.inspect(src, createProbe(src, 'x.mlmodel'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe('Invalid Core ML model: Model.specificationVersion (field 1) is absent.');
    const bytes = mlmodelBytes(imageClassifier());
    const cut = new BufferSource(bytes.subarray(0, bytes.length - 10));
    const err2 = await coreml.inspect(cut, createProbe(cut, 'x.mlmodel'), ctx).catch((e: unknown) => e);
    expect((err2 as FormatError).code).toBe('truncated');
  });
});

describe('coreml: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds an .mlmodel in a zip; an ONNX file named .mlmodel is reported as what its content is', async () => {
    const archive = path.join(tmp, 'app.zip');
    fs.writeFileSync(
      archive,
      buildZip(
        [
          ['Payload/App.app/MobileNet.mlmodel', mlmodelBytes(imageClassifier())],
          ['Payload/App.app/Renamed.mlmodel', new OnnxBuilder().build()],
        ],
        0,
      ),
    );
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => [m.locations[0]!.path, m.kind === 'model' && m.model.format])).toEqual([
      [`${archive}!/Payload/App.app/MobileNet.mlmodel`, 'coreml'],
      [`${archive}!/Payload/App.app/Renamed.mlmodel`, 'onnx'],
    ]);
  });
});
