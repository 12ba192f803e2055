import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type CaffeMetadata, caffe } from '../../src/formats/caffe.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { caffemodelBytes, caffemodelV1Bytes, lenet, prototxt } from '../builders/caffe-builder.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-caffe-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function matches(bytes: Uint8Array, name: string): boolean {
  return caffe.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name: string): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await caffe.inspect(src, createProbe(src, name), ctx);
  expectConforms(caffe, info.metadata);
  return info;
}

describe('caffe: binary .caffemodel', () => {
  it('reads name, layers, inputs, outputs and blob elements', async () => {
    const bytes = caffemodelBytes('LeNet', lenet());
    expect(matches(bytes, 'lenet.caffemodel')).toBe(true);
    const info = await inspect(bytes, 'lenet.caffemodel');
    expect(info.metadata).toEqual({
      encoding: 'binary',
      name: 'LeNet',
      layerCount: 6,
      layers: { Convolution: 1, InnerProduct: 1, Input: 1, Pooling: 1, ReLU: 1, Softmax: 1 },
      legacyLayers: false,
      inputs: [{ name: 'data', shape: [1, 1, 28, 28] }],
      outputs: ['prob'],
      blobs: 4,
      parameters: 500 + 20 + 28800 + 10,
    } satisfies CaffeMetadata);
    expect(caffe.card(info.metadata)).toMatchObject({
      name: 'LeNet',
      parameters: 29330,
      parameterBytes: 117320,
      weightTypes: ['float32'],
      outputs: [{ name: 'prob' }],
    });
  });

  it('reads V1 layers with enum types, legacy blob dims and declared inputs', async () => {
    const bytes = caffemodelV1Bytes('CaffeNet', [
      { name: 'conv1', type: 4, bottoms: ['data'], tops: ['conv1'], blob: [16, 3, 3, 3] },
      { name: 'fc8', type: 14, bottoms: ['conv1'], tops: ['fc8'], blob: [1, 1, 10, 64] },
      { name: 'loss', type: 21, bottoms: ['fc8', 'label'], tops: ['loss'] },
    ]);
    const info = await inspect(bytes, 'bvlc_reference_caffenet.caffemodel');
    expect(info.metadata).toMatchObject({
      legacyLayers: true,
      layers: { Convolution: 1, InnerProduct: 1, SoftmaxWithLoss: 1 },
      parameters: 432 + 640,
      outputs: ['loss'],
    });
  });

  it('does not match ONNX or a caffemodel name on other bytes, and fails a truncated one', async () => {
    expect(matches(new OnnxBuilder().build(), 'x.caffemodel')).toBe(false);
    expect(matches(enc('hello world'), 'x.caffemodel')).toBe(false);
    expect(matches(caffemodelBytes('LeNet', lenet()), 'lenet.onnx')).toBe(false);
    const bytes = caffemodelBytes('LeNet', lenet());
    const src = new BufferSource(bytes.subarray(0, bytes.length - 3));
    const err = await caffe.inspect(src, createProbe(src, 'x.caffemodel'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('truncated');
  });
});

it('rejects a blob shape of absurd rank with a FormatError naming it', async () => {
  const bytes = caffemodelBytes('x', [{ name: 'c', type: 'Convolution', blobs: [Array.from({ length: 70 }, () => 1)] }]);
  const src = new BufferSource(bytes);
  const err = await caffe.inspect(src, createProbe(src, 'x.caffemodel'), ctx).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FormatError);
  expect((err as Error).message).toMatch(/^Invalid Caffe network: BlobShape field 1 at offset \d+ packs more than 64 values\.$/);
});

describe('caffe: text .prototxt', () => {
  it('reads a deploy network with input_dim and comments', async () => {
    const text = prototxt('LeNet', lenet().slice(1), { name: 'data', dims: [64, 1, 28, 28] });
    expect(matches(enc(text), 'deploy.prototxt')).toBe(true);
    const info = await inspect(enc(text), 'deploy.prototxt');
    expect(info.metadata).toEqual({
      encoding: 'text',
      name: 'LeNet',
      layerCount: 5,
      layers: { Convolution: 1, InnerProduct: 1, Pooling: 1, ReLU: 1, Softmax: 1 },
      legacyLayers: false,
      inputs: [{ name: 'data', shape: [64, 1, 28, 28] }],
      outputs: ['prob'],
      blobs: 0,
      parameters: 0,
    } satisfies CaffeMetadata);
    expect(caffe.card(info.metadata)).not.toHaveProperty('parameters');
  });

  it('reads Input layer shapes and V1 enum types in text', async () => {
    const info = await inspect(
      enc(
        `${prototxt('n', lenet().slice(0, 1))}layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" }\nlayers { name: "l" type: SOFTMAX_LOSS bottom: "c" top: "l" }\n`,
      ),
      'n.prototxt',
    );
    expect(info.metadata).toMatchObject({
      inputs: [{ name: 'data', shape: [1, 1, 28, 28] }],
      layers: { Convolution: 1, Input: 1, SoftmaxWithLoss: 1 },
      legacyLayers: true,
    });
  });

  it.each([
    ['a solver', 'net: "train_val.prototxt"\nbase_lr: 0.01\n'],
    ['a text proto without layers', 'name: "x"\nnode { op: "Conv" }\n'],
  ])('does not match %s', (_what, text) => {
    expect(matches(enc(text), 'solver.prototxt')).toBe(false);
  });

  it.each([
    ['an unclosed block', 'layer { name: "a" type: "ReLU"\n', 'Invalid Caffe network: the message layer is not closed at the end of the text.'],
    ['an unclosed string', 'layer { name: "a type: "ReLU" }', 'Invalid Caffe network: a string at offset 28 is not closed.'],
    ['a stray brace', 'layer { type: "ReLU" } }', "Invalid Caffe network: a '}' at offset 23 closes nothing."],
  ])('rejects %s', async (_what, text, message) => {
    const src = new BufferSource(enc(text));
    const err = await caffe.inspect(src, createProbe(src, 'x.prototxt'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(message);
  });
});

describe('caffe: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds a deploy.prototxt and a .caffemodel in a zip, and leaves a solver alone', async () => {
    const archive = path.join(tmp, 'face.zip');
    fs.writeFileSync(
      archive,
      buildZip(
        [
          ['models/face/deploy.prototxt', enc(prototxt('ResNet-SSD', lenet().slice(1), { name: 'data', dims: [1, 3, 300, 300] }))],
          ['models/face/res10_300x300_ssd.caffemodel', caffemodelBytes('ResNet-SSD', lenet())],
          ['models/face/solver.prototxt', enc('net: "train.prototxt"\nbase_lr: 0.01\n')],
        ],
        0,
      ),
    );
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path).sort()).toEqual([
      `${archive}!/models/face/deploy.prototxt`,
      `${archive}!/models/face/res10_300x300_ssd.caffemodel`,
    ]);
    expect(inv.problems).toEqual([]);
  });
});
