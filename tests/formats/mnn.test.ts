import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { looksLikeMnn, mnn, type MnnMetadata } from '../../src/formats/mnn.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { mnnBytes, smallMnn } from '../builders/mnn-builder.js';
import { buildZip, TfliteBuilder } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-mnn-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array, name = 'model.mnn'): boolean {
  return mnn.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name = 'model.mnn'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await mnn.inspect(src, createProbe(src, name), ctx);
  expectConforms(mnn, info.metadata);
  return info;
}

describe('mnn', () => {
  it('reads version, bizCode, source, ops with custom ones, inputs, outputs, quantization and weights', async () => {
    const bytes = mnnBytes(smallMnn());
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.confidence).toBe('high');
    expect(info.metadata).toEqual({
      bizCode: 'biz',
      version: '2.8.1',
      uuid: '0b3c5a3e-7a1f-4a49-9d7c-0f9b4b5f2d11',
      sourceType: 'ONNX',
      usage: 'INFERENCE',
      preferForwardType: 'CPU',
      opCount: 5,
      ops: { Convolution: 1, InnerProduct: 1, Input: 1, ReLU: 1, 'Tflite:TFLite_Detection_PostProcess': 1 },
      customOps: ['Tflite:TFLite_Detection_PostProcess'],
      tensorCount: 5,
      inputs: [{ name: 'input', shape: [1, 3, 224, 224], dtype: 'float32', format: 'NCHW' }],
      outputs: [{ name: 'scores' }],
      subgraphs: 0,
      int8Ops: 0,
      quantizedWeightOps: 1,
      parameters: 432 + 16 + 160 + 10,
    } satisfies MnnMetadata);
    expect(mnn.card(info.metadata)).toEqual({
      producer: 'MNN',
      producerVersion: '2.8.1',
      format: 'mnn',
      inputs: [{ name: 'input', type: 'float32', shape: [1, 3, 224, 224] }],
      outputs: [{ name: 'scores' }],
      parameters: 618,
      weightTypes: [],
      quantized: true,
      quantization: 'int8 weights (IDSTQuan)',
      operators: [
        { name: 'Convolution', count: 1, custom: false },
        { name: 'InnerProduct', count: 1, custom: false },
        { name: 'Input', count: 1, custom: false },
        { name: 'ReLU', count: 1, custom: false },
        { name: 'Tflite:TFLite_Detection_PostProcess', count: 1, custom: true },
      ],
      customOperators: true,
    });
  });

  it('prefers outputName, names int8 kernels, dynamic dims and unnamed tensors, and counts subgraphs', async () => {
    const info = await inspect(
      mnnBytes({
        tensorNames: ['x', ''],
        outputNames: ['y'],
        usage: 2,
        subgraphs: 2,
        ops: [
          { type: 34, outputs: [0], main: { kind: 'input', dims: [-1, 3, -1, -1], dtype: 4, dformat: 2 } },
          { type: 517, inputs: [0], outputs: [1] },
          { type: 513, inputs: [1], outputs: [5], main: { kind: 'blob', floats: 7 } },
          { type: 9999, inputs: [5], outputs: [6] },
        ],
      }),
    );
    const m = info.metadata as MnnMetadata;
    expect(m).toMatchObject({ sourceType: 'CAFFE', usage: 'INFERENCE_STATIC', subgraphs: 2, int8Ops: 2, parameters: 7, outputs: [{ name: 'y' }] });
    expect(m.ops).toEqual({ ConvInt8: 1, FloatToInt8: 1, Input: 1, 'unknown(9999)': 1 });
    expect(m.inputs).toEqual([{ name: 'x', shape: [-1, 3, -1, -1], dtype: 'uint8', format: 'NC4HW4' }]);
    expect(m).not.toHaveProperty('version');
    const card = mnn.card(info.metadata);
    expect(card.inputs).toEqual([{ name: 'x', type: 'uint8', shape: [null, 3, null, null] }]);
    expect(card).toMatchObject({ quantized: true, quantization: 'int8' });
    expect(card).not.toHaveProperty('producer');
  });

  it('does not match TFLite, random bytes, or a FlatBuffer whose root lacks oplists or tensorName', () => {
    expect(matches(new TfliteBuilder().build())).toBe(false);
    const random = new Uint8Array(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    expect(matches(random)).toBe(false);
    expect(matches(new Uint8Array(4096))).toBe(false);
    // A valid MNN with the tensorName field cleared in its vtable.
    const bytes = mnnBytes(smallMnn());
    const dv = new DataView(bytes.buffer);
    const root = dv.getUint32(0, true);
    const vt = root - dv.getInt32(root, true);
    expect(looksLikeMnn(bytes, bytes.length)).toBe(true);
    dv.setUint16(vt + 4 + 2 * 7, 0, true);
    expect(looksLikeMnn(bytes, bytes.length)).toBe(false);
  });

  it('fails a truncated model and an absurd op count with a FormatError naming the field', async () => {
    const bytes = mnnBytes(smallMnn());
    const cut = bytes.subarray(0, bytes.length - 40);
    const src = new BufferSource(cut);
    const err = await mnn.inspect(src, createProbe(src, 'm.mnn'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    // The oplists vector's length word, found through the root table, set to 2^30.
    const big = bytes.slice();
    const dv = new DataView(big.buffer);
    const root = dv.getUint32(0, true);
    const vt = root - dv.getInt32(root, true);
    const f = root + dv.getUint16(vt + 4 + 2 * 3, true);
    const vec = f + dv.getUint32(f, true);
    dv.setUint32(vec, 2 ** 30, true);
    const src2 = new BufferSource(big);
    const err2 = await mnn.inspect(src2, createProbe(src2, 'm.mnn'), ctx).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(FormatError);
    expect((err2 as Error).message).toBe('Invalid MNN model: Net.oplists length 1073741824 exceeds the limit of 1000000.');
  });
});

describe('mnn: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it.each(['zip', 'tar'])('finds an MNN model of any name in a %s', async (kind) => {
    const files: [string, Uint8Array][] = [
      ['assets/models/det.bin', mnnBytes(smallMnn())],
      ['assets/models/readme.txt', new TextEncoder().encode('hello')],
    ];
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'app.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      for (const [n, b] of files) {
        fs.mkdirSync(path.join(d, path.dirname(n)), { recursive: true });
        fs.writeFileSync(path.join(d, n), b);
      }
      archive = path.join(tmp, 'app.tar');
      run('tar', ['-cf', archive, '-C', d, 'assets']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/assets/models/det.bin`]);
    expect(models[0]!.kind === 'model' && models[0]!.model.card).toMatchObject({ format: 'mnn', producerVersion: '2.8.1' });
    expect(inv.problems).toEqual([]);
  });
});
